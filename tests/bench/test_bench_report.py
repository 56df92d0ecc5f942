"""The report rebuilds the committed tables from the committed JSON alone, and the pure
modules (and the Ray-free GPU script) import without what they must not need."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from benchmarks import report
from benchmarks.settings import RESULTS_DIR, ROOT


@pytest.fixture()
def results_copy(tmp_path):
    for name in os.listdir(RESULTS_DIR):
        if name.endswith((".json", ".json.gz")):
            shutil.copy(os.path.join(RESULTS_DIR, name), tmp_path / name)
    return tmp_path


@pytest.mark.parametrize("tables", ["learning_tables.md", "cost_tables.md"])
def test_report_rebuilds_the_committed_tables(results_copy, tables, capsys):
    assert report.main(["--out-dir", str(results_copy), "--no-plots"]) == 0
    with open(os.path.join(RESULTS_DIR, tables)) as f:
        committed = f.read()
    assert (results_copy / tables).read_text() == committed


@pytest.mark.parametrize("module, tables", [("async_rollouts", "async_rollouts.md"),
                                           ("smollm2_cost", "smollm2_cost.md")])
def test_own_scripts_rebuild_their_committed_tables(results_copy, module, tables):
    run = subprocess.run([sys.executable, "-m", f"benchmarks.{module}", "--report", "--out-dir",
                          str(results_copy)], cwd=ROOT, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    with open(os.path.join(RESULTS_DIR, tables)) as f:
        assert (results_copy / tables).read_text() == f.read()


def test_committed_tables_are_in_benchmarks_md():
    """The benchmark pages (docs/benchmarks/) quote the tables; they must not drift."""
    pages = os.path.join(ROOT, "docs", "benchmarks")
    doc = "".join(open(os.path.join(pages, n)).read() for n in sorted(os.listdir(pages))
                  if n.endswith(".md"))
    for tables in ("learning_tables.md", "cost_tables.md", "async_rollouts.md",
                   "smollm2_cost.md"):
        with open(os.path.join(RESULTS_DIR, tables)) as f:
            rows = [line for line in f.read().splitlines() if line.startswith("| ")]
        missing = [row for row in rows if row not in doc]
        assert not missing, missing[:3]


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)


def test_report_needs_neither_ray_nor_torch():
    run = _python("import sys\n"
                  "import benchmarks.report, benchmarks.plots, benchmarks.stats, benchmarks.settings\n"
                  "bad = [m for m in ('ray', 'torch') if m in sys.modules]\n"
                  "assert not bad, bad\n")
    assert run.returncode == 0, run.stderr[-2000:]


def test_gpu_generation_runs_without_ray():
    """The GPU box has torch and transformers but no Ray."""
    run = _python("import sys\n"
                  "sys.modules['ray'] = None  # any `import ray` fails\n"
                  "import benchmarks.gpu_generation as g\n"
                  "from rllib_istar.lm import compute_token_logprobs, encode_prompt, load_causal_lm\n"
                  "from rllib_istar.lm import load_tokenizer, tiny_model_path\n"
                  "from rllib_istar.rollout.generation import HFGenerator\n"
                  "import torch\n"
                  "if not torch.cuda.is_available():\n"
                  "    assert g.main(['--out', '/dev/null']) == 2  # says it needs CUDA\n")
    assert run.returncode == 0, run.stderr[-2000:]


def test_credit_plots_are_drawn_from_the_committed_json(tmp_path):
    from benchmarks.credit_report import plot_credit
    from benchmarks.stats import load_learning_results

    paths = plot_credit(load_learning_results(RESULTS_DIR), str(tmp_path))
    assert sorted(os.path.basename(p) for p in paths) == [
        "learning_credit.png", "learning_credit_auc.png", "learning_credit_presets.png",
        "learning_new_envs.png"]
    assert all(os.path.getsize(p) > 10_000 for p in paths)


def _credit_run(method, seed, success, auc, variant="main"):
    hist = [{"env_steps": 100.0 * (i + 1), "success_rate": success * min(1.0, i / 10),
             "invalid_action_rate": 0.0, "credit_auc_advantage": auc} for i in range(30)]
    return {"env": "credit", "method": method, "seed": seed, "variant": variant, "history": hist}


def test_credit_goal_lines_say_met_or_not_from_the_numbers():
    from benchmarks.credit_report import credit_markdown

    runs = {f"{m}{s}": _credit_run(m, s, succ, auc) for s in range(3)
            for m, succ, auc in (("istar_rloo", 0.8, 0.9), ("rloo", 0.4, 0.6))}
    md = credit_markdown({"runs": runs})
    assert "| iStar's decisive-step AUC of A(t) > 0.8 | 0.90 | yes |" in md
    assert "| iStar's final success no lower than RLOO's | 0.80 vs 0.40 | yes |" in md
    assert "in <= half RLOO's env steps" in md and "| ... and > RLOO's | 0.90 vs 0.60 | yes |" in md
    swapped = {k: _credit_run(r["method"], r["seed"], 0.4 if r["method"] == "istar_rloo" else 0.8,
                              0.5) for k, r in runs.items()}
    md = credit_markdown({"runs": swapped})
    assert "| iStar's final success no lower than RLOO's | 0.40 vs 0.80 | **no** |" in md
    assert "| iStar's decisive-step AUC of A(t) > 0.8 | 0.50 | **no** |" in md
