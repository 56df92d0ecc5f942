"""Asynchronous rollouts (``rollout_mode: async``) against sync, on the toy.

Two parts, both with remote env runners in both modes (the only difference is
``rollout_mode``):

* ``learning``: ``toy_istar_cpu.yaml``'s settings (benchmarks/settings.py ``SHARED``),
  one remote runner, the learning benchmark's env-step budget, seeds 0-4; per
  iteration the success rate, env steps and wall time. Reported: wall time per env
  step (async / sync per seed), and final success (mean of the last 10 iterations)
  with a 95% bootstrap interval over seeds, plus success at matched env steps.
* ``timing``: 1 and 2 remote runners, each mode run twice in the order
  sync, async, sync, async (a drift in the machine's load hits both), a few warm
  iterations then ``--iters`` timed ones; wall time per env step, and the phases of a
  sync iteration (sampling, from the runners' own ``sample_time_s``; the rest is the
  learner and the sync). From those phases a model gives what a machine with a core
  per process would see: sync = rollout + rest, async = max(rollout, rest)
  (``model_async_ratio``).

    python -m benchmarks.async_rollouts                        # both parts (~45 min on 2 CPUs)
    python -m benchmarks.async_rollouts --parts timing --iters 12
    python -m benchmarks.async_rollouts --smoke --out-dir /tmp/x   # < 3 min, for the test

Results: ``<out-dir>/async_rollouts.json`` (rewritten after every run) and
``async_rollouts.md`` (the tables).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any, Dict, List

from benchmarks import common
from benchmarks.settings import BUDGET, FINAL_ITERS, RESULTS_DIR, SHARED, SMOKE_SHARED
from benchmarks.stats import bootstrap_ci, interp, mean, median

MODES = ("sync", "async")
PARTS = ("learning", "timing")
SEEDS = [0, 1, 2, 3, 4]


def configure(config, runners: int, mode: str):
    """``config`` with ``runners`` remote env runners (one CPU each) and ``rollout_mode``."""
    return (config.env_runners(num_env_runners=runners, num_cpus_per_env_runner=1)
            .training(rollout_mode=mode))


def _settings(smoke: bool) -> Dict[str, Any]:
    return dict(SMOKE_SHARED if smoke else SHARED["toy"])


def part_learning(args, store: common.ResultStore) -> None:
    seeds = [0] if args.smoke else SEEDS
    budget = 400 if args.smoke else BUDGET["toy"]
    for seed in seeds:
        for mode in MODES:
            key = f"learning/{mode}/seed{seed}"
            if key in store:
                continue
            t0 = time.perf_counter()
            run = common.train_run("toy", _settings(args.smoke), seed, env_step_budget=budget,
                                   configure=lambda c, m=mode: configure(c, 1, m))
            run["load_avg"] = common.load_avg()
            store.put(key, run)
            h = run["history"]
            print(f"[learning] {mode} seed {seed}: {len(h)} iterations, {h[-1]['env_steps']:.0f} "
                  f"steps, final {mean([r.get('success_rate', 0.0) for r in h[-FINAL_ITERS:]]):.3f}, "
                  f"{time.perf_counter() - t0:.0f} s", flush=True)


def part_timing(args, store: common.ResultStore) -> None:
    warm = 1 if args.smoke else 3
    for runners in (1, 2):
        for rep in range(1 if args.smoke else 2):
            for mode in MODES:
                key = f"timing/{runners}runners/{mode}/rep{rep}"
                if key in store:
                    continue
                config = configure(common.build_config("toy", _settings(args.smoke), 0),
                                   runners, mode)
                algo = config.build_algo()
                try:
                    for _ in range(warm):
                        algo.train()
                    iters: List[Dict[str, float]] = []
                    for _ in range(args.iters):
                        t0 = time.perf_counter()
                        result = algo.train()
                        er = result.get("env_runners", {})
                        iters.append({"wall_s": time.perf_counter() - t0,
                                      "env_steps": float(er.get("num_env_steps_sampled", 0)),
                                      "sample_time_s": float(er.get("sample_time_s", 0.0))})
                finally:
                    algo.stop()
                store.put(key, {"iterations": iters, "load_avg": common.load_avg()})
                per_step = sum(i["wall_s"] for i in iters) / max(sum(i["env_steps"] for i in iters), 1)
                print(f"[timing] {runners} runner(s) {mode} rep {rep}: {per_step * 1e3:.2f} ms "
                      "per env step", flush=True)


# ------------------------------------------------------------------- report
def _per_step(iters: List[Dict[str, float]], wall_key: str) -> float:
    """Seconds per env step of timed iterations (``env_steps``: each iteration's own)."""
    return sum(i[wall_key] for i in iters) / max(sum(i["env_steps"] for i in iters), 1.0)


def _run_per_step(history: List[Dict[str, float]]) -> float:
    """Seconds per env step of a whole run (``env_steps``: lifetime, so the last one)."""
    return sum(r["iter_s"] for r in history) / max(history[-1]["env_steps"], 1.0)


def summarize(data: Dict[str, Any]) -> Dict[str, Any]:
    """The tables' numbers from the stored runs."""
    runs = data["runs"]
    out: Dict[str, Any] = {"learning": {}, "timing": {}}
    seeds = sorted({int(k.rsplit("seed", 1)[1]) for k in runs if k.startswith("learning/")})
    for seed in seeds:
        pair = {m: runs.get(f"learning/{m}/seed{seed}") for m in MODES}
        if not all(pair.values()):
            continue
        row = {}
        for mode, run in pair.items():
            h = run["history"]
            row[mode] = {"final": mean([r.get("success_rate", 0.0) for r in h[-FINAL_ITERS:]]),
                         "env_steps": h[-1]["env_steps"], "wall_s": run["wall_s"],
                         "wall_per_step_ms": 1e3 * _run_per_step(h),
                         "curve": ([r["env_steps"] for r in h],
                                   [r.get("success_rate", 0.0) for r in h])}
        row["wall_ratio"] = row["async"]["wall_per_step_ms"] / row["sync"]["wall_per_step_ms"]
        out["learning"][seed] = row
    if out["learning"]:
        rows = list(out["learning"].values())
        out["learning_summary"] = {
            mode: {"final_mean": mean([r[mode]["final"] for r in rows]),
                   "final_ci95": bootstrap_ci([r[mode]["final"] for r in rows])}
            for mode in MODES}
        ratios = [r["wall_ratio"] for r in rows]
        out["learning_summary"]["wall_ratio_median"] = median(ratios)
        out["learning_summary"]["wall_ratio_per_seed"] = ratios
        budget = min(min(r[m]["env_steps"] for m in MODES) for r in rows)
        grid = [budget * q for q in (0.25, 0.5, 0.75, 1.0)]
        out["learning_summary"]["matched"] = {
            mode: {f"{g:.0f}": mean([interp(*r[mode]["curve"], [g])[0] for r in rows])
                   for g in grid} for mode in MODES}
    for key, run in runs.items():
        if not key.startswith("timing/"):
            continue
        _, runners, mode, _ = key.split("/")
        slot = out["timing"].setdefault(runners, {}).setdefault(mode, [])
        slot.append({"per_step_ms": 1e3 * _per_step(run["iterations"], "wall_s"),
                     "sample_ms": 1e3 * _per_step(run["iterations"], "sample_time_s")})
    for runners, modes in out["timing"].items():
        if not all(m in modes for m in MODES):
            continue
        sync = median([r["per_step_ms"] for r in modes["sync"]])
        asyn = median([r["per_step_ms"] for r in modes["async"]])
        # a sync iteration = sampling (on the runners, in parallel) + the rest (learner, sync);
        # sample_time_s sums the runners' sampling, so one runner's share is / runners
        n = int(runners.rstrip("runners"))
        rollout = median([r["sample_ms"] for r in modes["sync"]]) / n
        rest = max(sync - rollout, 0.0)
        modes["summary"] = {"sync_ms": sync, "async_ms": asyn, "ratio": asyn / sync,
                            "sync_rollout_ms": rollout, "sync_rest_ms": rest,
                            "model_async_ratio": max(rollout, rest) / sync}
    return out


def tables(summary: Dict[str, Any]) -> str:
    lines = []
    ls = summary.get("learning_summary")
    if ls:
        lines += ["| mode | final success (last 10), mean [95% CI] over seeds | wall ms per env step (median over seeds) |",
                  "|---|---|---|"]
        for mode in MODES:
            lo, hi = ls[mode]["final_ci95"]
            walls = [r[mode]["wall_per_step_ms"] for r in summary["learning"].values()]
            lines.append(f"| {mode} | {ls[mode]['final_mean']:.3f} [{lo:.3f}, {hi:.3f}] | "
                         f"{median(walls):.2f} |")
        lines += ["", "async / sync wall per env step, per seed: "
                  + ", ".join(f"{r:.2f}" for r in ls["wall_ratio_per_seed"])
                  + f" (median {ls['wall_ratio_median']:.2f})", "",
                  "| env steps | " + " | ".join(ls["matched"]["sync"]) + " |",
                  "|---|" + "---|" * len(ls["matched"]["sync"])]
        for mode in MODES:
            lines.append(f"| {mode} success | "
                         + " | ".join(f"{v:.3f}" for v in ls["matched"][mode].values()) + " |")
        lines.append("")
    if summary.get("timing"):
        lines += ["| remote runners | sync ms/step | async ms/step | async / sync | sync: rollout ms/step | sync: rest ms/step | model, a core per process |",
                  "|---|---|---|---|---|---|---|"]
        for runners, modes in sorted(summary["timing"].items()):
            s = modes.get("summary")
            if s:
                lines.append(f"| {runners.rstrip('runners')} | {s['sync_ms']:.2f} | {s['async_ms']:.2f} | "
                             f"{s['ratio']:.2f} | {s['sync_rollout_ms']:.2f} | {s['sync_rest_ms']:.2f} | "
                             f"{s['model_async_ratio']:.2f} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS))
    ap.add_argument("--iters", type=int, default=15, help="timed iterations per timing run")
    ap.add_argument("--out-dir", default=RESULTS_DIR)
    ap.add_argument("--smoke", action="store_true", help="one seed, tiny budget (the test)")
    ap.add_argument("--report", action="store_true", help="only rebuild the tables from the JSON")
    args = ap.parse_args(argv)
    if args.report:
        args.parts = []
    if args.smoke:
        args.iters = min(args.iters, 2)
    common.quiet()
    if args.parts:
        common.init_ray(num_cpus=4)
    os.makedirs(args.out_dir, exist_ok=True)
    store = common.ResultStore(os.path.join(args.out_dir, "async_rollouts.json"),
                               meta={"machine": common.machine_info(), "rev": common.git_rev()})
    for part in args.parts:
        {"learning": part_learning, "timing": part_timing}[part](args, store)
    summary = summarize(store.data)
    with open(os.path.join(args.out_dir, "async_rollouts.md"), "w") as f:
        f.write(tables(summary))
    print(tables(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
