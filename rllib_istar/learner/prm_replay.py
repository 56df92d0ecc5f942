"""A replay of the PRM's recent batches (``prm_replay_batches``; docs/STEP_REWARDS.md).

Trajectory DPO needs preference pairs, not on-policy samples, so the PRM may train on
the last few batches as well as the current one: more outcome signal per iteration,
which lets the PRM learn faster than the policy it scores. Each batch keeps what the PRM
step reads (ids, masks, images, the trajectory tables) and the DPO reference log-probs
it was collected with (its own pi_old for the rolling reference, pi_init for the
initial one). Batches are held on the CPU and are part of the learner's checkpoint.
"""
from __future__ import annotations

from collections import deque
from typing import Deque, Dict, List, Mapping, Tuple

import torch

from rllib_istar import columns as C
from rllib_istar.connectors.step_rows import StepRows

__all__ = ["PRMReplay", "PRM_STEP_COLUMNS"]

#: The row columns a PRM step reads (``images`` only for image envs).
PRM_STEP_COLUMNS = (C.INPUT_IDS, C.ATTENTION_MASK, C.RESPONSE_MASK, C.IMAGES, C.STEP_TRAJ,
                    C.TRAJ_OUTCOME, C.TRAJ_GROUP, C.TRAJ_WON)

Batch = Tuple[Dict[str, torch.Tensor], torch.Tensor]


class PRMReplay:
    """The last ``capacity`` batches, oldest first. ``capacity`` 1 keeps none: the PRM
    trains on the current batch only (the paper)."""

    def __init__(self, capacity: int):
        if capacity < 1:
            raise ValueError(f"prm_replay_batches must be >= 1, got {capacity}")
        self.capacity = capacity
        self._past: Deque[Batch] = deque(maxlen=capacity - 1)

    def batches_with(self, rows: Mapping[str, torch.Tensor], ref_logp: torch.Tensor) -> List[Batch]:
        """The stored batches (moved to ``rows``' device), oldest first, then the current
        one; the current batch is then stored (the oldest drops out)."""
        device = ref_logp.device
        out = [(StepRows.from_columns(r).to(device), ref.to(device)) for r, ref in self._past]
        out.append((rows, ref_logp))
        if self.capacity > 1:
            self._past.append(({k: rows[k].detach().cpu() for k in PRM_STEP_COLUMNS if k in rows},
                               ref_logp.detach().cpu()))
        return out

    def __len__(self) -> int:
        return len(self._past)

    def get_state(self) -> List[Batch]:
        return list(self._past)

    def set_state(self, state: List[Batch]) -> None:
        self._past.clear()
        self._past.extend(state[-(self.capacity - 1):] if self.capacity > 1 else [])
