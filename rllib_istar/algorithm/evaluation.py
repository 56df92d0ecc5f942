"""Evaluate an IStar checkpoint: success rate and return with 95% intervals, and a
JSONL of trajectories with each step's prompt, response, env reward, PRM step reward and
the env's oracle step label (where it gives one; then the summary also carries the AUC of
the PRM step rewards for right vs wrong decisive steps).

    from rllib_istar.algorithm.evaluation import evaluate_checkpoint
    summary = evaluate_checkpoint("~/ray_results/toy_istar_cpu", episodes=200,
                                  out="eval.jsonl")
    print(summary.success_rate, summary.success_ci)

The checkpoint is restored into a driver-only algorithm (no remote env runners,
a local learner); episodes come from its local ``LLMEnvRunner``, one task per
seed ``seed, seed + 1, ...`` (group size 1). PRM step rewards use the
learner's PRM and, as pi_old, the restored policy:
``r_t = beta * sum_k [log pi_phi - log pi_theta]`` (docs/algorithm.md §1); they are
null for estimators without a PRM.

What the summary will not claim: a rank statistic (the credit AUC, the same-state
accuracies) from fewer than :data:`MIN_AUC_CLASS_SIZE` steps of each class or
:data:`MIN_SAME_STATE_PAIRS` pairs is left out (the counts stay), and the return's
interval never leaves the observed range of returns. Ray's ``Trainable`` makes a
timestamped log folder in ``~/ray_results`` for every algorithm built outside Tune;
evaluation builds it in a temporary folder that is removed afterwards.
"""
from __future__ import annotations

import contextlib
import glob
import json
import math
import os
import pickle
import tempfile
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

from rllib_istar import columns as C
from rllib_istar.connectors.episodes_to_rows import step_oracle_labels

CHECKPOINT_MARKER = "algorithm_state.pkl"
DEFAULT_SEED = 1_000_000  # evaluation tasks: seeds far from the first training draws
#: The credit AUC (right vs wrong decisive steps) is reported only with at least this many
#: steps of each class: from 2 wrong steps an AUC can only be 0, 0.5 or 1 and says nothing.
MIN_AUC_CLASS_SIZE = 10
#: Same-state accuracies are reported only over at least this many (right, wrong) pairs.
MIN_SAME_STATE_PAIRS = 10
#: Same-state keys that are counts or sizes, not rank statistics (always kept).
SAME_STATE_COUNTS = ("credit_state_pairs", "credit_state_prompts", "credit_state_drift_nats")


@dataclass
class EvalSummary:
    """What ``rllib evaluate`` prints (and returns)."""
    checkpoint: str
    env: str
    episodes: int
    successes: int
    success_rate: float
    success_ci: Tuple[float, float]
    return_mean: float
    return_ci: Tuple[float, float]
    outcome_mean: float
    invalid_action_rate: float
    out: Optional[str] = None
    extra: Dict[str, Any] = field(default_factory=dict)
    return_range: Tuple[float, float] = (math.nan, math.nan)  # smallest, largest return seen

    def as_dict(self) -> Dict[str, Any]:
        return asdict(self)


# ------------------------------------------------------------- intervals
def wilson_interval(successes: int, n: int, z: float = 1.96) -> Tuple[float, float]:
    """Wilson score interval of a binomial proportion (good at 0, 1 and small n).

    ```pycon
    >>> [round(x, 3) for x in wilson_interval(8, 10)]
    [0.49, 0.943]

    ```
    """
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def mean_interval(values: Sequence[float], z: float = 1.96,
                  bounds: Optional[Tuple[float, float]] = None) -> Tuple[float, float]:
    """Normal-approximation interval of a mean, ``mean +- z * sd / sqrt(n)``, clipped to
    ``bounds`` (default: the smallest and largest of ``values``).

    No env declares its range of returns, so the default bound is the observed one: the
    mean lies inside the range of its values, and a normal interval of skewed returns
    near a limit (most episodes at the top return 1.0) would otherwise run past it
    (1.004 for returns in [-0.3, 1]). Pass the env's true ``bounds`` where known.

    ```pycon
    >>> mean_interval([1.0] * 99 + [-0.3])[1]
    1.0

    ```
    """
    n = len(values)
    if n == 0:
        return (float("nan"), float("nan"))
    mean = sum(values) / n
    low, high = bounds if bounds is not None else (min(values), max(values))
    if n == 1:
        return (mean, mean)
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = z * sd / math.sqrt(n)
    return (max(low, mean - half), min(high, mean + half))


