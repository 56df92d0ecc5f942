"""Credit-quality metrics of one learner update, against the env's oracle step labels.

When the step rows carry labelled decisive steps (``rows[step_oracle]`` +-1; envs
such as ``CreditChain`` and Sokoban label their steps), every update logs how well
each credit signal ranks right decisive steps above wrong ones (AUC, 0.5 = no
credit), for the method's own ``A(t)`` and, on the same batch and scale, for
RLOO's episode advantage and GiGPO's anchor step advantage; for PRM methods also
``r_phi``, ``A_S`` and the share of the DPO winner-loser gap on decisive steps.
Math in ``rllib_istar.core.credit_metrics``.

These AUCs pool steps of different prompts: they also measure which prompts the policy
gets right and how each prompt drifted, and can read 0.7 where the same-state ranking
is 0.5. ``same_state_credit.py`` compares actions at the same prompt only.
"""
from __future__ import annotations

import math
from typing import Dict, Mapping, Optional

import torch

from rllib_istar import columns as C
from rllib_istar import metrics as M
from rllib_istar.core import advantages as adv
from rllib_istar.core import credit_metrics as credit
from rllib_istar.core import gigpo, prm_losses
from rllib_istar.core.segments import masked_mean


def step_signals(rows: Mapping[str, torch.Tensor], step_adv: Optional[torch.Tensor], *,
                 gamma: float, gigpo_norm: str, eps: float) -> Dict[str, torch.Tensor]:
    """The comparison signals of a batch, each ``(N,)``: RLOO's episode advantage
    (``rloo``), GiGPO's anchor step advantage (``gigpo``) and, with a PRM, the update's
    own ``A_S`` (``step_adv``, computed once by the learner)."""
    rloo = adv.broadcast_to_steps(adv.episode_advantages("rloo", rows[C.TRAJ_OUTCOME],
                                                         rows[C.TRAJ_GROUP], eps), rows[C.STEP_TRAJ])
    returns = gigpo.discounted_returns(rows[C.ENV_REWARD], rows[C.STEP_TRAJ], rows[C.STEP_INDEX], gamma)
    out = {"rloo": rloo,
           "gigpo": gigpo.anchor_step_advantages(returns, rows[C.ANCHOR], norm=gigpo_norm, eps=eps)}
    if step_adv is not None:
        out["step_adv"] = step_adv
    return out


def credit_metrics(rows: Mapping[str, torch.Tensor], advantages: torch.Tensor,
                   step_rewards: Optional[torch.Tensor], signals: Dict[str, torch.Tensor], *,
                   pair_margin: float) -> Dict[str, float]:
    """Pooled credit metrics of a batch (``{}`` without labelled decisive steps; NaNs dropped).

    Shapes: step rows with ``N`` steps; ``advantages (N,)`` or ``(N, L)`` (token-level:
    averaged over each step's response tokens); ``step_rewards (N,)`` r_phi or None;
    ``signals``: :func:`step_signals`.
    """
    labels = rows[C.STEP_ORACLE].to(advantages.device)
    decisive = int(((labels == 1) | (labels == -1)).sum())
    if decisive == 0:
        return {}
    per_step = advantages if advantages.dim() == 1 else masked_mean(
        advantages, rows[C.RESPONSE_MASK], dim=-1)
    out = {M.CREDIT_DECISIVE_STEPS: float(decisive),
           M.CREDIT_AUC_ADVANTAGE: credit.decisive_auc(per_step, labels),
           M.CREDIT_AUC_RLOO: credit.decisive_auc(signals["rloo"], labels),
           M.CREDIT_AUC_GIGPO: credit.decisive_auc(signals["gigpo"], labels)}
    if step_rewards is not None:
        step_adv = signals["step_adv"]
        pairs = prm_losses.preference_pairs(rows[C.TRAJ_OUTCOME], rows[C.TRAJ_GROUP], pair_margin)
        signal, noise = credit.mean_abs_by_decisiveness(step_adv, labels)
        out.update({
            M.CREDIT_AUC_STEP_REWARD: credit.decisive_auc(step_rewards, labels),
            M.CREDIT_AUC_STEP_ADV: credit.decisive_auc(step_adv, labels),
            M.CREDIT_GAP_SHARE: credit.decisive_gap_share(step_rewards, rows[C.STEP_TRAJ], labels,
                                                          pairs, len(rows[C.TRAJ_OUTCOME])),
            M.CREDIT_STEP_ADV_ABS_DECISIVE: signal, M.CREDIT_STEP_ADV_ABS_OTHER: noise})
    return {k: v for k, v in out.items() if not math.isnan(v)}
