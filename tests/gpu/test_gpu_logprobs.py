"""CUDA checks of the log-prob numerics (skipped without CUDA by tests/conftest.py).

Deliberately imports no Ray (the GPU image may not have it): only
``rllib_istar.lm`` and ``rllib_istar.rollout.generation``.
"""
from __future__ import annotations

import pytest
import torch
from lmtest_utils import WORDS, right_pad

pytestmark = pytest.mark.gpu

TEXTS = ["red", "red door key open", "blue green", "forward forward key door red left right"]


def _load(dtype):
    from rllib_istar.lm import load_causal_lm, load_tokenizer, tiny_model_path

    path = tiny_model_path(WORDS, arch="qwen2", hidden_size=128, num_layers=2)
    return load_causal_lm(path, dtype=dtype).cuda().eval(), load_tokenizer(path)


@torch.no_grad()
def test_bf16_token_logprobs_match_manual_forward():
    from rllib_istar.lm import compute_token_logprobs, encode_prompt

    model, tok = _load("bfloat16")
    rows = [encode_prompt(tok, t) for t in TEXTS]
    ids, mask = (t.cuda() for t in right_pad(rows))
    got = compute_token_logprobs(model, ids, mask)
    pos = (mask.cumsum(-1) - 1).clamp(min=0)
    logits = model(input_ids=ids, attention_mask=mask, position_ids=pos).logits
    assert logits.dtype == torch.bfloat16
    ref = logits[:, :-1].float().log_softmax(-1).gather(-1, ids[:, 1:, None])[..., 0]
    ref = torch.cat([torch.zeros_like(ref[:, :1]), ref * mask[:, 1:]], 1)
    assert got.dtype == torch.float32 and got.device.type == "cuda"
    torch.testing.assert_close(got, ref, atol=1e-4, rtol=0)


@pytest.mark.parametrize("dtype,atol", [("float32", 2e-3), ("bfloat16", 0.1)])
def test_cuda_generation_logp_match_learner(dtype, atol):
    """Rollout (KV cache, left padding) vs learner (full forward, right padding) gap."""
    from rllib_istar.lm import compute_token_logprobs, encode_prompt
    from rllib_istar.rollout.generation import HFGenerator

    model, tok = _load(dtype)
    gen = HFGenerator(model, tok)
    prompts = [encode_prompt(tok, t) for t in TEXTS] * 4
    cuda_state = torch.cuda.get_rng_state()
    res = gen.generate(prompts, max_new_tokens=32, temperature=0.8, seed=1)
    assert torch.equal(cuda_state, torch.cuda.get_rng_state())
    assert res == gen.generate(prompts, max_new_tokens=32, temperature=0.8, seed=1)
    rows = [p + r.response_ids for p, r in zip(prompts, res)]
    ids, mask = (t.cuda() for t in right_pad(rows))
    with torch.no_grad():
        lp = compute_token_logprobs(model, ids, mask, temperature=0.8).cpu()
    gap = 0.0
    for i, (p, r) in enumerate(zip(prompts, res)):
        learner = lp[i, len(p):len(p) + len(r.response_ids)]
        gap = max(gap, (torch.tensor(r.logp) - learner).abs().max().item())
    print(f"{dtype}: max |rollout logp - learner logp| = {gap:.2e}")
    assert gap < atol
