"""Bad input to ``rllib``: exit code 2 and one line naming the file/line or key and the fix.

All of these fail before Ray starts, so they run in-process in well under a second each.
"""
import os

import pytest
from cli_helpers import one_line_error, run_cli, write_yaml

GOOD = """\
exp:
  run: IStar
  env: rllib_istar/KeyCorridor-v0
  stop:
    training_iteration: 1
  config:
    max_new_tokens: 2
    lr: 1e-4
"""


def _train(tmp_path, text, *extra):
    path = write_yaml(tmp_path / "exp.yaml", text)
    code, out, err = run_cli(["train", "file", path, "--storage-path", tmp_path / "res",
                              "--dry-run", *extra])
    return code, out, err, str(path)


def test_good_file_validates_and_reads_1e_minus_4_as_a_float(tmp_path):
    code, out, err, _ = _train(tmp_path, GOOD)
    assert code == 0, err
    assert out.startswith("ok: exp (istar_rloo on rllib_istar/KeyCorridor-v0")


@pytest.mark.parametrize("text,needles", [
    # malformed YAML: file:line:column
    (GOOD.replace("  stop:\n", "  stop:\n\t"), ["exp.yaml:5:", "malformed YAML"]),
    (GOOD + "  config: [unclosed\n", ["exp.yaml:", "malformed YAML"]),
    # unknown or moved top-level keys
    (GOOD + "  stopp: {}\n", ["exp.yaml:9:", "unknown top-level key 'stopp'", "did you mean 'stop'"]),
    (GOOD + "  checkpoint_freq: 5\n", ["exp.yaml:9:", "checkpoint_config: {checkpoint_frequency"]),
    (GOOD + "  resources_per_trial: {cpu: 1}\n", ["exp.yaml:9:", "num_gpus_per_learner"]),
    # unknown config key: nearest valid name
    (GOOD + "    group_sise: 4\n", ["exp.yaml:9:", "'group_sise'", "did you mean 'group_size'"]),
    (GOOD + "    checkpoint_frequency: 4\n", ["exp.yaml:9:", "put it under checkpoint_config"]),
    # wrong types
    (GOOD + "    prm_beta: high\n", ["exp.yaml:9:", "prm_beta must be a number", "'high'"]),
    (GOOD.replace("lr: 1e-4", "lr: fast"), ["exp.yaml:8:", "lr must be int or float or list (valid range > 0)", "'fast'"]),
    (GOOD + "    advantage_estimator: istar_rlo\n", ["exp.yaml:9:", "did you mean 'istar_rloo'"]),
    (GOOD.replace("training_iteration: 1", "training_iteration: soon"),
     ["exp.yaml:5:", "stop value for 'training_iteration' must be a number"]),
    # unknown env, algorithm, stop key, checkpoint_config key
    (GOOD.replace("KeyCorridor-v0", "KeyCoridor-v0"),
     ["exp.yaml:3:", "unknown env 'rllib_istar/KeyCoridor-v0'", "did you mean 'rllib_istar/KeyCorridor-v0'"]),
    (GOOD.replace("run: IStar", "run: IStr"),
     ["exp.yaml:2:", "unknown algorithm 'IStr'", "did you mean 'IStar'"]),
    (GOOD.replace("run: IStar", "run: PPO"),
     ["exp.yaml:2:", "unknown algorithm 'PPO'", "advantage_estimator"]),
    (GOOD.replace("training_iteration: 1", "env_runners/sucess_rate: 0.9"),
     ["exp.yaml:5:", "'env_runners/sucess_rate'", "did you mean 'env_runners/success_rate'"]),
    (GOOD + "  checkpoint_config: {checkpoint_freq: 2}\n",
     ["exp.yaml:9:", "unknown checkpoint_config key 'checkpoint_freq'", "'checkpoint_frequency'"]),
    # env_config typos reach the env's own check; a missing model folder is named
    (GOOD + "    env_config: {corridor_lenght: 3}\n", ["exp.yaml:9:", "corridor_lenght"]),
    (GOOD + "    model_path: /no/such/model\n", ["exp.yaml:9:", "/no/such/model", "does not exist"]),
    # grid_search: every value is checked and named
    (GOOD + "    prm_beta: {grid_search: [0.05, oops]}\n", ["exp.yaml:9:", "grid_search value 'oops'"]),
    ("- just\n- a list\n", ["exp.yaml", "expected a mapping"]),
])
def test_bad_file_gives_one_line_naming_the_place(tmp_path, text, needles):
    code, _, err, _ = _train(tmp_path, text)
    line = one_line_error(code, err)
    for needle in needles:
        assert needle in line, line


