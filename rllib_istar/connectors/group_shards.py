"""Split episodes across learners without ever splitting a group."""
from __future__ import annotations

from typing import Any, Dict, List, Sequence

from rllib_istar import columns as C


def shard_whole_groups(episodes: Sequence[Any], num_shards: int) -> List[List[Any]]:
    """Greedy balance of env steps over ``num_shards``; a group never straddles shards.

    Groups are placed largest first onto the shard with the fewest steps so far.
    Raises ValueError if there are fewer groups than shards (a learner would
    get nothing to train on).
    """
    groups: Dict[str, List[Any]] = {}
    for ep in episodes:
        groups.setdefault(ep.custom_data[C.GROUP_ID], []).append(ep)
    if len(groups) < num_shards:
        raise ValueError(f"{len(groups)} groups cannot feed {num_shards} learners; "
                         "raise num_groups or lower num_learners")
    shards: List[List[Any]] = [[] for _ in range(num_shards)]
    load = [0] * num_shards
    for eps in sorted(groups.values(), key=lambda g: -sum(len(e) for e in g)):
        i = load.index(min(load))
        shards[i].extend(eps)
        load[i] += sum(len(e) for e in eps)
    return shards
