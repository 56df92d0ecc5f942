"""Whole-group sharding across learners (connectors/group_shards.py)."""
from doubles.episodes import token_episode

from rllib_istar import columns as C
from rllib_istar.connectors.group_shards import shard_whole_groups


def test_shard_whole_groups_balances_and_never_splits():
    eps = [token_episode(g, 0.0, [([1], [2], [-0.1])] * n) for g, n in
           [("a", 3), ("a", 3), ("b", 1), ("b", 1), ("c", 2), ("c", 2)]]
    shards = shard_whole_groups(eps, 2)
    groups = [{e.custom_data[C.GROUP_ID] for e in s} for s in shards]
    assert groups[0].isdisjoint(groups[1]) and set().union(*groups) == {"a", "b", "c"}
    assert sorted(sum(len(e) for e in s) for s in shards) == [6, 6]
