"""Part ``memory`` of the cost benchmark: learner RSS growth, one fresh process per mode.

Modes: ``rloo`` (outcome only), ``full`` (istar_rloo, the PRM a full copy) and
``lora`` (istar_rloo, a LoRA PRM). RSS is per process, so each mode's worker runs
as its own subprocess (this module as a script):

    python -m benchmarks.memory rloo --model tiny:llama:256:4 [--smoke]   # prints MEMORY_RESULT {...}

``cost.py`` calls :func:`part_memory`; nobody needs to run the worker by hand.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from typing import Any, Dict, List

from benchmarks import common
from benchmarks.settings import ROOT
from benchmarks.stats import median

MODES = ("rloo", "full", "lora")
RESULT_PREFIX = "MEMORY_RESULT "


def memory_worker(mode: str, model: str, smoke: bool) -> Dict[str, Any]:
    """In a fresh process: sample episodes, then measure the learner's RSS growth."""
    import gymnasium as gym
    import torch

    torch.set_num_threads(2)
    est, prm_mode = {"rloo": ("rloo", "none"), "full": ("istar_rloo", "full"),
                     "lora": ("istar_rloo", "lora")}[mode]
    s = dict(group_size=4 if smoke else 8, num_groups=2 if smoke else 8, max_new_tokens=8,
             format_warmup_steps=0, model_path=model, advantage_estimator=est, prm_mode=prm_mode,
             lr=1e-4, prm_lr=1e-4, microbatch_size=16)
    cfg = common.build_config("toy", s, 0)
    cfg.validate()
    from rllib_istar.rollout.env_runner import LLMEnvRunner

    runner = LLMEnvRunner(config=cfg)
    episodes = runner.sample()
    del runner
    import gc

    gc.collect()
    base_rss, base_max = common.rss_mb(), common.peak_rss_mb()
    text = gym.spaces.Text(1)
    learner = cfg.build_learner(spaces={"default_policy": (text, text), "prm": (text, text)})
    built_rss = common.rss_mb()
    for _ in range(2):
        learner.update(episodes=episodes, num_epochs=1, minibatch_size=None,
                       timesteps={"num_env_steps_sampled_lifetime": 0})
    after_rss, peak = common.rss_mb(), common.peak_rss_mb()
    params = {mid: sum(p.numel() for p in learner.module[mid].parameters())
              for mid in learner.module.keys()}
    trainable = {mid: sum(p.numel() for p in learner.module[mid].parameters() if p.requires_grad)
                 for mid in learner.module.keys()}
    # weights + grads + 2 Adam moments of the trainable part, float32
    analytic = 4 * (sum(params.values()) + 3 * sum(trainable.values())) / 2**20
    return {"mode": mode, "model": model, "rows": sum(len(e) for e in episodes),
            "baseline_rss_mb": base_rss, "baseline_maxrss_mb": base_max,
            "learner_built_delta_mb": built_rss - base_rss,
            "after_update_delta_mb": after_rss - base_rss,
            "peak_delta_mb": peak - base_rss, "params": params, "trainable": trainable,
            "analytic_static_mb": analytic}


def part_memory(args) -> Dict[str, Any]:
    model = "tiny" if args.smoke else args.memory_model
    reps = 1 if args.smoke else 2
    res: Dict[str, List[Dict]] = {}
    for _ in range(reps):
        # one fresh process per mode (RSS is per process); sequential for the real run,
        # concurrent in --smoke (only the mechanics are checked there)
        batches = [MODES] if args.smoke else [(m,) for m in MODES]
        for batch in batches:
            procs = {mode: subprocess.Popen(
                [sys.executable, "-m", "benchmarks.memory", mode, "--model", model]
                + (["--smoke"] if args.smoke else []),
                cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for mode in batch}
            for mode, proc in procs.items():
                stdout, stderr = proc.communicate(timeout=600)
                line = [l for l in stdout.splitlines() if l.startswith(RESULT_PREFIX)]
                if proc.returncode or not line:
                    raise RuntimeError(f"memory worker {mode} failed:\n{stderr[-3000:]}")
                res.setdefault(mode, []).append(json.loads(line[-1][len(RESULT_PREFIX):]))
    med = {m: {k: median([r[k] for r in rs]) for k in ("peak_delta_mb", "after_update_delta_mb",
                                                       "learner_built_delta_mb", "analytic_static_mb")}
           for m, rs in res.items()}
    ratio = {m: med[m]["peak_delta_mb"] / med["rloo"]["peak_delta_mb"] for m in med}
    static = {m: med[m]["analytic_static_mb"] / med["rloo"]["analytic_static_mb"] for m in med}
    out = {"model": model, "runs": res, "median": med, "ratio_peak_vs_rloo": ratio,
           "ratio_analytic_static_vs_rloo": static, "goal": "lora <= 1.2x rloo",
           "goal_met": ratio["lora"] <= 1.2, "load_avg": common.load_avg()}
    print("[memory] peak delta MB:", {m: round(v["peak_delta_mb"], 1) for m, v in med.items()},
          "ratios:", {m: round(v, 2) for m, v in ratio.items()}, flush=True)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", choices=MODES)
    p.add_argument("--model", default="tiny:llama:256:4")
    p.add_argument("--smoke", action="store_true")
    args = p.parse_args(argv)
    common.quiet()
    print(RESULT_PREFIX + json.dumps(memory_worker(args.mode, args.model, args.smoke)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
