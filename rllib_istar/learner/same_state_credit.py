"""Same-state credit metrics of one learner update (docs/STEP_REWARDS.md "Measuring credit").

Two views, both comparing a right (+1) and a wrong (-1) action only at the same prompt
(``core.credit_metrics.same_state_accuracy``):

* **every labelled action** at each distinct decisive prompt of the batch (the
  runner's candidates, ``columns.CAND_*``), scored with each signal that exists for an
  action that was not sampled: ``r_phi`` (against the scoring reference), its two terms
  ``log pi_phi/pi_init`` (what the PRM learned) and ``log pi_init/pi_old`` (minus the
  policy's drift), the policy's own drift ``log pi_old/pi_init``, and ``A_S`` as the
  candidate would get it in the sampled step's place;
* **the sampled steps** that share a decisive prompt, for the signals that exist only
  for sampled steps: the method's final ``A(t)``, RLOO's episode advantage, GiGPO's
  anchor step advantage, and ``A_S`` / ``r_phi`` as computed.

0.5 is no credit; 1.0 ranks the right action first everywhere. The pooled AUCs of
``pooled_credit.py`` stay beside them, and can disagree.
"""
from __future__ import annotations

import math
from typing import Dict, Mapping, Optional

import torch

from rllib_istar import columns as C
from rllib_istar import metrics as M
from rllib_istar.core import credit_metrics as credit
from rllib_istar.core.segments import masked_mean, masked_sum

__all__ = ["same_state_metrics"]


def _logratio(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``sum over response tokens of (a - b)``: (K, Lc) -> (K,)."""
    return masked_sum(a - b, mask, dim=-1)


def same_state_metrics(rows: Mapping[str, torch.Tensor], *, cand_old_logp: torch.Tensor,
                       cand_init_logp: Optional[torch.Tensor],
                       cand_prm_logp: Optional[torch.Tensor], prm_reference: str, beta: float,
                       step_rewards: Optional[torch.Tensor], advantages: Optional[torch.Tensor],
                       sampled_signals: Dict[str, torch.Tensor], step_norm: str,
                       eps: float) -> Dict[str, float]:
    """Same-state accuracies (``{}`` when the rows carry no candidates; NaNs dropped).

    Shapes: ``rows`` with ``K`` candidates (``cand_*``) and ``N`` step rows;
    ``cand_*_logp (K, Lc)`` (init: None without an initial model; prm: None without a
    PRM); ``step_rewards (N,)`` or None; ``advantages (N,)`` or ``(N, L)``, or None to
    skip the sampled view (evaluation); ``sampled_signals``: extra ``(N,)`` signals by
    metric name (RLOO, GiGPO).
    """
    if C.CAND_LABEL not in rows:
        return {}
    labels, states = rows[C.CAND_LABEL], rows[C.CAND_STATE]
    mask = rows[C.CAND_RESPONSE_MASK]
    out = {M.CREDIT_STATE_PROMPTS: float(int(states.max()) + 1) if len(states) else 0.0}
    cand: Dict[str, torch.Tensor] = {}
    if cand_init_logp is not None:
        cand[M.CREDIT_STATE_POLICY_DRIFT] = _logratio(cand_old_logp, cand_init_logp, mask)
        drift = torch.where(mask.bool(), (cand_old_logp - cand_init_logp).abs(),
                            torch.zeros_like(mask))
        out[M.CREDIT_STATE_DRIFT_NATS] = float(drift.sum() / mask.sum().clamp(min=1.0))
    if cand_prm_logp is not None:
        ref = cand_init_logp if prm_reference == "initial" else cand_old_logp
        cand_r = beta * _logratio(cand_prm_logp, ref, mask)
        cand[M.CREDIT_STATE_STEP_REWARD] = cand_r
        if cand_init_logp is not None:
            cand[M.CREDIT_STATE_PRM_PROGRESS] = _logratio(cand_prm_logp, cand_init_logp, mask)
            cand[M.CREDIT_STATE_DRIFT_TERM] = _logratio(cand_init_logp, cand_old_logp, mask)
        if step_rewards is not None:
            cand[M.CREDIT_STATE_STEP_ADV] = credit.counterfactual_step_advantages(
                step_norm, step_rewards, cand_r.to(step_rewards.dtype), rows[C.CAND_ROW],
                rows[C.STEP_GROUP], rows[C.STEP_INDEX], rows[C.ANCHOR], eps)
    for name, scores in cand.items():
        out[name], pairs = credit.same_state_accuracy(scores, labels, states)
        out[M.CREDIT_STATE_PAIRS] = float(pairs)
    if advantages is None:
        return {k: v for k, v in out.items() if not math.isnan(v)}
    sampled = {M.CREDIT_SAMPLED_ADVANTAGE: advantages if advantages.dim() == 1
               else masked_mean(advantages, rows[C.RESPONSE_MASK], dim=-1), **sampled_signals}
    if step_rewards is not None:
        sampled[M.CREDIT_SAMPLED_STEP_REWARD] = step_rewards
    step_labels, step_states = rows[C.STEP_ORACLE], rows[C.STEP_STATE]
    for name, scores in sampled.items():
        out[name], pairs = credit.same_state_accuracy(scores, step_labels, step_states)
        out[M.CREDIT_SAMPLED_PAIRS] = float(pairs)
    return {k: v for k, v in out.items() if not math.isnan(v)}
