"""Glue from step rows + step rewards to the policy's advantages (ALGORITHM.md §3, §5).

All math is in ``rllib_istar.core``; this module only picks the pieces an
:class:`~rllib_istar.estimators.EstimatorSpec` asks for.
"""
from __future__ import annotations

from typing import Dict, Optional, Tuple

import torch

from rllib_istar import columns as C
from rllib_istar import metrics as M
from rllib_istar.core import advantages as adv
from rllib_istar.core import gigpo
from rllib_istar.estimators import EstimatorSpec


def _stats(x: torch.Tensor) -> Tuple[float, float]:
    x = x.float()
    return float(x.mean()) if x.numel() else 0.0, float(x.std()) if x.numel() > 1 else 0.0


def token_step_advantages(token_rewards: torch.Tensor, response_mask: torch.Tensor,
                          step_group: torch.Tensor, eps: float) -> torch.Tensor:
    """Token-level implicit rewards z-scored over every response token of the group.

    ``token_rewards, response_mask: (N, L)``; ``step_group: (N,)`` -> ``(N, L)``,
    zero off the response mask (token-level PR ablation and PRIME).
    """
    mask = response_mask.bool()
    token_group = step_group[:, None].expand_as(token_rewards)[mask]
    out = torch.zeros_like(token_rewards, dtype=torch.float32)
    out[mask] = adv.step_advantages(token_rewards[mask].float(), token_group, eps=eps)
    return out


def compute_advantages(
    spec: EstimatorSpec,
    rows: Dict[str, torch.Tensor],
    *,
    alpha: float,
    step_rewards: Optional[torch.Tensor] = None,
    token_rewards: Optional[torch.Tensor] = None,
    gamma: float = 0.95,
    gigpo_norm: str = "std",
    eps: float = 1e-6,
) -> Tuple[torch.Tensor, Dict[str, float]]:
    """Advantages for the policy loss and their diagnostics.

    Args:
        spec: what the estimator needs (``estimators.resolve_estimator``).
        rows: the step rows (``connectors.episodes_to_rows``).
        alpha: ``step_advantage_weight``.
        step_rewards: ``(N,)`` implicit step rewards r_phi (``implicit``/``merged``).
        token_rewards: ``(N, L)`` token implicit rewards (``token_implicit``).

    Returns:
        ``(N,)`` step advantages, or ``(N, L)`` token advantages when
        ``spec.token_level``; and a metrics dict.
    """
    outcomes, traj_group = rows[C.TRAJ_OUTCOME], rows[C.TRAJ_GROUP]
    step_traj, step_group = rows[C.STEP_TRAJ], rows[C.STEP_GROUP]
    if spec.step_signal == "merged":
        outcomes = adv.merged_outcomes(outcomes, step_rewards, step_traj, alpha)
    episode = adv.episode_advantages(spec.episode, outcomes, traj_group, eps=eps)
    episode_per_step = adv.broadcast_to_steps(episode, step_traj)
    metrics = dict(zip((M.ADV_EPISODE_MEAN, M.ADV_EPISODE_STD), _stats(episode)))

    step_term = None
    if spec.step_signal == "implicit":
        step_term = adv.step_advantages(step_rewards, step_group, eps=eps)
        out = adv.mix_advantages(episode_per_step, step_term, alpha)
    elif spec.step_signal == "env":
        step_term = adv.step_advantages(rows[C.ENV_REWARD], step_group, eps=eps)
        out = adv.mix_advantages(episode_per_step, step_term, alpha)
    elif spec.step_signal == "anchor":
        returns = gigpo.discounted_returns(rows[C.ENV_REWARD], step_traj, rows[C.STEP_INDEX], gamma)
        step_term = gigpo.anchor_step_advantages(returns, rows[C.ANCHOR], norm=gigpo_norm, eps=eps)
        out = adv.mix_advantages(episode_per_step, step_term, alpha)
    elif spec.step_signal == "token_implicit":
        mask = rows[C.RESPONSE_MASK]
        step_term = token_step_advantages(token_rewards, mask, step_group, eps)
        out = (episode_per_step[:, None] + alpha * step_term) * mask
        step_term = step_term[mask.bool()]
    else:  # outcome only, or merged
        out = episode_per_step
    if step_term is not None:
        metrics.update(zip((M.ADV_STEP_MEAN, M.ADV_STEP_STD), _stats(step_term)))
    metrics[M.ADV_MEAN] = _stats(out if not spec.token_level else out[rows[C.RESPONSE_MASK].bool()])[0]
    return out.float(), metrics
