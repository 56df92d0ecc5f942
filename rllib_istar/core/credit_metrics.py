"""Credit-quality metrics against oracle step labels (docs/algorithm.md §2a, §3).

An env that knows which steps decided the outcome labels each step (``info``
key ``columns.ORACLE_LABEL``): ``+1`` decisive and right, ``-1`` decisive and
wrong, ``0`` not decisive, NaN unknown. A credit signal (``r_phi``, ``A_S``,
the final ``A(t)``, RLOO's or GiGPO's advantage) is good when it ranks the
right decisive steps above the wrong ones: :func:`decisive_auc`. Trajectory DPO
only fixes each winner-loser *sum* of log-ratios; :func:`decisive_gap_share`
says how much of that gap sits on the decisive steps.

:func:`decisive_auc` pools steps of *different* prompts, so it also measures which
prompts the policy gets right and how each prompt drifted. The same-state metric
(:func:`same_state_accuracy`) compares a right and a wrong action only at the same
prompt: every labelled admissible action scored there (the learner's candidates), or
the sampled steps that share a prompt. :func:`counterfactual_step_advantages` gives
the ``A_S`` a candidate action would have had in the sampled step's place.
"""
from __future__ import annotations

import math

import torch

from rllib_istar.core.segments import seg_sum
from rllib_istar.core.step_norms import normalised_step_advantages

__all__ = ["decisive_auc", "decisive_gap_share", "mean_abs_by_decisiveness",
           "same_state_accuracy", "counterfactual_step_advantages"]


def decisive_auc(scores: torch.Tensor, labels: torch.Tensor) -> float:
    """P(score of a right decisive step > score of a wrong one), ties count 1/2.

    Shapes: ``scores, labels (N,)``; only steps with label ``+1`` or ``-1`` count.
    NaN when either class is empty. (Mann-Whitney U / (n_right * n_wrong), exact,
    via pairwise comparison in chunks.)

    ```pycon
    >>> decisive_auc(torch.tensor([3., 1., 2., 9.]), torch.tensor([1., -1., -1., 0.]))
    1.0
    >>> decisive_auc(torch.tensor([1., 1.]), torch.tensor([1., -1.]))
    0.5

    ```
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

    ```pycon
    >>> s = torch.tensor([2., 0., 0., 1.]); traj = torch.tensor([0, 0, 1, 1])
    >>> decisive_gap_share(s, traj, torch.tensor([1., 0., -1., 0.]), torch.tensor([[0, 1]]), 2)
    2.0

    ```
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

    ```pycon
    >>> mean_abs_by_decisiveness(torch.tensor([2., -1., .5, 7.]), torch.tensor([1., -1., 0., float('nan')]))
    (1.5, 0.5)

    ```
    """
    v = values.detach().double().abs()
    decisive = (labels == 1) | (labels == -1)
    other = labels == 0
    return _mean_or_nan(v[decisive]), _mean_or_nan(v[other])


def _mean_or_nan(x: torch.Tensor) -> float:
    return float(x.mean()) if x.numel() else math.nan


def same_state_accuracy(scores: torch.Tensor, labels: torch.Tensor,
                        states: torch.Tensor) -> tuple[float, int]:
    """``(P(score of right > score of wrong at the same state), number of such pairs)``;
    ties count 1/2, NaN without a pair.

    Every (right, wrong) pair that shares a state id counts once: label ``+1`` against
    label ``-1``, both with ``state >= 0``. Shapes: ``scores, labels, states (K,)``.
    Unlike :func:`decisive_auc`, a right action at one prompt is never compared with a
    wrong action at another.

    State 0: right 1.0 beats both wrongs; state 1: right 0.2 loses to wrong 0.3. The
    pooled AUC of the same numbers is 0.5 (0.2 < 0.3 < 0.4 < 0.5 < 1.0).

    ```pycon
    >>> same_state_accuracy(torch.tensor([1., .4, .5, .2, .3]),
    ...                     torch.tensor([1., -1., -1., 1., -1.]), torch.tensor([0, 0, 0, 1, 1]))
    (0.6666666666666666, 3)
    >>> decisive_auc(torch.tensor([1., .4, .5, .2, .3]), torch.tensor([1., -1., -1., 1., -1.]))
    0.5

    ```
    """
    scores = scores.detach().double().flatten()
    labels, states = labels.detach().flatten(), states.detach().flatten()
    right = (labels == 1) & (states >= 0)
    wrong = (labels == -1) & (states >= 0)
    same = states[right][:, None] == states[wrong][None, :]
    pairs = int(same.sum())
    if pairs == 0:
        return math.nan, 0
    diff = scores[right][:, None] - scores[wrong][None, :]
    wins = float(((diff > 0) & same).sum()) + 0.5 * float(((diff == 0) & same).sum())
    return wins / pairs, pairs


def counterfactual_step_advantages(norm: str, step_rewards: torch.Tensor,
                                   cand_rewards: torch.Tensor, cand_row: torch.Tensor,
                                   group_ids: torch.Tensor, step_index: torch.Tensor,
                                   anchor_ids: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """``A_S`` each candidate would get in place of its row's sampled step (§3).

    For candidate ``k``: replace ``step_rewards[cand_row[k]]`` by ``cand_rewards[k]``,
    normalise the batch with the scope ``norm``
    (:func:`~rllib_istar.core.step_norms.normalised_step_advantages`) and read row
    ``cand_row[k]``. Shapes: ``step_rewards, group_ids, step_index, anchor_ids (N,)``;
    ``cand_rewards, cand_row (K,)`` -> ``(K,)``. O(K N).

    One group, step 0 of two trajectories with r = (1, 3); a candidate of r = 5 at row
    0 is z-scored against the 3: +0.707.

    ```pycon
    >>> r = torch.tensor([1., 3.]); z = torch.zeros(2, dtype=torch.long)
    >>> [round(v, 3) for v in counterfactual_step_advantages(
    ...     "group_step", r, torch.tensor([5., 1.]), torch.tensor([0, 0]), z, z, z).tolist()]
    [0.707, -0.707]

    ```
    """
    out = torch.empty(len(cand_rewards), dtype=step_rewards.dtype, device=step_rewards.device)
    for k in range(len(cand_rewards)):
        r = step_rewards.clone()
        r[cand_row[k]] = cand_rewards[k]
        out[k] = normalised_step_advantages(norm, r, group_ids, step_index, anchor_ids, eps)[cand_row[k]]
    return out
