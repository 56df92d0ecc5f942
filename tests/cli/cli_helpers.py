"""Helpers for the ``rllib`` command tests: run it in-process or as a subprocess."""
from __future__ import annotations

import contextlib
import io
import logging
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "tuned_examples"
MAIN_JOB = EXAMPLES / "toy_istar_cpu.yaml"
_ENV_KEYS = ("RAY_AIR_NEW_OUTPUT", "TUNE_GLOBAL_CHECKPOINT_S")


def run_cli(argv):
    """``rllib argv`` in this process; returns (exit code, stdout, stderr).

    The command turns Ray's loggers down and sets two env vars for Tune; both
    are restored so other tests see the process as it was.
    """
    from rllib_istar.cli import main

    names = ("ray", "ray.rllib", "ray.tune", "ray.train", "ray.air")
    levels = {n: logging.getLogger(n).level for n in names}
    env = {k: os.environ.get(k) for k in _ENV_KEYS}
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main([str(a) for a in argv])
    finally:
        for n, level in levels.items():
            logging.getLogger(n).setLevel(level)
        for k, v in env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return code, out.getvalue(), err.getvalue()


def run_module(argv, timeout=300, **kwargs):
    """``python -m rllib_istar argv`` as a subprocess (its own Ray); CompletedProcess."""
    return subprocess.run([sys.executable, "-m", "rllib_istar", *map(str, argv)], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout, **kwargs)


def one_line_error(code, err, prefix="rllib: error: "):
    """The single line of a bad-input exit (code 2), which starts with ``prefix``."""
    assert code == 2, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith(prefix), err
    return lines[0]


def write_yaml(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def progress_lines(out: str):
    return [ln for ln in out.splitlines() if " iter " in ln and " | steps " in ln]
