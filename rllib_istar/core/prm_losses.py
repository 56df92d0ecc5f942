"""Losses that train the implicit PRM (docs/algorithm.md §2 and PRIME, §5).

* :func:`preference_pairs` builds ``(winner, loser)`` trajectory pairs inside
  each group from the outcomes.
* :func:`trajectory_dpo_loss` is the trajectory-level DPO loss with the
  rolling reference ``pi_old``: ``Q(tau) = agg_t step_logratio(t)`` and
  ``L = -mean_pairs log sigmoid(beta * (Q(tau+) - Q(tau-)))``.
* :func:`prime_ce_loss` is PRIME's cross-entropy on binary outcomes
  (arXiv 2502.01456): the summed implicit reward of a row is a logit.
* :func:`winner_token_weights` weighs the response tokens of the pairs' winners for the
  negative log-likelihood term that can ride with the DPO loss (``prm_nll_coef``).

Metric values are 0-dim detached tensors (no device sync), except counts
read from shapes, which are python floats.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import torch
import torch.nn.functional as F

from rllib_istar import metrics as M
from rllib_istar.core.segments import compact_ids, masked_sum, seg_mean, seg_sum

__all__ = [
    "DPOOutput",
    "CEOutput",
    "TRAJ_AGGREGATIONS",
    "preference_pairs",
    "groups_without_pairs",
    "pair_accuracy",
    "trajectory_logratio",
    "trajectory_dpo_loss",
    "trajectory_dpo_loss_share",
    "prime_ce_loss",
    "winner_token_weights",
]

#: How step log-ratios become a trajectory score ``Q(tau)`` (docs/algorithm.md §2):
#: ``sum`` is the paper's theorem, ``mean`` the authors' released code.
TRAJ_AGGREGATIONS: dict[str, Callable[[torch.Tensor, torch.Tensor, int], torch.Tensor]] = {
    "sum": seg_sum,
    "mean": seg_mean,
}


class DPOOutput(NamedTuple):
    """``loss``: scalar; ``metrics``: dict; ``traj_logratio``: ``(M,)`` Q per trajectory, detached."""

    loss: torch.Tensor
    metrics: dict
    traj_logratio: torch.Tensor


class CEOutput(NamedTuple):
    """``loss``: scalar; ``metrics``: dict (``ce_loss``, ``acc``, ``num_rows``)."""

    loss: torch.Tensor
    metrics: dict


def _zero_loss(x: torch.Tensor) -> torch.Tensor:
    """A 0-dim zero that keeps ``x``'s graph (zero, finite gradient even if ``x`` has nan)."""
    return torch.where(torch.zeros_like(x, dtype=torch.bool), x, torch.zeros_like(x)).sum()


def preference_pairs(outcomes: torch.Tensor, group_ids: torch.Tensor,
                     margin: float = 0.0) -> torch.Tensor:
    """All within-group ``(winner, loser)`` pairs with ``outcome[w] - outcome[l] > margin``.

    Shapes: ``outcomes (M,)`` float, ``group_ids (M,)`` int (any values) ->
    ``(P, 2)`` long of trajectory indices ``0..M-1``. docs/algorithm.md §2:
    binary success gives every success x every failure; graded outcomes
    give every pair differing by more than ``margin`` (``margin >= 0``).
    Rows are sorted by group id, then winner, then loser.

    ```pycon
    >>> preference_pairs(torch.tensor([1., 0., 0., 1., 0.]), torch.tensor([0, 0, 0, 0, 1])).tolist()
    [[0, 1], [0, 2], [3, 1], [3, 2]]

    ```
    """
    if margin < 0:
        raise ValueError(f"pair margin must be >= 0, got {margin}")
    outcomes = outcomes.detach()
    same = group_ids[:, None] == group_ids[None, :]
    better = (outcomes[:, None] - outcomes[None, :]) > margin
    pairs = torch.nonzero(same & better, as_tuple=False)  # row-major: (winner, loser) sorted
    if pairs.numel() == 0:
        return torch.zeros((0, 2), dtype=torch.long, device=outcomes.device)
    order = torch.sort(group_ids[pairs[:, 0]], stable=True).indices
    return pairs[order].long()


