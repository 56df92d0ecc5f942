"""Learning-efficiency benchmark: iStar against its baselines at a CPU scale.

Every method trains the same tiny model ("tiny": llama, hidden 64, 2 layers,
word-level vocabulary), starting from the same format-warmed checkpoint
(``format_warmup_steps``: a short supervised pass on *uniformly random
admissible actions*, so the start knows the action format but not the task;
the checkpoint is cached per (model, env, steps, seed) so every method of a
seed starts from the same weights), with the same group size, batch, learning
rate, epochs and env-step budget. Only ``advantage_estimator`` (and
``ablation``) differ; iStar's own knobs (alpha, beta, PRM lr) are swept
separately and reported as a sweep.

Methods: istar_rloo, rloo, grpo, gigpo, prime, merged (iStar-RLOO with the
"merged rewards" ablation). Envs: toy (KeyCorridor, corridor 2) and Sokoban
6x6 with 1 box (``action_format: bare``: the tiny model has no tags).

Results go to ``<out-dir>/learning.json`` after every run (a cut-off run keeps
what it had; finished runs are skipped when re-run). ``--report`` rebuilds
plots and tables from the JSON only.

    python benchmarks/learning.py                        # everything (~1.5 h on 2 CPUs; see
                                                         # docs/BENCHMARKS.md for a 2-process split)
    python benchmarks/learning.py --env toy --part main  # one part
    python benchmarks/learning.py --report               # plots + tables from the JSON
    python benchmarks/learning.py --smoke --out-dir /tmp/x   # < 2 min, for the test
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from typing import Any, Dict, List, Optional

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

METHODS: Dict[str, Dict[str, Any]] = {
    "istar_rloo": {"advantage_estimator": "istar_rloo"},
    "rloo": {"advantage_estimator": "rloo"},
    "grpo": {"advantage_estimator": "grpo"},
    "gigpo": {"advantage_estimator": "gigpo"},
    "prime": {"advantage_estimator": "prime"},
    "merged": {"advantage_estimator": "istar_rloo", "ablation": "merged"},
}
PRM_METHODS = ("istar_rloo", "prime", "merged")

# Shared settings per env: identical for every method (lr and epochs tuned on RLOO, PRM lr
# and alpha on istar_rloo, seed 0; see
# docs/BENCHMARKS.md "Tuning"). prm_lr / prm_beta / alpha only matter to PRM methods.
SHARED = {
    "toy": dict(group_size=8, num_groups=8, max_new_tokens=2, lr=1e-3, num_epochs=3,
                format_warmup_steps=150, prm_lr=1e-3, prm_beta=0.05,
                step_advantage_weight=0.1),
    "sokoban": dict(group_size=8, num_groups=4, max_new_tokens=2, lr=1e-3, num_epochs=3,
                    format_warmup_steps=150, prm_lr=1e-3, prm_beta=0.05,
                    step_advantage_weight=0.1, microbatch_size=32),
}
BUDGET = {"toy": 36_000, "sokoban": 8_000}          # env steps per run
SEEDS = {"toy": [0, 1, 2], "sokoban": [0]}     # Sokoban: 1 seed fits this CPU budget (--seeds 0 1 2 for more)
WALL_LIMIT_S = {"toy": 420, "sokoban": 300}          # safety cap per run (recorded if hit)

# iStar's own knobs, swept on the toy (istar_rloo, same seeds as the main runs).
SWEEP = {
    "alpha1.0_prm3e-4": {"step_advantage_weight": 1.0, "prm_lr": 3e-4},
    "alpha0.3": {"step_advantage_weight": 0.3},
    "alpha0.3_prm3x": {"step_advantage_weight": 0.3, "prm_epochs": 3},
    "alpha0.3_prm3x_beta0.5": {"step_advantage_weight": 0.3, "prm_epochs": 3, "prm_beta": 0.5},
    "alpha1.0_prm3x": {"step_advantage_weight": 1.0, "prm_epochs": 3},
    "alpha0.1_prm3x": {"prm_epochs": 3},
}
SWEEP_SEEDS = [0]

SMOKE_SHARED = dict(group_size=4, num_groups=2, max_new_tokens=2, lr=1e-3, num_epochs=1,
                    format_warmup_steps=10, prm_lr=3e-4)

FINAL_ITERS = 10   # final success = mean over the last 10 iterations of a run
SMOOTH = 5         # moving average (iterations) before "first step to reach"


def run_key(env: str, method: str, seed: int, variant: str = "main") -> str:
    return f"{env}/{variant}/{method}/seed{seed}"


def _compact(history: List[Dict[str, float]]) -> List[Dict[str, float]]:
    return [{k: (round(v, 5) if isinstance(v, float) and math.isfinite(v) else v)
             for k, v in rec.items()} for rec in history]


def run_one(store: common.ResultStore, env: str, method: str, seed: int, settings: Dict,
            budget: int, variant: str, wall_limit_s: Optional[float]) -> None:
    key = run_key(env, method, seed, variant)
    if key in store:
        print(f"[skip] {key} (in {store.path})", flush=True)
        return
    full = {**settings, **METHODS[method]}
    t0 = time.time()
    res = common.train_run(env, full, seed, env_step_budget=budget,
                           probe=common.AdvantageProbe(), wall_limit_s=wall_limit_s)
    hist = res["history"]
    summary = summarize_run(hist)
    store.put(key, {"env": env, "method": method, "seed": seed, "variant": variant,
                    "settings": full, "budget_env_steps": budget, "wall_s": res["wall_s"],
                    "build_s": res["build_s"], "cut_by_wall_limit": res["cut_by_wall_limit"],
                    "load_avg_end": common.load_avg(), "summary": summary,
                    "history": _compact(hist)})
    print(f"[done] {key}: {len(hist)} iters, {hist[-1]['env_steps']:.0f} env steps, "
          f"success {summary['start_success']:.2f} -> {summary['final_success']:.2f}, "
          f"{time.time() - t0:.0f}s", flush=True)


def _mean(xs):
    xs = [x for x in xs if x is not None and isinstance(x, (int, float)) and math.isfinite(x)]
    return sum(xs) / len(xs) if xs else float("nan")


def _std(xs):
    xs = [x for x in xs if x is not None and math.isfinite(x)]
    if len(xs) < 2:
        return 0.0 if xs else float("nan")
    m = sum(xs) / len(xs)
    return math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1))


def summarize_run(hist: List[Dict[str, float]]) -> Dict[str, float]:
    col = lambda k, h=hist: [r.get(k) for r in h]  # noqa: E731
    first, last = hist[:FINAL_ITERS], hist[-FINAL_ITERS:]
    out = {"iters": len(hist), "env_steps": hist[-1]["env_steps"] if hist else 0,
           "start_success": _mean(col("success_rate", first)),
           "final_success": _mean(col("success_rate", last)),
           "final_invalid": _mean(col("invalid_action_rate", last)),
           "mean_iter_s": _mean(col("iter_s"))}
    for k in ("prm/num_pairs", "prm/groups_without_pairs", "prm/pair_acc", "prm/dpo_loss",
              "prm/step_reward_std", "prm/acc", "probe/adv_key_gap", "probe/r_phi_key_auc",
              "probe/r_phi_key_gap", "probe/corr_r_phi_env_reward", "probe/r_phi_key_std",
              "probe/r_phi_later_std", "adv_step_std"):
        vals = col(k)
        if any(v is not None for v in vals):
            out["mean_" + k] = _mean(vals)
            out["early_" + k] = _mean(col(k, hist[: max(len(hist) // 3, 1)]))
    return out


# ------------------------------------------------------------------- report
def _curve(hist, smooth=SMOOTH):
    xs = [r["env_steps"] for r in hist]
    ys = [r["success_rate"] for r in hist]
    sm = [_mean(ys[max(0, i - smooth + 1): i + 1]) for i in range(len(ys))]
    return xs, ys, sm


def _interp(xs, ys, grid):
    out, j = [], 0
    for g in grid:
        while j + 1 < len(xs) and xs[j + 1] < g:
            j += 1
        if g <= xs[0]:
            out.append(ys[0])
        elif g >= xs[-1]:
            out.append(ys[-1] if g <= xs[-1] * 1.02 else float("nan"))
        else:
            x0, x1, y0, y1 = xs[j], xs[j + 1], ys[j], ys[j + 1]
            out.append(y0 + (y1 - y0) * (g - x0) / max(x1 - x0, 1e-9))
    return out


def _grid(runs, n):
    """n env-step points from the latest first iteration to the earliest last one."""
    lo = max(r["history"][0]["env_steps"] for r in runs)
    hi = min(r["history"][-1]["env_steps"] for r in runs)
    hi = max(hi, lo)
    return [lo + (hi - lo) * i / max(n - 1, 1) for i in range(n)]


def first_reach(xs, sm, target) -> Optional[float]:
    for x, y in zip(xs, sm):
        if y >= target - 1e-9:
            return x
    return None


def group_runs(data, env, variant="main"):
    runs: Dict[str, List[Dict]] = {}
    for run in data["runs"].values():
        if run["env"] == env and run["variant"] == variant and run["history"]:
            runs.setdefault(run["method"], []).append(run)
    return runs


def table_rows(data, env, variant="main", methods=None) -> List[Dict[str, Any]]:
    runs = group_runs(data, env, variant)
    if not runs:
        return []
    rloo = runs.get("rloo", [])
    target = _mean([r["summary"]["final_success"] for r in rloo]) if rloo else float("nan")
    rows = []
    for method in (methods or [m for m in METHODS if m in runs]):
        rs = runs.get(method)
        if not rs:
            continue
        finals = [r["summary"]["final_success"] for r in rs]
        reach = []
        for r in rs:
            xs, _, sm = _curve(r["history"])
            reach.append(first_reach(xs, sm, target) if math.isfinite(target) else None)
        reached = [x for x in reach if x is not None]
        # mean curve over seeds on a common grid, then its first crossing
        grid = _grid(rs, 100)
        grid_max = grid[-1]
        curves = [_interp(*_curve(r["history"])[::2], grid) for r in rs]
        mean_curve = [_mean(c) for c in zip(*curves)]
        rows.append({
            "method": method, "seeds": len(rs),
            "start_mean": _mean([r["summary"]["start_success"] for r in rs]),
            "final_mean": _mean(finals), "final_std": _std(finals),
            "final_invalid": _mean([r["summary"]["final_invalid"] for r in rs]),
            "target": target,
            "steps_to_target_meancurve": first_reach(grid, mean_curve, target),
            "steps_to_target_seeds": reach, "seeds_reached": len(reached),
            "steps_to_target_median": (sorted(reached)[len(reached) // 2] if reached else None),
            "budget": grid_max,
            "mean_iter_s": _mean([r["summary"]["mean_iter_s"] for r in rs]),
            **{k: _mean([r["summary"].get(k) for r in rs]) for k in (
                "mean_prm/num_pairs", "mean_prm/groups_without_pairs", "mean_prm/pair_acc",
                "mean_prm/step_reward_std", "mean_probe/adv_key_gap", "early_probe/adv_key_gap",
                "mean_probe/r_phi_key_auc", "early_probe/r_phi_key_auc",
                "mean_probe/corr_r_phi_env_reward", "mean_prm/acc")},
        })
    return rows


def _fmt(x, nd=2):
    if x is None:
        return "-"
    if isinstance(x, float) and not math.isfinite(x):
        return "-"
    if isinstance(x, float):
        return f"{x:.{nd}f}"
    return str(x)


def markdown_tables(data) -> str:
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


def sweep_rows(data) -> List[Dict[str, Any]]:
    out = []
    base = table_rows(data, "toy", "main", ["istar_rloo"])
    if base:
        b = base[0]
        out.append({"variant": "main", "knobs": _knobs(SHARED["toy"]), "seeds": b["seeds"],
                    "final_mean": b["final_mean"], "final_std": b["final_std"],
                    "steps": b["steps_to_target_meancurve"], "pair_acc": b["mean_prm/pair_acc"],
                    "auc": b["mean_probe/r_phi_key_auc"]})
    target = base[0]["target"] if base else float("nan")
    for variant, knobs in SWEEP.items():
        runs = group_runs(data, "toy", variant).get("istar_rloo", [])
        if not runs:
            continue
        finals = [r["summary"]["final_success"] for r in runs]
        grid = _grid(runs, 100)
        mean_curve = [_mean(c) for c in zip(*[_interp(*_curve(r["history"])[::2], grid) for r in runs])]
        out.append({"variant": variant, "knobs": ", ".join(f"{k}={v}" for k, v in knobs.items()),
                    "seeds": len(runs), "final_mean": _mean(finals), "final_std": _std(finals),
                    "steps": first_reach(grid, mean_curve, target) if math.isfinite(target) else None,
                    "pair_acc": _mean([r["summary"].get("mean_prm/pair_acc") for r in runs]),
                    "auc": _mean([r["summary"].get("mean_probe/r_phi_key_auc") for r in runs])})
    return out


def _knobs(s):
    return f"alpha={s['step_advantage_weight']}, beta={s['prm_beta']}, prm_lr={s['prm_lr']}"


COLORS = {"istar_rloo": "tab:red", "rloo": "tab:blue", "grpo": "tab:green", "gigpo": "tab:purple",
          "prime": "tab:orange", "merged": "tab:brown"}


def plot(data, out_dir: str) -> List[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    for env in ("toy", "sokoban"):
        runs = group_runs(data, env)
        if not runs:
            continue
        fig, ax = plt.subplots(figsize=(7, 4.2))
        for method in METHODS:
            rs = runs.get(method)
            if not rs:
                continue
            grid = _grid(rs, 60)
            curves = [_interp(*_curve(r["history"])[::2], grid) for r in rs]
            mean = [_mean(c) for c in zip(*curves)]
            sd = [_std(c) for c in zip(*curves)]
            lw = 2.4 if method in ("istar_rloo", "rloo") else 1.4
            ax.plot(grid, mean, color=COLORS[method], lw=lw, label=f"{method} (n={len(rs)})")
            ax.fill_between(grid, [m - s for m, s in zip(mean, sd)],
                            [m + s for m, s in zip(mean, sd)], color=COLORS[method], alpha=0.12)
        rl = table_rows(data, env, methods=["rloo"])
        if rl and math.isfinite(rl[0]["target"]):
            ax.axhline(rl[0]["target"], color="tab:blue", ls=":", lw=1,
                       label="RLOO final (target)")
        ax.set_xlabel("env steps")
        ax.set_ylabel(f"training success rate ({SMOOTH}-iter moving avg)")
        title = {"toy": "KeyCorridor toy (corridor 2), tiny LM",
                 "sokoban": "Sokoban 6x6, 1 box, tiny LM"}[env]
        ax.set_title(f"{title}: mean ± std over seeds")
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="upper left")
        fig.tight_layout()
        path = os.path.join(out_dir, f"learning_{env}.png")
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    # toy diagnostics: does the PRM separate the decisive step?
    runs = group_runs(data, "toy")
    if runs:
        fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
        for method in ("istar_rloo", "merged", "prime", "rloo", "gigpo", "grpo"):
            for ax, key, ylabel in zip(axes, ("prm/pair_acc", "probe/r_phi_key_auc", "probe/adv_key_gap"),
                                       ("PRM DPO pair accuracy", "r_phi AUC right vs wrong key",
                                        "advantage gap right - wrong key")):
                rs = runs.get(method, [])
                if not rs or not any(key in h for r in rs for h in r["history"]):
                    continue
                grid = _grid(rs, 40)
                curves = []
                for r in rs:
                    xs = [h["env_steps"] for h in r["history"] if key in h]
                    ys = [h[key] for h in r["history"] if key in h]
                    if len(xs) > 1:
                        ys = [_mean(ys[max(0, i - SMOOTH + 1): i + 1]) for i in range(len(ys))]
                        curves.append(_interp(xs, ys, grid))
                if curves:
                    ax.plot(grid, [_mean(c) for c in zip(*curves)], color=COLORS[method], label=method)
                ax.set_title(ylabel, fontsize=9)
                ax.set_xlabel("env steps")
                ax.grid(alpha=0.3)
        axes[0].legend(fontsize=7)
        fig.tight_layout()
        path = os.path.join(out_dir, "learning_toy_diagnostics.png")
        fig.savefig(path, dpi=100)
        plt.close(fig)
        written.append(path)
    return written


def load_results(out_dir: str) -> Dict[str, Any]:
    """Every ``learning*.json`` in ``out_dir``, runs merged (later files win on a key clash)."""
    data: Dict[str, Any] = {"meta": {}, "runs": {}}
    for name in sorted(os.listdir(out_dir)):
        if name.startswith("learning") and name.endswith(".json"):
            with open(os.path.join(out_dir, name)) as f:
                part = json.load(f)
            data["meta"][name] = part.get("meta", {})
            data["runs"].update(part.get("runs", {}))
    return data


def report(out_dir: str, plot_dir: str) -> str:
    data = load_results(out_dir)
    md = markdown_tables(data)
    tables_path = os.path.join(out_dir, "learning_tables.md")
    with open(tables_path, "w") as f:
        f.write(md + "\n")
    written = plot(data, plot_dir)
    print(md)
    print("wrote", tables_path, *written, sep="\n  ")
    return md


# --------------------------------------------------------------------- main
def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--env", nargs="+", default=["toy", "sokoban"], choices=["toy", "sokoban"])
    p.add_argument("--part", nargs="+", default=["main", "sweep"], choices=["main", "sweep"])
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    p.add_argument("--seeds", nargs="+", type=int, default=None)
    p.add_argument("--out-dir", default=os.path.join(common.ROOT, "docs", "benchmark_results"),
                   help="where learning.json / learning_tables.md go")
    p.add_argument("--plot-dir", default=None, help="PNG folder (default: out-dir/.. for the "
                   "real run, i.e. docs/; out-dir for --smoke)")
    p.add_argument("--variants", nargs="+", default=list(SWEEP), choices=list(SWEEP))
    p.add_argument("--results-name", default="learning.json", help="JSON file name inside "
                   "out-dir (the report merges every learning*.json there, so two processes "
                   "can run parts side by side)")
    p.add_argument("--report", action="store_true", help="only rebuild tables and plots")
    p.add_argument("--smoke", action="store_true", help="every method, toy, 1 seed, 2 iterations")
    p.add_argument("--threads", type=int, default=2, help="torch threads and Ray CPUs of this "
                   "process (1 when two processes share 2 cores)")
    args = p.parse_args(argv)

    os.makedirs(args.out_dir, exist_ok=True)
    plot_dir = args.plot_dir or (args.out_dir if args.smoke else os.path.dirname(os.path.abspath(args.out_dir)))
    results = os.path.join(args.out_dir, args.results_name)
    if args.report:
        report(args.out_dir, plot_dir)
        return 0

    common.quiet()
    import torch

    torch.set_num_threads(args.threads)
    common.init_ray(args.threads)
    meta = {"machine": common.machine_info(), "git": common.git_rev(),
            "started": time.strftime("%Y-%m-%d %H:%M:%S"), "load_avg_start": common.load_avg(),
            "final_iters": FINAL_ITERS, "smooth": SMOOTH, "smoke": args.smoke}
    store = common.ResultStore(results, meta)
    if args.smoke:
        for method in args.methods:
            run_one(store, "toy", method, 0, SMOKE_SHARED, 2 * 4 * 2 * 4, "main", 60)
    else:
        for env in args.env:
            if "main" in args.part:
                for seed in (args.seeds or SEEDS[env]):   # seed-major: a cut-off run stays balanced
                    for method in args.methods:
                        run_one(store, env, method, seed, SHARED[env], BUDGET[env], "main",
                                WALL_LIMIT_S[env])
            if "sweep" in args.part and env == "toy":
                for seed in (args.seeds or SWEEP_SEEDS):
                    for variant in args.variants:
                        knobs = SWEEP[variant]
                        run_one(store, env, "istar_rloo", seed, {**SHARED[env], **knobs},
                                BUDGET[env], variant, WALL_LIMIT_S[env])
    store.data["meta"]["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
    store.data["meta"]["load_avg_end"] = common.load_avg()
    store.save()
    report(args.out_dir, plot_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
