"""Search iStar hyperparameters with Tune's Python API and an ASHA scheduler (CPU).

    python tuned_examples/tune_asha_search.py                          # 8 trials, ~10 min on 2 cores
    python tuned_examples/tune_asha_search.py --num-samples 2 --max-iters 2   # smoke test

``tune.Tuner("IStar", param_space=config)`` takes an ``IStarConfig`` whose values
may be Tune search spaces. ASHA compares trials at iterations grace, 2*grace, ...
and stops those whose success rate trails their peers', so most of the budget goes
to the promising ones. The best trial's values and checkpoint are printed at the
end; evaluate it with ``rllib evaluate <checkpoint>``.
"""
from __future__ import annotations

import argparse

from ray import tune
from ray.tune.schedulers import ASHAScheduler

import rllib_istar  # noqa: F401  (makes the Tune name "IStar" resolvable)
from rllib_istar import IStarConfig
from rllib_istar.warmup import prepare_policy_model

METRIC = "env_runners/success_rate"


def search_config() -> IStarConfig:
    """The toy run of tuned_examples/toy_istar_cpu.yaml, with four searched knobs."""
    return (IStarConfig()
            .environment("rllib_istar/KeyCorridor-v0")
            .training(advantage_estimator="istar_rloo", format_warmup_steps=150,
                      max_new_tokens=2, group_size=8, num_groups=8, num_epochs=3,
                      lr=tune.loguniform(3e-4, 2e-3),
                      prm_lr=tune.loguniform(3e-4, 2e-3),
                      step_advantage_weight=tune.uniform(0.05, 1.0),   # alpha (docs/algorithm.md §3)
                      prm_beta=tune.choice([0.05, 0.1, 0.5]))   # beta (docs/algorithm.md §1)
            .debugging(seed=0))


def main(argv=None) -> tune.ResultGrid:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-samples", type=int, default=8)
    parser.add_argument("--max-iters", type=int, default=40)
    parser.add_argument("--grace", type=int, default=10, help="ASHA grace period (iterations)")
    parser.add_argument("--storage-path", default="~/ray_results")
    parser.add_argument("--name", default="toy_istar_asha")
    args = parser.parse_args(argv)

    config = search_config()
    # Build the format-warmed tiny model once here, not once per concurrent trial.
    prepare_policy_model(config)
    tuner = tune.Tuner(
        "IStar", param_space=config,
        tune_config=tune.TuneConfig(
            metric=METRIC, mode="max", num_samples=args.num_samples,
            scheduler=ASHAScheduler(max_t=args.max_iters, grace_period=min(args.grace,
                                                                           args.max_iters),
                                    reduction_factor=2)),
        run_config=tune.RunConfig(name=args.name, storage_path=args.storage_path,
                                  stop={"training_iteration": args.max_iters},
                                  checkpoint_config=tune.CheckpointConfig(
                                      checkpoint_at_end=True), verbose=1))
    results = tuner.fit()
    best = results.get_best_result()
    searched = ("lr", "prm_lr", "step_advantage_weight", "prm_beta")
    print("best:", {k: best.config[k] for k in searched},
          f"{METRIC}={best.metrics['env_runners']['success_rate']:.3f}",
          f"checkpoint={best.checkpoint.path if best.checkpoint else None}")
    return results


if __name__ == "__main__":
    main()