def groups_without_pairs(outcomes: torch.Tensor, group_ids: torch.Tensor,
                         margin: float = 0.0) -> int:
    """Number of groups that yield no preference pair (the cold-start count, §2).

    Shapes: ``outcomes (M,)``, ``group_ids (M,)`` -> python int.

    ```pycon
    >>> groups_without_pairs(torch.tensor([1., 0., 1., 1.]), torch.tensor([0, 0, 1, 1]))
    1

    ```
    """
    gid, num_groups = compact_ids(group_ids)
    pairs = preference_pairs(outcomes, gid, margin)
    with_pairs = torch.unique(gid[pairs[:, 0]]).numel() if pairs.numel() else 0
    return num_groups - with_pairs


def pair_accuracy(traj_logratio: torch.Tensor, pairs: torch.Tensor) -> torch.Tensor:
    """Fraction of pairs with ``Q(tau+) > Q(tau-)`` (0 when there is no pair).

    Shapes: ``traj_logratio (M,)``, ``pairs (P, 2)`` long -> 0-dim detached.

    ```pycon
    >>> pair_accuracy(torch.tensor([2., 1., 3.]), torch.tensor([[0, 1], [0, 2]])).item()
    0.5

    ```
    """
    q = traj_logratio.detach()
    if pairs.shape[0] == 0:
        return q.new_zeros(())
    return (q[pairs[:, 0]] > q[pairs[:, 1]]).to(q.dtype).mean()


def trajectory_logratio(step_logratio: torch.Tensor, traj_ids: torch.Tensor,
                        num_trajectories: int, agg: str = "sum") -> torch.Tensor:
    """``Q(tau) = agg`` over the steps of ``tau`` of the step log-ratios (§2).

    Shapes: ``step_logratio (N,)``, ``traj_ids (N,)`` long in ``0..M-1`` ->
    ``(M,)``; differentiable. ``agg`` in ``TRAJ_AGGREGATIONS`` (sum, mean).

    ```pycon
    >>> trajectory_logratio(torch.tensor([1., 3., 2.]), torch.tensor([0, 0, 1]), 2, "mean").tolist()
    [2.0, 2.0]

    ```
    """
    if agg not in TRAJ_AGGREGATIONS:
        raise ValueError(f"unknown trajectory aggregation {agg!r}; valid: "
                         + ", ".join(sorted(TRAJ_AGGREGATIONS)))
    return TRAJ_AGGREGATIONS[agg](step_logratio, traj_ids, num_trajectories)


