"""Episode-level and step-level advantages, and their mix (docs/algorithm.md §3).

Episode estimators live in :data:`EPISODE_ESTIMATORS`, keyed by the names the
configs use (``grpo``, ``grpo_mean``, ``rloo``, ``reinforce_pp``). Each maps
``(outcomes (M,), group ids (M,) compact, num_groups, eps) -> (M,)``.
Every estimator gives exactly 0 to a singleton group and to a group whose
outcomes are all equal (zero spread is tested as max == min, never through a
rounded mean or std).

Group ids may be any integers: the public functions compact them first.
Advantages are targets, so nothing here needs gradients (inputs are used
as given; callers pass detached tensors).
"""
from __future__ import annotations

from typing import Callable

import torch

from rllib_istar.core.segments import (
    compact_ids,
    masked_whiten,
    seg_centred,
    seg_constant,
    seg_count,
    seg_sum,
    seg_zscore,
)

__all__ = [
    "EPISODE_ESTIMATORS",
    "register_episode_estimator",
    "get_episode_estimator",
    "episode_advantages",
    "step_advantages",
    "mix_advantages",
    "token_step_advantages",
    "mix_token_advantages",
    "merged_outcomes",
    "broadcast_to_steps",
]

EpisodeEstimator = Callable[[torch.Tensor, torch.Tensor, int, float], torch.Tensor]
#: name -> estimator; fill with :func:`register_episode_estimator`.
EPISODE_ESTIMATORS: dict[str, EpisodeEstimator] = {}


def register_episode_estimator(name: str) -> Callable[[EpisodeEstimator], EpisodeEstimator]:
    """Decorator: register an episode estimator under ``name`` (taken name -> ValueError)."""

    def deco(fn: EpisodeEstimator) -> EpisodeEstimator:
        if name in EPISODE_ESTIMATORS:
            raise ValueError(f"episode estimator {name!r} is already registered")
        EPISODE_ESTIMATORS[name] = fn
        return fn

    return deco


def get_episode_estimator(name: str) -> EpisodeEstimator:
    """Look up an estimator; unknown name -> ValueError listing the valid names.

    ```pycon
    >>> get_episode_estimator("grpoo")
    Traceback (most recent call last):
    ...
    ValueError: unknown episode estimator 'grpoo'; valid: grpo, grpo_mean, reinforce_pp, rloo

    ```
    """
    try:
        return EPISODE_ESTIMATORS[name]
    except KeyError:
        valid = ", ".join(sorted(EPISODE_ESTIMATORS))
        raise ValueError(f"unknown episode estimator {name!r}; valid: {valid}") from None


@register_episode_estimator("grpo")
def _grpo(outcomes: torch.Tensor, ids: torch.Tensor, num_groups: int, eps: float) -> torch.Tensor:
    """GRPO: ``(r - mean(R_o)) / (std(R_o) + eps)``, unbiased std (§3)."""
    return seg_zscore(outcomes, ids, num_groups, eps)


@register_episode_estimator("grpo_mean")
def _grpo_mean(outcomes: torch.Tensor, ids: torch.Tensor, num_groups: int, eps: float) -> torch.Tensor:
    """GRPO without std: ``r - mean(R_o)`` (§3)."""
    return seg_centred(outcomes, ids, num_groups)


@register_episode_estimator("rloo")
def _rloo(outcomes: torch.Tensor, ids: torch.Tensor, num_groups: int, eps: float) -> torch.Tensor:
    """RLOO: ``r - mean of the other G-1 outcomes`` (§3); a singleton gets 0."""
    count = seg_count(ids, num_groups, dtype=outcomes.dtype)[ids]
    total = seg_sum(outcomes, ids, num_groups)[ids]
    loo = outcomes - (total - outcomes) / (count - 1).clamp(min=1)
    const = seg_constant(outcomes, ids, num_groups)[ids]  # singleton or all equal: exactly 0
    return torch.where(const, torch.zeros_like(loo), loo)


