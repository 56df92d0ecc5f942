"""benchmarks/soak.py --smoke: the soak's mechanics (training, checkpoints, RSS and
iteration-time records, the summary) run end to end; its numbers are never asserted."""
import json
import os
import subprocess
import sys

import pytest

from rllib_istar.algorithm.checkpoint_files import COMPLETE, checkpoint_status

#: spawns processes or starts Ray: the integration tier (tests/conftest.py)
pytestmark = pytest.mark.integration

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_soak_smoke_records_rss_and_iteration_time_and_checkpoints(tmp_path):
    out, ckpts = tmp_path / "soak.json", tmp_path / "ckpts"
    proc = subprocess.run([sys.executable, "-m", "benchmarks.soak", "--smoke", "--out", str(out),
                           "--checkpoint-dir", str(ckpts)], cwd=ROOT, capture_output=True,
                          text=True, timeout=900,
                          env=dict(os.environ, TOKENIZERS_PARALLELISM="false"))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    data = json.loads(out.read_text())
    records = data["records"]
    assert [r["iteration"] for r in records] == [2, 4, 6]
    for rec in records:
        assert rec["rss_mb"] > 0 and rec["peak_rss_mb"] >= rec["rss_mb"] * 0.5
        assert rec["iter_s_mean"] > 0 and 0.0 <= rec["success_rate"] <= 1.0
    assert [r["checkpoint_s"] is not None for r in records] == [False, True, True]
    assert [os.path.basename(p) for p in data["checkpoints"]] == ["checkpoint_000003",
                                                                   "checkpoint_000006"]
    assert all(checkpoint_status(p) == COMPLETE for p in data["checkpoints"])
    summary = data["summary"]
    assert summary["last_iteration"] == 6 and summary["rss_last_mb"] > 0
    assert {"rss_growth", "iter_s_ratio", "rss_goal_met"} <= set(summary)
    machine = data["meta"]["machine"]  # every speed figure says where it was measured
    assert machine["cpu_model"] and "cpu_has_bf16_instructions" in machine
    assert machine["autocast_auto_cpu"] in ("bfloat16", "float32")