def trajectory_dpo_loss(step_logratio: torch.Tensor, traj_ids: torch.Tensor, pairs: torch.Tensor,
                        beta: float, agg: str = "sum",
                        num_trajectories: int | None = None) -> DPOOutput:
    """Trajectory-level DPO loss of the implicit PRM (docs/algorithm.md §2).

    Shapes: ``step_logratio (N,)`` float, the unscaled per-step
    ``sum_k (log pi_phi - log pi_old)`` (:func:`step_rewards.step_logratio`),
    **not detached** (it must carry the PRM's graph); ``traj_ids (N,)``
    long, the trajectory index ``0..M-1`` of each step (the index space of
    ``pairs``); ``pairs (P, 2)`` long ``(winner, loser)``. ``num_trajectories``
    defaults to ``1 + max(traj_ids, pairs)``.

        Q(tau) = agg_t step_logratio(t);  loss = -mean_p log sigmoid(beta (Q(w) - Q(l)))

    No pairs gives a zero loss that keeps the graph (zero gradients, no
    NaN). Steps of trajectories in no pair get exactly zero gradient.
    Metrics: ``dpo_loss``, ``pair_acc`` (0 when ``num_pairs`` is 0),
    ``num_pairs``, ``margin_mean`` (mean of ``Q(w) - Q(l)``, 0 without pairs).

    Example: two one-step trajectories, Q = (1, 0), beta 1:
    ``-log sigmoid(1) = 0.3133``.

    ```pycon
    >>> out = trajectory_dpo_loss(torch.tensor([1., 0.]), torch.tensor([0, 1]),
    ...                           torch.tensor([[0, 1]]), beta=1.0)
    >>> round(out.loss.item(), 4), out.metrics["pair_acc"].item(), out.metrics["num_pairs"]
    (0.3133, 1.0, 1.0)

    ```
    """
    traj_ids = traj_ids.long()
    pairs = pairs.long().reshape(-1, 2)
    if num_trajectories is None:
        top = [int(traj_ids.max()) if traj_ids.numel() else -1,
               int(pairs.max()) if pairs.numel() else -1]
        num_trajectories = max(top) + 1
    q = trajectory_logratio(step_logratio, traj_ids, num_trajectories, agg)
    num_pairs = int(pairs.shape[0])
    if num_pairs == 0:
        loss = _zero_loss(step_logratio)
        zero = loss.detach()
        metrics = {M.DPO_LOSS: zero, M.PAIR_ACC: zero, M.NUM_PAIRS: 0.0, M.MARGIN_MEAN: zero}
        return DPOOutput(loss, metrics, q.detach())
    delta = q[pairs[:, 0]] - q[pairs[:, 1]]
    loss = -F.logsigmoid(beta * delta).mean()
    metrics = {
        M.DPO_LOSS: loss.detach(),
        M.PAIR_ACC: pair_accuracy(q, pairs),
        M.NUM_PAIRS: float(num_pairs),
        M.MARGIN_MEAN: delta.detach().mean(),
    }
    return DPOOutput(loss, metrics, q.detach())


def trajectory_dpo_loss_share(step_logratio: torch.Tensor, traj_ids: torch.Tensor,
                              pairs: torch.Tensor, beta: float, agg: str,
                              num_trajectories: int, total_pairs: int) -> torch.Tensor:
    """The share of :func:`trajectory_dpo_loss`'s loss owed to the pairs that lie inside
    these steps: ``-sum_{p inside} log sigmoid(beta (Q(w) - Q(l))) / total_pairs``.

    A pair lies inside when both its trajectories have steps here; the steps given must
    then be *all* the steps of each such trajectory (micro-batches of whole groups, §2
    pairs never cross a group). Summed over micro-batches that partition the batch, the
    shares are the whole loss, so each micro-batch can back-propagate its own share in
    one forward-backward. Shapes: ``step_logratio (n,)`` (with its graph), ``traj_ids
    (n,)`` long in ``0..num_trajectories-1``, ``pairs (P, 2)`` long -> 0-dim; a zero that
    keeps the graph when no pair lies inside; ValueError when a pair has only one of its
    trajectories here.

    ```pycon
    >>> s, traj = torch.tensor([1., 0., 2., -1.]), torch.tensor([0, 1, 2, 3])
    >>> pairs = torch.tensor([[0, 1], [2, 3]])
    >>> whole = trajectory_dpo_loss(s, traj, pairs, beta=1.0).loss
    >>> parts = [trajectory_dpo_loss_share(s[i], traj[i], pairs, 1.0, "sum", 4, 2)
    ...          for i in (torch.tensor([0, 1]), torch.tensor([2, 3]))]
    >>> bool(torch.isclose(parts[0] + parts[1], whole))
    True

    ```
    """
    traj_ids, pairs = traj_ids.long(), pairs.long().reshape(-1, 2)
    present = torch.zeros(num_trajectories, dtype=torch.bool, device=traj_ids.device)
    present[traj_ids] = True
    winner_in, loser_in = present[pairs[:, 0]], present[pairs[:, 1]]
    if bool((winner_in ^ loser_in).any()):
        raise ValueError("trajectory_dpo_loss_share: a preference pair has one trajectory "
                         "here and the other elsewhere; split the batch by whole groups")
    inside = pairs[winner_in & loser_in]
    if inside.shape[0] == 0 or total_pairs == 0:
        return _zero_loss(step_logratio)
    q = trajectory_logratio(step_logratio, traj_ids, num_trajectories, agg)
    delta = q[inside[:, 0]] - q[inside[:, 1]]
    if inside.shape[0] == total_pairs:  # every pair: the whole loss, as trajectory_dpo_loss
        return -F.logsigmoid(beta * delta).mean()
    return -F.logsigmoid(beta * delta).sum() / total_pairs