@pytest.mark.parametrize("argv,needles", [
    (["train", "file", "no_such.yaml"], ["no_such.yaml: no such file"]),
    (["train", "file", "{yaml}", "--config", "{lr: [}"], ["--config: not valid JSON or YAML"]),
    (["train", "file", "{yaml}", "--config", '{"lrr": 0.1}'],
     ["--config:", "unknown config key 'lrr'", "did you mean 'lr'"]),
    (["train", "file", "{yaml}", "--stop", "[1]"], ["--stop: expected a mapping"]),
    (["train", "--env", "rllib_istar/Nope-v0"], ["--env:", "unknown env 'rllib_istar/Nope-v0'", "--import MODULE"]),
    (["train", "--algo", "Star", "--env", "rllib_istar/KeyCorridor-v0"],
     ["--algo:", "unknown algorithm 'Star'"]),
    (["train", "--env", "rllib_istar/KeyCorridor-v0", "--resume"], ["--resume without a file needs --name"]),
    (["train", "file", "{yaml}", "--import", "no_such_module_xyz"],
     ["--import no_such_module_xyz:", "PYTHONPATH"]),
    (["evaluate", "/no/such/checkpoint"], ["checkpoint /no/such/checkpoint does not exist"]),
    (["evaluate", "{tmp}"], ["no checkpoint in"]),
])
def test_bad_flags_give_one_line(tmp_path, argv, needles):
    yaml_path = write_yaml(tmp_path / "exp.yaml", GOOD)
    argv = [a.replace("{yaml}", str(yaml_path)).replace("{tmp}", str(tmp_path)) for a in argv]
    code, _, err = run_cli(argv + (["--dry-run"] if argv[0] == "train" else []))
    line = one_line_error(code, err)
    for needle in needles:
        assert needle in line, line


def test_existing_run_is_never_overwritten_and_resume_needs_a_saved_run(tmp_path):
    exp_dir = tmp_path / "res" / "exp"
    (exp_dir / "trial" / "checkpoint_000000").mkdir(parents=True)
    marker = exp_dir / "trial" / "checkpoint_000000" / "algorithm_state.pkl"
    marker.write_bytes(b"keep me")
    code, _, err, _ = _train(tmp_path, GOOD)
    line = one_line_error(code, err)
    assert str(exp_dir) in line and "--resume" in line and "--name" in line
    code, _, err, _ = _train(tmp_path, GOOD, "--resume")
    assert "no saved run" in one_line_error(code, err)
    assert marker.read_bytes() == b"keep me"
    code, out, err, _ = _train(tmp_path, GOOD, "--name", "exp2")
    assert code == 0 and out.startswith("ok: exp2"), err


def test_debug_shows_the_traceback(tmp_path):
    path = write_yaml(tmp_path / "exp.yaml", GOOD + "    group_sise: 4\n")
    code, _, err = run_cli(["train", "file", path, "--dry-run", "--debug"])
    assert code == 2
    assert "Traceback" in err and err.strip().splitlines()[-1].startswith("rllib: error: ")


def test_overrides_merge_into_the_file(tmp_path):
    path = write_yaml(tmp_path / "exp.yaml", GOOD)
    code, out, err = run_cli(["train", "file", path, "--dry-run", "--stop",
                              '{"env_runners/success_rate": 0.9}', "--num-samples", "2",
                              "--storage-path", tmp_path])
    assert code == 0, err
    assert "'training_iteration': 1" in out and "'env_runners/success_rate': 0.9" in out
    assert not os.path.exists(tmp_path / "exp")  # a dry run writes nothing
