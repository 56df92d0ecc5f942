"""Log-probs at response positions only (``first_position`` / ``response_mask``).

The LM head then runs on the last ``L - first + 1`` hidden states; the values at
the computed columns must equal the full pass's, earlier columns are 0, and a
model without ``logits_to_keep`` gets the same values through a slice.
"""
import torch
from lmtest_utils import manual_logprobs, right_pad

from rllib_istar.lm.loading import load_causal_lm
from rllib_istar.lm.logprobs import compute_token_logprobs, first_response_column


class _NoLogitsToKeep(torch.nn.Module):
    """A causal LM whose forward has no ``logits_to_keep`` (the slicing fallback)."""

    def __init__(self, lm):
        super().__init__()
        self.lm = lm

    def forward(self, input_ids, attention_mask, position_ids, use_cache=False):
        return self.lm(input_ids=input_ids, attention_mask=attention_mask,
                       position_ids=position_ids, use_cache=use_cache)


def test_first_response_column_hand_made():
    mask = torch.tensor([[0, 0, 0, 1, 1], [0, 0, 1, 1, 0], [0, 0, 0, 0, 0]])
    assert first_response_column(mask) == 2
    assert first_response_column(torch.zeros(2, 4)) is None


def test_response_columns_equal_the_full_pass_and_the_rest_is_zero(tiny_path):
    model = load_causal_lm(tiny_path)
    ids, mask = right_pad([[1, 5, 6, 7, 8, 9], [1, 4, 4, 2], [1, 3, 5, 6, 7, 8, 9, 5]])
    full = compute_token_logprobs(model, ids, mask)
    ref = manual_logprobs(model, ids, mask) * torch.cat([torch.zeros(3, 1), mask[:, 1:] *
                                                          mask[:, :-1]], 1)
    torch.testing.assert_close(full, ref, atol=1e-5, rtol=1e-5)
    for first in (2, 4, 7):
        ent_full, ent_part = [], []
        compute_token_logprobs(model, ids, mask, entropy_out=ent_full)
        part = compute_token_logprobs(model, ids, mask, first_position=first,
                                      entropy_out=ent_part)
        torch.testing.assert_close(part[:, first:], full[:, first:], atol=1e-6, rtol=1e-6)
        assert torch.count_nonzero(part[:, :first]) == 0
        torch.testing.assert_close(ent_part[0][:, first:], ent_full[0][:, first:])
        sliced = compute_token_logprobs(_NoLogitsToKeep(model), ids, mask, first_position=first)
        torch.testing.assert_close(sliced, part, atol=1e-6, rtol=1e-6)


def test_module_response_mask_path_matches_and_carries_gradients(build_module, tiny_path):
    mod = build_module(tiny_path)
    ids, mask = right_pad([[1, 5, 6, 7, 8, 9], [1, 4, 4, 2, 6]])
    resp = torch.zeros_like(mask, dtype=torch.float32)
    resp[0, 4:6], resp[1, 3:5] = 1, 1
    full = mod.token_logprobs(ids, mask)
    part = mod.token_logprobs(ids, mask, response_mask=resp)
    torch.testing.assert_close(part * resp, full * resp, atol=1e-6, rtol=1e-6)
    out = mod.forward_train({"input_ids": ids, "attention_mask": mask, "response_mask": resp})
    (out["logp"] * resp).sum().backward()
    assert all(p.grad is not None for p in mod.lm.parameters() if p.requires_grad)


def test_target_mask_gathers_exactly_the_response_positions(tiny_paths):
    for path in tiny_paths.values():  # llama and qwen2 (both gather)
        model = load_causal_lm(path)
        ids, mask = right_pad([[1, 5, 6, 7, 8, 9], [1, 4, 4, 2], [1, 3, 5, 6, 7, 8, 9, 5]])
        target = torch.zeros_like(mask)
        target[0, 4:6], target[1, 2:4], target[2, 6:8] = 1, 1, 1
        full_ent, part_ent = [], []
        full = compute_token_logprobs(model, ids, mask, entropy_out=full_ent)
        part = compute_token_logprobs(model, ids, mask, target_mask=target, entropy_out=part_ent)
        torch.testing.assert_close(part, full * target, atol=1e-6, rtol=1e-6)
        torch.testing.assert_close(part_ent[0], full_ent[0] * target, atol=1e-6, rtol=1e-6)
        fallback = compute_token_logprobs(_NoLogitsToKeep(model), ids, mask, target_mask=target)
        torch.testing.assert_close(fallback * target, part, atol=1e-6, rtol=1e-6)


def test_target_mask_gradient_equals_the_full_pass_gradient(tiny_path):
    ids, mask = right_pad([[1, 5, 6, 7, 8, 9], [1, 4, 4, 2]])
    target = torch.zeros_like(mask)
    target[0, 3:6], target[1, 2:4] = 1, 1
    grads = []
    for kw in ({}, {"target_mask": target}):
        model = load_causal_lm(tiny_path)
        (compute_token_logprobs(model, ids, mask, **kw) * target).sum().backward()
        grads.append([p.grad.clone() for p in model.parameters()])
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)
