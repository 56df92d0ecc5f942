"""Safe ``--resume``: never let a resumed run overwrite a checkpoint.

Tune saves its experiment state (which checkpoint each trial has) every few
seconds. A run killed between a trial writing ``checkpoint_000004`` and the next
state save resumes from ``checkpoint_000003`` and would then write its next
checkpoint into ``checkpoint_000004`` again, replacing the killed run's one.
Before resuming, every such checkpoint (newer than the saved state knows) is
renamed to ``kept_checkpoint_000004`` (still a valid checkpoint: evaluate it or
restore from it; unless the run was killed while writing it, which its file list tells
(``algorithm/checkpoint_files.py``): then the line says it is incomplete); nothing is
deleted.

``rllib train`` also sets ``TUNE_GLOBAL_CHECKPOINT_S`` (default 1 s here, Tune's
own default is at least 10 s) so that the window is short and a resume normally
continues from the newest checkpoint.

Tune restores each trial's stop criteria and config from the saved state and ignores
new ones; :func:`apply_resume_changes` writes ``--stop`` and the ``--config`` keys that
are safe to change (:data:`RESUME_SAFE_CONFIG`) into that state first (the state as it
was is kept beside it), and refuses the rest with a one-line reason.
"""
from __future__ import annotations

import glob
import json
import os
import re
import shutil
from typing import Any, Dict, List, Optional, Tuple

from rllib_istar.algorithm.checkpoint_files import INCOMPLETE, checkpoint_status
from rllib_istar.cli.common import CliError

_CKPT = re.compile(r"^checkpoint_(\d{6})$")


def saved_trials(experiment_dir: str) -> List[Tuple[str, int, str, int, str]]:
    """``(trial_dir, checkpoint_index, checkpoint_path, iteration, status)`` per trial,
    as the latest saved experiment state records them (index -1: no checkpoint yet)."""
    from ray.tune.experiment.trial import Trial

    states = sorted(glob.glob(os.path.join(experiment_dir, "experiment_state-*.json")))
    if not states:
        return []
    with open(states[-1], encoding="utf-8") as f:
        state = json.load(f)
    out = []
    for trial_json, run_metadata in state.get("trial_data", []):
        trial = Trial.from_json_state(trial_json, stub=True)
        trial.restore_run_metadata(run_metadata)
        path = trial.checkpoint.path if trial.checkpoint is not None else ""
        iteration = 0
        manager = getattr(trial.run_metadata, "checkpoint_manager", None)
        latest = getattr(manager, "latest_checkpoint_result", None)
        if latest is not None:
            iteration = int((latest.metrics or {}).get("training_iteration", 0))
        out.append((os.path.join(experiment_dir, trial.storage.trial_dir_name),
                    int(trial.storage.current_checkpoint_index), path, iteration,
                    str(trial.status)))
    return out


def protect_unrecorded_checkpoints(experiment_dir: str) -> List[str]:
    """Rename checkpoints the saved state does not know; returns one line per action."""
    lines = []
    for trial_dir, index, path, iteration, status in saved_trials(experiment_dir):
        if not os.path.isdir(trial_dir):
            continue
        for name in sorted(os.listdir(trial_dir)):
            match = _CKPT.match(name)
            if not match or int(match.group(1)) <= index:
                continue
            target = os.path.join(trial_dir, f"kept_{name}")
            n = 2
            while os.path.exists(target):
                target, n = os.path.join(trial_dir, f"kept_{name}_{n}"), n + 1
            written = checkpoint_status(os.path.join(trial_dir, name))
            os.rename(os.path.join(trial_dir, name), target)
            why = ("it was cut short while being written: incomplete, not loadable; the run "
                   "resumes from the last complete one" if written == INCOMPLETE else
                   "it is newer than the saved run state, so the resumed run would overwrite it")
            lines.append(f"kept {name} of {os.path.basename(trial_dir)} as "
                         f"{os.path.basename(target)} ({why})")
        trial = os.path.basename(trial_dir)
        if status == "TERMINATED":
            lines.append(f"{trial} already finished; nothing to resume")
            continue
        start = (f"{os.path.basename(path)} (iteration {iteration})" if path
                 else "the start (no checkpoint was saved)")
        lines.append(f"resuming {trial} from {start}")
    return lines


# Config keys a resumed trial may change: read afresh from the config every iteration,
# and no part of the checkpoint (module shapes, optimizer state, env tasks) depends on
# them. ``lr`` takes effect at the first update (RLlib sets every policy optimizer's lr
# from the config before each update); ``prm_lr`` is not here because the PRM steps
# before that, with the lr its restored optimizer state holds.
RESUME_SAFE_CONFIG = ("lr", "num_epochs", "minibatch_size", "microbatch_size",
                      "step_advantage_weight", "clip_low", "clip_high", "grad_clip",
                      "prm_beta", "prm_epochs", "pair_margin")


_MISSING = object()


def _latest_state(experiment_dir: str) -> str:
    states = sorted(glob.glob(os.path.join(experiment_dir, "experiment_state-*.json")))
    if not states:
        raise CliError(f"--resume: no saved run in {experiment_dir}")
    return states[-1]


