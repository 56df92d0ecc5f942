"""Micro-batching shared by the learner's passes: row slices, token-budget groups, the
DDP padding that keeps every rank's backward count equal, and no-grad log-prob passes.

Pure torch (no Ray). :class:`Microbatcher` is built by the learner from its config and
handed to the PRM phase and the policy's micro-batched update, so both pad and slice
the same way.
"""
from __future__ import annotations

from typing import Callable, Dict, List, Mapping, Sequence, Tuple, TypeVar

import torch

from rllib_istar import columns as C

T = TypeVar("T")


def token_budget_slices(lengths: List[int], budget: int) -> List[List[int]]:
    """Row indices grouped so that ``len(group) * max(lengths[group]) <= budget``.

    Rows are taken longest first (less padding per micro-batch); a row longer
    than the budget forms a micro-batch of its own. Every row appears exactly once.

    >>> token_budget_slices([3, 10, 4, 9], 20)
    [[1, 3], [2, 0]]
    """
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    groups: List[List[int]] = []
    width = 0
    for i in order:
        if groups and (len(groups[-1]) + 1) * max(width, lengths[i]) <= budget:
            groups[-1].append(i)
            width = max(width, lengths[i])
        else:
            groups.append([i])
            width = lengths[i]
    return groups


def whole_group_microbatches(step_group: torch.Tensor, microbatch_size: int
                             ) -> Tuple[List[torch.Tensor], List[torch.Tensor]]:
    """Row indices of micro-batches that never split a group: ``(packed, oversized)``.

    ``packed``: consecutive groups (in order of first appearance) packed into
    micro-batches of at most ``microbatch_size`` rows, each holding whole groups;
    ``oversized``: one entry per group with more than ``microbatch_size`` rows. Shapes:
    ``step_group (N,)`` long -> lists of ``(n_i,)`` long index tensors, ascending;
    every row appears exactly once.

    >>> packed, big = whole_group_microbatches(torch.tensor([0, 0, 1, 2, 2, 2, 1]), 2)
    >>> [p.tolist() for p in packed], [b.tolist() for b in big]
    ([[0, 1], [2, 6]], [[3, 4, 5]])
    >>> [p.tolist() for p in whole_group_microbatches(torch.tensor([0, 1, 2, 2]), 4)[0]]
    [[0, 1, 2, 3]]
    """
    groups: Dict[int, List[int]] = {}
    for row, group in enumerate(step_group.tolist()):
        groups.setdefault(group, []).append(row)
    packed: List[torch.Tensor] = []
    oversized: List[torch.Tensor] = []
    current: List[int] = []
    for rows in groups.values():                     # in order of first appearance
        if len(rows) > microbatch_size:
            oversized.append(torch.tensor(rows, dtype=torch.long))
            continue
        if current and len(current) + len(rows) > microbatch_size:
            packed.append(torch.tensor(sorted(current), dtype=torch.long))
            current = []
        current.extend(rows)
    if current:
        packed.append(torch.tensor(sorted(current), dtype=torch.long))
    return packed, oversized


class Microbatcher:
    """Row micro-batches of ``microbatch_size`` rows on ``device``; with several DDP
    learners (``ddp``), every rank runs as many backward passes as the busiest one."""

    def __init__(self, microbatch_size: int, device, ddp: bool):
        self.microbatch_size = microbatch_size
        self.device = device
        self.ddp = ddp

    def slices(self, n: int) -> List[slice]:
        """Consecutive row slices of at most ``microbatch_size`` rows covering ``n`` rows."""
        mb = self.microbatch_size
        return [slice(i, min(i + mb, n)) for i in range(0, n, mb)]

    def synced_count(self, n: int) -> int:
        """Max of ``n`` over DDP ranks (every rank must call backward equally often)."""
        if self.ddp and torch.distributed.is_initialized():
            t = torch.tensor([n], device=self.device)
            torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MAX)
            return int(t.item())
        return n

    def padded(self, parts: Sequence[T]) -> List[Tuple[T, float]]:
        """``(part, weight)`` for every part (weight 1), then, on a rank with fewer parts
        than the busiest, zero-weight repeats of the first part so that DDP's all-reduce
        lines up. ``parts`` must not be empty when padding is needed."""
        count = self.synced_count(len(parts))
        return [(parts[i], 1.0) if i < len(parts) else (parts[0], 0.0) for i in range(count)]

    def chunked_logp(self, logp_fn: Callable, rows: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """No-grad ``logp_fn(ids, mask, response_mask=..., images=...) -> (n, L)`` over
        micro-batches, concatenated to ``(N, L)`` float32; only the response positions
        are computed. ``images`` is the rows' ``columns.IMAGES`` slice (None for text)."""
        ids, am, resp = rows[C.INPUT_IDS], rows[C.ATTENTION_MASK], rows[C.RESPONSE_MASK]
        images = rows.get(C.IMAGES)
        with torch.no_grad():
            outs = [logp_fn(ids[sl], am[sl], response_mask=resp[sl],
                            images=None if images is None else images[sl]).float()
                    for sl in self.slices(len(ids))]
        return torch.cat(outs) if outs else torch.zeros_like(rows[C.RESPONSE_MASK])