@register_episode_estimator("reinforce_pp")
def _reinforce_pp(outcomes: torch.Tensor, ids: torch.Tensor, num_groups: int, eps: float) -> torch.Tensor:
    """REINFORCE++ with baseline: ``r - mean(R_o)``, then whitened over the batch (§3).

    The group-centred values sum to 0 over the batch, so the batch mean is
    0 by construction and whitening divides by the batch std (unbiased)
    plus ``eps``; subtracting a float round-off mean is skipped so that a
    singleton group stays exactly 0.
    """
    centred = _grpo_mean(outcomes, ids, num_groups, eps)
    keep = torch.ones_like(centred, dtype=torch.bool)
    return masked_whiten(centred, keep, eps, shift_mean=False)


def episode_advantages(name: str, outcomes: torch.Tensor, group_ids: torch.Tensor,
                       eps: float = 1e-6) -> torch.Tensor:
    """Episode advantage ``A_E`` of each trajectory by the named estimator (§3).

    Shapes: ``outcomes (M,)`` float (one ``r_o`` per trajectory),
    ``group_ids (M,)`` int (any values; equal = same task) -> ``(M,)``.
    ``name`` in ``grpo, grpo_mean, reinforce_pp, rloo``. A singleton group
    gets 0; a group with equal outcomes gets finite zeros.

    Example, one group with outcomes [1, 0, 0, 1] (mean 0.5, unbiased std
    0.5774): grpo 0.8660/-0.8660, grpo_mean +-0.5, rloo 1 - 1/3 = 0.6667
    and 0 - 2/3 = -0.6667.

    ```pycon
    >>> r, g = torch.tensor([1., 0., 0., 1.]), torch.zeros(4, dtype=torch.long)
    >>> [round(v, 4) for v in episode_advantages("rloo", r, g).tolist()]
    [0.6667, -0.6667, -0.6667, 0.6667]
    >>> [round(v, 3) for v in episode_advantages("grpo", r, g).tolist()]
    [0.866, -0.866, -0.866, 0.866]

    ```
    """
    fn = get_episode_estimator(name)
    ids, num_groups = compact_ids(group_ids)
    return fn(outcomes, ids, num_groups, eps)


def step_advantages(step_rewards: torch.Tensor, group_ids: torch.Tensor,
                    eps: float = 1e-6) -> torch.Tensor:
    """Step advantage ``A_S(t)``: z-score of ``r_phi(t)`` over ALL steps of its group (§3).

    Shapes: ``step_rewards (N,)`` float, ``group_ids (N,)`` int, the task
    group of each step's trajectory -> ``(N,)``. Unbiased std; a group with
    a single step, or constant rewards, gives 0.

    ```pycon
    >>> [round(v, 4) for v in step_advantages(torch.tensor([.2, .0, .1, 5.]),
    ...                                       torch.tensor([3, 3, 3, 8])).tolist()]
    [1.0, -1.0, 0.0, 0.0]

    ```
    """
    ids, num_groups = compact_ids(group_ids)
    return seg_zscore(step_rewards, ids, num_groups, eps)


def _check_alpha(alpha: float) -> None:
    if not alpha >= 0:
        raise ValueError(f"step advantage weight alpha must be >= 0, got {alpha}")


def mix_advantages(episode_adv_per_step: torch.Tensor, step_adv: torch.Tensor,
                   alpha: float) -> torch.Tensor:
    """Mixed advantage ``A(t) = A_E(tau) + alpha * A_S(t)`` (§3), ``alpha >= 0``.

    Shapes: both ``(N,)`` (``A_E`` already broadcast to steps with
    :func:`broadcast_to_steps`) -> ``(N,)``.

    ```pycon
    >>> mix_advantages(torch.tensor([1., -1.]), torch.tensor([0.5, 2.]), alpha=2.0).tolist()
    [2.0, 3.0]

    ```
    """
    _check_alpha(alpha)
    if episode_adv_per_step.shape != step_adv.shape:
        raise ValueError(f"shape mismatch: {tuple(episode_adv_per_step.shape)} vs {tuple(step_adv.shape)}")
    return episode_adv_per_step + alpha * step_adv


