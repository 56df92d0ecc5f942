"""Summaries, curves and table rows of the learning benchmark's runs (no Ray, no torch).

A run is the dict ``learning.py`` stores: ``{"env", "method", "seed", "variant",
"settings", "summary", "history": [per-iteration dict], ...}``; ``data`` is
``{"meta": ..., "runs": {key: run}}`` (:func:`load_learning_results`).
"""
from __future__ import annotations

import math
import os
import statistics
from typing import Any, Dict, List, Optional

from benchmarks.results_io import load_json, result_names
from benchmarks.settings import FINAL_ITERS, METHODS, SMOOTH, SWEEP


def mean(xs):
    xs = [x for x in xs if x is not None and isinstance(x, (int, float)) and math.isfinite(x)]
    return sum(xs) / len(xs) if xs else float("nan")


def std(xs):
    xs = [x for x in xs if x is not None and math.isfinite(x)]
    if len(xs) < 2:
        return 0.0 if xs else float("nan")
    m = sum(xs) / len(xs)
    return math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1))


def median(xs):
    """Median of the non-None values (nan if none): the cost benchmark's statistic."""
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else float("nan")


def bootstrap_ci(xs, n: int = 2000, level: float = 0.95, seed: int = 0):
    """Percentile bootstrap interval of the mean of ``xs`` (deterministic in ``seed``);
    ``(nan, nan)`` for no values, ``(x, x)`` for one.

    >>> bootstrap_ci([1.0, 1.0, 1.0])
    (1.0, 1.0)
    """
    import random

    xs = [x for x in xs if x is not None and math.isfinite(x)]
    if not xs:
        return (float("nan"), float("nan"))
    rng = random.Random(seed)
    means = sorted(sum(rng.choices(xs, k=len(xs))) / len(xs) for _ in range(n))
    lo = means[int((1 - level) / 2 * (n - 1))]
    hi = means[int((1 + level) / 2 * (n - 1))]
    return (lo, hi)


# ------------------------------------------------------------------- one run
SUMMARY_KEYS = ("prm/num_pairs", "prm/groups_without_pairs", "prm/pair_acc", "prm/dpo_loss",
                "prm/step_reward_std", "prm/acc", "probe/adv_key_gap", "probe/r_phi_key_auc",
                "probe/r_phi_key_gap", "probe/corr_r_phi_env_reward", "probe/r_phi_key_std",
                "probe/r_phi_later_std", "adv_step_std")


