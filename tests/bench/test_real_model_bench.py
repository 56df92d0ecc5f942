"""``benchmarks.real_model`` runs end to end on the tiny model (``--model tiny --quick``).

The parent runs every mode in its own subprocess (so each peak RSS is its own) and
writes ``real_model_speed.json`` and ``.md`` into a temporary folder, never into docs/.
The subprocesses inherit the session's isolated model cache (``RLLIB_ISTAR_CACHE``,
tests/conftest.py). Times are checked to be positive, never compared with a budget:
the timeout only stops a hang.
"""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pytest

#: spawns processes or starts Ray: the integration tier (tests/conftest.py)
pytestmark = pytest.mark.integration

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HANG_TIMEOUT_S = 900
TIME_KEYS = {"train": ("train_step_s", "nograd_pass_s"), "update": ("update_s",),
             "generate": ("generate_s", "tokens_per_s")}


def _run_quick(out_dir) -> subprocess.CompletedProcess:
    env = dict(os.environ, TOKENIZERS_PARALLELISM="false", PYTHONWARNINGS="ignore")
    proc = subprocess.run([sys.executable, "-m", "benchmarks.real_model", "--model", "tiny",
                           "--quick", "--threads", "1", "--out-dir", str(out_dir)],
                          cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=HANG_TIMEOUT_S)
    assert proc.returncode == 0, f"{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    return proc


def test_real_model_quick_tiny(tmp_path):
    from benchmarks.real_model import MODES

    _run_quick(tmp_path)
    with open(tmp_path / "real_model_speed.json") as f:
        data = json.load(f)
    assert data["meta"]["versions"]["torch"] and data["meta"]["machine"]["cpus"] >= 1
    assert set(data["modes"]) == set(MODES)
    for name, spec in MODES.items():
        result = data["modes"][name]
        assert "error" not in result, (name, result.get("error"))
        for key in TIME_KEYS[spec["kind"]]:
            assert result[key] > 0, (name, key)
        assert result["peak_rss_gib"] > 0, name
        assert result["trainable_params"] > 0, name
    fraction = data["modes"]["bf16_weights"]["changed_fraction"]
    assert isinstance(fraction, float) and math.isfinite(fraction) and 0.0 <= fraction <= 1.0
    # LoRA trains the adapter only; micro-batching splits the update batch
    assert data["modes"]["lora"]["trainable_params"] < data["modes"]["today"]["trainable_params"]
    assert data["modes"]["policy_update_token_budget"]["microbatches"] > 1
    assert data["modes"]["policy_update_one_pass"]["microbatches"] == 1
    table = (tmp_path / "real_model_speed.md").read_text()
    assert all(f"| {name} |" in table for name in MODES)


def test_missing_model_says_how_to_fetch(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "benchmarks.real_model", "--model",
                           str(tmp_path / "no_such_model"), "--out-dir", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=HANG_TIMEOUT_S)
    assert proc.returncode == 2
    assert "rllib fetch-model smollm2-135m-instruct" in proc.stderr
    assert not (tmp_path / "real_model_speed.json").exists()