def _stop_met(result: Dict[str, Any], stop: Dict[str, float]) -> bool:
    """Tune's rule: a trial stops once any criterion's value reaches its threshold."""
    from rllib_istar.cli.progress import lookup  # imports ray.tune: not at CLI start-up

    for key, threshold in stop.items():
        value = lookup(result, key)
        if value is not None and value >= threshold:
            return True
    return False


def apply_resume_changes(experiment_dir: str, stop: Optional[dict] = None,
                         config: Optional[dict] = None) -> List[str]:
    """Write ``stop`` (merged over each trial's criteria) and the safe ``config`` keys into
    the saved run state; returns one line per change.

    A finished trial whose new stop is not met yet is set to continue from its last
    checkpoint. Raises :class:`CliError` for a config key outside
    :data:`RESUME_SAFE_CONFIG` and for a ``training_iteration`` stop that a trial's
    checkpoint has already reached (the resumed run could only overshoot it).
    """
    if not stop and not config:
        return []
    path = _latest_state(experiment_dir)
    with open(path, encoding="utf-8") as f:
        state = json.load(f)
    saved_configs = [json.loads(t).get("config") or {} for t, _ in state.get("trial_data", [])]
    config = {k: v for k, v in (config or {}).items()  # a value the run already has is no change
              if any(c.get(k, _MISSING) != v for c in saved_configs)}
    unsafe = sorted(set(config) - set(RESUME_SAFE_CONFIG))
    if unsafe:
        raise CliError(f"--resume --config cannot change {unsafe[0]!r}: the saved checkpoints "
                       "were built with the old value; keys a resume may change: "
                       f"{', '.join(RESUME_SAFE_CONFIG)} (start a new run with --name NEW and "
                       "restore: CHECKPOINT in the YAML to change the others)")
    if not stop and not config:
        return []
    from ray.tune.experiment.trial import Trial

    checkpoints = {os.path.basename(t[0]): t for t in saved_trials(experiment_dir)}
    lines, trial_data = [], []
    for trial_json, run_metadata in state.get("trial_data", []):
        trial = json.loads(trial_json)
        label = Trial.from_json_state(trial_json, stub=True).storage.trial_dir_name
        saved = checkpoints.get(label)
        ckpt_iter = saved[3] if saved else 0
        if stop:
            limit = stop.get("training_iteration")
            if isinstance(limit, (int, float)) and saved and saved[2] and ckpt_iter >= limit:
                raise CliError(f"--stop training_iteration={limit:g}: {label} resumes from "
                               f"{os.path.basename(saved[2])} (iteration {ckpt_iter}), already "
                               "past it; give a later stop, or evaluate that checkpoint")
            trial["stopping_criterion"] = {**trial.get("stopping_criterion", {}), **stop}
            last = (json.loads(run_metadata) or {}).get("last_result") or {}
            if trial.get("status") == "TERMINATED" and not _stop_met(last, trial[
                    "stopping_criterion"]):
                trial["status"] = "PENDING"
                lines.append(f"{label} had finished; it continues from its last checkpoint")
            lines.append(f"{label}: stop is now {trial['stopping_criterion']}")
        if config:
            for key in ("config", "_Trial__unresolved_config"):
                if isinstance(trial.get(key), dict):
                    trial[key] = {**trial[key], **config}
            lines.append(f"{label}: config changes {config}")
        trial_data.append([json.dumps(trial, indent=2), run_metadata])
    kept = path + ".before_resume"
    n = 2
    while os.path.exists(kept):
        kept, n = f"{path}.before_resume_{n}", n + 1
    shutil.copy2(path, kept)
    state["trial_data"] = trial_data
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        json.dump(state, f)
    os.replace(path + ".tmp", path)
    lines.append(f"the run state as it was is kept in {os.path.basename(kept)}")
    return lines


_DECISIONS = ("_cached_trial_decisions", "_queued_trial_decisions")


def drop_stale_decisions(experiment_dir: str) -> List[str]:
    """Clear the scheduler decisions the saved run state still holds; one line per trial.

    Tune saves its controller's pending per-trial decisions with the run state. A trial
    that failed while a checkpoint was being written (a full disk) leaves a STOP there;
    on ``--resume`` Tune would apply it after the retried trial's first checkpoint and
    end the trial before its stop criterion (Ray 2.60). A resumed trial runs in a new
    process, so no decision of the old one applies: they are dropped.
    """
    states = sorted(glob.glob(os.path.join(experiment_dir, "experiment_state-*.json")))
    if not states:
        return []
    with open(states[-1], encoding="utf-8") as f:
        state = json.load(f)
    runner = state.get("runner_data") or {}
    stale = {trial_id: decision for key in _DECISIONS
             for trial_id, decision in (runner.get(key) or {}).items()}
    if not stale:
        return []
    for key in _DECISIONS:
        if key in runner:
            runner[key] = {}
    with open(states[-1] + ".tmp", "w", encoding="utf-8") as f:
        json.dump(state, f)
    os.replace(states[-1] + ".tmp", states[-1])
    return [f"dropped the saved {decision} decision of trial {trial_id} (left by its last "
            "process; the resumed trial runs to its stop criterion)"
            for trial_id, decision in sorted(stale.items())]
