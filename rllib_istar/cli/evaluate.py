"""``rllib evaluate CHECKPOINT``: roll out a checkpoint's policy and report its success rate.

The rollout and scoring live in :mod:`rllib_istar.algorithm.evaluation`; this
module holds the command's flags, the up-front checks and its printed summary
(:func:`summary_lines`: intervals as ``[low, high]``, no rank statistic from too few
steps or pairs, counts always beside it). An env id that is not registered here
(``--env``, or the env a checkpoint was trained on, e.g. a user env) exits 2 before Ray
starts, telling to pass ``--import MODULE``.
"""
from __future__ import annotations

import os
from typing import List

from rllib_istar.cli.common import CliError, parse_inline


def add_evaluate_parser(subparsers) -> None:
    """The ``evaluate`` sub-command's flags."""
    ev = subparsers.add_parser(
        "evaluate", help="success rate, return and trajectories of a checkpoint",
        # a description is printed as written (only help= strings are %-formatted)
        description="Roll out a checkpoint's policy on N tasks; print the success rate and "
                    "return with 95% intervals; write a JSONL of trajectories (prompt, "
                    "response, env reward, PRM step reward per step).")
    ev.add_argument("checkpoint", help="a checkpoint_* folder, or a trial/experiment folder "
                                       "(its latest checkpoint)")
    ev.add_argument("--env", help="env id (default: the training env)")
    ev.add_argument("--env-config", help="JSON env_config (merged over the training one for "
                                         "the same env)")
    ev.add_argument("--episodes", type=int, default=100, help="tasks to roll out (default 100)")
    ev.add_argument("--seed", type=int, default=None, help="first task seed (default 1000000)")
    ev.add_argument("--temperature", type=float, help="sampling temperature (default: training)")
    ev.add_argument("--greedy", action="store_true", help="greedy decoding")
    ev.add_argument("--out", help="JSONL path (default: eval_<checkpoint>.jsonl beside it)")
    ev.add_argument("--num-cpus", type=int, help="CPUs for the local Ray (default: all)")
    ev.add_argument("--debug", action="store_true", help="tracebacks and worker logs")
    ev.add_argument("--import", dest="imports", action="append", default=[], metavar="MODULE",
                    help="import MODULE first (e.g. one that registers your env)")


def import_hint(env_id: str) -> str:
    """How to make ``env_id`` known: the ``--import`` flag, as for ``rllib train``."""
    return (f"pass --import MODULE, the module that calls register_text_env({env_id!r}, ...) "
            "(run rllib from its folder or put that folder on PYTHONPATH)")


def check_env_registered(env_id, what: str) -> None:
    """:class:`CliError` (exit 2) unless the env id ``env_id`` is registered here;
    ``what`` is the message's start, with ``{env}`` for the quoted id."""
    from rllib_istar.envs import registered_env_ids
    from rllib_istar.messages import did_you_mean

    ids = registered_env_ids()
    if not isinstance(env_id, str) or env_id in ids:
        return  # an env class (or nothing) is for the config's own validation
    raise CliError(f"{what.format(env=repr(env_id))}{did_you_mean(env_id, ids)}; if it is "
                   f"your own env, {import_hint(env_id)}; registered: {', '.join(ids)}")


def training_env(checkpoint: str):
    """The env a checkpoint was trained on (its saved config's ``env``)."""
    from rllib_istar.algorithm.evaluation import checkpoint_config

    try:
        return checkpoint_config(checkpoint).env
    except (ImportError, AttributeError) as e:  # the pickle names a class not importable here
        raise CliError(f"evaluate: cannot read the config of {checkpoint} ({e}); if it was "
                       "trained on your own env, pass --import MODULE (the module that "
                       "defines it and calls register_text_env)") from None


def cmd_evaluate(args) -> int:
    from rllib_istar.algorithm.evaluation import (
        DEFAULT_SEED,
        evaluate_checkpoint,
        find_checkpoint,
    )
    from rllib_istar.cli.train import init_ray

    if args.episodes < 1:
        raise CliError(f"--episodes must be >= 1, got {args.episodes}")
    env_config = parse_inline("--env-config", args.env_config)
    try:
        checkpoint = find_checkpoint(args.checkpoint)
    except (FileNotFoundError, ValueError) as e:
        raise CliError(f"evaluate: {e}") from None
    if args.env:
        check_env_registered(args.env, "--env: unknown env {env}")
    else:
        check_env_registered(training_env(checkpoint),
                             "evaluate: the checkpoint's env {env} is not registered")
    out = args.out or os.path.join(os.path.dirname(checkpoint),
                                   f"eval_{os.path.basename(checkpoint)}.jsonl")
    import ray

    started = init_ray(args.debug, args.num_cpus, args.imports)
    try:
        s = evaluate_checkpoint(checkpoint, env=args.env, env_config=env_config,
                                episodes=args.episodes,
                                seed=DEFAULT_SEED if args.seed is None else args.seed,
                                out=out, temperature=args.temperature, greedy=args.greedy)
    finally:
        if started:
            ray.shutdown()
    for line in summary_lines(s):
        print(line)
    return 0


