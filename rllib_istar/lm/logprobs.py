"""Per-token log-probabilities of a causal LM (the learner-side numerics).

Kept free of Ray so it can run anywhere a bare transformers model can (the GPU
tests import only this and ``rollout.generation``).
"""
from __future__ import annotations

from typing import Optional

import torch

from rllib_istar.lm.model_api import base_model, forward_takes
from rllib_istar.lm.vision import forward_inputs, is_vision_model, suppressed_token_ids

#: the logit of a suppressed token: finite, so the entropy's p * logit stays 0
SUPPRESSED_LOGIT = -1e30
# Upper bound on the float32 working set of one row chunk (bytes).
_CHUNK_BYTES = 1 << 28


def position_ids_from_mask(attention_mask: torch.Tensor) -> torch.Tensor:
    """(N, L) 0/1 mask -> (N, L) long positions counting real tokens only (pads get 0).

    Right padding gives ``arange(L)`` on the real tokens; left padding starts each
    row's first real token at 0, matching what ``generate`` uses.
    """
    return (attention_mask.long().cumsum(-1) - 1).clamp(min=0)


def logprobs_from_logits(logits: torch.Tensor, targets: torch.Tensor,
                         temperature: float = 1.0, entropy_out: list | None = None,
                         suppress_ids: tuple = ()) -> torch.Tensor:
    """Gathered ``log_softmax(logits / temperature)[targets]`` in float32.

    Args:
        logits: (N, T, V) any float dtype; upcast to float32 one row chunk at a time,
            so the float32 copy of the full (N, T, V) block is never held at once in
            no-grad mode (with grad, autograd keeps each chunk for the backward pass).
        targets: (N, T) long token ids.
        temperature: > 0.
        entropy_out: if a list is given, the (N, T) float32 entropy of
            ``softmax(logits / temperature)`` is appended to it.
        suppress_ids: token ids the policy can never emit (a vision model's image and
            vision tokens, ``lm.vision.suppressed_token_ids``): their logits are set to
            ``SUPPRESSED_LOGIT`` first, as the generator does before sampling.
    Returns:
        (N, T) float32.
    """
    n, t, v = logits.shape
    rows = max(1, _CHUNK_BYTES // max(1, t * v * 4))
    out, ent = [], []
    for i in range(0, n, rows):
        lg = logits[i:i + rows].float()
        if temperature != 1.0:
            lg = lg / temperature
        if suppress_ids:
            lg = lg.index_fill(-1, torch.as_tensor(suppress_ids, device=lg.device),
                               SUPPRESSED_LOGIT)
        picked = lg.gather(-1, targets[i:i + rows].unsqueeze(-1)).squeeze(-1)
        lse = torch.logsumexp(lg, dim=-1)
        out.append(picked - lse)
        if entropy_out is not None:
            ent.append(lse - (lg.softmax(-1) * lg).sum(-1))
    if entropy_out is not None:
        entropy_out.append(torch.cat(ent, dim=0) if ent else logits.new_zeros((0, t), dtype=torch.float32))
    return torch.cat(out, dim=0) if out else logits.new_zeros((0, t), dtype=torch.float32)


def first_response_column(response_mask: torch.Tensor) -> Optional[int]:
    """(N, L) 0/1 response mask -> the first column any row has a response token in
    (None when no row has one)."""
    cols = response_mask.bool().any(dim=0).nonzero()
    return int(cols[0]) if cols.numel() else None


# model types whose causal-LM forward is exactly ``lm_head(decoder(...).last_hidden_state)``
# (no logit scaling or soft-capping), so the head may run on gathered hidden states
GATHER_MODEL_TYPES = ("llama", "qwen2", "qwen3", "mistral")


def _decoder_and_head(model):
    """``(decoder, lm_head)`` of a (peft-wrapped) model of GATHER_MODEL_TYPES, else None.
    peft injects its adapters in place, so the decoder carries them."""
    base = base_model(model)
    if getattr(getattr(base, "config", None), "model_type", None) not in GATHER_MODEL_TYPES:
        return None
    try:
        return base.get_decoder(), base.get_output_embeddings()
    except (AttributeError, NotImplementedError):
        return None


def _gathered_logprobs(parts, input_ids, mask, target_mask, temperature, entropy_out):
    """The LM head on exactly the hidden states that predict ``target_mask``'s tokens."""
    decoder, head = parts
    n, length = input_ids.shape
    hidden = decoder(input_ids=input_ids, attention_mask=mask,
                     position_ids=position_ids_from_mask(mask), use_cache=False).last_hidden_state
    want = target_mask[:, 1:].to(input_ids.device).bool() & (mask[:, 1:] * mask[:, :-1]).bool()
    logits = head(hidden[:, :-1][want])  # (K, V): K = number of target tokens
    ent: list = []
    lp = logprobs_from_logits(logits.unsqueeze(0), input_ids[:, 1:][want].unsqueeze(0),
                              temperature, entropy_out=ent if entropy_out is not None else None)
    zeros = torch.zeros((n, length - 1), dtype=torch.float32, device=input_ids.device)
    first = zeros[:, :1]
    if entropy_out is not None:
        entropy_out.append(torch.cat([first, zeros.masked_scatter(want, ent[0][0])], dim=1))
    return torch.cat([first, zeros.masked_scatter(want, lp[0])], dim=1)


def compute_token_logprobs(model, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                           temperature: float = 1.0, entropy_out: list | None = None,
                           first_position: Optional[int] = None,
                           target_mask: Optional[torch.Tensor] = None,
                           model_inputs: Optional[dict] = None) -> torch.Tensor:
    """``out[:, j] = log p(input_ids[:, j] | input_ids[:, :j])`` under ``logits / temperature``.

    Args:
        model: a Hugging Face causal LM (or a peft wrapper of one).
        input_ids: (N, L) long, right-padded (left padding also works).
        attention_mask: (N, L) 0/1; positions are derived from it.
        temperature: the sampling temperature the rollout used (> 0).
        entropy_out: if a list is given, the (N, L) predictive entropy aligned like
            the output (entropy of the distribution that produced token j) is appended.
        first_position: if given, only columns ``j >= first_position`` are computed
            (earlier ones are 0): the LM head runs on the last ``L - first_position + 1``
            hidden states only (``logits_to_keep`` where the model supports it, else a
            slice of the full logits, same values). Pass the first response column
            (:func:`first_response_column`) when only response tokens matter.
        target_mask: (N, L) 0/1, the positions whose log-prob is wanted (the response
            mask). For GATHER_MODEL_TYPES the LM head runs on exactly those positions'
            predicting hidden states (a 49k-vocabulary head over K response tokens instead
            of N x L positions); every other position is 0. Other models fall back to
            ``first_position`` = the mask's first column (same values, and every position
            outside the mask set to 0 as well).
        model_inputs: extra forward inputs of a vision-language model (``pixel_values``,
            ``image_grid_thw``: ``lm.vision.VisionInputs.pixel_inputs``, one image per
            row), moved to the ids' device (with ``mm_token_type_ids``,
            ``lm.vision.forward_inputs``). Vision models get no ``position_ids``: they
            derive their multimodal rotary positions from the ids, the image grid and
            the mask themselves. Ignored by text models. A vision model's image and
            vision tokens are suppressed (``lm.vision.suppressed_token_ids``), as in
            generation.
    Returns:
        (N, L) float32. ``out[:, 0] = 0``; a position is 0 unless both it and the
        position before it are real tokens (so padding contributes nothing).
        Differentiable w.r.t. the model parameters when grad is enabled.
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0 for log-probs, got {temperature}")
    if input_ids.shape != attention_mask.shape or input_ids.dim() != 2:
        raise ValueError(f"input_ids {tuple(input_ids.shape)} and attention_mask "
                         f"{tuple(attention_mask.shape)} must both be (N, L)")
    n, length = input_ids.shape
    out = torch.zeros((n, length), dtype=torch.float32, device=input_ids.device)
    if length < 2 or n == 0:
        if entropy_out is not None:
            entropy_out.append(out.clone())
        return out
    mask = attention_mask.to(input_ids.device).long()
    vision = is_vision_model(model)
    extra = forward_inputs(model, input_ids, model_inputs) if vision else {}
    if target_mask is not None and not vision:
        parts = _decoder_and_head(model)
        if parts is not None:
            return _gathered_logprobs(parts, input_ids, mask, target_mask, temperature,
                                      entropy_out)
    if target_mask is not None:
        first = first_response_column(target_mask)
        first_position = length - 1 if first is None else first
    start = 1 if first_position is None else min(max(int(first_position), 1), length - 1)
    kwargs = {}
    if start > 1 and forward_takes(model, "logits_to_keep"):
        kwargs["logits_to_keep"] = length - start + 1  # hidden states start-1 .. L-1
    if not vision:
        kwargs["position_ids"] = position_ids_from_mask(mask)
    logits = model(input_ids=input_ids, attention_mask=mask, use_cache=False, **extra,
                   **kwargs).logits
    if "logits_to_keep" not in kwargs:
        logits = logits[:, start - 1:]
    ent: list = []
    lp = logprobs_from_logits(logits[:, :-1], input_ids[:, start:], temperature,
                              entropy_out=ent if entropy_out is not None else None,
                              suppress_ids=suppressed_token_ids(model) if vision else ())
    valid = (mask[:, start:] * mask[:, start - 1:-1]).to(lp.dtype)
    if target_mask is not None:  # exactly the wanted positions, as the gathered path gives
        valid = valid * target_mask[:, start:].to(device=lp.device, dtype=lp.dtype).gt(0)
    head = out[:, :start]
    if entropy_out is not None:
        entropy_out.append(torch.cat([head, ent[0] * valid], dim=1))
    return torch.cat([head, lp * valid], dim=1)
