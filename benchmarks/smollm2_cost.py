"""What iStar costs on the real model: SmolLM2-135M-Instruct, the tuned toy YAMLs, 2 cores.

    rllib fetch-model smollm2-135m-instruct        # once
    python -m benchmarks.smollm2_cost              # every variant (~30 min on 2 CPUs)
    python -m benchmarks.smollm2_cost --variants istar rloo --iterations 2

Each variant is ``tuned_examples/toy_{istar,rloo}_smollm2_cpu.yaml`` (LoRA policy and
PRM, autocast ``auto``, 16 trajectories per iteration, ``num_env_runners: 0``: learner
and env runner share this process) with a few knobs changed, and runs in a fresh
subprocess (``--one``), so its peak RSS (``ru_maxrss``) is its own. Per variant: the
seconds per iteration and per phase (the timing probes' raw durations) after one warm
iteration, the process's RSS once Ray, torch and the plugin are imported and Ray has
started (what the plugin does not hold) and its peak after the iterations, and the
bytes of frozen weights held once (``shared_weight_bytes`` of the learner and the
algorithm; ``lm/shared_weights.py``).

Ratios are within one run of this script (same machine, same load): iStar / RLOO per
iteration, the PRM phase (update + scoring) against the policy update (one
forward-backward over the same rows), and each variant's peak RSS. Run it from an older
checkout with this file copied in for a before/after table. Results:
``<out-dir>/smollm2_cost.json`` and ``smollm2_cost.md``.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from typing import Any, Dict

from benchmarks import common
from benchmarks.settings import RESULTS_DIR, ROOT

RESULT_PREFIX = "SMOLLM2_COST "
#: name -> (method, knob overrides)
VARIANTS: Dict[str, tuple] = {
    "rloo": ("rloo", {}),
    "istar": ("istar", {}),
    "rloo_ckpt": ("rloo", {"gradient_checkpointing": True}),
    "istar_ckpt": ("istar", {"gradient_checkpointing": True}),
    "istar_mb32": ("istar", {"microbatch_size": 32}),
    "istar_after": ("istar", {"prm_update": "after"}),  # scores from the update's own forward
    # one remote env runner (its own process and model copy): sync against async rollouts
    "istar_remote_sync": ("istar", {"num_env_runners": 1}),
    "istar_remote_async": ("istar", {"num_env_runners": 1, "rollout_mode": "async"}),
}


def one_variant(name: str, iterations: int, threads: int) -> Dict[str, Any]:
    """In this (fresh) process: build the variant, one warm iteration, then ``iterations``."""
    import torch

    from benchmarks.probes import learner_call
    from benchmarks.smollm2_demo import example_config, peak_rss_gib, phase_seconds
    from rllib_istar.warmup import prepare_policy_model

    common.quiet()
    torch.set_num_threads(threads)
    common.init_ray(threads)
    method, overrides = VARIANTS[name]
    config = example_config("toy", method, 0, overrides)
    prepare_policy_model(config)  # cached: built once, before any run
    baseline = common.rss_mb() / 1024
    t0 = time.perf_counter()
    algo = config.build_algo()
    build_s = time.perf_counter() - t0
    built_rss = common.rss_mb() / 1024
    shared = {"algorithm": getattr(algo, "shared_weight_bytes", 0)}
    shared["learner"] = learner_call(algo, lambda learner: getattr(learner, "shared_weight_bytes", 0))[0]
    iters = []
    try:
        for i in range(iterations + 1):
            t1 = time.perf_counter()
            result = algo.train()
            rec = {"iter_s": time.perf_counter() - t1, **phase_seconds(algo),
                   "env_steps": float(result.get("env_runners", {}).get("num_env_steps_sampled", 0))}
            if i:  # the first iteration is the warm one
                iters.append(rec)
    finally:
        algo.stop()
    return {"variant": name, "method": method, "overrides": overrides, "build_s": build_s,
            "baseline_rss_gib": baseline, "built_rss_gib": built_rss,
            "peak_rss_gib": peak_rss_gib(), "shared_weight_bytes": shared, "iterations": iters,
            "threads": threads}


def _mean(rows, key):
    vals = [r[key] for r in rows if key in r]
    return sum(vals) / len(vals) if vals else float("nan")


def _trained(iterations):
    """The iterations whose batch gave the PRM preference pairs, so it trained: a batch
    where every trajectory has the same outcome skips the update, whose timer then
    reads milliseconds (here: under a tenth of the policy update's time)."""
    return [it for it in iterations
            if it.get("prm_update", 0.0) > 0.1 * it.get("policy_update", 0.0)]


def tables(runs: Dict[str, Dict[str, Any]]) -> str:
    phases = ("rollout", "old_logp", "prm_update", "prm_scoring", "policy_update")
    lines = ["| variant | s/iter | s/iter, PRM trained | " + " | ".join(f"s {p}" for p in phases)
             + " | PRM phase / policy update, PRM trained | RSS after imports + Ray, GiB | peak RSS GiB | "
             "peak - baseline GiB | frozen weights held once, MiB |",
             "|---" * (8 + len(phases)) + "|"]
    for name, run in runs.items():
        it = run["iterations"]
        trained = _trained(it)  # the PRM phase where the PRM trained
        prm = _mean(trained, "prm_update") + _mean(trained, "prm_scoring")
        ratio = prm / _mean(trained, "policy_update") if run["method"] == "istar" else float("nan")
        shared = sum(run["shared_weight_bytes"].values()) / 2**20
        lines.append(f"| {name} | {_mean(it, 'iter_s'):.1f} | {_mean(_trained(it), 'iter_s'):.1f} | "
                     + " | ".join(f"{_mean(it, p):.1f}" for p in phases)
                     + f" | {ratio:.2f} | {run['baseline_rss_gib']:.2f} | {run['peak_rss_gib']:.2f} | "
                     f"{run['peak_rss_gib'] - run['baseline_rss_gib']:.2f} | {shared:.0f} |")
    pairs = [(i, r) for i, r in (("istar", "rloo"), ("istar_ckpt", "rloo_ckpt")) if i in runs and r in runs]
    for i, r in pairs:
        rloo = _mean(runs[r]["iterations"], "iter_s")
        lines.append(f"\n{i} / {r} per iteration: {_mean(runs[i]['iterations'], 'iter_s') / rloo:.2f} "
                     "(all timed iterations); "
                     f"{_mean(_trained(runs[i]['iterations']), 'iter_s') / rloo:.2f} (those where the "
                     "PRM trained)")
    if "istar_remote_sync" in runs and "istar_remote_async" in runs:
        per_step = {k: sum(x["iter_s"] for x in runs[k]["iterations"])
                    / max(sum(x["env_steps"] for x in runs[k]["iterations"]), 1.0)
                    for k in ("istar_remote_sync", "istar_remote_async")}
        lines.append(f"\nasync / sync wall per env step (one remote runner): "
                     f"{per_step['istar_remote_async'] / per_step['istar_remote_sync']:.2f}")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    p.add_argument("--iterations", type=int, default=2, help="timed iterations after a warm one")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out-dir", default=RESULTS_DIR)
    p.add_argument("--report", action="store_true", help="only rebuild the table from the JSON")
    p.add_argument("--one", choices=list(VARIANTS), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.one:
        print(RESULT_PREFIX + json.dumps(one_variant(args.one, args.iterations, args.threads)),
              flush=True)
        return 0
    os.makedirs(args.out_dir, exist_ok=True)
    path = os.path.join(args.out_dir, "smollm2_cost.json")
    store = common.ResultStore(path, {"machine": common.machine_info(), "rev": common.git_rev()})
    for name in [] if args.report else args.variants:
        proc = subprocess.run([sys.executable, "-m", "benchmarks.smollm2_cost", "--one", name,
                               "--iterations", str(args.iterations), "--threads", str(args.threads)],
                              cwd=ROOT, capture_output=True, text=True, timeout=3600)
        line = [x for x in proc.stdout.splitlines() if x.startswith(RESULT_PREFIX)]
        if proc.returncode or not line:
            raise RuntimeError(f"variant {name} failed:\n{proc.stderr[-3000:]}")
        run = json.loads(line[-1][len(RESULT_PREFIX):])
        run["load_avg"] = common.load_avg()
        store.put(name, run)
        print(f"[{name}] {_mean(run['iterations'], 'iter_s'):.1f} s/iter, peak RSS "
              f"{run['peak_rss_gib']:.2f} GiB (baseline {run['baseline_rss_gib']:.2f})", flush=True)
    text = tables(store.data["runs"])
    with open(os.path.join(args.out_dir, "smollm2_cost.md"), "w") as f:
        f.write(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