def broadcast_to_steps(traj_values: torch.Tensor, step_traj: torch.Tensor) -> torch.Tensor:
    """Give each step its trajectory's value: ``traj_values[step_traj]``.

    Shapes: ``traj_values (M,)``, ``step_traj (N,)`` long in ``0..M-1`` -> ``(N,)``.

    ```pycon
    >>> broadcast_to_steps(torch.tensor([5., 7.]), torch.tensor([0, 0, 1])).tolist()
    [5.0, 5.0, 7.0]

    ```
    """
    return traj_values[step_traj.long()]


def merged_outcomes(outcomes: torch.Tensor, step_rewards: torch.Tensor,
                    step_traj: torch.Tensor, alpha: float) -> torch.Tensor:
    """Merged-reward ablation: ``r_o(tau) + alpha * sum_{t in tau} r_phi(t)`` (§5), ``alpha >= 0``.

    Shapes: ``outcomes (M,)``, ``step_rewards (N,)``, ``step_traj (N,)``
    long in ``0..M-1`` (index into ``outcomes``) -> ``(M,)``; feed the
    result to :func:`episode_advantages`.

    ```pycon
    >>> merged_outcomes(torch.tensor([1., 0.]), torch.tensor([.5, .25, -1.]),
    ...                 torch.tensor([0, 0, 1]), alpha=2.0).tolist()
    [2.5, -2.0]

    ```
    """
    _check_alpha(alpha)
    return outcomes + alpha * seg_sum(step_rewards, step_traj.long(), outcomes.shape[0])


def token_step_advantages(token_rewards: torch.Tensor, response_mask: torch.Tensor,
                          step_group: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Token-level rewards z-scored over every response token of the group (§5:
    token-level PR ablation and PRIME).

    Shapes: ``token_rewards, response_mask (N, L)``, ``step_group (N,)`` -> ``(N, L)``
    float32, zero off the response mask (prompt and padding).

    ```pycon
    >>> token_step_advantages(torch.tensor([[0., 1.], [0., 3.]]), torch.tensor([[0., 1.], [0., 1.]]),
    ...                       torch.tensor([0, 0])).tolist()
    [[0.0, -0.7071062922477722], [0.0, 0.7071062922477722]]

    ```
    """
    mask = response_mask.bool()
    token_group = step_group[:, None].expand_as(token_rewards)[mask]
    out = torch.zeros_like(token_rewards, dtype=torch.float32)
    out[mask] = step_advantages(token_rewards[mask].float(), token_group, eps=eps)
    return out


def mix_token_advantages(episode_adv_per_step: torch.Tensor, token_adv: torch.Tensor,
                         response_mask: torch.Tensor, alpha: float) -> torch.Tensor:
    """Token-level mix ``A(t, k) = (A_E(tau) + alpha * A_S(t, k)) * mask`` (§5), ``alpha >= 0``.

    Shapes: ``episode_adv_per_step (N,)``, ``token_adv, response_mask (N, L)`` -> ``(N, L)``,
    zero off the response mask.

    ```pycon
    >>> mix_token_advantages(torch.tensor([1., 2.]), torch.tensor([[0., 2.], [0., 1.]]),
    ...                      torch.tensor([[0., 1.], [0., 1.]]), alpha=0.5).tolist()
    [[0.0, 2.0], [0.0, 2.5]]

    ```
    """
    _check_alpha(alpha)
    if token_adv.shape != response_mask.shape or token_adv.shape[:1] != episode_adv_per_step.shape:
        raise ValueError(f"shape mismatch: {tuple(episode_adv_per_step.shape)}, "
                         f"{tuple(token_adv.shape)}, {tuple(response_mask.shape)}")
    return (episode_adv_per_step[:, None] + alpha * token_adv) * response_mask
