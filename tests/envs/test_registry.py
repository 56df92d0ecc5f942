"""Registry: gymnasium ids, RLlib ids, make_text_env errors, user envs, vocabulary."""
from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import gymnasium
import pytest
from doubles.echo_env import EchoEnv
from gymnasium.utils.env_checker import check_env

import rllib_istar.envs as envs
from rllib_istar.envs import (
    KEY_CORRIDOR_ID,
    SOKOBAN_ID,
    KeyCorridorEnv,
    UnknownEnvError,
    all_vocabulary,
    make_text_env,
    register_text_env,
    registered_env_ids,
)

HAS_SOKOBAN = importlib.util.find_spec("gym_sokoban") is not None
needs_sokoban = pytest.mark.skipif(not HAS_SOKOBAN, reason="needs the sokoban extra")




def test_builtin_ids():
    ids = registered_env_ids()
    assert ids == sorted(ids)  # other tests may have registered their own envs
    assert {SOKOBAN_ID, KEY_CORRIDOR_ID} <= set(ids)
    assert KEY_CORRIDOR_ID in gymnasium.registry and SOKOBAN_ID in gymnasium.registry


def test_gymnasium_make_key_corridor():
    env = gymnasium.make(KEY_CORRIDOR_ID, corridor_length=1)
    obs, info = env.reset(seed=0)
    assert "of 1 door" in obs and info["task_id"].startswith("keycorridor")
    door = env.unwrapped.door
    for a in [door, "forward", "open"]:
        obs, rew, term, trunc, info = env.step(a)
    assert rew == 1.0 and term and info["won"]
    check_env(gymnasium.make(KEY_CORRIDOR_ID, render_mode="ansi").unwrapped)


@needs_sokoban
def test_gymnasium_make_sokoban():
    env = gymnasium.make(SOKOBAN_ID, max_steps=2)
    obs, _ = env.reset(seed=0)
    assert len(obs.split("\n")) == 6
    env.step("<think>a</think><action>up</action>")
    _, _, term, trunc, _ = env.step("nonsense")
    assert trunc or term
    check_env(gymnasium.make(SOKOBAN_ID, render_mode="ansi").unwrapped)


def test_make_text_env_and_config():
    env = make_text_env(KEY_CORRIDOR_ID, {"corridor_length": 3})
    assert isinstance(env, KeyCorridorEnv) and env.corridor_length == 3
    assert isinstance(make_text_env(KEY_CORRIDOR_ID), KeyCorridorEnv)
    with pytest.raises(ValueError) as err:
        make_text_env(KEY_CORRIDOR_ID, {"max_step": 4})
    assert "'max_step'" in str(err.value) and "max_steps" in str(err.value)


def test_unknown_id_lists_registered_ids():
    with pytest.raises(UnknownEnvError) as err:
        make_text_env("rllib_istar/Sokobam-v0")
    msg = str(err.value)
    assert isinstance(err.value, ValueError) and "\n" not in msg
    assert SOKOBAN_ID in msg and KEY_CORRIDOR_ID in msg and "Sokobam" in msg
    assert "register_text_env" in msg


def test_register_user_env_class(scratch_ids):
    scratch_ids.append("me/Echo-v0")
    register_text_env("me/Echo-v0", EchoEnv)
    env = make_text_env("me/Echo-v0")
    env.reset(seed=0)
    assert env.step("yes")[1] == 1.0
    g = gymnasium.make("me/Echo-v0", max_steps=2)
    assert g.reset(seed=1)[0] == "question"
    assert "zebra" in all_vocabulary()
    with pytest.raises(ValueError, match="already registered"):
        register_text_env("me/Echo-v0", EchoEnv)
    register_text_env("me/Echo-v0", EchoEnv, overwrite=True)


def test_register_user_creator(scratch_ids):
    scratch_ids.extend(["me/EchoFn-v0", "me/EchoFnVocab-v0", "me/Broken-v0"])
    register_text_env("me/EchoFn-v0", lambda cfg: EchoEnv(cfg))
    env = make_text_env("me/EchoFn-v0", {"max_steps": 2})
    assert env.max_steps == 2
    assert gymnasium.make("me/EchoFn-v0", max_steps=2).unwrapped.max_steps == 2
    register_text_env("me/EchoFnVocab-v0", lambda cfg: EchoEnv(cfg), vocabulary=["okapi"])
    vocab = all_vocabulary()
    assert "zebra" in vocab and "okapi" in vocab
    register_text_env("me/Broken-v0", lambda cfg: object())
    with pytest.raises(TypeError, match="not a rllib_istar.envs.TextEnv"):
        make_text_env("me/Broken-v0")
    with pytest.raises(ValueError, match="vocabulary"):
        all_vocabulary()


def test_all_vocabulary_is_sorted_union():
    vocab = all_vocabulary()
    assert vocab == sorted(set(vocab)) == all_vocabulary()
    assert set(KeyCorridorEnv.vocabulary()) <= set(vocab)
    if HAS_SOKOBAN:
        from rllib_istar.envs.sokoban import SokobanTextEnv

        assert set(SokobanTextEnv.vocabulary()) <= set(vocab)
    assert {"up", "forward", "<think>", "√"} <= set(vocab)


def test_register_envs_with_rllib(scratch_ids):
    pytest.importorskip("ray")
    from ray.rllib.env.env_context import EnvContext
    from ray.tune.registry import ENV_CREATOR, _global_registry

    envs.register_envs()
    envs.register_envs()  # idempotent
    for env_id in (SOKOBAN_ID, KEY_CORRIDOR_ID):
        assert _global_registry.contains(ENV_CREATOR, env_id)
    creator = _global_registry.get(ENV_CREATOR, KEY_CORRIDOR_ID)
    env = creator(EnvContext({"corridor_length": 1}, worker_index=0))
    assert isinstance(env, KeyCorridorEnv) and env.corridor_length == 1
    scratch_ids.append("me/EchoLate-v0")
    register_text_env("me/EchoLate-v0", EchoEnv)  # after register_envs: goes to RLlib too
    assert _global_registry.contains(ENV_CREATOR, "me/EchoLate-v0")


def test_import_is_light():
    """``import rllib_istar.envs`` adds neither Ray, torch nor gym_sokoban (beyond what
    the parent package itself may import)."""
    code = ("import sys, rllib_istar; before = set(sys.modules); "
            "import rllib_istar.envs as e; e.registered_env_ids(); "
            "heavy = [m for m in ('ray', 'gym_sokoban', 'gym', 'torch') "
            "if m in sys.modules and m not in before]; print(heavy)")
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=root)
    assert out.stdout.strip().splitlines()[-1] == "[]"
    assert envs.SokobanTextEnv.__name__ == "SokobanTextEnv"
