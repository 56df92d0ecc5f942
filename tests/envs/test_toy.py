"""KeyCorridorEnv: determinism, credit assignment, no-op invalid actions, prompts."""
from __future__ import annotations

import itertools

import pytest
from gymnasium.utils.env_checker import check_env

from rllib_istar.envs import KeyCorridorEnv
from rllib_istar.envs.key_corridor import COLORS


def run(env, actions):
    """Step through ``actions``; return the list of step tuples (stops when done)."""
    out = []
    for a in actions:
        out.append(env.step(a))
        if out[-1][2] or out[-1][3]:
            break
    return out


def test_same_seed_same_task_and_trajectory():
    a, b = KeyCorridorEnv(), KeyCorridorEnv()
    acts = ["green", "junk", "forward", "forward", "open"]
    for seed in range(20):
        assert a.reset(seed=seed) == b.reset(seed=seed)
        assert run(a, acts) == run(b, acts)


def test_different_seeds_differ_and_cover_all_doors():
    env = KeyCorridorEnv()
    doors = {env.reset(seed=s)[0] for s in range(30)}
    assert {d.split()[-1] for d in doors} == set(COLORS)
    ids = {env.reset(seed=s)[1]["task_id"] for s in range(30)}
    assert len(ids) == 30


def test_unseeded_resets_follow_the_seed():
    a, b = KeyCorridorEnv(), KeyCorridorEnv()
    a.reset(seed=7)
    b.reset(seed=7)
    ids_a = [a.reset()[1]["task_id"] for _ in range(5)]
    assert ids_a == [b.reset()[1]["task_id"] for _ in range(5)]


@pytest.mark.parametrize("length", [0, 1, 2, 3])
def test_right_key_wins(length):
    env = KeyCorridorEnv({"corridor_length": length, "max_steps": length + 2})
    for seed in range(6):
        obs, info = env.reset(seed=seed)
        assert obs == f"key none position 0 of {length} door {env.door}"
        steps = run(env, [env.door] + ["forward"] * length + ["open"])
        assert [s[1] for s in steps] == [0.0] * (length + 1) + [1.0]
        assert steps[-1][2] is True and steps[-1][3] is False
        assert steps[-1][4]["won"] is True
        assert not any(s[4]["won"] for s in steps[:-1])


def test_wrong_key_loses_regardless_of_later_steps():
    words = ["red", "green", "blue", "forward", "open", "junk"]
    env = KeyCorridorEnv()
    for seed in range(3):
        env.reset(seed=seed)
        wrong = [c for c in COLORS if c != env.door]
        for key in wrong:
            for later in itertools.product(words, repeat=5):
                env.reset(seed=seed)
                steps = run(env, [key, *later])
                assert all(s[1] == 0.0 and not s[4]["won"] for s in steps)
                assert steps[-1][2] or steps[-1][3]  # max_steps=6 always ends it


def test_invalid_action_is_a_noop():
    env = KeyCorridorEnv()
    obs0, _ = env.reset(seed=1)
    bads = ["forward", "open", "", "  ", "🔑", "<think>x</think><action>red</action>", "x" * 10000]
    for bad in bads:
        obs, rew, term, trunc, info = env.step(bad)
        assert obs == obs0 and rew == 0.0 and not term
        assert info["is_action_valid"] is False and info["action"] is None
        if trunc:
            break
    env.reset(seed=1)
    env.step("red")
    obs1 = env.current_observation
    obs, _, _, _, info = env.step("blue")  # a key word is not admissible in the corridor
    assert obs == obs1 and info["is_action_valid"] is False
    assert info["step"] == 2


def test_truncated_at_max_steps():
    env = KeyCorridorEnv({"max_steps": 3})
    env.reset(seed=0)
    steps = run(env, ["bad"] * 10)
    assert len(steps) == 3
    assert [s[3] for s in steps] == [False, False, True]
    assert not steps[-1][2] and steps[-1][4]["won"] is False
    with pytest.raises(RuntimeError, match="reset"):
        env.step("red")


def test_info_keys_and_admissible():
    env = KeyCorridorEnv()
    _, info = env.reset(seed=2)
    assert {"won", "is_action_valid", "task_id", "action"} <= set(info)
    assert env.admissible_actions() == list(COLORS)
    _, _, _, _, info = env.step(" Green! ")
    assert info["action"] == "green" and info["is_action_valid"]
    assert env.admissible_actions() == ["forward"]
    env.step("forward")
    env.step("forward")
    assert env.admissible_actions() == ["open"]


def test_anchor_observations_identical_across_trajectories():
    env = KeyCorridorEnv()
    seen = []
    for acts in (["red", "forward"], ["junk", "red", "forward"], ["red", "junk", "forward"]):
        env.reset(seed=4)
        run(env, acts)
        seen.append(env.current_observation)
    assert len(set(seen)) == 1


def test_tags_format():
    env = KeyCorridorEnv({"action_format": "tags"})
    env.reset(seed=0)
    assert not env.step(env.door)[4]["is_action_valid"]
    _, _, _, _, info = env.step(f"<think>door is {env.door}</think><action>{env.door}</action>")
    assert info["is_action_valid"] and info["action"] == env.door


def test_config_errors():
    with pytest.raises(ValueError) as err:
        KeyCorridorEnv({"corridor_lenght": 3})
    msg = str(err.value)
    assert "corridor_lenght" in msg and "corridor_length" in msg and "max_steps" in msg
    with pytest.raises(ValueError, match="action_format"):
        KeyCorridorEnv({"action_format": "xml"})
    with pytest.raises(ValueError, match="max_steps"):
        KeyCorridorEnv(max_steps=0)
    with pytest.raises(ValueError, match="corridor_length"):
        KeyCorridorEnv(corridor_length=99)


@pytest.mark.parametrize("fmt", ["bare", "tags"])
def test_every_prompt_word_in_vocabulary(fmt):
    vocab = set(KeyCorridorEnv.vocabulary())
    for length in (0, 2, 16):
        env = KeyCorridorEnv({"corridor_length": length, "action_format": fmt, "max_steps": 30})
        for seed in range(3):
            obs, _ = env.reset(seed=seed)
            history = []
            for act in ["junk", env.door, *["forward"] * length, "open"]:
                prompt = env.render_prompt(obs, history[-2:])
                missing = [w for w in prompt.split() if w not in vocab]
                assert not missing, (missing, prompt)
                new_obs, _, term, trunc, info = env.step(act)
                history.append((obs, info["action"]))
                obs = new_obs
                if term or trunc:
                    break


def test_prompt_layout():
    env = KeyCorridorEnv()
    obs, _ = env.reset(seed=0)
    prompt = env.render_prompt(obs, [])
    assert obs in prompt and "red green blue" in prompt and "one action word" in prompt
    tags = KeyCorridorEnv({"action_format": "tags"})
    tags.reset(seed=0)
    p2 = tags.render_prompt(obs, [(obs, None), (obs, "red")])
    assert "<think>" in p2 and "<action>" in p2 and p2.count(obs) == 3
    assert KeyCorridorEnv.vocabulary() == sorted(set(KeyCorridorEnv.vocabulary()))


def test_check_env():
    check_env(KeyCorridorEnv(), skip_render_check=True)
    check_env(KeyCorridorEnv(render_mode="ansi"))