# ------------------------------------------------------------ checkpoints
def find_checkpoint(path: str) -> str:
    """A checkpoint folder from a checkpoint, trial or experiment folder (the latest one
    that was written whole: ``checkpoint_files.checkpoint_status``).

    Raises:
        FileNotFoundError: nothing there, or no checkpoint inside.
        ValueError: an experiment folder with several trials (name one).
    """
    path = os.path.abspath(os.path.expanduser(path))
    if not os.path.exists(path):
        raise FileNotFoundError(f"checkpoint {path} does not exist; pass a checkpoint folder "
                                "(.../checkpoint_000010), a trial folder or an experiment folder")
    if os.path.isfile(os.path.join(path, CHECKPOINT_MARKER)):
        return path
    from rllib_istar.algorithm.checkpoint_files import INCOMPLETE, checkpoint_status

    ckpts = [os.path.dirname(p) for p in
             sorted(glob.glob(os.path.join(path, "checkpoint_*", CHECKPOINT_MARKER)))]
    ckpts = [c for c in ckpts if checkpoint_status(c) != INCOMPLETE]  # not cut short mid-write
    if ckpts:
        return ckpts[-1]
    trials = sorted({os.path.dirname(os.path.dirname(p)) for p in
                     glob.glob(os.path.join(path, "*", "checkpoint_*", CHECKPOINT_MARKER))})
    if len(trials) == 1:
        return find_checkpoint(trials[0])
    if len(trials) > 1:
        raise ValueError(f"{path} holds {len(trials)} trials; pass one of them, e.g. "
                         f"{trials[0]}")
    raise FileNotFoundError(f"no checkpoint in {path}; train with checkpoint_config: "
                            "{checkpoint_at_end: true} or pass a checkpoint_* folder")


def checkpoint_config(checkpoint: str):
    """The IStarConfig a checkpoint was trained with."""
    from rllib_istar.algorithm.istar import IStarConfig

    with open(os.path.join(checkpoint, "class_and_ctor_args.pkl"), "rb") as f:
        ctor = pickle.load(f)
    config = ctor["ctor_args_and_kwargs"][0][0]
    if isinstance(config, dict):
        config = IStarConfig().update_from_dict({k: v for k, v in config.items() if k != "class"})
    return config


@contextlib.contextmanager
def temporary_results_folder():
    """Ray's ``Trainable`` (every RLlib algorithm) built outside Tune makes an empty
    timestamped log folder under ``~/ray_results`` (``ray.tune.trainable.trainable.
    DEFAULT_STORAGE_PATH``); inside this block it makes it in a temporary folder, removed
    at the end, so ``rllib evaluate`` leaves nothing behind."""
    from ray.tune.trainable import trainable

    old = trainable.DEFAULT_STORAGE_PATH
    with tempfile.TemporaryDirectory(prefix="rllib_istar_eval_") as folder:
        trainable.DEFAULT_STORAGE_PATH = folder  # read by Trainable._setup_logdir
        try:
            yield folder
        finally:
            trainable.DEFAULT_STORAGE_PATH = old


