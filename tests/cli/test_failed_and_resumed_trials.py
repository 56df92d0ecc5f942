"""A trial that fails at run time, its retry with ``--resume``, and ``--resume`` with a new
``--stop`` / ``--config`` (in-process ``rllib train``, shared Ray).

The failure is a model folder that passes the pre-flight check (it exists) but cannot
be loaded; "fixing the cause" writes a real model into it, so the same YAML is retried.
"""
import glob
import json
import shutil

import pytest
from cli_helpers import run_cli, write_yaml

#: spawns processes or starts Ray: the integration tier (tests/conftest.py)
pytestmark = pytest.mark.integration

YAML = """\
exp:
  run: IStar
  env: rllib_istar/KeyCorridor-v0
  stop: {{training_iteration: 1}}
  checkpoint_config: {{checkpoint_at_end: true}}
  config: {{model_path: {model}, max_new_tokens: 2, group_size: 2, num_groups: 1, lr: 1.0e-3,
           prm_lr: 3.0e-4, seed: 0}}
"""


@pytest.fixture(scope="module")
def failed_run(ray_session, tmp_path_factory):
    root = tmp_path_factory.mktemp("fail")
    model = root / "model"
    model.mkdir()
    (model / "config.json").write_text("{not json")
    path = write_yaml(root / "exp.yaml", YAML.format(model=model))
    argv = ["train", "file", path, "--storage-path", root / "runs"]
    code, out, err = run_cli(argv)
    return root, model, argv, code, out, err


def _last_result(root):
    (trial,) = glob.glob(str(root / "runs" / "exp" / "IStar_*"))
    with open(f"{trial}/result.json") as f:
        return json.loads(f.read().splitlines()[-1])


def test_a_failed_trial_prints_its_error_and_how_to_retry(failed_run):
    _, _, _, code, out, err = failed_run
    assert code == 1, out + err
    assert "Traceback" not in err and "AssertionError" not in err, err
    (failed,) = [ln for ln in out.splitlines() if ln.startswith("trial ") and " failed: " in ln]
    assert "error.txt)" in failed and " ... " in failed   # first and last lines, the path
    error_file = failed.rsplit("(traceback: ", 1)[1].rstrip(")")
    with open(error_file) as f:
        lines = [ln.strip() for ln in f if ln.strip()]
    assert failed.split(" failed: ", 1)[1].startswith(lines[0]) and lines[-1] in failed
    assert any("--resume" in ln and "--restart-errored" in ln for ln in out.splitlines()), out


def test_resume_retries_the_errored_trial_then_honours_a_new_stop_and_safe_config(failed_run):
    from rllib_istar.lm.loading import resolve_model_path

    root, model, argv, *_ = failed_run
    shutil.rmtree(model)
    shutil.copytree(resolve_model_path("tiny"), model)       # the cause, fixed
    code, out, err = run_cli([*argv, "--resume"])
    assert code == 0, out + err
    assert _last_result(root)["training_iteration"] == 1

    # a finished trial continues to a later stop; a safe key changes
    code, out, err = run_cli([*argv, "--resume", "--stop", '{"training_iteration": 2}',
                              "--config", '{"step_advantage_weight": 0.5}'])
    assert code == 0, out + err
    assert "continues from its last checkpoint" in out
    last = _last_result(root)
    assert last["training_iteration"] == 2 and last["config"]["step_advantage_weight"] == 0.5
    assert glob.glob(str(root / "runs" / "exp" / "experiment_state-*.json.before_resume"))

    # refused before Ray starts, one line each
    for extra, needle in ((["--stop", '{"training_iteration": 1}'], "already past it"),
                          (["--config", '{"group_size": 4}'], "cannot change 'group_size'")):
        code, out, err = run_cli([*argv, "--resume", *extra])
        assert code == 2 and needle in err and len(err.strip().splitlines()) == 1, err
    assert _last_result(root)["training_iteration"] == 2


def test_restart_errored_needs_resume(tmp_path):
    path = write_yaml(tmp_path / "exp.yaml", YAML.format(model="tiny"))
    code, _, err = run_cli(["train", "file", path, "--restart-errored", "--dry-run"])
    assert code == 2 and "--restart-errored goes with --resume" in err
