"""PPO-clip policy loss with a step-level importance ratio (docs/algorithm.md §4).

A ratio level turns per-token log-probs into **units** (a log-ratio, a
validity mask and an advantage per unit); :func:`clipped_surrogate` then
applies the asymmetric clip and averages over the valid units:

* ``step`` (default): one unit per step,
  ``rho_t = exp(mean_{k in a_t} (log pi_theta - log pi_old))`` (length-normalised);
* ``step_product``: one unit per step, ``rho_t = exp(sum_k ...)``, the
  sequence likelihood ratio of the whole response;
* ``token``: one unit per response token (the standard token-level
  PPO/GRPO ratio), the step's advantage on each of its tokens, and the loss
  is the token-mean over all response tokens of the batch.

    L = - mean_units min(rho A, clip(rho, 1 - clip_low, 1 + clip_high) A)

Rows with an empty response mask are not units (excluded from every mean).
Masking uses :func:`torch.where`: prompt/padding positions may hold
anything (``nan``/``inf`` too) and get exactly zero gradient.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import torch

from rllib_istar import metrics as M
from rllib_istar.core.segments import as_bool_mask, masked_mean, masked_sum

__all__ = ["PolicyLossOutput", "RatioUnits", "RATIO_LEVELS", "clipped_surrogate"]


class PolicyLossOutput(NamedTuple):
    """``loss``: scalar; ``metrics``: dict (policy_loss, clip_frac, ratio_mean,
    ratio_max, approx_kl, num_units)."""

    loss: torch.Tensor
    metrics: dict


class RatioUnits(NamedTuple):
    """Per-unit ``log_ratio``, ``valid`` (bool) and ``advantages``, all of one shape."""

    log_ratio: torch.Tensor
    valid: torch.Tensor
    advantages: torch.Tensor


def _diff(logp: torch.Tensor, old_logp: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    d = logp - old_logp
    return torch.where(mask, d, torch.zeros_like(d))


def _step_units(logp, old_logp, mask, advantages) -> RatioUnits:
    """``step``: log rho_t = mean over the step's response tokens; shapes ``(N,)``."""
    return RatioUnits(masked_mean(_diff(logp, old_logp, mask), mask, dim=-1), mask.any(dim=-1), advantages)


def _step_product_units(logp, old_logp, mask, advantages) -> RatioUnits:
    """``step_product``: log rho_t = sum over the step's response tokens; shapes ``(N,)``."""
    return RatioUnits(masked_sum(_diff(logp, old_logp, mask), mask, dim=-1), mask.any(dim=-1), advantages)


def _token_units(logp, old_logp, mask, advantages) -> RatioUnits:
    """``token``: one unit per response token; ``(N, T)``. Advantages are either
    per step ``(N,)`` (broadcast over the step's tokens) or per token ``(N, T)``
    (PRIME and the token-level-PR ablation)."""
    adv = advantages if advantages.dim() == 2 else advantages[:, None].expand_as(logp)
    return RatioUnits(_diff(logp, old_logp, mask), mask, adv)


#: ratio level name (config ``ratio_level``) -> unit builder.
RATIO_LEVELS: dict[str, Callable[..., RatioUnits]] = {
    "step": _step_units,
    "step_product": _step_product_units,
    "token": _token_units,
}


def clipped_surrogate(logp: torch.Tensor, old_logp: torch.Tensor, response_mask: torch.Tensor,
                      advantages: torch.Tensor, clip_low: float, clip_high: float,
                      ratio_level: str = "step") -> PolicyLossOutput:
    """PPO-clip surrogate at the chosen ratio level (docs/algorithm.md §4).

    Shapes: ``logp (N, T)`` float, the current policy's log-probs of the
    rows' tokens (carries the graph); ``old_logp (N, T)`` float, the rollout
    policy's (treated as constant); ``response_mask (N, T)`` bool/0-1, True
    on the step's response tokens only; ``advantages (N,)`` float, ``A(t)``
    of each step, or ``(N, T)`` per-token advantages (``token`` level only);
    treated as constant. ``clip_low`` in [0, 1) and
    ``clip_high >= 0`` give the clip range ``[1 - clip_low, 1 + clip_high]``.
    ``ratio_level`` in ``RATIO_LEVELS`` (step, step_product, token).

    Metrics (0-dim detached tensors, no device sync):
    ``policy_loss``; ``clip_frac``, the fraction of units (steps, or tokens
    at ``token`` level) where the clipped term is strictly smaller, i.e.
    active (zero gradient); ``ratio_mean`` and ``ratio_max`` of the unit
    ratios; ``approx_kl``, the k3 estimator ``(r - 1) - log r`` with the
    token ratio ``r = pi_theta / pi_old``, averaged over all response tokens
    (estimates KL(pi_old || pi_theta)) whatever the ratio level.
    With no response token at all the loss is a graph-carrying 0.

    Example: one step, tokens with log-ratios (0.2, 0.0) -> rho = exp(0.1)
    = 1.1052 > 1 + 0.05, A = 1, so the clipped term 1.05 is active: loss
    -1.05, clip_frac 1.

    ```pycon
    >>> out = clipped_surrogate(torch.tensor([[0., .2, 0.]]), torch.tensor([[5., 0., 0.]]),
    ...                         torch.tensor([[0, 1, 1]]), torch.tensor([1.]), 0.2, 0.05)
    >>> round(out.loss.item(), 4), out.metrics["clip_frac"].item()
    (-1.05, 1.0)

    ```
    """
    if ratio_level not in RATIO_LEVELS:
        raise ValueError(f"unknown ratio level {ratio_level!r}; valid: " + ", ".join(sorted(RATIO_LEVELS)))
    if not 0.0 <= clip_low < 1.0:
        raise ValueError(f"clip_low must be in [0, 1), got {clip_low}")
    if not clip_high >= 0.0:
        raise ValueError(f"clip_high must be >= 0, got {clip_high}")
    if advantages.dim() == 2 and ratio_level != "token":
        raise ValueError(f"per-token advantages {tuple(advantages.shape)} need ratio_level "
                         f"'token', got {ratio_level!r}")
    mask = as_bool_mask(response_mask)
    old_logp = old_logp.detach()
    units = RATIO_LEVELS[ratio_level](logp, old_logp, mask, advantages.detach())
    valid = units.valid
    log_ratio = torch.where(valid, units.log_ratio, torch.zeros_like(units.log_ratio))
    adv = torch.where(valid, units.advantages, torch.zeros_like(units.advantages))
    ratio = torch.exp(log_ratio)
    surr = ratio * adv
    surr_clipped = torch.clamp(ratio, 1.0 - clip_low, 1.0 + clip_high) * adv
    objective = torch.minimum(surr, surr_clipped)
    loss = -masked_mean(objective, valid)

    with torch.no_grad():
        tok = _diff(logp, old_logp, mask)
        approx_kl = masked_mean(torch.expm1(tok) - tok, mask)
        ratio_max = torch.where(valid, ratio, torch.zeros_like(ratio)).max() if ratio.numel() else ratio.new_zeros(())
        metrics = {
            M.POLICY_LOSS: loss.detach(),
            M.CLIP_FRAC: masked_mean((surr_clipped < surr).to(ratio.dtype), valid),
            M.RATIO_MEAN: masked_mean(ratio, valid),
            M.RATIO_MAX: ratio_max,
            M.APPROX_KL: approx_kl,
            M.NUM_UNITS: valid.sum().to(ratio.dtype),
        }
    return PolicyLossOutput(loss, metrics)