def interval_text(low: float, high: float) -> str:
    """``[low, high]`` with 3 decimals: brackets and a comma keep negative bounds readable."""
    return f"[{low:.3f}, {high:.3f}]"


def return_text(s) -> str:
    """The mean return and its interval, e.g. ``return_mean=0.695 (95% CI [0.632, 0.758],
    normal)``; all-equal returns print as such, a clipped interval says so."""
    low, high = s.return_range
    if s.episodes == 1:
        return f"return_mean={s.return_mean:.3f} (1 episode: no interval)"
    if low == high:
        return f"return_mean={s.return_mean:.3f} (all {s.episodes} returns equal)"
    clipped = (f", clipped to the observed range {interval_text(low, high)}"
               if s.return_ci[0] <= low or s.return_ci[1] >= high else "")
    ci = interval_text(*s.return_ci)
    return f"return_mean={s.return_mean:.3f} (95% CI {ci}, normal{clipped})"


def credit_lines(x: dict) -> List[str]:
    """The step-credit lines of ``EvalSummary.extra``: the pooled AUC and the same-state
    accuracies, each with its counts, or "not reported" when there are too few to rank
    (``MIN_AUC_CLASS_SIZE`` of each class, ``MIN_SAME_STATE_PAIRS`` pairs)."""
    from rllib_istar.algorithm.evaluation import MIN_AUC_CLASS_SIZE, MIN_SAME_STATE_PAIRS

    lines = []
    if "decisive_steps" in x:
        right, wrong = int(x["right_steps"]), int(x["wrong_steps"])
        if "credit_auc_step_reward" in x:
            lines.append(
                f"step credit vs oracle labels: AUC(r_phi, right vs wrong decisive steps)="
                f"{x['credit_auc_step_reward']:.3f} over {right} right / {wrong} wrong decisive "
                f"steps; mean r_phi right={x['step_reward_right_mean']:.3f} "
                f"wrong={x['step_reward_wrong_mean']:.3f} (signs are relative to the evaluated "
                "policy: compare, don't read alone)")
        else:
            lines.append(f"step credit vs oracle labels: credit AUC not reported ({wrong} wrong "
                         f"steps, {right} right; needs >= {MIN_AUC_CLASS_SIZE} of each)")
    if "credit_state_pairs" in x:
        pairs, prompts = int(x["credit_state_pairs"]), int(x["credit_state_prompts"])
        names = (("credit_state_step_reward", "r_phi"), ("credit_state_prm_progress",
                 "log pi_phi/pi_init"), ("credit_state_drift_term", "log pi_init/pi_old"),
                 ("credit_state_policy_drift", "policy log pi_old/pi_init"))
        got = ", ".join(f"{label} {x[k]:.3f}" for k, label in names if k in x)
        if pairs < MIN_SAME_STATE_PAIRS:
            lines.append(f"same-state credit: not reported ({pairs} pairs at {prompts} decisive "
                         f"prompts; needs >= {MIN_SAME_STATE_PAIRS} pairs)")
        elif got:
            lines.append(f"same-state credit (right action ranked above a wrong one at the same "
                         f"prompt, {pairs} pairs at {prompts} decisive prompts; 0.5 = no "
                         f"credit): {got}")
    return lines


def summary_lines(s) -> List[str]:
    """What ``rllib evaluate`` prints for an :class:`~rllib_istar.algorithm.evaluation.
    EvalSummary` ``s``."""
    return [f"evaluated {s.episodes} episodes of {s.env} (checkpoint {s.checkpoint})",
            f"success_rate={s.success_rate:.3f} (95% CI {interval_text(*s.success_ci)}, Wilson; "
            f"{s.successes}/{s.episodes})",
            f"{return_text(s)} invalid_action_rate={s.invalid_action_rate:.3f}",
            *credit_lines(s.extra),
            f"trajectories: {s.out}"]