def load_for_evaluation(checkpoint: str, env: Optional[str] = None,
                        env_config: Optional[dict] = None):
    """Restore ``checkpoint`` into a driver-only IStar (local env runner and learner)."""
    import torch
    from ray.rllib.algorithms.algorithm import Algorithm

    config = checkpoint_config(checkpoint).copy(copy_frozen=False)
    new_env = env or config.env
    base = dict(config.env_config or {}) if new_env == config.env else {}
    base.update(env_config or {})
    config.environment(env=new_env, env_config=base)
    config.env_runners(num_env_runners=0)
    config.learners(num_learners=0,
                    num_gpus_per_learner=1 if torch.cuda.is_available() and
                    config.num_gpus_per_learner else 0)
    config.format_warmup_steps = 0  # the weights come from the checkpoint
    config.validate()
    return Algorithm.from_checkpoint(checkpoint, config=config)


# ---------------------------------------------------------------- rollouts
def sample_episodes(algo, episodes: int, seed: int = DEFAULT_SEED, chunk: int = 32,
                    temperature: Optional[float] = None, greedy: bool = False) -> List[Any]:
    """``episodes`` trajectories, one per task seed ``seed + i``, from the local runner."""
    runner = algo.env_runner_group.local_env_runner
    out: List[Any] = []
    for start in range(0, episodes, chunk):
        seeds = list(range(seed + start, seed + min(start + chunk, episodes)))
        out += runner.sample(task_seeds=seeds, group_size=1, temperature=temperature,
                             explore=not greedy)
    return out


def prm_step_rewards(algo, episodes: Sequence[Any]) -> Optional[List[List[float]]]:
    """Implicit step rewards per episode and step (docs/algorithm.md §1), or None without a PRM.

    Scored by the (first) learner's ``score_step_rewards`` through the public
    ``LearnerGroup.foreach_learner``, so it works for a local or a remote learner.
    """
    from rllib_istar.connectors import episodes_to_rows

    if not algo.config.uses_prm or not episodes:
        return None
    rows = episodes_to_rows(episodes)
    results = algo.learner_group.foreach_learner(
        lambda learner: learner.score_step_rewards(rows).tolist())
    flat = next(iter(results)).get()
    out, pos = [], 0
    for ep in episodes:
        out.append(flat[pos:pos + len(ep)])
        pos += len(ep)
    return out


def same_state_credit(algo, episodes: Sequence[Any]) -> Dict[str, float]:
    """Same-state credit over the episodes' decisive prompts (envs that label their
    actions; ``learner/same_state_credit.py``): how often each signal ranks the right
    action above a wrong one at the same prompt, and how many pairs it compared."""
    from rllib_istar.connectors import episodes_to_rows

    if not episodes:
        return {}
    rows = episodes_to_rows(episodes)
    results = algo.learner_group.foreach_learner(lambda learner: learner.score_same_state(rows))
    return dict(next(iter(results)).get())


def trajectory_records(episodes: Sequence[Any], step_rewards) -> List[Dict[str, Any]]:
    """One JSON-able dict per trajectory (the JSONL lines)."""
    records = []
    for i, ep in enumerate(episodes):
        prompts = ep.get_extra_model_outputs(C.PROMPT_TEXT)
        valid = ep.get_extra_model_outputs(C.ACTION_VALID)
        raw = ep.get_extra_model_outputs(C.ENV_REWARD_RAW)
        actions, rewards = ep.get_actions(), ep.get_rewards()
        prm = step_rewards[i] if step_rewards is not None else [None] * len(ep)
        oracle = step_oracle_labels(ep)
        steps = [{"t": t, "prompt": str(prompts[t]), "response": str(actions[t]),
                  "action_valid": bool(valid[t]), "env_reward": float(raw[t]),
                  "reward": float(rewards[t]), "prm_step_reward": prm[t],
                  "oracle_label": None if math.isnan(oracle[t]) else oracle[t]}
                 for t in range(len(ep))]
        records.append({"episode": i, "task_seed": int(ep.custom_data[C.TASK_SEED]),
                        "won": bool(ep.custom_data[C.WON]),
                        "outcome": float(ep.custom_data[C.OUTCOME]),
                        "return": float(ep.get_return()), "num_steps": len(ep),
                        "num_invalid": int(ep.custom_data[C.NUM_INVALID]), "steps": steps})
    return records


