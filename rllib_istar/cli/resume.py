"""Safe ``--resume``: never let a resumed run overwrite a checkpoint.

Tune saves its experiment state (which checkpoint each trial has) every few
seconds. A run killed between a trial writing ``checkpoint_000004`` and the next
state save resumes from ``checkpoint_000003`` and would then write its next
checkpoint into ``checkpoint_000004`` again, replacing the killed run's one.
Before resuming, every such checkpoint (newer than the saved state knows) is
renamed to ``kept_checkpoint_000004`` (still a valid checkpoint: evaluate it or
restore from it); nothing is deleted.

``rllib train`` also sets ``TUNE_GLOBAL_CHECKPOINT_S`` (default 1 s here, Tune's
own default is at least 10 s) so that the window is short and a resume normally
continues from the newest checkpoint.
"""
from __future__ import annotations

import glob
import json
import os
import re
from typing import List, Tuple

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
            os.rename(os.path.join(trial_dir, name), target)
            lines.append(f"kept {name} of {os.path.basename(trial_dir)} as "
                         f"{os.path.basename(target)} (it is newer than the saved run state, "
                         "so the resumed run would overwrite it)")
        trial = os.path.basename(trial_dir)
        if status == "TERMINATED":
            lines.append(f"{trial} already finished; nothing to resume")
            continue
        start = (f"{os.path.basename(path)} (iteration {iteration})" if path
                 else "the start (no checkpoint was saved)")
        lines.append(f"resuming {trial} from {start}")
    return lines