def summarize_run(hist: List[Dict[str, float]]) -> Dict[str, float]:
    """Start/final success (first/last FINAL_ITERS iterations) and diagnostic means
    (over all iterations and over the first third)."""
    col = lambda k, h=hist: [r.get(k) for r in h]  # noqa: E731
    first, last = hist[:FINAL_ITERS], hist[-FINAL_ITERS:]
    out = {"iters": len(hist), "env_steps": hist[-1]["env_steps"] if hist else 0,
           "start_success": mean(col("success_rate", first)),
           "final_success": mean(col("success_rate", last)),
           "final_invalid": mean(col("invalid_action_rate", last)),
           "mean_iter_s": mean(col("iter_s"))}
    for k in SUMMARY_KEYS:
        vals = col(k)
        if any(v is not None for v in vals):
            out["mean_" + k] = mean(vals)
            out["early_" + k] = mean(col(k, hist[: max(len(hist) // 3, 1)]))
    return out


# -------------------------------------------------------------------- curves
def curve(hist, smooth=SMOOTH):
    """(env steps, success rate, its ``smooth``-iteration moving average)."""
    xs = [r["env_steps"] for r in hist]
    ys = [r["success_rate"] for r in hist]
    sm = [mean(ys[max(0, i - smooth + 1): i + 1]) for i in range(len(ys))]
    return xs, ys, sm


def interp(xs, ys, grid):
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


def grid(runs, n):
    """n env-step points from the latest first iteration to the earliest last one."""
    lo = max(r["history"][0]["env_steps"] for r in runs)
    hi = min(r["history"][-1]["env_steps"] for r in runs)
    hi = max(hi, lo)
    return [lo + (hi - lo) * i / max(n - 1, 1) for i in range(n)]


def mean_curve(runs, n):
    """(grid, seed-mean of the smoothed success curves on it)."""
    g = grid(runs, n)
    curves = [interp(*curve(r["history"])[::2], g) for r in runs]
    return g, [mean(c) for c in zip(*curves)]


def first_reach(xs, sm, target) -> Optional[float]:
    for x, y in zip(xs, sm):
        if y >= target - 1e-9:
            return x
    return None


# -------------------------------------------------------------------- tables
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
    target = mean([r["summary"]["final_success"] for r in rloo]) if rloo else float("nan")
    rows = []
    for method in (methods or [m for m in METHODS if m in runs]):
        rs = runs.get(method)
        if not rs:
            continue
        finals = [r["summary"]["final_success"] for r in rs]
        reach = []
        for r in rs:
            xs, _, sm = curve(r["history"])
            reach.append(first_reach(xs, sm, target) if math.isfinite(target) else None)
        reached = [x for x in reach if x is not None]
        # mean curve over seeds on a common grid, then its first crossing
        g, mc = mean_curve(rs, 100)
        rows.append({
            "method": method, "seeds": len(rs),
            "start_mean": mean([r["summary"]["start_success"] for r in rs]),
            "final_mean": mean(finals), "final_std": std(finals),
            "final_invalid": mean([r["summary"]["final_invalid"] for r in rs]),
            "target": target,
            "steps_to_target_meancurve": first_reach(g, mc, target),
            "steps_to_target_seeds": reach, "seeds_reached": len(reached),
            "steps_to_target_median": (sorted(reached)[len(reached) // 2] if reached else None),
            "budget": g[-1],
            "mean_iter_s": mean([r["summary"]["mean_iter_s"] for r in rs]),
            **{k: mean([r["summary"].get(k) for r in rs]) for k in (
                "mean_prm/num_pairs", "mean_prm/groups_without_pairs", "mean_prm/pair_acc",
                "mean_prm/step_reward_std", "mean_probe/adv_key_gap", "early_probe/adv_key_gap",
                "mean_probe/r_phi_key_auc", "early_probe/r_phi_key_auc",
                "mean_probe/corr_r_phi_env_reward", "mean_prm/acc")},
        })
    return rows


def _knobs(settings: Dict[str, Any]) -> str:
    """iStar's knobs as the runs recorded them ('default' where a run left one unset)."""
    g = lambda k: settings.get(k, "default")  # noqa: E731
    return f"alpha={g('step_advantage_weight')}, beta={g('prm_beta')}, prm_lr={g('prm_lr')}"


def sweep_rows(data) -> List[Dict[str, Any]]:
    """The toy's iStar knob sweep: the main istar_rloo runs, then each SWEEP variant."""
    out = []
    base = table_rows(data, "toy", "main", ["istar_rloo"])
    if base:
        b = base[0]
        settings = group_runs(data, "toy")["istar_rloo"][0]["settings"]
        out.append({"variant": "main", "knobs": _knobs(settings), "seeds": b["seeds"],
                    "final_mean": b["final_mean"], "final_std": b["final_std"],
                    "steps": b["steps_to_target_meancurve"], "pair_acc": b["mean_prm/pair_acc"],
                    "auc": b["mean_probe/r_phi_key_auc"]})
    target = base[0]["target"] if base else float("nan")
    for variant, knobs in SWEEP.items():
        runs = group_runs(data, "toy", variant).get("istar_rloo", [])
        if not runs:
            continue
        finals = [r["summary"]["final_success"] for r in runs]
        g, mc = mean_curve(runs, 100)
        out.append({"variant": variant, "knobs": ", ".join(f"{k}={v}" for k, v in knobs.items()),
                    "seeds": len(runs), "final_mean": mean(finals), "final_std": std(finals),
                    "steps": first_reach(g, mc, target) if math.isfinite(target) else None,
                    "pair_acc": mean([r["summary"].get("mean_prm/pair_acc") for r in runs]),
                    "auc": mean([r["summary"].get("mean_probe/r_phi_key_auc") for r in runs])})
    return out


# ---------------------------------------------------------------------- load
def load_learning_results(out_dir: str) -> Dict[str, Any]:
    """Every ``learning*.json`` in ``out_dir``, runs merged (later files win on a key clash)."""
    data: Dict[str, Any] = {"meta": {}, "runs": {}}
    for name in result_names(out_dir, "learning"):
        part = load_json(os.path.join(out_dir, name))
        data["meta"][name] = part.get("meta", {})
        data["runs"].update(part.get("runs", {}))
    return data
