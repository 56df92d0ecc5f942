"""Markdown tables and plots of the benchmarks, from their JSON results only.

No Ray, no torch (matplotlib only for the plots). Reads ``<out-dir>/learning*.json``
(merged) and ``<out-dir>/cost.json``; writes ``learning_tables.md`` and
``cost_tables.md`` next to them and the learning PNGs into ``--plot-dir``
(default: the folder above ``out-dir``, i.e. ``docs/`` for the committed results).
The runners call the same functions at their end.

    python -m benchmarks.report                       # benchmarks/results -> tables, docs/benchmarks/*.png
    python -m benchmarks.report --only cost           # one benchmark
    python -m benchmarks.report --out-dir /tmp/x --plot-dir /tmp/x --no-plots
"""
from __future__ import annotations

import argparse
import math
import os
import sys
from typing import Any, Dict, List, Optional

from benchmarks.results_io import existing, load_json, result_names
from benchmarks.settings import FINAL_ITERS, PLOTS_DIR, PRM_METHODS, RESULTS_DIR, SMOOTH
from benchmarks.stats import load_learning_results, sweep_rows, table_rows


# ------------------------------------------------------------------ learning
def _fmt(x, nd=2):
    if x is None:
        return "-"
    if isinstance(x, float) and not math.isfinite(x):
        return "-"
    if isinstance(x, float):
        return f"{x:.{nd}f}"
    return str(x)


