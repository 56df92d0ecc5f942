"""A checkpoint write that is interrupted: killed mid-write, or out of disk space.

``python -m rllib_istar train`` runs as a user runs it (its own Ray). A module given with
``--import`` (so every Ray worker imports it) patches Tune's copy of a checkpoint into
the trial folder: for ``checkpoint_000001`` it copies the file list and half of the
other files, then either hangs until the test kills the whole run (``CKPT_TRAP=kill``)
or raises ``OSError(ENOSPC)`` (``CKPT_TRAP=enospc``). Either way the previous checkpoint
stays complete and ``--resume`` continues from it; the half-written folder is set aside
and named as incomplete. The unit tests below check the pieces without Ray.
"""
import errno
import glob
import os
import signal
import subprocess
import sys
import time

import pytest
from cli_helpers import progress_lines

from rllib_istar.algorithm.checkpoint_files import (
    COMPLETE,
    INCOMPLETE,
    MANIFEST,
    UNVERIFIED,
    CheckpointDiskFullError,
    checkpoint_status,
    write_manifest,
)

#: spawns processes or starts Ray: the integration tier (tests/conftest.py)
pytestmark = pytest.mark.integration

YAML = """\
job:
  run: IStar
  env: rllib_istar/KeyCorridor-v0
  stop: {training_iteration: 3}
  checkpoint_config: {checkpoint_frequency: 1, checkpoint_at_end: true}
  config: {max_new_tokens: 2, group_size: 2, num_groups: 1, lr: 1.0e-3, prm_lr: 3.0e-4,
           seed: 0}
"""

TRAP = '''\
"""Test double: Tune's copy of checkpoint_000001 into the trial folder is cut short."""
import errno
import os
import shutil
import time

from ray.train._internal import storage

_copy = storage._pyarrow_fs_copy_files


def _cut_short(source, destination, source_filesystem=None, destination_filesystem=None,
               **kwargs):
    mode = os.environ.get("CKPT_TRAP")
    if not mode or os.path.basename(str(destination).rstrip("/")) != "checkpoint_000001":
        return _copy(source, destination, source_filesystem=source_filesystem,
                     destination_filesystem=destination_filesystem, **kwargs)
    files = sorted(os.path.relpath(os.path.join(root, name), source)
                   for root, _, names in os.walk(source) for name in names)
    manifest = [f for f in files if f == "istar_manifest.json"]
    others = [f for f in files if f not in manifest]
    for rel in manifest + others[: len(others) // 2]:
        os.makedirs(os.path.dirname(os.path.join(destination, rel)), exist_ok=True)
        shutil.copyfile(os.path.join(source, rel), os.path.join(destination, rel))
    if mode == "enospc":
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), destination)
    with open(os.environ["CKPT_TRAP_MARKER"], "w") as f:
        f.write(destination)
    time.sleep(120)  # the test kills the run now; bounded in case it does not
    os._exit(1)


storage._pyarrow_fs_copy_files = _cut_short
'''


def _setup(tmp_path):
    (tmp_path / "job.yaml").write_text(YAML)
    (tmp_path / "ckpt_trap.py").write_text(TRAP)
    return ["train", "file", "job.yaml", "--storage-path", "runs", "--name", "job",
            "--import", "ckpt_trap", "--num-cpus", "2"]