def prime_ce_loss(token_logratio: torch.Tensor, response_mask: torch.Tensor,
                  labels: torch.Tensor, beta: float) -> CEOutput:
    """PRIME's implicit-PRM cross-entropy on binary outcomes (arXiv 2502.01456).

    Shapes: ``token_logratio (N, T)`` float, unscaled ``log pi_phi - log
    pi_old`` per token; ``response_mask (N, T)``; ``labels (N,)`` in {0, 1}
    (the outcome of the row's trajectory). Per row the logit is
    ``r = beta * sum_{masked k} token_logratio``; the loss is the mean over
    rows of ``BCEWithLogits(r, label)``. Metrics: ``ce_loss``, ``acc``
    (fraction of rows with ``r > 0`` exactly when ``label == 1``),
    ``num_rows``.

    Example: r = 1 * (2 + 0) = 2 with label 1: ``log(1 + e^-2) = 0.1269``.

    ```pycon
    >>> out = prime_ce_loss(torch.tensor([[2., 0., 9.]]), torch.tensor([[1, 1, 0]]),
    ...                     torch.tensor([1.]), beta=1.0)
    >>> round(out.loss.item(), 4), out.metrics["acc"].item()
    (0.1269, 1.0)

    ```
    """
    logits = beta * masked_sum(token_logratio, response_mask, dim=-1)
    target = labels.to(logits.dtype).detach()
    if logits.numel() == 0:
        loss = _zero_loss(token_logratio)
        zero = loss.detach()
        return CEOutput(loss, {M.PRM_CE_LOSS: zero, M.PRM_CE_ACC: zero, M.NUM_ROWS: 0.0})
    loss = F.binary_cross_entropy_with_logits(logits, target)
    acc = ((logits.detach() > 0) == (target > 0.5)).to(logits.dtype).mean()
    return CEOutput(loss, {M.PRM_CE_LOSS: loss.detach(), M.PRM_CE_ACC: acc, M.NUM_ROWS: float(logits.numel())})


def winner_token_weights(step_traj: torch.Tensor, pairs: torch.Tensor,
                         response_mask: torch.Tensor) -> torch.Tensor:
    """Per-row weight of the winners' NLL term: ``1 / (response tokens of all winner
    steps)`` on the steps of trajectories that win at least one pair, 0 elsewhere.

    ``sum_rows weight * (-sum_k log pi_phi)`` is then the mean NLL per winner response
    token, the term DPO + NLL (RPO) adds to keep probability on the preferred
    responses. Shapes: ``step_traj (N,)`` long, ``pairs (P, 2)`` long,
    ``response_mask (N, T)`` -> ``(N,)`` float; all zeros without pairs.

    Trajectory 0 wins (two steps, 2 + 1 response tokens), trajectory 1 loses:

    ```pycon
    >>> w = winner_token_weights(torch.tensor([0, 0, 1]), torch.tensor([[0, 1]]),
    ...                          torch.tensor([[1, 1], [1, 0], [1, 1]]))
    >>> [round(x, 4) for x in w.tolist()]
    [0.3333, 0.3333, 0.0]

    ```
    """
    mask = response_mask.to(torch.float32)
    if pairs.numel() == 0:
        return torch.zeros(len(step_traj), dtype=mask.dtype, device=mask.device)
    winners = torch.zeros(int(max(step_traj.max(), pairs.max())) + 1, dtype=torch.bool,
                          device=step_traj.device)
    winners[pairs[:, 0].long()] = True
    rows = winners[step_traj.long()].to(mask.dtype)
    tokens = (mask.sum(-1) * rows).sum().clamp(min=1.0)
    return rows / tokens
