"""Training progress for ``rllib train``: one compact line per iteration, a final line.

:class:`ProgressPrinter` is a ``ray.tune.Callback``; it runs in the driver and
prints (to stdout, flushed)::

    [toy_istar_cpu] iter   12 | steps    1534 | success 0.41 | return  0.22 | dpo 0.683 | pair_acc 0.58 | 0.8s

With several trials (grid search, ``num_samples``) each line starts with the
trial's index, and the trial's searched values are printed when it starts.
"""
from __future__ import annotations

import json
import os
import sys
from typing import Any, Dict, List, Optional

from ray.tune import Callback

from rllib_istar import metrics as M

COLUMNS = (  # (label, result key, format)
    ("steps", "env_runners/num_env_steps_sampled_lifetime", "{:>7.0f}"),
    ("success", f"env_runners/{M.SUCCESS_RATE}", "{:.2f}"),
    ("return", "env_runners/episode_return_mean", "{:>5.2f}"),
    ("dpo", f"learners/prm/{M.DPO_LOSS}", "{:.3f}"),
    ("pair_acc", f"learners/prm/{M.PAIR_ACC}", "{:.2f}"),
)


def lookup(result: Dict[str, Any], key: str) -> Optional[float]:
    """``result["a"]["b"]`` for ``key="a/b"``; None when missing or not a number."""
    value: Any = result
    for part in key.split("/"):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


#: Columns about preference pairs: printed as :data:`NO_PAIRS` in an iteration without any
#: pair (every group's trajectories scored alike), where the logged 0.000 / 0.00 are no
#: measurement; a method without a PRM prints :data:`NO_METRIC` there instead.
PAIR_COLUMNS = ("dpo", "pair_acc")
NO_METRIC = "-"         # the run has no such metric (e.g. no PRM)
NO_PAIRS = "nopairs"    # the PRM had no preference pair to learn from this iteration


def format_line(result: Dict[str, Any], prefix: str = "") -> str:
    """One progress line; metrics a run does not have (no PRM) print as ``-``, the PRM's
    pair metrics in an iteration without a preference pair as ``nopairs``."""
    parts = [f"{prefix}iter {int(result.get('training_iteration', 0)):>4d}"]
    no_pairs = lookup(result, f"learners/prm/{M.NUM_PAIRS}") == 0
    for label, key, fmt in COLUMNS:
        if no_pairs and label in PAIR_COLUMNS:
            parts.append(f"{label} {NO_PAIRS}")
            continue
        value = lookup(result, key)
        parts.append(f"{label} {NO_METRIC if value is None else fmt.format(value)}")
    parts.append(f"{float(result.get('time_this_iter_s', 0.0)):.1f}s")
    return " | ".join(parts)


class ProgressPrinter(Callback):
    """Prints one line per training iteration and keeps each trial's last result."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stdout
        self.last: Dict[str, Dict[str, Any]] = {}
        self.success: Dict[str, list] = {}  # trial id -> success rate of every printed iteration
        self.first: Dict[str, int] = {}  # trial id -> its first printed iteration (> 1: resumed)

    def _print(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def _prefix(self, trials, trial) -> str:
        name = trial.experiment_dir_name or ""
        multi = len(trials) > 1
        index = f" #{trials.index(trial)}" if multi and trial in trials else ""
        return f"[{name}{index}] "

    def on_trial_start(self, iteration, trials, trial, **info):
        params = getattr(trial, "evaluated_params", None) or {}
        if params:
            shown = ", ".join(f"{k.split('/')[-1]}={v}" for k, v in params.items())
            self._print(f"{self._prefix(trials, trial)}trial {trial.trial_id}: {shown}")

    def on_trial_result(self, iteration, trials, trial, result, **info):
        self.last[trial.trial_id] = result
        self.first.setdefault(trial.trial_id, int(result.get("training_iteration", 1)))
        success = lookup(result, f"env_runners/{M.SUCCESS_RATE}")
        if success is not None:
            self.success.setdefault(trial.trial_id, []).append(float(success))
        self._print(format_line(result, self._prefix(trials, trial)))


def _state(trial, result) -> str:
    """TERMINATED only when a stop criterion was met (Tune says so after Ctrl+C too)."""
    if trial.status == "TERMINATED" and not result.get("done"):
        return "STOPPED"
    return str(trial.status)


FINAL_WINDOW = 10  # iterations averaged in the final line (one iteration's rate is noisy)
RESULT_FILE = "result.json"  # Tune's per-trial log: one JSON result per line


def earlier_success(trial_folder: Optional[str], before: int) -> List[float]:
    """Success rates of iterations ``1 .. before - 1`` from the trial's ``result.json``
    (what a resumed run's earlier processes logged; for an iteration logged twice, as
    after a resume from an older checkpoint, the later line). ``[]`` without the file."""
    rates: Dict[int, float] = {}
    try:
        with open(os.path.join(trial_folder or "", RESULT_FILE), encoding="utf-8") as f:
            for line in f:
                try:
                    result = json.loads(line)
                except ValueError:  # a line cut short by a kill
                    continue
                rate = lookup(result, f"env_runners/{M.SUCCESS_RATE}")
                iteration = result.get("training_iteration")
                if rate is not None and isinstance(iteration, int) and iteration < before:
                    rates[iteration] = rate
    except OSError:
        return []
    return [rates[i] for i in sorted(rates)]


def _mean_text(trial_id: str, printer: ProgressPrinter, folder: Optional[str]) -> str:
    """`` (mean of the last N: x)`` over the trial's last ``FINAL_WINDOW`` iterations: a
    resumed trial's earlier iterations come from its ``result.json``; where they cannot
    be read, the text says the mean covers only the resumed part."""
    printed = printer.success.get(trial_id, [])
    if not printed:
        return ""
    first = printer.first.get(trial_id, 1)
    earlier = earlier_success(folder, first) if first > 1 else []
    window = (earlier + printed)[-FINAL_WINDOW:]
    partial = first > 1 and len(earlier) < first - 1 and len(window) < FINAL_WINDOW
    part = ", the resumed part" if partial else ""
    return f" (mean of the last {len(window)}{part}: {sum(window) / len(window):.3f})"


def final_lines(trials, printer: ProgressPrinter,
                folders: Optional[Dict[str, str]] = None) -> list[str]:
    """``final success_rate=... (trial ...)`` for every trial, with its last checkpoint.

    Besides the last iteration's rate, the mean over the trial's last ``FINAL_WINDOW``
    iterations (a single iteration of a few groups is noisy), a resumed trial's earlier
    ones read from its folder (``folders``: trial id -> trial folder).
    """
    lines = []
    for trial in trials:
        result = printer.last.get(trial.trial_id) or trial.last_result or {}
        success = lookup(result, f"env_runners/{M.SUCCESS_RATE}")
        ret = lookup(result, "env_runners/episode_return_mean")
        ckpt = trial.checkpoint.path if trial.checkpoint is not None else "none"
        mean = _mean_text(trial.trial_id, printer, (folders or {}).get(trial.trial_id))
        lines.append(
            f"final success_rate={'n/a' if success is None else f'{success:.3f}'}{mean} "
            f"return={'n/a' if ret is None else f'{ret:.3f}'} "
            f"(trial {trial.trial_id}, {_state(trial, result)}, "
            f"{int(result.get('training_iteration', 0))} iterations, checkpoint {ckpt})")
    return lines
