"""Keep whole groups only: drop every group that env errors left too small to compare."""
from __future__ import annotations

import logging
from typing import Any, Dict, List, Tuple

from rllib_istar import columns as C

__all__ = ["whole_groups"]

logger = logging.getLogger(__name__)


def whole_groups(episodes: List[Any], groups: Dict[str, int], group_size: int,
                 env_id: Any) -> Tuple[List[Any], int]:
    """Drop every group that env errors left with fewer than 2 trajectories.

    Every estimator compares trajectories inside a group (RLOO's leave-one-out,
    GRPO's z-score, the PRM's preference pairs); a lone survivor would get a
    zero advantage and no pairs while still costing learner time, so it is
    dropped with its group. A group with >= 2 survivors is kept at its smaller
    size: the estimators use each group's own size (``core/advantages.py``
    counts per segment). With ``group_size=1`` (evaluation) a singleton is
    what was asked for and is kept.

    Args:
        episodes: the finished, non-failed ``SingleAgentEpisode``s.
        groups: ``{group id: task seed}`` of every group sampled, including
            groups whose every trajectory failed.
        env_id: named in the warning.

    Returns:
        ``(kept episodes, number of groups dropped)``.
    """
    need = min(2, group_size)
    members: Dict[str, List[Any]] = {g: [] for g in groups}
    for ep in episodes:
        members[ep.custom_data[C.GROUP_ID]].append(ep)
    kept, dropped = [], 0
    for group_id, eps in members.items():
        if len(eps) >= need:
            kept.extend(eps)
            continue
        dropped += 1
        logger.warning("env %s, task seed %s: group dropped, %d of %d trajectories "
                       "survived env errors (a group needs %d to compare)",
                       env_id, groups[group_id], len(eps), group_size, need)
    return kept, dropped
