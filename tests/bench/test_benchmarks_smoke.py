"""The benchmark scripts' ``--smoke`` modes run end to end (so they cannot rot).

Each script runs as a subprocess (``python -m benchmarks.<name>`` from the
repository root) with its own output folder (never the real results in docs/)
and the session's isolated model cache and must write outputs that parse. Their wall time (under two minutes each on 2 cores, the issue's goal)
is measured and reported in docs/benchmarks/, never asserted: the timeout
below only stops a hang.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

#: spawns processes or starts Ray: the integration tier (tests/conftest.py)
pytestmark = pytest.mark.integration

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HANG_TIMEOUT_S = 900


def _run(module: str, *args: str, timeout: float = HANG_TIMEOUT_S) -> subprocess.CompletedProcess:
    env = dict(os.environ, TOKENIZERS_PARALLELISM="false", PYTHONWARNINGS="ignore")
    proc = subprocess.run([sys.executable, "-m", f"benchmarks.{module}", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, (f"benchmarks.{module} {' '.join(args)} failed:\n"
                                  f"{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")
    return proc


def test_learning_smoke(tmp_path):
    out = tmp_path / "learning"
    proc = _run("learning", "--smoke", "--out-dir", str(out))
    with open(out / "learning.json") as f:
        data = json.load(f)
    methods = {run["method"] for run in data["runs"].values()}
    assert methods == {"istar_rloo", "rloo", "grpo", "gigpo", "prime", "merged", "istar_grpo",
                       "frozen_prm"}
    for run in data["runs"].values():
        assert run["history"], run["method"]
        hist = run["history"][-1]
        assert 0.0 <= hist["success_rate"] <= 1.0
        assert hist["env_steps"] > 0
        if run["method"] in ("istar_rloo", "merged", "istar_grpo"):
            assert "prm/num_pairs" in hist  # the PRM diagnostics are recorded
        if run["method"] == "frozen_prm":  # scores with a PRM that never trains
            assert "prm/step_reward_std" in hist and "prm/num_pairs" not in hist
    assert (out / "learning_tables.md").read_text().count("| istar_rloo |") >= 1
    for png in ("learning_toy.png", "learning_toy_diagnostics.png"):
        assert (out / png).stat().st_size > 1000
    assert "final success" in proc.stdout
    # the report re-runs from the JSON alone and writes the same tables
    tables = (out / "learning_tables.md").read_text()
    _run("report", "--only", "learning", "--out-dir", str(out), "--plot-dir", str(out), timeout=120)
    assert (out / "learning_tables.md").read_text() == tables


def test_cost_smoke(tmp_path):
    out = tmp_path / "cost"
    _run("cost", "--smoke", "--out-dir", str(out))
    with open(out / "cost.json") as f:
        data = json.load(f)
    for part in ("iteration", "generation", "learner", "memory", "scaling"):
        assert part in data, part
    toy = data["iteration"]["toy"]
    assert toy["median"]["rloo"]["wall"] > 0 and toy["ratio_wall"] > 0
    assert toy["median"]["istar_rloo"]["prm_update"] > 0  # the PRM phase is timed
    assert toy["median"]["rloo"]["prm_update"] == 0       # and absent for outcome-only
    gen = data["generation"]["toy"]
    assert gen["bare_tokens_per_s"] > 0 and gen["runner_generation_tokens_per_s"] > 0
    assert data["learner"]["toy"]["ratio_policy_update_vs_bare"] > 0
    mem = data["memory"]["median"]
    assert set(mem) == {"rloo", "full", "lora"}
    # a full PRM copy holds more trainable state than a LoRA adapter
    assert mem["full"]["analytic_static_mb"] > mem["lora"]["analytic_static_mb"]
    assert data["scaling"]["rows"]
    tables = (out / "cost_tables.md").read_text()
    assert tables.strip()
    _run("report", "--only", "cost", "--out-dir", str(out), timeout=120)
    assert (out / "cost_tables.md").read_text() == tables


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-v"]))


def test_prm_displacement_smoke(tmp_path):
    out = tmp_path / "displacement.json"
    _run("prm_displacement", "--smoke", "--out", str(out))
    doc = json.loads(out.read_text())
    (run,) = doc["runs"].values()
    first, last = run["records"][0], run["records"][-1]
    assert [r["step"] for r in run["records"]] == [0, 1, 2]
    # before any PRM step the PRM is pi_init: no progress on any sampled response, and the
    # same mass on the admissible colours
    for key in ("sampled_right", "sampled_wrong", "sampled_hall"):
        assert first[key] == pytest.approx(0.0, abs=1e-6), key
    assert first["admissible_mass_prm"] == pytest.approx(first["admissible_mass_init"])
    assert last["pairs"] > 0 and 0.0 <= last["same_state_prm_progress"] <= 1.0


def test_prm_phase_cost_runs_and_reports_each_ratio(tmp_path):
    out = tmp_path / "prm_phase_cost.json"
    _run("prm_phase_cost", "--repeats", "1", "--microbatch-sizes", "4", "512", "--out", str(out))
    with open(out) as f:
        data = json.load(f)
    assert set(data["by_microbatch_size"]) == {"4", "512"}
    assert data["largest_group_rows"] > 4            # 4: no group fits; 512: every group does
    for row in data["by_microbatch_size"].values():
        assert {"forward_backward_s", "scoring_forward_s", "phase_before_s", "phase_after_s",
                "ratio_before", "ratio_after"} <= set(row)
        assert row["ratio_before"] > 0 and row["ratio_after"] > 0


def test_async_rollouts_smoke(tmp_path):
    out = tmp_path / "async"
    proc = _run("async_rollouts", "--smoke", "--out-dir", str(out))
    with open(out / "async_rollouts.json") as f:
        data = json.load(f)
    assert {"learning/sync/seed0", "learning/async/seed0", "timing/1runners/sync/rep0",
            "timing/1runners/async/rep0", "timing/2runners/sync/rep0",
            "timing/2runners/async/rep0"} <= set(data["runs"])
    for key in ("learning/sync/seed0", "learning/async/seed0"):
        assert data["runs"][key]["history"][-1]["env_steps"] > 0
    tables = (out / "async_rollouts.md").read_text()
    assert "| async |" in tables and "model, a core per process" in tables
    assert "async / sync wall per env step" in proc.stdout
