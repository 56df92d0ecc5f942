"""``rllib train``: run validated experiments with Tune, print progress, never clobber.

* A new run refuses an experiment folder that already holds a run (its
  checkpoints are never overwritten or deleted); ``--resume`` continues it
  from its latest checkpoints (``tune.run_experiments(..., resume=True)``).
* Progress: one line per iteration (:mod:`rllib_istar.cli.progress`); Tune's
  own table only with ``--tune-table``.
* Exit codes: 0 done, 1 a trial failed (the first and last lines of its
  ``error.txt``, the file's path and the command that retries it are printed),
  130 interrupted, 143 terminated by SIGTERM (:mod:`rllib_istar.cli.termination`;
  both with one line saying where the results are and the command that resumes).
* ``--resume`` also retries errored trials from their last checkpoint
  (Tune's ``AUTO+ERRORED``); ``--resume --restart-errored`` starts them over
  (``AUTO+RESTART_ERRORED``).
"""
from __future__ import annotations

import contextlib
import glob
import importlib
import logging
import os
import sys
import warnings
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

from rllib_istar.cli import termination
from rllib_istar.cli.common import EXIT_FAILED, EXIT_INTERRUPTED, CliError
from rllib_istar.cli.experiments import experiment_dirs


def check_experiment_dirs(experiments: Dict[str, dict], resume: bool) -> None:
    """A new run needs fresh folders; ``--resume`` needs a saved experiment state."""
    for path in experiment_dirs(experiments):
        has_state = bool(glob.glob(os.path.join(path, "experiment_state-*.json")))
        if resume and not has_state:
            raise CliError(f"--resume: no saved run in {path} (no experiment_state-*.json); "
                           "start it without --resume")
        if not resume and os.path.isdir(path) and os.listdir(path):
            raise CliError(f"{path} already holds a run; its checkpoints are kept: pass "
                           "--resume to continue it, or --name NEW (or --storage-path DIR) "
                           "to start another")


def quiet_logs(debug: bool) -> None:
    """Keep the driver's output to the progress lines (``--debug`` shows everything)."""
    if debug:
        return
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    warnings.filterwarnings("ignore", module=r"gymnasium\..*")
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    import ray  # noqa: F401 (sets up Ray's loggers, which we then turn down)

    for name in ("ray", "ray.rllib", "ray.tune", "ray.train", "ray.air"):
        logging.getLogger(name).setLevel(logging.ERROR)
    # the command prints the model-aware defaults once itself (model_default_lines)
    logging.getLogger("rllib_istar.algorithm.model_defaults").setLevel(logging.ERROR)


def import_user_modules(modules: Sequence[str], folder: Optional[str] = None) -> None:
    """Import ``--import`` modules (e.g. ones that call ``register_text_env``) from
    ``folder`` (default: the current one) or ``PYTHONPATH``."""
    if not modules:
        return
    folder = folder or os.getcwd()
    if folder not in sys.path:
        sys.path.insert(0, folder)
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError as e:
            raise CliError(f"--import {name}: {e}; run rllib from the folder that holds "
                           f"{name}.py or add its folder to PYTHONPATH") from None


def worker_setup() -> None:
    """Ray worker setup hook: import the ``--import`` modules (``RLLIB_ISTAR_IMPORTS``)."""
    modules = [m for m in os.environ.get("RLLIB_ISTAR_IMPORTS", "").split(",") if m]
    import_user_modules(modules, os.environ.get("PYTHONPATH", "").split(os.pathsep)[0] or None)


def init_ray(debug: bool, num_cpus: Optional[int], modules: Sequence[str] = ()) -> bool:
    """Start a local Ray unless one is running; True if we started it. Every Ray
    worker imports ``modules`` first, so envs they register exist in trials too."""
    import ray

    if ray.is_initialized():
        return False
    env_vars = {k: os.environ[k] for k in ("RLLIB_ISTAR_CACHE", "TOKENIZERS_PARALLELISM")
                if k in os.environ}
    runtime_env = {"env_vars": env_vars}
    if modules:
        folder = os.getcwd()
        env_vars["PYTHONPATH"] = os.pathsep.join(
            p for p in (folder, os.environ.get("PYTHONPATH")) if p)
        env_vars["RLLIB_ISTAR_IMPORTS"] = ",".join(modules)
        runtime_env["worker_process_setup_hook"] = "rllib_istar.cli.train.worker_setup"
    ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=debug,
             logging_level=logging.INFO if debug else logging.ERROR, runtime_env=runtime_env)
    termination.install_sigterm_handler()  # ray.init replaced it with one that dumps stacks
    return True


