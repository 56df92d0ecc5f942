"""Normalisation scopes of the step advantage ``A_S`` (docs/algorithm.md §3, ``step_adv_norm``).

The paper writes ``A_S(t) = (r_phi(t) - mean(R_s)) / std(R_s)`` without saying
over which steps ``R_s`` runs. Each scope in :data:`STEP_ADV_NORMS` maps
``(step_rewards (N,), group (N,), step_index (N,), anchor (N,), eps) -> (N,)``:

* ``group``: z-score over all steps of the group (:func:`advantages.step_advantages`).
* ``group_step``: z-score over the group's steps with the same step index ``t``.
* ``anchor``: z-score over the group's steps with an identical observation (GiGPO's
  anchor states, ``anchor`` ids from ``core.gigpo.anchor_ids``); a step whose
  anchor set is a singleton falls back to ``group_step``.
* ``batch_max_abs``: ``r / max|r|`` over the batch, no centring (the authors' code).
* ``group_step_center``: ``r - mean`` over the (group, step index) set, divided by the
  std of those centred values over the batch's steps whose set has >= 2 members
  (centred locally, scaled globally: a distractor step's PRM noise stays small).

Every scope gives exactly 0 to a singleton or zero-spread set (max == min), and the
batch-scaled ones give 0 everywhere when the batch has no spread.
"""
from __future__ import annotations

from typing import Callable, Dict

import torch

from rllib_istar.core.advantages import step_advantages
from rllib_istar.core.segments import (
    compact_ids,
    seg_centred,
    seg_count,
    seg_std,
    seg_zscore,
)

__all__ = ["STEP_ADV_NORMS", "group_step_ids", "normalised_step_advantages"]

StepNorm = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, float], torch.Tensor]


def group_step_ids(group_ids: torch.Tensor, step_index: torch.Tensor) -> torch.Tensor:
    """Compact id of each step's (group, step index) set.

    Shapes: ``group_ids, step_index (N,)`` int -> ``(N,)`` long in ``0..K-1``.

    ```pycon
    >>> group_step_ids(torch.tensor([0, 0, 1, 0]), torch.tensor([0, 1, 0, 0])).tolist()
    [0, 1, 2, 0]

    ```
    """
    if group_ids.numel() == 0:
        return group_ids.long()
    g, _ = compact_ids(group_ids)
    width = int(step_index.max()) + 1
    return compact_ids(g * width + step_index.long())[0]


def _group(r, group, step, anchor, eps):
    return step_advantages(r, group, eps)   # the one group z-score (core/advantages.py)


def _group_step(r, group, step, anchor, eps):
    return step_advantages(r, group_step_ids(group, step), eps)


def _anchor(r, group, step, anchor, eps):
    ids, k = compact_ids(anchor)
    singleton = seg_count(ids, k)[ids] <= 1
    return torch.where(singleton, _group_step(r, group, step, anchor, eps), seg_zscore(r, ids, k, eps))


def _batch_max_abs(r, group, step, anchor, eps):
    scale = r.abs().max() if r.numel() else r.new_zeros(())
    return torch.where(scale > 0, r / torch.where(scale > 0, scale, torch.ones_like(scale)),
                       torch.zeros_like(r))


def _group_step_center(r, group, step, anchor, eps):
    ids, k = compact_ids(group_step_ids(group, step))
    centred = seg_centred(r, ids, k)
    shared = seg_count(ids, k)[ids] >= 2
    kept = centred[shared]
    std = seg_std(kept, torch.zeros(kept.numel(), dtype=torch.long, device=r.device), 1)[0]
    ok = std > 0
    return torch.where(ok, centred / torch.where(ok, std + eps, torch.ones_like(std)),
                       torch.zeros_like(centred))


#: ``step_adv_norm`` name -> scope (module docstring).
STEP_ADV_NORMS: Dict[str, StepNorm] = {
    "group": _group,
    "group_step": _group_step,
    "anchor": _anchor,
    "batch_max_abs": _batch_max_abs,
    "group_step_center": _group_step_center,
}


def normalised_step_advantages(norm: str, step_rewards: torch.Tensor, group_ids: torch.Tensor,
                               step_index: torch.Tensor, anchor_ids: torch.Tensor,
                               eps: float = 1e-6) -> torch.Tensor:
    """``A_S`` of each step under the scope ``norm`` (docs/algorithm.md §3).

    Shapes: ``step_rewards (N,)`` float; ``group_ids``, ``step_index``, ``anchor_ids``
    ``(N,)`` int (any values; anchors as ``core.gigpo.anchor_ids`` gives them) -> ``(N,)``.
    Unknown ``norm`` -> ValueError listing the valid ones.

    Two trajectories of one group, two steps each: rewards (1, 5) and (3, 5).
    ``group_step`` compares step 0 with step 0 (+-0.707) and gives the identical
    step 1 zero; ``group`` would rank both step-1 rewards above everything.

    ```pycon
    >>> r = torch.tensor([1., 5., 3., 5.]); g = torch.zeros(4, dtype=torch.long)
    >>> t = torch.tensor([0, 1, 0, 1])
    >>> [round(v, 3) for v in normalised_step_advantages("group_step", r, g, t, t).tolist()]
    [-0.707, 0.0, 0.707, 0.0]
    >>> [round(v, 3) for v in normalised_step_advantages("batch_max_abs", r, g, t, t).tolist()]
    [0.2, 1.0, 0.6, 1.0]

    ```
    """
    if norm not in STEP_ADV_NORMS:
        raise ValueError(f"unknown step_adv_norm {norm!r}; valid: {', '.join(STEP_ADV_NORMS)}")
    return STEP_ADV_NORMS[norm](step_rewards, group_ids, step_index, anchor_ids, eps)