def credit_summary(records: Sequence[Dict[str, Any]],
                   min_per_class: int = MIN_AUC_CLASS_SIZE) -> Dict[str, float]:
    """Step-reward credit against the env's oracle labels (``{}`` without labelled
    decisive steps or without a PRM): the counts of right and wrong decisive steps and,
    when each class has at least ``min_per_class`` steps, the AUC of r_phi for right vs
    wrong and the mean r_phi of each (``core.credit_metrics``)."""
    import torch

    from rllib_istar.core.credit_metrics import decisive_auc

    pairs = [(st["prm_step_reward"], st["oracle_label"]) for rec in records for st in rec["steps"]
             if st["prm_step_reward"] is not None and st["oracle_label"] in (1.0, -1.0)]
    if not pairs:
        return {}
    r = torch.tensor([p[0] for p in pairs], dtype=torch.float64)
    lab = torch.tensor([p[1] for p in pairs])
    right, wrong = int((lab == 1).sum()), int((lab == -1).sum())
    out = {"decisive_steps": float(len(pairs)), "right_steps": float(right),
           "wrong_steps": float(wrong)}
    if min(right, wrong) >= min_per_class:  # else too few to rank: counts only
        out.update(credit_auc_step_reward=decisive_auc(r, lab),
                   step_reward_right_mean=float(r[lab == 1].mean()),
                   step_reward_wrong_mean=float(r[lab == -1].mean()))
    return out


def reportable_same_state(stats: Dict[str, float],
                          min_pairs: int = MIN_SAME_STATE_PAIRS) -> Dict[str, float]:
    """``stats`` of :func:`same_state_credit` without its accuracies when they rest on
    fewer than ``min_pairs`` (right, wrong) pairs; the counts are kept."""
    if stats.get("credit_state_pairs", 0.0) >= min_pairs:
        return dict(stats)
    return {k: v for k, v in stats.items() if k in SAME_STATE_COUNTS}


def evaluate_checkpoint(path: str, *, env: Optional[str] = None, env_config: Optional[dict] = None,
                        episodes: int = 100, seed: int = DEFAULT_SEED, out: Optional[str] = None,
                        temperature: Optional[float] = None, greedy: bool = False,
                        chunk: int = 32) -> EvalSummary:
    """Restore, roll out ``episodes`` tasks, score them, write the JSONL (when ``out``)."""
    checkpoint = find_checkpoint(path)
    with temporary_results_folder():  # no empty log folder left in ~/ray_results
        algo = load_for_evaluation(checkpoint, env, env_config)
        try:
            eps = sample_episodes(algo, episodes, seed, chunk, temperature, greedy)
            records = trajectory_records(eps, prm_step_rewards(algo, eps))
            same_state = reportable_same_state(same_state_credit(algo, eps))
            env_id = algo.config.env
        finally:
            algo.stop()
    if out:
        os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
        with open(out, "w", encoding="utf-8") as f:
            for rec in records:
                f.write(json.dumps(rec) + "\n")
    n = len(records)
    wins = sum(r["won"] for r in records)
    returns = [r["return"] for r in records]
    steps = sum(r["num_steps"] for r in records)
    return EvalSummary(
        checkpoint=checkpoint, env=env_id, episodes=n, successes=wins,
        success_rate=wins / n if n else float("nan"), success_ci=wilson_interval(wins, n),
        return_mean=sum(returns) / n if n else float("nan"), return_ci=mean_interval(returns),
        outcome_mean=sum(r["outcome"] for r in records) / n if n else float("nan"),
        invalid_action_rate=sum(r["num_invalid"] for r in records) / max(steps, 1), out=out,
        extra={**credit_summary(records), **same_state},
        return_range=(min(returns), max(returns)) if returns else (math.nan, math.nan))
