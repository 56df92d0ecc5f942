"""``python -m rllib_istar`` as a user runs it (its own Ray): the entry points, and a
run killed mid-way (SIGKILL, no clean-up) that resumes from its latest checkpoint
without overwriting any checkpoint."""
import glob
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest
from cli_helpers import MAIN_JOB, ROOT, progress_lines, run_module

#: spawns processes or starts Ray: the integration tier (tests/conftest.py)
pytestmark = pytest.mark.integration


def test_console_script_and_module_agree_on_help_and_errors(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("exp:\n  run: IStar\n  env: rllib_istar/KeyCorridor-v0\n  config: {lrr: 1}\n")
    proc = run_module(["train", "file", bad])
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"rllib: error: {bad}:4: experiment 'exp': unknown config key 'lrr'; did you mean 'lr'?"]
    script = shutil.which("rllib", path=os.path.dirname(sys.executable))
    assert script, "pip install -e . installs the `rllib` console script"
    help_text = subprocess.run([script, "train", "--help"], capture_output=True, text=True,
                               timeout=120)
    assert help_text.returncode == 0 and "rllib train file" in help_text.stdout


def _checkpoint_files(trial_dir):
    return {f: os.stat(f).st_mtime_ns for f in glob.glob(
        os.path.join(trial_dir, "checkpoint_*", "**"), recursive=True) if os.path.isfile(f)}


def test_killed_run_resumes_from_its_latest_checkpoint(tmp_path):
    config = tmp_path / "job.yaml"  # the main job, checkpointing every 2 iterations
    config.write_text(MAIN_JOB.read_text().replace("checkpoint_frequency: 10",
                                                   "checkpoint_frequency: 2"))
    args = ["train", "file", config, "--storage-path", tmp_path / "runs", "--name", "job",
            "--stop", '{"training_iteration": 8}', "--num-cpus", "2"]
    log = open(tmp_path / "first.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "rllib_istar", *map(str, args)], cwd=ROOT,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    pattern = str(tmp_path / "runs" / "job" / "IStar_*" / "checkpoint_000001")
    try:
        deadline = time.time() + 240
        while not glob.glob(pattern) and proc.poll() is None and time.time() < deadline:
            time.sleep(0.2)
        assert glob.glob(pattern), (tmp_path / "first.log").read_text()
        time.sleep(3)  # Tune saves its run state every second (rllib train's setting)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the driver and the Ray it started
        proc.wait()
        log.close()
    (trial_dir,) = glob.glob(str(tmp_path / "runs" / "job" / "IStar_*"))
    before = _checkpoint_files(trial_dir)

    resumed = run_module(args + ["--resume"])
    out = resumed.stdout
    assert resumed.returncode == 0, out + resumed.stderr
    start = re.search(r"from checkpoint_\d{6} \(iteration (\d+)\)", out)
    assert start, out
    first_iteration = int(start.group(1)) + 1
    assert int(start.group(1)) >= 4, out  # at least checkpoint_000001 (iteration 4)
    iterations = [int(re.search(r" iter +(\d+)", ln).group(1)) for ln in progress_lines(out)]
    assert iterations == list(range(first_iteration, 9)), out
    assert "TERMINATED, 8 iterations" in out
    # the final line averages the whole run's last iterations, the killed run's from its log
    assert "(mean of the last 8: " in out, out
    # every checkpoint of the killed run is still there, byte for byte (or kept aside)
    after = _checkpoint_files(trial_dir)
    for path, mtime in before.items():
        kept = path.replace(os.sep + "checkpoint_", os.sep + "kept_checkpoint_", 1)
        assert after.get(path) == mtime or os.path.exists(kept), path


def test_a_user_env_registered_by_an_imported_module_trains_in_tune(tmp_path, echo_env_source):
    (tmp_path / "my_envs.py").write_text(
        echo_env_source + "\n\nfrom rllib_istar.envs import register_text_env\n"
        "register_text_env(\"me/Echo-v0\", EchoEnv)\n")
    proc = subprocess.run(
        [sys.executable, "-m", "rllib_istar", "train", "--env", "me/Echo-v0", "--import",
         "my_envs", "--config", '{"format_warmup_steps": 20, "max_new_tokens": 2, '
         '"group_size": 4, "num_groups": 2}', "--stop", '{"training_iteration": 1}',
         "--storage-path", "runs", "--name", "echo", "--num-cpus", "2"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "[echo] iter    1 |" in proc.stdout and "TERMINATED, 1 iterations" in proc.stdout
