"""Credit-quality metrics against oracle step labels (issue 15; ALGORITHM.md §3).

An env that knows which steps decided the outcome labels each step (``info``
key ``columns.ORACLE_LABEL``): ``+1`` decisive and right, ``-1`` decisive and
wrong, ``0`` not decisive, NaN unknown. A credit signal (``r_phi``, ``A_S``,
the final ``A(t)``, RLOO's or GiGPO's advantage) is good when it ranks the
right decisive steps above the wrong ones: :func:`decisive_auc`. Trajectory DPO
only fixes each winner-loser *sum* of log-ratios; :func:`decisive_gap_share`
says how much of that gap sits on the decisive steps.
"""
from __future__ import annotations

import math

import torch

from rllib_istar.core.segments import seg_sum

__all__ = ["decisive_auc", "decisive_gap_share", "mean_abs_by_decisiveness"]


def decisive_auc(scores: torch.Tensor, labels: torch.Tensor) -> float:
    """P(score of a right decisive step > score of a wrong one), ties count 1/2.

    Shapes: ``scores, labels (N,)``; only steps with label ``+1`` or ``-1`` count.
    NaN when either class is empty. (Mann-Whitney U / (n_right * n_wrong), exact,
    via pairwise comparison in chunks.)

    >>> decisive_auc(torch.tensor([3., 1., 2., 9.]), torch.tensor([1., -1., -1., 0.]))
    1.0
    >>> decisive_auc(torch.tensor([1., 1.]), torch.tensor([1., -1.]))
    0.5
    """
    scores, labels = scores.detach().double().flatten(), labels.detach().flatten()
    right, wrong = scores[labels == 1], scores[labels == -1]
    if right.numel() == 0 or wrong.numel() == 0:
        return math.nan
    total = 0.0
    for chunk in right.split(4096):
        diff = chunk[:, None] - wrong[None, :]
        total += float((diff > 0).sum()) + 0.5 * float((diff == 0).sum())
    return total / (right.numel() * wrong.numel())


def decisive_gap_share(step_logratio: torch.Tensor, step_traj: torch.Tensor, labels: torch.Tensor,
                       pairs: torch.Tensor, num_trajectories: int) -> float:
    """Share of the winner-loser log-ratio gap that lies on decisive steps.

    ``sum_pairs [D(w) - D(l)] / sum_pairs [S(w) - S(l)]`` where ``S`` is a
    trajectory's summed step log-ratio and ``D`` the same sum over its decisive
    steps (label ``+-1``). Shapes: ``step_logratio, step_traj, labels (N,)``,
    ``pairs (P, 2)`` long rows (winner, loser) -> float; NaN without pairs or
    with a zero total gap. 1.0: all of the margin DPO built is on decisive steps.

    >>> s = torch.tensor([2., 0., 0., 1.]); traj = torch.tensor([0, 0, 1, 1])
    >>> decisive_gap_share(s, traj, torch.tensor([1., 0., -1., 0.]), torch.tensor([[0, 1]]), 2)
    2.0
    """
    if pairs.numel() == 0:
        return math.nan
    s = step_logratio.detach().double()
    decisive = (labels == 1) | (labels == -1)
    total = seg_sum(s, step_traj.long(), num_trajectories)
    on_decisive = seg_sum(torch.where(decisive, s, torch.zeros_like(s)), step_traj.long(),
                          num_trajectories)
    w, lo = pairs[:, 0].long(), pairs[:, 1].long()
    gap = float((total[w] - total[lo]).sum())
    if gap == 0.0:
        return math.nan
    return float((on_decisive[w] - on_decisive[lo]).sum()) / gap


def mean_abs_by_decisiveness(values: torch.Tensor, labels: torch.Tensor) -> tuple[float, float]:
    """``(mean |v| on decisive steps, mean |v| on labelled non-decisive steps)``: the
    step term's signal against its noise. NaN for an empty class.

    >>> mean_abs_by_decisiveness(torch.tensor([2., -1., .5, 7.]), torch.tensor([1., -1., 0., float('nan')]))
    (1.5, 0.5)
    """
    v = values.detach().double().abs()
    decisive = (labels == 1) | (labels == -1)
    other = labels == 0
    return _mean_or_nan(v[decisive]), _mean_or_nan(v[other])


def _mean_or_nan(x: torch.Tensor) -> float:
    return float(x.mean()) if x.numel() else math.nan
