"""Soak: does a long run stay flat? The toy trained for many iterations, with checkpoints.

    python -m benchmarks.soak                      # 1,000 iterations, a checkpoint every 100
    python -m benchmarks.soak --smoke --out X.json # a few iterations (tests/bench/test_soak.py)

Trains ``tuned_examples/toy_istar_cpu.yaml``'s config exactly as ``rllib train`` reads
it (only the stop differs) in this one process (learner and env runner local, so the
process RSS is the whole run's), saves a checkpoint every ``--checkpoint-every``
iterations through ``Algorithm.save`` (the path Tune takes: ``IStar.save_checkpoint``
with its file list; the two newest are kept, under ``runs/soak_checkpoints``), and every ``--record-every`` iterations
records the RSS, the peak RSS and the mean iteration time since the last record.
Writes ``benchmarks/results/soak.json`` after every record, so a cut-off run keeps
what it had. The goal: RSS at the last iteration within 10% of iteration
100's, iteration time flat within noise; ``summary`` in the JSON holds both.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import time
from typing import Any, Dict, List

from benchmarks import common
from benchmarks.settings import RESULTS_DIR, ROOT

YAML = os.path.join(ROOT, "tuned_examples", "toy_istar_cpu.yaml")
# --smoke: the same YAML on a small budget, so the mechanics run in well under a minute
SMOKE = dict(format_warmup_steps=10, group_size=2, num_groups=2, num_epochs=1)


def toy_config(smoke: bool, seed: int):
    """The IStarConfig ``rllib train file tuned_examples/toy_istar_cpu.yaml`` runs."""
    from rllib_istar import IStarConfig
    from rllib_istar.cli.experiments import experiments_from_file

    (spec,) = experiments_from_file(YAML).values()
    config = dict(spec["config"], env=spec["env"], seed=seed, **(SMOKE if smoke else {}))
    return IStarConfig().update_from_dict(config)


def summarize(records: List[Dict[str, Any]], base_iteration: int) -> Dict[str, Any]:
    """RSS growth from the record at ``base_iteration`` (or the first after it) to the last,
    and the mean iteration time of the first and last fifth of the records after it."""
    after = [r for r in records if r["iteration"] >= base_iteration] or records
    if not after:
        return {}
    base, last = after[0], after[-1]
    fifth = max(1, len(after) // 5)
    first_s = statistics.mean(r["iter_s_mean"] for r in after[:fifth])
    last_s = statistics.mean(r["iter_s_mean"] for r in after[-fifth:])
    return {"base_iteration": base["iteration"], "last_iteration": last["iteration"],
            "rss_base_mb": base["rss_mb"], "rss_last_mb": last["rss_mb"],
            "rss_growth": last["rss_mb"] / base["rss_mb"] - 1.0,
            "iter_s_first_fifth": first_s, "iter_s_last_fifth": last_s,
            "iter_s_ratio": last_s / first_s if first_s else None,
            "goal": "rss_growth <= 0.10 and iter_s_ratio flat within noise",
            "rss_goal_met": last["rss_mb"] <= 1.10 * base["rss_mb"]}


def run(args) -> Dict[str, Any]:
    import torch

    torch.set_num_threads(args.threads)
    common.init_ray(num_cpus=2)
    common.quiet()
    meta = {"machine": common.machine_info(), "git": common.git_rev(), "yaml": YAML,
            "iterations": args.iterations, "checkpoint_every": args.checkpoint_every,
            "record_every": args.record_every, "threads": args.threads, "smoke": args.smoke,
            "command": "python -m benchmarks.soak " + " ".join(sys.argv[1:]),
            "started": time.strftime("%Y-%m-%d %H:%M:%S"), "load_avg_start": common.load_avg(),
            "malloc_arena_max": os.environ.get("MALLOC_ARENA_MAX")}
    store = common.ResultStore(args.out, meta)
    store.data["meta"] = meta  # a new soak replaces an older file's records
    store.data["runs"] = {}
    ckpt_root = args.checkpoint_dir or os.path.join(ROOT, "runs", "soak_checkpoints")
    algo = toy_config(args.smoke, args.seed).build_algo()
    records: List[Dict[str, Any]] = []
    kept: List[str] = []
    times: List[float] = []
    ckpt_s = None  # seconds spent writing checkpoints since the last record
    try:
        for it in range(1, args.iterations + 1):
            t0 = time.perf_counter()
            result = algo.train()
            times.append(time.perf_counter() - t0)
            if it % args.checkpoint_every == 0:
                t1 = time.perf_counter()
                path = os.path.join(ckpt_root, f"checkpoint_{it:06d}")
                algo.save(path)
                ckpt_s = (ckpt_s or 0.0) + time.perf_counter() - t1
                kept.append(path)
                while len(kept) > 2:  # as Tune's num_to_keep would
                    shutil.rmtree(kept.pop(0), ignore_errors=True)
            if it % args.record_every == 0 or it == args.iterations:
                rec = {"iteration": it, "rss_mb": common.rss_mb(), "peak_rss_mb": common.peak_rss_mb(),
                       "iter_s_mean": statistics.mean(times), "iter_s_max": max(times),
                       "success_rate": float(result.get("env_runners", {}).get(
                           "success_rate", float("nan"))),
                       "checkpoint_s": ckpt_s, "load_avg": common.load_avg()}
                records.append(rec)
                times, ckpt_s = [], None
                store.data["records"] = records
                base = 100 if args.iterations > 100 else records[0]["iteration"]
                store.data["summary"] = summarize(records, base)
                store.save()
                print(f"[soak] iter {it:5d} | rss {rec['rss_mb']:.0f} MB | "
                      f"{rec['iter_s_mean']:.2f} s/iter", flush=True)
    finally:
        algo.stop()
    store.data["meta"]["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
    store.data["meta"]["load_avg_end"] = common.load_avg()
    store.data["checkpoints"] = kept
    store.save()
    return store.data


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--iterations", type=int, default=1000)
    p.add_argument("--checkpoint-every", type=int, default=100)
    p.add_argument("--record-every", type=int, default=10)
    p.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=os.path.join(RESULTS_DIR, "soak.json"))
    p.add_argument("--checkpoint-dir", help="default: runs/soak_checkpoints (git-ignored)")
    p.add_argument("--smoke", action="store_true",
                   help="6 iterations, a checkpoint every 3, a record every 2, a small budget")
    args = p.parse_args(argv)
    if args.smoke:
        args.iterations, args.checkpoint_every, args.record_every = 6, 3, 2
    summary = run(args).get("summary", {})
    print(f"[soak] RSS {summary.get('rss_base_mb', 0):.0f} MB at iteration "
          f"{summary.get('base_iteration')} -> {summary.get('rss_last_mb', 0):.0f} MB at "
          f"{summary.get('last_iteration')}; s/iter {summary.get('iter_s_first_fifth', 0):.2f} "
          f"-> {summary.get('iter_s_last_fifth', 0):.2f}; results in {args.out}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