def resolved_configs(experiments: Dict[str, dict]) -> Iterator[Tuple[Any, Optional[str]]]:
    """Every experiment variant's IStarConfig with its ``"auto"`` knobs resolved, and the
    line announcing them (None when none held ``"auto"``; ``algorithm.model_defaults``)."""
    from rllib_istar.algorithm.istar import IStarConfig
    from rllib_istar.cli.experiments import Source, config_variants

    for name, spec in experiments.items():
        for variant, _, _ in config_variants(name, spec.get("config") or {}, Source(None)):
            config = IStarConfig().update_from_dict(
                dict(variant, env=spec.get("env", variant.get("env"))))
            yield config, config.apply_model_defaults()


def prepare_models(experiments: Dict[str, dict], stream) -> None:
    """Build each format-warmed model once here, not once per concurrent trial."""
    from rllib_istar.warmup import prepare_policy_model

    for config, _ in resolved_configs(experiments):
        if config.format_warmup_steps:
            with _one_torch_thread():
                prepare_policy_model(config,
                                     announce=lambda line: print(line, file=stream, flush=True))


def model_default_lines(experiments: Dict[str, dict]) -> List[str]:
    """One line per distinct set of ``"auto"`` knobs the experiments resolve (a tiny
    model's values or a checkpoint's), in order, no repeats."""
    lines: List[str] = []
    for _, line in resolved_configs(experiments):
        if line and line not in lines:
            lines.append(line)
    return lines


def precision_lines(experiments: Dict[str, dict]) -> List[str]:
    """One line per distinct ``autocast_dtype`` in the experiments: what it runs as on
    this machine and why (``lm.precision``: ``auto`` resolved, or a warning when bf16 is
    asked for but emulated). On the CPU, plus the GPU where this process sees one."""
    from rllib_istar.cli.experiments import Source, config_variants
    from rllib_istar.lm.precision import (
        AUTOCAST_CHOICES,
        autocast_choice,
        device_type_of_process,
    )

    requested = {variant.get("autocast_dtype")
                 for name, spec in experiments.items()
                 for variant, _, _ in config_variants(name, spec.get("config") or {}, Source(None))
                 if isinstance(variant.get("autocast_dtype"), str)}  # others: validation's job
    devices = sorted({"cpu", device_type_of_process()})
    lines = []
    for value in sorted(requested & set(AUTOCAST_CHOICES)):
        for device in devices:
            choice = autocast_choice(value, device)
            if choice.line:
                lines.append(("warning: " if choice.slow else "") + choice.line
                             + (f" [{device}]" if len(devices) > 1 else ""))
    return lines


@contextlib.contextmanager
def _one_torch_thread():
    """The warm-up of a tiny model in the driver runs on one thread: with a busy
    neighbour process, torch's threads wait on each other (measured 30x slower)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def tune_resume_mode(resume: bool, restart_errored: bool) -> Optional[str]:
    """Tune's ``resume`` value: errored trials are retried on every resume, from their last
    checkpoint unless ``restart_errored`` (then from the start)."""
    if not resume:
        return None
    return "AUTO+RESTART_ERRORED" if restart_errored else "AUTO+ERRORED"


def run_training(experiments: Dict[str, dict], *, resume: bool = False, tune_table: bool = False,
                 debug: bool = False, num_cpus: Optional[int] = None, resume_hint: str = "",
                 modules: Sequence[str] = (), stream=None, restart_errored: bool = False,
                 resume_changes: Optional[dict] = None) -> int:
    """Run (or resume) the experiments; returns the exit code. ``resume_changes``: the
    ``--stop`` / ``--config`` given with ``--resume``, applied to the saved trials
    (:func:`rllib_istar.cli.resume.apply_resume_changes`)."""
    stream = stream or sys.stdout
    check_experiment_dirs(experiments, resume)
    quiet_logs(debug)
    import ray
    from ray import tune

    # "IStar" resolves in Tune: importing this module imported rllib_istar, which registers it
    from rllib_istar.cli.progress import ProgressPrinter, final_lines
    from rllib_istar.cli.resume import (
        apply_resume_changes,
        drop_stale_decisions,
        protect_unrecorded_checkpoints,
    )

    os.environ.setdefault("TUNE_GLOBAL_CHECKPOINT_S", "1")  # see cli_resume
    for name, path in zip(experiments, experiment_dirs(experiments)):
        verb = "resuming" if resume else "training"
        print(f"{verb} {name}: results in {path} (TensorBoard: tensorboard --logdir {path})",
              file=stream, flush=True)
        if resume and resume_changes:
            for line in apply_resume_changes(path, **resume_changes):
                print(line, file=stream, flush=True)
        for line in protect_unrecorded_checkpoints(path) if resume else []:
            print(line, file=stream, flush=True)
        for line in drop_stale_decisions(path) if resume else []:
            print(line, file=stream, flush=True)
    for line in model_default_lines(experiments) + precision_lines(experiments):
        print(line, file=stream, flush=True)
    dirs = dict(zip(experiments, experiment_dirs(experiments)))
    printer, started = ProgressPrinter(stream), False
    try:
        prepare_models(experiments, stream)
        started = init_ray(debug, num_cpus, modules)
        trials = tune.run_experiments(
            experiments, verbose=2 if tune_table else (1 if debug else 0), callbacks=[printer],
            resume=tune_resume_mode(resume, restart_errored), raise_on_failed_trial=False)
    except termination.Terminated:  # a SIGTERM outside Tune's graceful stop: one line
        print(termination.terminated_line(dirs.values(), resume_hint), file=stream, flush=True)
        return termination.EXIT_TERMINATED
    finally:
        if started:
            ray.shutdown()
    folders = {t.trial_id: trial_dir(t, dirs) for t in trials}  # a resumed trial's history
    for line in final_lines(trials, printer, folders):
        print(line, file=stream, flush=True)
    return _exit_code(trials, stream, resume_hint, dirs, terminated=termination.received())


def trial_dir(trial, experiment_dirs: Dict[str, str]) -> str:
    """A trial's folder, from names alone (``trial.local_path`` needs a running Ray)."""
    name = trial.experiment_dir_name or ""
    root = experiment_dirs.get(name) or next(iter(experiment_dirs.values()), "")
    return os.path.join(root, trial.storage.trial_dir_name) if trial.storage else root


