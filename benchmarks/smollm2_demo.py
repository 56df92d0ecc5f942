"""The real-model demo: iStar and RLOO training SmolLM2-135M-Instruct on 2 CPU cores.

    rllib fetch-model smollm2-135m-instruct        # once
    python -m benchmarks.smollm2_demo --env toy --seeds 0 1 --iterations 20

Runs the tuned YAMLs ``tuned_examples/<env>_{istar,rloo}_smollm2_cpu.yaml`` exactly as
``rllib train`` would (same config, seed overridden), seed-major so a cut-off run stays
balanced, and records per iteration: env steps, success, invalid-action rate, the
seconds of each phase (rollout; the learner's pi_old, PRM update, PRM scoring and
policy update; weight sync), and the process's peak RSS (learner and env runner live
in this process: ``num_env_runners: 0``). Results go to
``benchmarks/results/smollm2_demo.json`` (rewritten after every iteration), a
markdown table beside it and ``docs/benchmarks/smollm2_demo.png``. The format warm-up of each
seed is built before its runs (cached, timed separately).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any, Dict, List

from benchmarks import common
from benchmarks.settings import ROOT

RESULTS = os.path.join(ROOT, "benchmarks", "results")
METHODS = ("istar", "rloo")
PHASES = ("rollout", "old_logp", "prm_update", "prm_scoring", "policy_update", "weight_sync")


def example_config(env: str, method: str, seed: int, overrides: Dict[str, Any] = None):
    """The IStarConfig of ``tuned_examples/<env>_<method>_smollm2_cpu.yaml`` at ``seed``
    (``overrides``, from ``--set``, replace YAML values), with the timing probes (raw
    phase durations; they only read)."""
    from benchmarks.probes import TimingIStar, TimingLearner
    from rllib_istar import IStarConfig
    from rllib_istar.cli.experiments import (
        Source,
        config_variants,
        experiments_from_file,
    )

    name = f"{env}_{method}_smollm2_cpu"
    spec = experiments_from_file(os.path.join(ROOT, "tuned_examples", name + ".yaml"))[name]
    variant, _, _ = next(config_variants(name, spec["config"], Source(None)))
    config = IStarConfig(algo_class=TimingIStar).update_from_dict(
        dict(variant, env=spec["env"], seed=seed, **(overrides or {})))
    return config.training(learner_class=TimingLearner)


def peak_rss_gib() -> float:
    return common.peak_rss_mb() / 1024


def phase_seconds(algo) -> Dict[str, float]:
    """This iteration's raw seconds per phase (the timing probes' sums)."""
    raw = algo.pop_timers()
    return {name: raw[f"timers/{name}"] for name in PHASES if f"timers/{name}" in raw}


def parse_overrides(items: List[str]) -> Dict[str, Any]:
    """``["lr=2e-3", "num_groups=8"]`` -> ``{"lr": 0.002, "num_groups": 8}`` (YAML values)."""
    import yaml

    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"--set {item!r}: expected KEY=VALUE, e.g. --set lr=2e-3")
        try:  # YAML 1.1 reads "2e-3" as a string
            out[key] = float(value) if any(c in value for c in ".eE") else int(value)
        except ValueError:
            out[key] = yaml.safe_load(value)
    return out


def run(env: str, method: str, seed: int, iterations: int, store: common.ResultStore,
        overrides: Dict[str, Any] = None, tag: str = "") -> None:
    key = f"{env}/{method}/seed{seed}" + (f"/{tag}" if tag else "")
    if key in store and len(store.data["runs"][key]["history"]) >= iterations:
        print(f"[skip] {key}", flush=True)
        return
    cfg = example_config(env, method, seed, overrides)
    t0 = time.perf_counter()
    algo = cfg.build_algo()
    record: Dict[str, Any] = {"env": env, "method": method, "seed": seed, "tag": tag,
                              "overrides": dict(overrides or {}),
                              "build_s": time.perf_counter() - t0, "history": []}
    try:
        for it in range(iterations):
            ti = time.perf_counter()
            result = algo.train()
            rec = common.flatten_result(result)
            rec.update(iter=it + 1, iter_s=time.perf_counter() - ti, peak_rss_gib=peak_rss_gib(),
                       **{f"s/{k}": v for k, v in phase_seconds(algo).items()})
            learners = result.get("learners", {}).get("default_policy", {})
            rec["logp_gap"] = float(learners.get("rollout_learner_logp_gap", float("nan")))
            record["history"].append(rec)
            store.put(key, record)
            print(f"[{key}] iter {it + 1}: {rec['env_steps']:.0f} steps, success "
                  f"{rec.get('success_rate', float('nan')):.2f}, invalid "
                  f"{rec.get('invalid_action_rate', float('nan')):.2f}, {rec['iter_s']:.0f}s, "
                  f"rss {rec['peak_rss_gib']:.2f} GiB", flush=True)
    finally:
        algo.stop()


def summary_table(data: Dict[str, Any]) -> str:
    """Markdown: per run, start/final success, seconds per iteration by phase, peak RSS."""
    rows = ["| run | iters | env steps | success first 3 -> last 3 | invalid last 3 | s/iter | "
            + " | ".join(f"s {p}" for p in PHASES) + " | peak RSS GiB |",
            "|---" * (7 + len(PHASES)) + "|"]
    for key, run_ in sorted(data["runs"].items()):
        h = run_["history"]
        if not h:
            continue

        def mean(rows_: List[Dict[str, float]], k: str) -> float:
            vals = [r[k] for r in rows_ if k in r]
            return sum(vals) / len(vals) if vals else float("nan")

        phases = " | ".join(f"{mean(h, 's/' + p):.1f}" for p in PHASES)
        rows.append(f"| {key} | {len(h)} | {h[-1]['env_steps']:.0f} | "
                    f"{mean(h[:3], 'success_rate'):.2f} -> {mean(h[-3:], 'success_rate'):.2f} | "
                    f"{mean(h[-3:], 'invalid_action_rate'):.2f} | {mean(h, 'iter_s'):.0f} | "
                    f"{phases} | {max(r['peak_rss_gib'] for r in h):.2f} |")
    return "\n".join(rows) + "\n"


def plot(data: Dict[str, Any], path: str) -> None:
    """Success vs env steps: one panel per tag (the YAML's settings, then each ``--tag``),
    colour by method, line style by seed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tags = sorted({run_.get("tag", "") for run_ in data["runs"].values()})
    fig, axes = plt.subplots(1, len(tags), figsize=(5 * len(tags), 3.5), squeeze=False,
                             sharey=True)
    colours = {"istar": "tab:blue", "rloo": "tab:orange"}
    styles = ["-", "--", ":", "-."]
    for ax, tag in zip(axes[0], tags):
        for key, run_ in sorted(data["runs"].items()):
            if run_.get("tag", "") != tag:
                continue
            h = run_["history"]
            ax.plot([r["env_steps"] for r in h],
                    [r.get("success_rate", float("nan")) for r in h],
                    color=colours.get(run_["method"], "grey"),
                    linestyle=styles[int(run_["seed"]) % len(styles)],
                    label=f"{run_['method']} seed {run_['seed']}")
        sets = next((r.get("overrides") for r in data["runs"].values()
                     if r.get("tag", "") == tag and r.get("overrides")), None)
        ax.set_title("the YAMLs' settings" if not tag else
                     " ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                              for k, v in (sets or {}).items()) or tag, fontsize=9)
        ax.set_xlabel("env steps")
        ax.set_ylim(-0.02, 1.02)
        ax.legend(fontsize=7)
    axes[0][0].set_ylabel("success rate (per iteration)")
    fig.suptitle("SmolLM2-135M-Instruct, LoRA + bf16 autocast, 2 CPU cores", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--env", default="toy", choices=["toy", "sokoban"])
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    p.add_argument("--iterations", type=int, default=20)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out-dir", default=RESULTS)
    p.add_argument("--results-name", default="smollm2_demo.json")
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                   help="override a YAML config value (YAML-parsed), e.g. --set lr=2e-3")
    p.add_argument("--tag", default="", help="suffix of the run keys (runs with --set)")
    p.add_argument("--report", action="store_true", help="only merge every smollm2_demo*.json "
                   "in out-dir into smollm2_demo.md and docs/benchmarks/smollm2_demo.png")
    args = p.parse_args(argv)
    overrides = parse_overrides(args.set)
    if args.report:
        write_report(args.out_dir)
        return 0

    common.quiet()
    import torch

    from rllib_istar.warmup import prepare_policy_model

    torch.set_num_threads(args.threads)
    common.init_ray(args.threads)
    store = common.ResultStore(os.path.join(args.out_dir, args.results_name),
                               {"machine": common.machine_info(), "git": common.git_rev(),
                                "started": time.strftime("%Y-%m-%d %H:%M:%S"),
                                "load_avg_start": common.load_avg(), "threads": args.threads,
                                "overrides": overrides, "tag": args.tag})
    for seed in args.seeds:
        t0 = time.perf_counter()
        prepare_policy_model(example_config(args.env, args.methods[0], seed, overrides), print)
        store.data["meta"].setdefault("warmup_s", {})[str(seed)] = time.perf_counter() - t0
        for method in args.methods:
            run(args.env, method, seed, args.iterations, store, overrides, args.tag)
    store.data["meta"]["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
    store.data["meta"]["load_avg_end"] = common.load_avg()
    store.save()
    write_report(args.out_dir)
    return 0


def write_report(out_dir: str) -> None:
    """Merge the runs of every ``smollm2_demo*.json`` in ``out_dir`` (one per process)
    into ``smollm2_demo.md`` there and ``smollm2_demo.png`` in docs/benchmarks/ (report.default_plot_dir)."""
    from benchmarks.report import default_plot_dir
    from benchmarks.results_io import load_json, result_names

    merged: Dict[str, Any] = {"runs": {}}
    for name in result_names(out_dir, "smollm2_demo"):
        merged["runs"].update(load_json(os.path.join(out_dir, name))["runs"])
    with open(os.path.join(out_dir, "smollm2_demo.md"), "w") as f:
        f.write(summary_table(merged))
    plot(merged, os.path.join(default_plot_dir(out_dir), "smollm2_demo.png"))


if __name__ == "__main__":
    sys.exit(main())
