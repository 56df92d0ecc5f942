"""Per-token log-probabilities of a causal LM (the learner-side numerics).

Kept free of Ray so it can run anywhere a bare transformers model can (the GPU
tests import only this and ``rollout.generation``).
"""
from __future__ import annotations

import torch

# Upper bound on the float32 working set of one row chunk (bytes).
_CHUNK_BYTES = 1 << 28


def position_ids_from_mask(attention_mask: torch.Tensor) -> torch.Tensor:
    """(N, L) 0/1 mask -> (N, L) long positions counting real tokens only (pads get 0).

    Right padding gives ``arange(L)`` on the real tokens; left padding starts each
    row's first real token at 0, matching what ``generate`` uses.
    """
    return (attention_mask.long().cumsum(-1) - 1).clamp(min=0)


def logprobs_from_logits(logits: torch.Tensor, targets: torch.Tensor,
                         temperature: float = 1.0, entropy_out: list | None = None) -> torch.Tensor:
    """Gathered ``log_softmax(logits / temperature)[targets]`` in float32.

    Args:
        logits: (N, T, V) any float dtype; upcast to float32 one row chunk at a time,
            so the float32 copy of the full (N, T, V) block is never held at once in
            no-grad mode (with grad, autograd keeps each chunk for the backward pass).
        targets: (N, T) long token ids.
        temperature: > 0.
        entropy_out: if a list is given, the (N, T) float32 entropy of
            ``softmax(logits / temperature)`` is appended to it.
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
        picked = lg.gather(-1, targets[i:i + rows].unsqueeze(-1)).squeeze(-1)
        lse = torch.logsumexp(lg, dim=-1)
        out.append(picked - lse)
        if entropy_out is not None:
            ent.append(lse - (lg.softmax(-1) * lg).sum(-1))
    if entropy_out is not None:
        entropy_out.append(torch.cat(ent, dim=0) if ent else logits.new_zeros((0, t), dtype=torch.float32))
    return torch.cat(out, dim=0) if out else logits.new_zeros((0, t), dtype=torch.float32)


def compute_token_logprobs(model, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                           temperature: float = 1.0, entropy_out: list | None = None) -> torch.Tensor:
    """``out[:, j] = log p(input_ids[:, j] | input_ids[:, :j])`` under ``logits / temperature``.

    Args:
        model: a Hugging Face causal LM (or a peft wrapper of one).
        input_ids: (N, L) long, right-padded (left padding also works).
        attention_mask: (N, L) 0/1; positions are derived from it.
        temperature: the sampling temperature the rollout used (> 0).
        entropy_out: if a list is given, the (N, L) predictive entropy aligned like
            the output (entropy of the distribution that produced token j) is appended.
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
    logits = model(input_ids=input_ids, attention_mask=mask,
                   position_ids=position_ids_from_mask(mask), use_cache=False).logits
    ent: list = []
    lp = logprobs_from_logits(logits[:, :-1], input_ids[:, 1:], temperature,
                              entropy_out=ent if entropy_out is not None else None)
    valid = (mask[:, 1:] * mask[:, :-1]).to(lp.dtype)
    if entropy_out is not None:
        entropy_out.append(torch.cat([out[:, :1], ent[0] * valid], dim=1))
    return torch.cat([out[:, :1], lp * valid], dim=1)
