"""``rllib evaluate`` of an env id this process does not know (a user env without
``--import``, or ``--env UNKNOWN``): exit code 2 and one line telling to pass
``--import MODULE``, before Ray starts.

The fast tests fake the two files of a checkpoint that evaluate reads first; the slow one
saves a real checkpoint of the EchoEnv and evaluates it in a subprocess.
"""
from __future__ import annotations

import pickle
import subprocess
import sys

import pytest
from cli_helpers import one_line_error, run_cli

from rllib_istar.envs import registry as reg

MODULE_ID = "evalecho"  # never registered in the test process except through the module


def _fake_checkpoint(folder, config):
    """A folder ``find_checkpoint`` accepts, whose saved config is ``config`` (a dict, as
    RLlib's ``Algorithm.get_ctor_args_and_kwargs`` saves it)."""
    ckpt = folder / "checkpoint_000000"
    ckpt.mkdir(parents=True)
    (ckpt / "algorithm_state.pkl").write_bytes(b"")
    with open(ckpt / "class_and_ctor_args.pkl", "wb") as f:
        pickle.dump({"ctor_args_and_kwargs": ((config,), {})}, f)
    return ckpt




def _write_env_module(folder, name, env_id, echo_env_source):
    (folder / f"{name}.py").write_text(
        echo_env_source + "\n\nfrom rllib_istar.envs import register_text_env\n"
        f"register_text_env({env_id!r}, EchoEnv)\n")


def test_a_checkpoint_of_an_unregistered_env_asks_for_import(tmp_path):
    ckpt = _fake_checkpoint(tmp_path, {"env": "me/NotImported-v0", "env_config": {}})
    line = one_line_error(*run_cli(["evaluate", ckpt])[::2])
    for needle in ("the checkpoint's env 'me/NotImported-v0' is not registered",
                   "pass --import MODULE", "register_text_env('me/NotImported-v0', ...)",
                   "rllib_istar/KeyCorridor-v0"):
        assert needle in line, line


def test_an_unknown_env_flag_asks_for_import(tmp_path):
    ckpt = _fake_checkpoint(tmp_path, {"env": "rllib_istar/KeyCorridor-v0"})
    line = one_line_error(*run_cli(["evaluate", ckpt, "--env", "me/Nope-v0"])[::2])
    assert "--env: unknown env 'me/Nope-v0'" in line and "pass --import MODULE" in line, line
    line = one_line_error(*run_cli(["evaluate", ckpt, "--env", "rllib_istar/KeyCoridor-v0"])[::2])
    assert "did you mean 'rllib_istar/KeyCorridor-v0'" in line, line


def test_a_config_naming_a_module_not_imported_asks_for_import(tmp_path, monkeypatch):
    (tmp_path / "vanishing_envs.py").write_text("class Env:\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import vanishing_envs

    config = {"env": "me/Vanishing-v0", "env_config": {"factory": vanishing_envs.Env}}
    ckpt = _fake_checkpoint(tmp_path / "run", config)
    monkeypatch.delitem(sys.modules, "vanishing_envs")
    (tmp_path / "vanishing_envs.py").unlink()
    line = one_line_error(*run_cli(["evaluate", ckpt])[::2])
    assert "No module named 'vanishing_envs'" in line and "--import MODULE" in line, line


def test_with_import_the_env_is_known_and_evaluation_starts(tmp_path, monkeypatch, scratch_ids,
                                                            echo_env_source):
    """``--import`` registers the id first, so the check passes (Ray and the rollout are
    stubbed: the slow test below runs them)."""
    env_id = "me/EvalEchoFast-v0"
    scratch_ids.append(env_id)
    _write_env_module(tmp_path, "evalecho_fast", env_id, echo_env_source)
    ckpt = _fake_checkpoint(tmp_path / "run", {"env": env_id, "env_config": {}})
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    import rllib_istar.algorithm.evaluation as evaluation
    import rllib_istar.cli.train as train

    calls = []

    def fake_evaluate(path, **kwargs):
        calls.append((path, kwargs["env"]))
        raise RuntimeError("stop here")

    monkeypatch.setattr(train, "init_ray", lambda *a, **k: False)
    monkeypatch.setattr(evaluation, "evaluate_checkpoint", fake_evaluate)
    try:
        code, _, err = run_cli(["evaluate", ckpt, "--import", "evalecho_fast"])
    finally:
        sys.modules.pop("evalecho_fast", None)
    assert code == 1 and "stop here" in err, err
    assert calls == [(str(ckpt), None)]


@pytest.mark.slow
def test_a_real_checkpoint_of_a_user_env_needs_import(tmp_path, build, scratch_ids,
                                                      echo_env_source):
    """Save an EchoEnv checkpoint here; evaluate it in a fresh process without and with
    ``--import`` (the model is a fixed tiny folder, so both processes load the same one)."""
    from algo_utils import tiny_config

    from rllib_istar.lm.loading import resolve_model_path

    env_id = "me/EvalEcho-v0"
    scratch_ids.append(env_id)
    _write_env_module(tmp_path, "evalecho_envs", env_id, echo_env_source)
    sys.path.insert(0, str(tmp_path))
    try:
        from evalecho_envs import EchoEnv  # noqa: F401 (registers env_id)
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("evalecho_envs", None)
    assert env_id in reg._REGISTRY
    config = tiny_config(format_warmup_steps=0, model_path=resolve_model_path("tiny"))
    algo = build(config.environment(env_id))
    ckpt = algo.save_to_path(str(tmp_path / "run" / "checkpoint_000000"))

    def evaluate(*extra):
        return subprocess.run([sys.executable, "-m", "rllib_istar", "evaluate", ckpt,
                               "--episodes", "2", "--num-cpus", "1", *extra],
                              cwd=tmp_path, capture_output=True, text=True, timeout=300)

    proc = evaluate()
    line = one_line_error(proc.returncode, proc.stderr)
    assert f"the checkpoint's env {env_id!r} is not registered" in line, line
    assert "pass --import MODULE" in line, line
    proc = evaluate("--import", "evalecho_envs")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"evaluated 2 episodes of {env_id}" in proc.stdout, proc.stdout
