"""Learning-efficiency benchmark: iStar against its baselines at a CPU scale.

Every method trains the same tiny model ("tiny": llama, hidden 64, 2 layers,
word-level vocabulary), starting from the same format-warmed checkpoint
(``format_warmup_steps``: a short supervised pass on *uniformly random
admissible actions*, so the start knows the action format but not the task;
the checkpoint is cached per (model, env, steps, seed) so every method of a
seed starts from the same weights), with the same group size, batch, learning
rate, epochs and env-step budget. Only ``advantage_estimator`` (and
``ablation``) differ; iStar's own knobs are swept separately. The shared
settings are those of the tuned examples (``settings.py`` reads
``tuned_examples/{credit,toy,sokoban}_istar_cpu.yaml``).

Methods (settings.METHODS): istar_rloo, istar_grpo, rloo, grpo, gigpo, prime,
merged and frozen_prm (iStar-RLOO with the "merged rewards" / "frozen_prm"
ablations). Envs: credit (CreditChain, 4 rooms, 2 decisive, binary; built to
need step credit, with oracle step labels), toy (KeyCorridor, corridor 2) and
Sokoban 6x6 with 1 box (``action_format: bare``: the tiny model has no tags).
Parts: ``main`` (every method), ``sweep`` (toy: iStar knobs), ``norms`` (credit:
``step_adv_norm`` scopes on istar_rloo), ``credit_arms`` (credit: the graded and
long presets for istar_rloo and rloo, and iStar's knobs on istar_rloo).

Results go to ``<out-dir>/learning.json`` after every run (a cut-off run keeps
what it had; finished runs are skipped when re-run); at the end the tables and
plots are rebuilt from the JSON (``python -m benchmarks.report`` does only that).

    python -m benchmarks.learning                        # everything (hours on 2 CPUs; see
                                                         # docs/benchmarks/index.md for a 2-process split)
    python -m benchmarks.learning --env credit --part main --threads 1   # one part
    python -m benchmarks.report --only learning          # plots + tables from the JSON
    python -m benchmarks.learning --smoke --out-dir /tmp/x   # < 2 min, for the test
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time
from typing import Dict, List, Optional

from benchmarks import common, report
from benchmarks.settings import (
    BUDGET,
    CREDIT_ENV_ARM_METHODS,
    CREDIT_ENV_ARMS,
    CREDIT_R200,
    CREDIT_R200_BUDGET,
    CREDIT_R200_SEEDS,
    CREDIT_R200_WALL_S,
    CREDIT_SWEEP,
    CREDIT_SWEEP_SEEDS,
    FINAL_ITERS,
    METHODS,
    NORM_DEFAULT,
    NORMS,
    RESULTS_DIR,
    SEEDS,
    SHARED,
    SMOKE_SHARED,
    SMOOTH,
    SOKOBAN_AFTER,
    SOKOBAN_AFTER_METHODS,
    SOKOBAN_AFTER_SEEDS,
    SWEEP,
    SWEEP_SEEDS,
    TOY_AFTER,
    TOY_AFTER_METHODS,
    TOY_AFTER_SEEDS,
    TOY_BEST,
    TOY_BEST_METHODS,
    WALL_LIMIT_S,
    method_settings,
)
from benchmarks.stats import summarize_run


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
    full = method_settings(settings, method)
    t0 = time.time()
    res = common.train_run(env, full, seed, env_step_budget=budget, probe=True,
                           wall_limit_s=wall_limit_s)
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


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--env", nargs="+", default=["credit", "toy", "sokoban"],
                   choices=["credit", "toy", "sokoban", "social", "webshop"])
    p.add_argument("--part", nargs="+", default=["main", "sweep", "norms", "credit_arms"],
                   choices=["main", "sweep", "norms", "credit_arms", "toy_after", "toy_best",
                            "sokoban_after", "credit_r200"])
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    p.add_argument("--seeds", nargs="+", type=int, default=None)
    p.add_argument("--out-dir", default=RESULTS_DIR,
                   help="where learning.json / learning_tables.md go")
    p.add_argument("--plot-dir", default=None, help="PNG folder (default: docs/benchmarks/ "
                   "for the committed results, else out-dir)")
    p.add_argument("--variants", nargs="+", default=list(SWEEP), choices=list(SWEEP))
    p.add_argument("--norms", nargs="+", choices=list(NORMS),
                   default=[n for n in NORMS if n != f"norm_{NORM_DEFAULT}"],
                   help="step_adv_norm arms (default: all but IStarConfig's default, whose arm "
                   "is the main istar_rloo runs)")
    p.add_argument("--arms", nargs="+", choices=[*CREDIT_ENV_ARMS, *CREDIT_SWEEP],
                   default=[*CREDIT_ENV_ARMS, *CREDIT_SWEEP], help="the credit_arms part's arms")
    p.add_argument("--r200-arms", nargs="+", choices=list(CREDIT_R200), default=list(CREDIT_R200),
                   help="the credit_r200 part's arms (run in this order, seed-major)")
    p.add_argument("--results-name", default="learning.json", help="JSON file name inside "
                   "out-dir (the report merges every learning*.json there, so two processes "
                   "can run parts side by side)")
    p.add_argument("--smoke", action="store_true", help="every method, toy, 1 seed, 2 iterations")
    p.add_argument("--threads", type=int, default=2, help="torch threads and Ray CPUs of this "
                   "process (1 when two processes share 2 cores)")
    args = p.parse_args(argv)

    os.makedirs(args.out_dir, exist_ok=True)
    plot_dir = args.plot_dir or (args.out_dir if args.smoke else report.default_plot_dir(args.out_dir))
    results = os.path.join(args.out_dir, args.results_name)

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
            if "norms" in args.part and env == "credit":
                for seed in (args.seeds or SEEDS[env]):
                    for variant in args.norms:
                        run_one(store, env, "istar_rloo", seed, {**SHARED[env], **NORMS[variant]},
                                BUDGET[env], variant, WALL_LIMIT_S[env])
            for part, part_env, table, methods, seeds in (
                    ("toy_after", "toy", TOY_AFTER, TOY_AFTER_METHODS, TOY_AFTER_SEEDS),
                    ("toy_best", "toy", TOY_BEST, TOY_BEST_METHODS, TOY_AFTER_SEEDS),
                    ("sokoban_after", "sokoban", SOKOBAN_AFTER, SOKOBAN_AFTER_METHODS,
                     SOKOBAN_AFTER_SEEDS)):
                if part in args.part and env == part_env:
                    for seed in (args.seeds or seeds):
                        for variant, knobs in table.items():
                            for method in [m for m in methods if m in args.methods]:
                                run_one(store, env, method, seed, {**SHARED[env], **knobs},
                                        BUDGET[env], variant, WALL_LIMIT_S[env])
            if "credit_r200" in args.part and env == "credit":
                for seed in (args.seeds or CREDIT_R200_SEEDS):
                    for variant in args.r200_arms:
                        method, knobs = CREDIT_R200[variant]
                        run_one(store, env, method, seed, {**SHARED[env], **knobs},
                                CREDIT_R200_BUDGET, variant, CREDIT_R200_WALL_S)
            if "credit_arms" in args.part and env == "credit":
                for seed in (args.seeds or SEEDS[env]):
                    for variant in [a for a in args.arms if a in CREDIT_ENV_ARMS]:
                        for method in CREDIT_ENV_ARM_METHODS:
                            run_one(store, env, method, seed,
                                    {**SHARED[env], **CREDIT_ENV_ARMS[variant]}, BUDGET[env],
                                    variant, WALL_LIMIT_S[env])
                for seed in (args.seeds or CREDIT_SWEEP_SEEDS):
                    for variant in [a for a in args.arms if a in CREDIT_SWEEP]:
                        run_one(store, env, "istar_rloo", seed,
                                {**SHARED[env], **CREDIT_SWEEP[variant]}, BUDGET[env], variant,
                                WALL_LIMIT_S[env])
    store.data["meta"]["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
    store.data["meta"]["load_avg_end"] = common.load_avg()
    store.save()
    report.write_learning(args.out_dir, plot_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
