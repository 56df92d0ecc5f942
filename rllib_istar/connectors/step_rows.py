"""The learner's batch, typed: step columns, trajectory columns and candidates apart.

One learner update reads three tables that index different things:

* **steps** ``(N, ...)``: one row per env step (the unit of credit, docs/algorithm.md
  "Objects"): ``input_ids``, ``attention_mask``, ``response_mask``, ``rollout_logp``
  ``(N, L)``; ``step_traj``, ``step_group``, ``step_index``, ``anchor``, ``env_reward``,
  ``step_oracle``, ``step_state`` ``(N,)``; ``images (N, H, W, 3)`` for image envs;
* **trajectories** ``(M,)``: ``traj_outcome``, ``traj_group``, ``traj_won``
  (``step_traj`` indexes them);
* **candidates** ``(K, ...)``: the same-state candidates (``cand_*``; ``cand_row``
  indexes the steps), present only where the env labels its admissible actions.

:class:`StepRows` keeps them apart, checks each table's leading size at construction,
and moves (:meth:`StepRows.to`) or slices step rows (:meth:`StepRows.slice`) without
touching the other two. It is a read-only ``Mapping`` from column name to tensor, so
``rows[columns.X]``, ``columns.X in rows`` and ``rows.get`` read any column; every
function that reads columns also accepts a plain dict of them.
"""
from __future__ import annotations

from typing import Dict, Iterable, Iterator, Mapping, Optional, Union

import torch

from rllib_istar import columns as C

__all__ = ["StepRows", "STEP_COLUMNS", "TRAJECTORY_COLUMNS", "CANDIDATE_COLUMNS"]

#: Columns with one entry per env step (leading size N).
STEP_COLUMNS = (C.INPUT_IDS, C.ATTENTION_MASK, C.RESPONSE_MASK, C.ROLLOUT_LOGP, C.STEP_TRAJ,
                C.STEP_GROUP, C.STEP_INDEX, C.ENV_REWARD, C.STEP_ORACLE, C.ANCHOR, C.IMAGES,
                C.STEP_STATE, C.STEP_POLICY_VERSION)
#: Columns with one entry per trajectory (leading size M).
TRAJECTORY_COLUMNS = (C.TRAJ_OUTCOME, C.TRAJ_GROUP, C.TRAJ_WON)
#: Columns with one entry per same-state candidate (leading size K).
CANDIDATE_COLUMNS = (C.CAND_INPUT_IDS, C.CAND_ATTENTION_MASK, C.CAND_RESPONSE_MASK,
                     C.CAND_LABEL, C.CAND_ROW, C.CAND_STATE)

_TABLES = (("steps", STEP_COLUMNS), ("trajectories", TRAJECTORY_COLUMNS),
           ("candidates", CANDIDATE_COLUMNS))
Index = Union[slice, torch.Tensor]


def _leading_size(table: str, columns: Mapping[str, torch.Tensor]) -> int:
    """The shared first dimension of ``columns``; ValueError naming the odd one out."""
    sizes = {name: int(t.shape[0]) for name, t in columns.items()}
    if len(set(sizes.values())) > 1:
        raise ValueError(f"StepRows: the {table} columns disagree on their first dimension "
                         f"{sizes}; every {table} column needs one entry per row")
    return next(iter(sizes.values()), 0)


class StepRows(Mapping):
    """``N`` step rows, ``M`` trajectories and ``K`` candidates of one batch.

    >>> rows = StepRows.from_columns({C.INPUT_IDS: torch.zeros(3, 4, dtype=torch.long),
    ...                               C.STEP_TRAJ: torch.tensor([0, 0, 1]),
    ...                               C.TRAJ_OUTCOME: torch.tensor([1.0, 0.0])})
    >>> rows.num_steps, rows.num_trajectories, rows.num_candidates
    (3, 2, 0)
    >>> rows.slice(slice(1, 3), [C.STEP_TRAJ])
    {'step_traj': tensor([0, 1])}
    """

    __slots__ = ("steps", "trajectories", "candidates", "num_steps", "num_trajectories",
                 "num_candidates")

    def __init__(self, steps: Mapping[str, torch.Tensor],
                 trajectories: Mapping[str, torch.Tensor],
                 candidates: Optional[Mapping[str, torch.Tensor]] = None):
        tables = {"steps": dict(steps), "trajectories": dict(trajectories),
                  "candidates": dict(candidates or {})}
        for table, allowed in _TABLES:
            odd = sorted(set(tables[table]) - set(allowed))
            if odd:
                raise ValueError(f"StepRows: {odd} are not {table} columns; {table} columns "
                                 f"are {list(allowed)} (rllib_istar.columns)")
        self.steps: Dict[str, torch.Tensor] = tables["steps"]
        self.trajectories: Dict[str, torch.Tensor] = tables["trajectories"]
        self.candidates: Dict[str, torch.Tensor] = tables["candidates"]
        self.num_steps = _leading_size("steps", self.steps)
        self.num_trajectories = _leading_size("trajectories", self.trajectories)
        self.num_candidates = _leading_size("candidates", self.candidates)

    @classmethod
    def from_columns(cls, columns: Mapping[str, torch.Tensor]) -> "StepRows":
        """Sort a flat ``{column: tensor}`` into the three tables by column name;
        ValueError for a name that belongs to none."""
        if isinstance(columns, StepRows):
            return columns
        known = {name: table for table, names in _TABLES for name in names}
        unknown = sorted(set(columns) - set(known))
        if unknown:
            raise ValueError(f"StepRows: unknown column(s) {unknown}; step rows hold "
                             f"{sorted(known)} (rllib_istar.columns)")
        tables: Dict[str, Dict[str, torch.Tensor]] = {t: {} for t, _ in _TABLES}
        for name, tensor in columns.items():
            tables[known[name]][name] = tensor
        return cls(**tables)

    # ------------------------------------------------------------ Mapping
    def __getitem__(self, key: str) -> torch.Tensor:
        for table in (self.steps, self.trajectories, self.candidates):
            if key in table:
                return table[key]
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        yield from self.steps
        yield from self.trajectories
        yield from self.candidates

    def __len__(self) -> int:
        """The number of columns (``Mapping``); :attr:`num_steps` counts the rows."""
        return len(self.steps) + len(self.trajectories) + len(self.candidates)

    def __repr__(self) -> str:
        return (f"StepRows(steps={self.num_steps} x {sorted(self.steps)}, "
                f"trajectories={self.num_trajectories} x {sorted(self.trajectories)}, "
                f"candidates={self.num_candidates} x {sorted(self.candidates)})")

    # ------------------------------------------------------------ moves
    def to(self, device: Union[str, torch.device]) -> "StepRows":
        """Every column on ``device`` (columns already there are not copied)."""
        return StepRows(*({k: v.to(device) for k, v in table.items()}
                          for table in (self.steps, self.trajectories, self.candidates)))

    def slice(self, index: Index, columns: Optional[Iterable[str]] = None
              ) -> Dict[str, torch.Tensor]:
        """The step columns (all, or those of ``columns`` this batch holds) of the rows
        ``index`` selects (a slice or an index tensor). Trajectory and candidate columns
        index other things and are never sliced by step: asking for one is a ValueError."""
        if columns is None:
            names = list(self.steps)
        else:
            columns = list(columns)
            odd = [c for c in columns if c not in STEP_COLUMNS]
            if odd:
                raise ValueError(f"StepRows.slice: {odd} are not step columns; read them "
                                 "whole (rows[name])")
            names = [c for c in columns if c in self.steps]
        return {name: self.steps[name][index] for name in names}
