"""GiGPO baseline: anchor-state step groups and discounted step returns (docs/algorithm.md §5).

GiGPO (arXiv 2505.10978) adds a step term to the GRPO episode advantage:
steps of the same task group whose observation is identical form an
**anchor group**; each step's discounted return is normalised inside its
anchor group, and ``A = A_E + w * A_step``.
"""
from __future__ import annotations

from typing import Callable, Hashable, Sequence

import torch

from rllib_istar.core.segments import compact_ids, seg_centred, seg_count, seg_zscore

__all__ = [
    "ANCHOR_NORMS",
    "anchor_ids",
    "discounted_returns",
    "anchor_step_advantages",
]


def anchor_ids(group_ids: torch.Tensor, anchor_keys: Sequence[Hashable]) -> torch.Tensor:
    """Id of each step's anchor group: same task group AND same anchor key.

    Shapes: ``group_ids (N,)`` int, ``anchor_keys`` a length-``N`` sequence
    of hashables (e.g. the observation text, or ``bytes`` of an image) ->
    ``(N,)`` long in ``0..K-1``, numbered by first appearance. Equal keys in
    different groups never share an id.

    ```pycon
    >>> anchor_ids(torch.tensor([0, 0, 0, 1]), ["a", "b", "a", "a"]).tolist()
    [0, 1, 0, 2]

    ```
    """
    groups = group_ids.tolist()
    if len(anchor_keys) != len(groups):
        raise ValueError(f"anchor_keys has {len(anchor_keys)} entries for {len(groups)} steps")
    table: dict[tuple, int] = {}
    out = [table.setdefault((g, k), len(table)) for g, k in zip(groups, anchor_keys)]
    return torch.tensor(out, dtype=torch.long, device=group_ids.device)


def discounted_returns(rewards: torch.Tensor, traj_ids: torch.Tensor, step_index: torch.Tensor,
                       gamma: float) -> torch.Tensor:
    """``R_t = sum_{k >= t} gamma^(k - t) r_k`` over the later steps of the same trajectory.

    Shapes: ``rewards (N,)`` float, ``traj_ids (N,)`` int, ``step_index
    (N,)`` int >= 0 (position of the step in its trajectory) -> ``(N,)``.
    Steps may arrive in any order; exponents use the step indices, so a gap
    in the indices is discounted as missing steps with reward 0. A repeated
    ``(traj, step_index)`` raises ValueError. Runs one vectorised pass per
    step position (``max steps`` iterations), not per step.

    Example, gamma 0.5, rewards (1, 0, 4) at steps (0, 1, 2) given
    shuffled: R = (1 + 0 + 0.25*4, 0 + 0.5*4, 4) = (2, 2, 4).

    ```pycon
    >>> discounted_returns(torch.tensor([4., 1., 0.]), torch.tensor([9, 9, 9]),
    ...                    torch.tensor([2, 0, 1]), gamma=0.5).tolist()
    [4.0, 2.0, 2.0]

    ```
    """
    if not 0.0 <= gamma <= 1.0:
        raise ValueError(f"gamma must be in [0, 1], got {gamma}")
    n = rewards.shape[0]
    if n == 0:
        return rewards.clone()
    traj, num_traj = compact_ids(traj_ids)
    idx = step_index.long()
    if bool((idx < 0).any()):
        raise ValueError("step_index must be >= 0")
    # sort by (trajectory, step index): two stable sorts
    order = torch.sort(idx, stable=True).indices
    order = order[torch.sort(traj[order], stable=True).indices]
    t_sorted, i_sorted = traj[order], idx[order]
    if bool(((t_sorted[1:] == t_sorted[:-1]) & (i_sorted[1:] == i_sorted[:-1])).any()):
        raise ValueError("duplicate (trajectory, step_index) in discounted_returns")
    count = seg_count(traj, num_traj, dtype=torch.long)
    start = torch.cumsum(count, 0) - count
    rank = torch.arange(n, device=rewards.device) - start[t_sorted]
    length = int(count.max())
    # padded (num_traj, length) views of rewards and indices
    r_pad = rewards.new_zeros((num_traj, length))
    i_pad = torch.zeros((num_traj, length), dtype=torch.long, device=rewards.device)
    valid = torch.zeros((num_traj, length), dtype=torch.bool, device=rewards.device)
    r_pad = r_pad.index_put((t_sorted, rank), rewards[order])
    i_pad[t_sorted, rank] = i_sorted
    valid[t_sorted, rank] = True
    cols = [r_pad[:, length - 1]]
    for j in range(length - 2, -1, -1):
        gap = (i_pad[:, j + 1] - i_pad[:, j]).clamp(min=0).to(rewards.dtype)
        nxt = torch.where(valid[:, j + 1], (gamma ** gap) * cols[-1], torch.zeros_like(cols[-1]))
        cols.append(r_pad[:, j] + nxt)
    ret_pad = torch.stack(cols[::-1], dim=1)
    out = rewards.new_zeros(n)
    return out.index_put((order,), ret_pad[t_sorted, rank])


def _norm_mean(returns: torch.Tensor, ids: torch.Tensor, k: int, eps: float) -> torch.Tensor:
    return seg_centred(returns, ids, k)


#: Normalisation inside an anchor group: ``std`` = z-score (unbiased std),
#: ``mean`` = subtract the anchor-group mean (verl-agent's ``mean_norm``).
ANCHOR_NORMS: dict[str, Callable[[torch.Tensor, torch.Tensor, int, float], torch.Tensor]] = {
    "std": seg_zscore,
    "mean": _norm_mean,
}


def anchor_step_advantages(returns: torch.Tensor, anchor_ids: torch.Tensor, norm: str = "std",
                           eps: float = 1e-6) -> torch.Tensor:
    """GiGPO step advantage: the return normalised inside its anchor group.

    Shapes: ``returns (N,)``, ``anchor_ids (N,)`` int (any values) -> ``(N,)``.
    ``norm`` in ``ANCHOR_NORMS`` (mean, std). A singleton anchor group
    gives 0 under both norms (verl-agent leaves it unnormalised under std;
    we give 0, since one return carries no comparison).

    ```pycon
    >>> anchor_step_advantages(torch.tensor([3., 1., 7.]), torch.tensor([0, 0, 1]), "mean").tolist()
    [1.0, -1.0, 0.0]

    ```
    """
    if norm not in ANCHOR_NORMS:
        raise ValueError(f"unknown anchor normalisation {norm!r}; valid: " + ", ".join(sorted(ANCHOR_NORMS)))
    ids, k = compact_ids(anchor_ids)
    return ANCHOR_NORMS[norm](returns, ids, k, eps)
