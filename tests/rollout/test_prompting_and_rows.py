"""Hand-made cases for the prompt truncation rule, the step-row masks and group sharding."""
import torch
from ray.rllib.env.single_agent_episode import SingleAgentEpisode

from rllib_istar import columns as C
from rllib_istar.connectors.episodes_to_rows import episodes_to_rows
from rllib_istar.rollout.prompting import build_prompt
from rllib_istar.rollout.sharding import shard_whole_groups


def _render(obs, history):
    return " ".join([f"{o} {a}" for o, a in history] + [obs])


def _encode(text):  # one id per word
    return [len(w) for w in text.split()]


def test_prompt_keeps_history_window_when_it_fits():
    hist = [("a", "x"), ("bb", "y"), ("ccc", "z")]
    p = build_prompt(_render, _encode, "now", hist, history_length=2, max_prompt_length=100)
    assert p.text == "bb y ccc z now"
    assert (p.history_dropped, p.tokens_cut) == (0, 0)


def test_prompt_drops_oldest_history_first_then_cuts_front():
    hist = [("a", "x"), ("bb", "y")]
    p = build_prompt(_render, _encode, "now", hist, history_length=2, max_prompt_length=3)
    assert p.text == "bb y now" and p.history_dropped == 1 and p.tokens_cut == 0
    p = build_prompt(_render, _encode, "one two three four", hist, history_length=2, max_prompt_length=3)
    assert p.history_dropped == 2 and p.tokens_cut == 1
    assert p.ids == _encode("two three four")


def test_prompt_history_length_zero_shows_no_history():
    p = build_prompt(_render, _encode, "now", [("a", "x")], history_length=0, max_prompt_length=10)
    assert p.text == "now"


def _episode(group, outcome, steps, won=False):
    ep = SingleAgentEpisode()
    ep.add_env_reset(observation="o0")
    for t, (prompt, response, logp) in enumerate(steps):
        ep.add_env_step(observation=f"o{t + 1}", action="a", reward=float(t),
                        extra_model_outputs={C.PROMPT_IDS: prompt, C.RESPONSE_IDS: response,
                                             C.ROLLOUT_LOGP: logp})
    ep.custom_data.update({C.GROUP_ID: group, C.OUTCOME: outcome, C.WON: won})
    return ep


def test_rows_masks_exclude_prompt_and_padding():
    eps = [_episode("g1", 1.0, [([5, 6], [7], [-0.5]), ([5], [8, 9], [-0.1, -0.2])], won=True),
           _episode("g2", 0.0, [([4, 4, 4], [3], [-1.0])])]
    rows = episodes_to_rows(eps, pad_id=0)
    assert rows[C.INPUT_IDS].tolist() == [[5, 6, 7, 0], [5, 8, 9, 0], [4, 4, 4, 3]]
    assert rows[C.ATTENTION_MASK].tolist() == [[1, 1, 1, 0], [1, 1, 1, 0], [1, 1, 1, 1]]
    assert rows[C.RESPONSE_MASK].tolist() == [[0, 0, 1, 0], [0, 1, 1, 0], [0, 0, 0, 1]]
    assert torch.allclose(rows["rollout_logp"], torch.tensor(
        [[0, 0, -0.5, 0], [0, -0.1, -0.2, 0], [0, 0, 0, -1.0]]))
    assert rows[C.STEP_TRAJ].tolist() == [0, 0, 1]
    assert rows[C.STEP_GROUP].tolist() == [0, 0, 1]
    assert rows[C.STEP_INDEX].tolist() == [0, 1, 0]
    assert rows[C.TRAJ_OUTCOME].tolist() == [1.0, 0.0]
    assert rows[C.TRAJ_WON].tolist() == [1.0, 0.0]
    assert rows[C.ENV_REWARD].tolist() == [0.0, 1.0, 0.0]


def test_rows_anchor_ids_shared_only_inside_a_group():
    eps = [_episode("g1", 1.0, [([1], [2], [-0.1])]), _episode("g1", 0.0, [([1], [3], [-0.1])]),
           _episode("g2", 0.0, [([1], [3], [-0.1])])]
    anchor = episodes_to_rows(eps)[C.ANCHOR].tolist()
    assert anchor[0] == anchor[1] and anchor[2] != anchor[0]


def test_shard_whole_groups_balances_and_never_splits():
    eps = [_episode(g, 0.0, [([1], [2], [-0.1])] * n) for g, n in
           [("a", 3), ("a", 3), ("b", 1), ("b", 1), ("c", 2), ("c", 2)]]
    shards = shard_whole_groups(eps, 2)
    groups = [{e.custom_data[C.GROUP_ID] for e in s} for s in shards]
    assert groups[0].isdisjoint(groups[1]) and set().union(*groups) == {"a", "b", "c"}
    assert sorted(sum(len(e) for e in s) for s in shards) == [6, 6]