def _exit_code(trials: List, stream, resume_hint: str, dirs: Dict[str, str],
               terminated: bool = False) -> int:
    """The exit code, after one line per failed trial and one on how to continue;
    ``terminated``: Tune was stopped by a SIGTERM (exit 143 when trials are unfinished)."""
    failed = [t for t in trials if t.status == "ERROR"]
    # Tune marks trials TERMINATED after Ctrl+C too; only a met stop criterion sets "done"
    unfinished = [t for t in trials if t.status != "ERROR"
                  and not (t.status == "TERMINATED" and (t.last_result or {}).get("done"))]
    retry = resume_hint or "the same command plus --resume"
    for trial in failed:
        error_file = os.path.join(trial_dir(trial, dirs), "error.txt")
        first, last = error_summary(error_file)
        said = first if first == last else f"{first} ... {last}"
        if failed_on_full_disk(error_file):
            said = disk_full_summary(trial, trial_dir(trial, dirs), retry)
        print(f"trial {trial.trial_id} failed: {said} (traceback: {error_file})",
              file=stream, flush=True)
    if failed:
        print(f"{len(failed)} trial(s) failed; fix the cause, then retry from the last "
              f"checkpoint with: {retry} (add --restart-errored to start them over)",
              file=stream, flush=True)
        return EXIT_FAILED
    if unfinished and terminated:
        print(termination.terminated_line(dirs.values(), resume_hint), file=stream, flush=True)
        return termination.EXIT_TERMINATED
    if unfinished:
        print(f"interrupted with {len(unfinished)} trial(s) unfinished; continue with: "
              f"{resume_hint or 'the same command plus --resume'}", file=stream, flush=True)
        return EXIT_INTERRUPTED
    return 0


def failed_on_full_disk(error_file: str) -> bool:
    """The trial's error.txt says the disk (or quota) was full."""
    from rllib_istar.algorithm.checkpoint_files import mentions_disk_full

    try:
        with open(error_file, encoding="utf-8", errors="replace") as f:
            return mentions_disk_full(f.read())
    except OSError:
        return False


def disk_full_summary(trial, folder: str, retry: str) -> str:
    """What a trial that hit a full disk prints: the problem, where, the fix, and the
    checkpoint ``--resume`` continues from (a checkpoint cut short is never recorded)."""
    import tempfile

    last = (f"its last good checkpoint, {os.path.basename(trial.checkpoint.path)}, which is kept"
            if getattr(trial, "checkpoint", None) is not None else "the start (no checkpoint "
            "was saved)")
    return (f"the disk is full (no space left on device) under {folder} or the temp folder "
            f"{tempfile.gettempdir()}; free space there (or pass --storage-path DIR / set TMPDIR "
            f"to a disk with room), then retry with {retry}: it continues from {last}")


def error_summary(error_file: str) -> Tuple[str, str]:
    """``(first, last)`` non-empty lines of a trial's error.txt: Tune's first line names
    the failed call, the last one is the exception itself."""
    try:
        with open(error_file, encoding="utf-8", errors="replace") as f:
            lines = [ln.strip() for ln in f if ln.strip()]
    except OSError:
        lines = []
    if not lines:
        return ("no error.txt", "see the trial folder")
    return lines[0], lines[-1]