def learning_markdown(data: Dict[str, Any]) -> str:
    lines = []
    for env in ("toy", "sokoban"):
        rows = table_rows(data, env)
        if not rows:
            continue
        rloo = next((r for r in rows if r["method"] == "rloo"), None)
        rloo_steps = rloo["steps_to_target_meancurve"] if rloo else None
        lines += [f"### {env}: final success and env steps to reach RLOO's final success",
                  "",
                  f"Target = RLOO's final success (mean of the last {FINAL_ITERS} iterations, "
                  f"over seeds) = {_fmt(rows[0]['target'])}. Budget {rows[0]['budget']:.0f} env "
                  f"steps. 'Steps (mean curve)': first env step where the seed-mean "
                  f"{SMOOTH}-iteration moving average reaches the target; 'per seed': the same "
                  "on each seed's own curve (- = never).",
                  "",
                  "| method | seeds | start success | final success (mean ± std) | final invalid | "
                  "steps to target (mean curve) | vs RLOO | per seed | s/iter |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for r in rows:
            st = r["steps_to_target_meancurve"]
            ratio = (st / rloo_steps) if (st is not None and rloo_steps) else None
            per_seed = ", ".join("-" if x is None else f"{x:.0f}" for x in r["steps_to_target_seeds"])
            lines.append(f"| {r['method']} | {r['seeds']} | {_fmt(r['start_mean'])} | "
                         f"{_fmt(r['final_mean'])} ± {_fmt(r['final_std'])} | "
                         f"{_fmt(r['final_invalid'], 3)} | {_fmt(st, 0) if st else 'not reached'} | "
                         f"{_fmt(ratio) + 'x' if ratio else '-'} | {per_seed} | "
                         f"{_fmt(r['mean_iter_s'])} |")
        lines.append("")
        prm_rows = [r for r in rows if r["method"] in PRM_METHODS or r["method"] in ("rloo", "gigpo", "grpo")]
        lines += [f"### {env}: diagnostics (means over iterations and seeds)", "",
                  "| method | PRM pairs/iter | groups w/o pair | pair acc | r_phi std | PRIME acc | "
                  "key-step adv gap (early / all) | r_phi key AUC (early / all) | corr(r_phi, env r) |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for r in prm_rows:
            lines.append(
                f"| {r['method']} | {_fmt(r['mean_prm/num_pairs'], 1)} | "
                f"{_fmt(r['mean_prm/groups_without_pairs'], 2)} | {_fmt(r['mean_prm/pair_acc'])} | "
                f"{_fmt(r['mean_prm/step_reward_std'], 3)} | {_fmt(r['mean_prm/acc'])} | "
                f"{_fmt(r['early_probe/adv_key_gap'])} / {_fmt(r['mean_probe/adv_key_gap'])} | "
                f"{_fmt(r['early_probe/r_phi_key_auc'])} / {_fmt(r['mean_probe/r_phi_key_auc'])} | "
                f"{_fmt(r['mean_probe/corr_r_phi_env_reward'])} |")
        lines.append("")
    sweep = sweep_rows(data)
    if sweep:
        lines += ["### toy: iStar knob sweep (istar_rloo; every other setting as in the main runs)",
                  "", "| variant | knobs | seeds | final success (mean ± std) | steps to RLOO's final "
                  "(mean curve) | pair acc | r_phi key AUC |", "|---|---|---|---|---|---|---|"]
        for r in sweep:
            lines.append(f"| {r['variant']} | {r['knobs']} | {r['seeds']} | {_fmt(r['final_mean'])} ± "
                         f"{_fmt(r['final_std'])} | {_fmt(r['steps'], 0) if r['steps'] else 'not reached'} | "
                         f"{_fmt(r['pair_acc'])} | {_fmt(r['auc'])} |")
        lines.append("")
    return "\n".join(lines)


def write_learning(out_dir: str, plot_dir: Optional[str], plots: bool = True) -> str:
    """learning_tables.md (and the PNGs) from every learning*.json in ``out_dir``."""
    from benchmarks.credit_r200_report import plot_r200, r200_markdown
    from benchmarks.credit_report import credit_markdown, plot_credit

    data = load_learning_results(out_dir)
    md = credit_markdown(data) + r200_markdown(data) + learning_markdown(data)
    tables_path = os.path.join(out_dir, "learning_tables.md")
    with open(tables_path, "w") as f:
        f.write(md + "\n")
    written: List[str] = []
    if plots:
        from benchmarks.plots import plot_learning

        written = plot_learning(data, plot_dir or default_plot_dir(out_dir))
        written += plot_credit(data, plot_dir or default_plot_dir(out_dir))
        written += plot_r200(data, plot_dir or default_plot_dir(out_dir))
    print(md)
    print("wrote", tables_path, *written, sep="\n  ")
    return md


def default_plot_dir(out_dir: str) -> str:
    """docs/benchmarks/ for the committed results, else ``out_dir`` itself."""
    if os.path.abspath(out_dir) == os.path.abspath(RESULTS_DIR):
        return PLOTS_DIR
    return out_dir


# ---------------------------------------------------------------------- cost
# Phases of the per-iteration breakdown, in table order (cost.py measures them).
BREAKDOWN = ("generation", "env", "rollout_other", "old_logp", "prm_update", "prm_scoring",
             "policy_update", "learner_other", "weight_sync")


def _f(x, nd=2):
    return "-" if x is None or (isinstance(x, float) and x != x) else f"{x:.{nd}f}"


def cost_markdown(data: Dict[str, Any]) -> str:
    L = []
    it = data.get("iteration")
    if it:
        L += ["### Per-iteration wall time: istar_rloo vs rloo (median seconds per iteration)", "",
              "| env | phase | rloo | istar_rloo |", "|---|---|---|---|"]
        for env, d in it.items():
            for k in BREAKDOWN + ("wall",):
                L.append(f"| {env} | {k} | {_f(d['median']['rloo'][k], 3)} | "
                         f"{_f(d['median']['istar_rloo'][k], 3)} |")
            L.append(f"| {env} | **ratio istar/rloo** | | **{_f(d['ratio_wall'])}x** "
                     f"(per env step {_f(d['ratio_wall_per_env_step'])}x; goal <= 1.5: "
                     f"{'met' if d['goal_met'] else 'NOT met'}) |")
        L.append("")
    g = data.get("generation")
    if g:
        L += ["### Generation throughput (generated tokens/s)", "",
              "| workload | prompts/call | prompt len | max_new_tokens | bare generate | plugin "
              "generator | runner, generate phase | runner, end to end | ratios (gen / phase / e2e) |",
              "|---|---|---|---|---|---|---|---|---|"]
        for name, d in g.items():
            L.append(f"| {name} | {_f(d['prompts_per_call'], 0)} | {_f(d['prompt_len_median'], 0)} | "
                     f"{d['max_new_tokens']} | {_f(d['bare_tokens_per_s'], 0)} | "
                     f"{_f(d['plugin_generator_tokens_per_s'], 0)} | "
                     f"{_f(d['runner_generation_tokens_per_s'], 0)} | "
                     f"{_f(d['runner_end_to_end_tokens_per_s'], 0)} | "
                     f"{_f(d['ratio_generator_vs_bare'])} / {_f(d['ratio_runner_generation_vs_bare'])} / "
                     f"{_f(d['ratio_runner_end_to_end_vs_bare'])} |")
        L.append("")
    le = data.get("learner")
    if le:
        L += ["### Learner throughput (tokens/s; one optimizer step on the whole batch)", "",
              "| env | rows | tokens | bare loop | plugin policy update | plugin full update "
              "(+ rows, old logp, advantages) | ratio policy / full |", "|---|---|---|---|---|---|---|"]
        for env, d in le.items():
            L.append(f"| {env} | {d['rows']} | {d['tokens']} | {_f(d['bare_tokens_per_s'], 0)} | "
                     f"{_f(d['plugin_policy_update_tokens_per_s'], 0)} | "
                     f"{_f(d['plugin_full_update_tokens_per_s'], 0)} | "
                     f"{_f(d['ratio_policy_update_vs_bare'])} / {_f(d['ratio_full_update_vs_bare'])} |")
        L.append("")
    me = data.get("memory")
    if me:
        L += [f"### Learner memory ({me['model']}; RSS growth over the process baseline, median)", "",
              "| mode | peak delta MB | after 2 updates MB | built MB | analytic weights+grads+Adam MB | "
              "peak ratio vs rloo | analytic ratio |", "|---|---|---|---|---|---|---|"]
        for m, d in me["median"].items():
            L.append(f"| {m} | {_f(d['peak_delta_mb'], 1)} | {_f(d['after_update_delta_mb'], 1)} | "
                     f"{_f(d['learner_built_delta_mb'], 1)} | {_f(d['analytic_static_mb'], 1)} | "
                     f"{_f(me['ratio_peak_vs_rloo'][m])} | {_f(me['ratio_analytic_static_vs_rloo'][m])} |")
        L.append("")
    sc = data.get("scaling")
    if sc:
        L += [f"### Iteration time scaling ({sc['env']}, random-init model; base {sc['base']})", "",
              "| config | env steps/iter | rloo s/iter | istar_rloo s/iter | ratio | istar rollout s | "
              "istar learner s |", "|---|---|---|---|---|---|---|"]
        for r in sc["rows"]:
            L.append(f"| {r['config']} | {_f(r['istar_rloo_env_steps'], 0)} | {_f(r['rloo_s'])} | "
                     f"{_f(r['istar_rloo_s'])} | {_f(r['ratio'])} | {_f(r['istar_rloo_rollout_s'])} | "
                     f"{_f(r['istar_rloo_learner_s'])} |")
        L.append("")
    return "\n".join(L)


def load_cost_results(out_dir: str) -> Dict[str, Any]:
    path = os.path.join(out_dir, "cost.json")
    return load_json(path) if existing(path) else {}


def write_cost(out_dir: str, data: Optional[Dict[str, Any]] = None) -> str:
    """cost_tables.md from ``data`` (default: ``<out_dir>/cost.json``)."""
    md = cost_markdown(load_cost_results(out_dir) if data is None else data)
    with open(os.path.join(out_dir, "cost_tables.md"), "w") as f:
        f.write(md + "\n")
    print(md)
    return md


# ---------------------------------------------------------------------- main
def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out-dir", default=RESULTS_DIR, help="folder of the JSON results; the "
                   "tables are written there")
    p.add_argument("--plot-dir", default=None, help="PNG folder (default: docs/benchmarks/ for the committed results, else out-dir)")
    p.add_argument("--only", nargs="+", default=["learning", "cost"], choices=["learning", "cost"])
    p.add_argument("--no-plots", action="store_true", help="tables only (no matplotlib)")
    args = p.parse_args(argv)
    if "learning" in args.only and result_names(args.out_dir, "learning"):
        write_learning(args.out_dir, args.plot_dir, plots=not args.no_plots)
    if "cost" in args.only and existing(os.path.join(args.out_dir, "cost.json")):
        write_cost(args.out_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