def _rllib(tmp_path, args, env):
    """``python -m rllib_istar args`` from ``tmp_path`` (where ``--import`` finds the trap)."""
    return subprocess.run([sys.executable, "-m", "rllib_istar", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)


def _trial_dir(tmp_path):
    (trial,) = glob.glob(str(tmp_path / "runs" / "job" / "IStar_*"))
    return trial


def _files(folder):
    return {f: os.stat(f).st_mtime_ns for f in glob.glob(os.path.join(folder, "**"),
                                                          recursive=True) if os.path.isfile(f)}


def _resume_and_check(tmp_path, args, previous):
    """``--resume`` sets the cut-short checkpoint_000001 aside, continues from
    checkpoint_000000 (iteration 1) and finishes; checkpoint_000000 is untouched."""
    trial = _trial_dir(tmp_path)
    assert checkpoint_status(os.path.join(trial, "checkpoint_000001")) == INCOMPLETE
    resumed = _rllib(tmp_path, [*args, "--resume"], dict(os.environ))
    out = resumed.stdout
    assert resumed.returncode == 0, out + resumed.stderr
    (kept,) = [ln for ln in out.splitlines() if ln.startswith("kept checkpoint_000001")]
    assert "kept_checkpoint_000001" in kept and "cut short while being written" in kept, out
    assert "from checkpoint_000000 (iteration 1)" in out, out
    iterations = [int(ln.split(" iter ")[1].split("|")[0]) for ln in progress_lines(out)]
    assert iterations == [2, 3], out
    assert "TERMINATED, 3 iterations" in out
    assert _files(os.path.join(trial, "checkpoint_000000")) == previous
    for name in ("checkpoint_000000", "checkpoint_000001", "checkpoint_000002"):
        assert checkpoint_status(os.path.join(trial, name)) == COMPLETE, name
    assert checkpoint_status(os.path.join(trial, "kept_checkpoint_000001")) == INCOMPLETE


def test_a_kill_during_a_checkpoint_write_keeps_the_previous_one_and_resume_continues(tmp_path):
    args = _setup(tmp_path)
    marker = tmp_path / "trapped"
    env = dict(os.environ, CKPT_TRAP="kill", CKPT_TRAP_MARKER=str(marker))
    log = open(tmp_path / "first.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "rllib_istar", *args], cwd=tmp_path, env=env,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.time() + 300
        while not marker.exists() and proc.poll() is None and time.time() < deadline:
            time.sleep(0.2)
        assert marker.exists(), (tmp_path / "first.log").read_text()
        time.sleep(3)  # Tune saves its run state every second (rllib train's setting)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the driver and the Ray it started, mid-write
        proc.wait()
        log.close()
    trial = _trial_dir(tmp_path)
    previous = _files(os.path.join(trial, "checkpoint_000000"))
    assert checkpoint_status(os.path.join(trial, "checkpoint_000000")) == COMPLETE
    _resume_and_check(tmp_path, args, previous)


def test_a_full_disk_during_a_checkpoint_write_fails_in_one_line_and_keeps_the_last_good_one(
        tmp_path):
    args = _setup(tmp_path)
    env = dict(os.environ, CKPT_TRAP="enospc")
    first = _rllib(tmp_path, args, env)
    assert first.returncode == 1, first.stdout + first.stderr
    (failed,) = [ln for ln in first.stdout.splitlines() if " failed: " in ln
                 and ln.startswith("trial ")]
    assert "the disk is full" in failed and "free space" in failed and "--resume" in failed
    assert "checkpoint_000000, which is kept" in failed, failed
    trial = _trial_dir(tmp_path)
    assert checkpoint_status(os.path.join(trial, "checkpoint_000000")) == COMPLETE
    _resume_and_check(tmp_path, args, _files(os.path.join(trial, "checkpoint_000000")))


# ---- the pieces, without Ray ---------------------------------------------------------
def _fake_checkpoint(folder):
    os.makedirs(folder / "learner_group", exist_ok=True)
    for name in ("rllib_checkpoint.json", "metadata.json", "class_and_ctor_args.pkl",
                 "algorithm_state.pkl"):
        (folder / name).write_text("x" * 10)
    (folder / "learner_group" / "state.pkl").write_bytes(b"y" * 100)


def test_manifest_tells_a_cut_short_folder_from_a_whole_one(tmp_path):
    whole = tmp_path / "checkpoint_000000"
    _fake_checkpoint(whole)
    assert checkpoint_status(whole) == UNVERIFIED  # an older checkpoint: no file list
    write_manifest(str(whole))
    assert (whole / MANIFEST).is_file() and checkpoint_status(whole) == COMPLETE
    short = tmp_path / "checkpoint_000001"
    _fake_checkpoint(short)
    write_manifest(str(short))
    (short / "learner_group" / "state.pkl").write_bytes(b"y" * 40)  # cut short
    assert checkpoint_status(short) == INCOMPLETE
    (short / "learner_group" / "state.pkl").unlink()
    assert checkpoint_status(short) == INCOMPLETE
    no_list = tmp_path / "checkpoint_000002"  # the file list never arrived; a sibling has one
    _fake_checkpoint(no_list)
    assert checkpoint_status(no_list) == INCOMPLETE
    (tmp_path / "lone").mkdir()
    (tmp_path / "lone" / "metadata.json").write_text("{}")
    assert checkpoint_status(tmp_path / "lone") == INCOMPLETE


def test_evaluate_picks_the_latest_whole_checkpoint(tmp_path):
    from rllib_istar.algorithm.evaluation import find_checkpoint

    for name in ("checkpoint_000000", "checkpoint_000001"):
        _fake_checkpoint(tmp_path / name)
        write_manifest(str(tmp_path / name))
    (tmp_path / "checkpoint_000001" / "learner_group" / "state.pkl").unlink()
    assert find_checkpoint(str(tmp_path)) == str(tmp_path / "checkpoint_000000")


def test_save_checkpoint_writes_the_file_list_and_a_full_disk_raises_one_line(tmp_path,
                                                                              monkeypatch):
    from ray.rllib.algorithms.algorithm import Algorithm

    from rllib_istar.algorithm.istar import IStar

    algo = object.__new__(IStar)  # save_checkpoint needs no built algorithm here
    monkeypatch.setattr(Algorithm, "save_checkpoint",
                        lambda self, d: _fake_checkpoint(type(tmp_path)(d)))
    IStar.save_checkpoint(algo, str(tmp_path / "ok"))
    assert checkpoint_status(tmp_path / "ok") == COMPLETE

    def full(self, d):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), d)

    monkeypatch.setattr(Algorithm, "save_checkpoint", full)
    with pytest.raises(CheckpointDiskFullError) as info:
        IStar.save_checkpoint(algo, str(tmp_path / "full"))
    msg = str(info.value)
    assert "\n" not in msg and "no space left on device" in msg and "--resume" in msg
    assert "last good checkpoint is kept" in msg and info.value.errno == errno.ENOSPC

    def other(self, d):
        raise PermissionError(errno.EACCES, "denied", d)

    monkeypatch.setattr(Algorithm, "save_checkpoint", other)
    with pytest.raises(PermissionError):  # any other error is left as it is
        IStar.save_checkpoint(algo, str(tmp_path / "denied"))


def test_cli_names_a_full_disk_in_one_line(tmp_path):
    from rllib_istar.cli.train import disk_full_summary, failed_on_full_disk

    error = tmp_path / "error.txt"
    error.write_text("Failure # 1\nTraceback ...\nOSError: [Errno 28] No space left on device\n")
    assert failed_on_full_disk(str(error))
    error.write_text("Failure # 1\nValueError: bad\n")
    assert not failed_on_full_disk(str(error))

    class Trial:
        class checkpoint:
            path = "/runs/job/IStar_x/checkpoint_000004"

    line = disk_full_summary(Trial, "/runs/job/IStar_x", "rllib train file job.yaml --resume")
    assert "\n" not in line and "the disk is full" in line and "--storage-path" in line
    assert "rllib train file job.yaml --resume" in line and "checkpoint_000004, which is kept" in line
