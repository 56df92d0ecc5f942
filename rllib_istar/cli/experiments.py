"""Experiments for ``rllib train``: read the legacy YAML, apply overrides, validate.

The file format is RLlib's legacy one (docs/rllib_internals.md §5)::

    <experiment name>:
      run: IStar
      env: rllib_istar/KeyCorridor-v0
      stop: {training_iteration: 100}
      config: {advantage_estimator: istar_rloo, lr: 3.0e-4, ...}   # IStarConfig keys
      checkpoint_config: {checkpoint_frequency: 10, checkpoint_at_end: true}
      num_samples: 1
      storage_path: ~/ray_results

Everything here runs before Ray starts, so bad input fails in seconds with a
:class:`~rllib_istar.cli.common.CliError` naming the file, line and key.
``grid_search`` values are validated one by one.
"""
from __future__ import annotations

import copy
import os
import re
import time
from typing import Any, Dict, Iterator, List, Optional, Set, Tuple

from rllib_istar import metrics as M
from rllib_istar.cli.common import CliError, Path, first_line, load_yaml_file
from rllib_istar.messages import did_you_mean, hint, type_names

ALGORITHMS = ("IStar",)
DEFAULT_STORAGE = "~/ray_results"
TOP_KEYS = ("run", "env", "stop", "config", "checkpoint_config", "num_samples", "storage_path",
            "time_budget_s", "max_failures", "log_to_file", "restore")
MOVED_KEYS = {  # keys older RLlib/Tune accepted, and where they live now
    "checkpoint_freq": "checkpoint_config: {checkpoint_frequency: N}",
    "checkpoint_at_end": "checkpoint_config: {checkpoint_at_end: true}",
    "keep_checkpoints_num": "checkpoint_config: {num_to_keep: N}",
    "checkpoint_score_attr": "checkpoint_config: {checkpoint_score_attribute: KEY}",
    "local_dir": "storage_path: DIR", "upload_dir": "storage_path: DIR",
    "resources_per_trial": "config: {num_gpus_per_learner: 1} (RLlib sizes its trials itself)",
    "algo": "run: IStar", "trainer": "run: IStar",
}
CHECKPOINT_KEYS = {"checkpoint_frequency": (int,), "checkpoint_at_end": (bool,),
                   "num_to_keep": (int, type(None)), "checkpoint_score_attribute": (str,),
                   "checkpoint_score_order": (str,)}
STOP_TOP_KEYS = ("training_iteration", "time_total_s", "time_since_restore",
                 "iterations_since_restore", "num_env_steps_sampled_lifetime")
STOP_ENV_RUNNER_KEYS = (
    "episode_return_mean", "episode_len_mean", "num_episodes", "num_episodes_lifetime",
    "num_env_steps_sampled", "num_env_steps_sampled_lifetime", M.SUCCESS_RATE, M.OUTCOME_MEAN,
    M.INVALID_ACTION_RATE, M.ENV_ERRORS, M.HISTORY_DROPPED, M.PROMPT_TOKENS_CUT,
    M.GENERATED_TOKENS, M.GENERATED_TOKENS_PER_S, M.GENERATION_TIME_S, M.ENV_TIME_S,
    M.SAMPLE_TIME_S)
STOP_SECTIONS = ("learners/", "timers/", "perf/", "fault_tolerance/", "env_runner_group/")


class Source:
    """Where each value came from: a YAML line, or a command-line option."""

    def __init__(self, file: Optional[str], lines: Optional[Dict[Path, int]] = None):
        self.file, self.lines = file, lines or {}
        self.overrides: Dict[Path, str] = {}  # key path -> the option that set it

    def where(self, path: Path) -> str:
        for n in range(len(path), 0, -1):
            if path[:n] in self.overrides:
                return self.overrides[path[:n]]
        for n in range(len(path), 0, -1):
            if path[:n] in self.lines:
                return f"{self.file}:{self.lines[path[:n]]}"
        return self.file or "command line"

    def error(self, path: Path, message: str) -> CliError:
        label = f"experiment {path[0]!r}: " if path else ""
        return CliError(f"{self.where(path)}: {label}{message}")


# ------------------------------------------------------------------ building
def experiments_from_file(path: str, *, stop=None, config=None, storage_path=None,
                          num_samples=None, name=None, check_paths=True) -> Dict[str, dict]:
    """Read, override and validate every experiment of a legacy RLlib YAML file."""
    data, lines = load_yaml_file(path)
    src = Source(path, lines)
    if not isinstance(data, dict) or not data:
        raise CliError(f"{path}: expected a mapping 'experiment name -> spec' at the top "
                       "(see tuned_examples/toy_istar_cpu.yaml)")
    if name is not None:
        if len(data) != 1:
            raise CliError(f"--name renames one experiment, but {path} has {len(data)}; "
                           "edit the names in the file instead")
        old = next(iter(data))
        data = {name: data[old]}
        src.lines = {(name,) + p[1:]: v for p, v in lines.items() if p and p[0] == old}
    out = {}
    for exp_name, spec in data.items():
        if not isinstance(spec, dict):
            raise src.error((exp_name,), "expected a mapping with run, env, stop, config, ...; "
                            f"got {type(spec).__name__}")
        spec = _apply_overrides(exp_name, copy.deepcopy(spec), src, stop, config,
                                storage_path, num_samples)
        out[str(exp_name)] = validate_experiment(str(exp_name), spec, src, check_paths=check_paths)
    return out


def experiment_from_flags(algo: str, env: Optional[str], *, stop=None, config=None,
                          storage_path=None, num_samples=None, name=None,
                          checkpoint_frequency: int = 5) -> Dict[str, dict]:
    """One experiment from ``rllib train --algo ... --env ...`` (no file)."""
    env = env or (config or {}).get("env")
    if not env:
        raise CliError("rllib train: --env is required without a file, e.g. "
                       "--env rllib_istar/KeyCorridor-v0")
    short = str(env).split("/")[-1]
    name = name or f"{algo}_{short}_{time.strftime('%Y-%m-%d_%H-%M-%S')}"
    spec = {"run": algo, "env": env, "stop": {"training_iteration": 20},
            "config": {}, "checkpoint_config": {"checkpoint_frequency": checkpoint_frequency,
                                                "checkpoint_at_end": True}}
    src = Source(None)
    src.overrides[(name, "run")] = "--algo"
    src.overrides[(name, "env")] = "--env"
    if stop is not None:
        spec["stop"] = {}
    spec = _apply_overrides(name, spec, src, stop, config, storage_path, num_samples)
    return {name: validate_experiment(name, spec, src)}


def _apply_overrides(name, spec, src: Source, stop, config, storage_path, num_samples) -> dict:
    for option, section, value in (("--stop", "stop", stop), ("--config", "config", config)):
        if value is None:
            continue
        base = spec.get(section) if isinstance(spec.get(section), dict) else {}
        spec[section] = _deep_merge(base, value, (name, section), src, option)
    for option, key, value in (("--storage-path", "storage_path", storage_path),
                               ("--num-samples", "num_samples", num_samples)):
        if value is not None:
            spec[key] = value
            src.overrides[(name, key)] = option
    return spec


def _deep_merge(base: dict, new: dict, path: Path, src: Source, option: str) -> dict:
    out = dict(base)
    for key, value in new.items():
        if (isinstance(value, dict) and "grid_search" not in value
                and isinstance(out.get(key), dict) and "grid_search" not in out[key]):
            out[key] = _deep_merge(out[key], value, path + (key,), src, option)
        else:
            out[key] = value
            src.overrides[path + (key,)] = option
    return out


# ---------------------------------------------------------------- validation
def validate_experiment(name: str, spec: dict, src: Source, *, check_paths=True) -> dict:
    """Check one experiment spec; returns it ready for ``tune.run_experiments``."""
    for key in spec:
        if key in MOVED_KEYS:
            raise src.error((name, key), f"top-level key {key!r} is not accepted by Ray 2.60; "
                            f"use {MOVED_KEYS[key]}")
        if key not in TOP_KEYS:
            raise src.error((name, key), f"unknown top-level key {key!r}; "
                            f"{_hint(key, TOP_KEYS)}")
    run = spec.get("run")
    if run not in ALGORITHMS:
        raise src.error((name, "run"), f"unknown algorithm {run!r}; this plugin runs 'IStar' "
                        "(baselines are config: {advantage_estimator: rloo|grpo|gigpo|prime|...})"
                        f"{did_you_mean(run, ALGORITHMS, cutoff=0.5)}")
    config = spec.get("config") or {}
    if not isinstance(config, dict):
        raise src.error((name, "config"), "config must be a mapping of IStarConfig keys")
    env = spec.get("env", config.get("env"))
    _check_stop(name, spec.get("stop"), src)
    _check_checkpoint_config(name, spec.get("checkpoint_config"), src)
    for key, types, low in (("num_samples", (int,), 1), ("max_failures", (int,), -1),
                            ("time_budget_s", (int, float), 0)):
        value = spec.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, types)
                                  or value < low):
            raise src.error((name, key), f"{key} must be a number >= {low}, got {value!r}")
    for variant, grid_path, value in config_variants(name, config, src):
        _check_config(name, variant, env, src, grid_path, value, check_paths)
    restore = spec.get("restore")
    if restore is not None and not os.path.isdir(os.path.expanduser(str(restore))):
        raise src.error((name, "restore"), f"restore checkpoint {restore!r} does not exist; "
                        "give a checkpoint folder (.../checkpoint_000010)")
    out = dict(spec)
    out["storage_path"] = os.path.abspath(os.path.expanduser(str(spec.get("storage_path")
                                                                 or DEFAULT_STORAGE)))
    out.setdefault("checkpoint_config", {"checkpoint_at_end": True})
    if out.get("restore"):
        out["restore"] = os.path.abspath(os.path.expanduser(str(out["restore"])))
    return out


def _check_stop(name: str, stop, src: Source) -> None:
    if stop is None:
        return
    if not isinstance(stop, dict):
        raise src.error((name, "stop"), "stop must be a mapping such as "
                        "{training_iteration: 100, env_runners/success_rate: 0.9}")
    for key, value in stop.items():
        path = (name, "stop", key)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise src.error(path, f"stop value for {key!r} must be a number, got {value!r}")
        key = str(key)
        if key in STOP_TOP_KEYS or key.startswith(STOP_SECTIONS):
            continue
        if key.startswith("env_runners/") and key.split("/", 1)[1] in STOP_ENV_RUNNER_KEYS:
            continue
        valid = list(STOP_TOP_KEYS) + [f"env_runners/{k}" for k in STOP_ENV_RUNNER_KEYS]
        raise src.error(path, f"stop key {key!r} is not a result key; {_hint(key, valid)}")


def _check_checkpoint_config(name: str, ckpt, src: Source) -> None:
    if ckpt is None:
        return
    if not isinstance(ckpt, dict):
        raise src.error((name, "checkpoint_config"), "checkpoint_config must be a mapping "
                        "such as {checkpoint_frequency: 10, checkpoint_at_end: true}")
    for key, value in ckpt.items():
        path = (name, "checkpoint_config", key)
        if key not in CHECKPOINT_KEYS:
            raise src.error(path, f"unknown checkpoint_config key {key!r}; "
                            f"{_hint(key, CHECKPOINT_KEYS)}")
        types = CHECKPOINT_KEYS[key]
        if (isinstance(value, bool) and bool not in types) or not isinstance(value, types):
            raise src.error(path, f"checkpoint_config.{key} must be {type_names(types)}, "
                            f"got {value!r}")
        if key == "checkpoint_score_order" and value not in ("max", "min"):
            raise src.error(path, f"checkpoint_score_order must be 'max' or 'min', got {value!r}")


def config_variants(name: str, config: dict, src: Source
                    ) -> Iterator[Tuple[dict, Optional[Path], Any]]:
    """The config with every ``grid_search`` at its first value (``(config, None, None)``),
    then each other grid value once: ``(config, grid key path, grid value)``."""
    grids = list(_grid_paths(config, ()))
    for path, values in grids:
        if not isinstance(values, list) or not values:
            raise src.error((name, "config") + path, "grid_search needs a non-empty list, "
                            "e.g. {grid_search: [0.5, 1.0]}")
    base = copy.deepcopy(config)
    for path, values in grids:
        _set(base, path, values[0])
    yield base, None, None
    for path, values in grids:
        for value in values[1:]:
            variant = copy.deepcopy(base)
            _set(variant, path, value)
            yield variant, path, value


def _grid_paths(obj, path: Path) -> Iterator[Tuple[Path, Any]]:
    if isinstance(obj, dict):
        if "grid_search" in obj:
            yield path, obj["grid_search"]
            return
        for key, value in obj.items():
            yield from _grid_paths(value, path + (key,))


def _set(obj: dict, path: Path, value) -> None:
    for key in path[:-1]:
        obj = obj[key]
    obj[path[-1]] = value


_DEFAULTS = None
_ENV_OK: Set[str] = set()


def _check_config(name, cfg: dict, env, src: Source, grid_path, grid_value, check_paths) -> None:
    global _DEFAULTS
    from rllib_istar.algorithm.istar import IStarConfig
    from rllib_istar.algorithm.validation import check_rllib_key_type

    _DEFAULTS = _DEFAULTS or IStarConfig()
    label = f" (grid_search value {grid_value!r})" if grid_path is not None else ""

    def fail(message: str, key_path: Path) -> CliError:
        return src.error((name,) + key_path, message + label)

    def refuse(message: str, key: str) -> None:
        raise fail(message, ("config", key))

    for key, value in cfg.items():
        if key in CHECKPOINT_KEYS or (key in TOP_KEYS and key not in ("env",)):
            section = "checkpoint_config" if key in CHECKPOINT_KEYS else "the experiment"
            raise fail(f"{key!r} is not a config key; put it under {section} "
                       f"(beside config:, not inside it)", ("config", key))
        check_rllib_key_type(key, value, _DEFAULTS, lambda m, k=key: refuse(m, k))
    try:
        config = IStarConfig().update_from_dict(dict(cfg, env=env) if env else dict(cfg))
        config.validate()
    except Exception as e:  # RLlib raises ValueError/TypeError/AttributeError here
        message = first_line(e)
        raise fail(message, _key_in_message(message, cfg, env)) from None
    if check_paths:
        for key in ("model_path", "prm_init"):
            _check_model_path(getattr(config, key), lambda m, k=key: fail(m, ("config", k)))
    env_key = repr((config.env, sorted((config.env_config or {}).items(), key=str)))
    if env_key not in _ENV_OK:
        from rllib_istar.envs import make_text_env

        try:
            make_text_env(config.env, dict(config.env_config or {})).close()
        except Exception as e:
            raise fail(f"env {config.env!r} with env_config {dict(config.env_config or {})} "
                       f"failed to build: {first_line(e)}", ("config", "env_config")) from None
        _ENV_OK.add(env_key)


def _check_model_path(value, fail) -> None:
    if value is None:
        return
    from rllib_istar.lm.loading import (
        ModelLoadError,
        parse_tiny_spec,
        resolve_model_path,
    )

    try:
        if value == "tiny" or str(value).startswith("tiny:"):
            from rllib_istar.lm.tiny import ARCHS

            arch = parse_tiny_spec(value)["arch"]
            if arch not in ARCHS:
                raise ModelLoadError(f"tiny model arch {arch!r} is not one of {', '.join(ARCHS)}")
        else:
            resolve_model_path(value)
    except ModelLoadError as e:
        raise fail(first_line(e)) from None


def _key_in_message(message: str, cfg: dict, env) -> Path:
    if message.startswith(("unknown env", "no env set")):
        return ("env",) if env else ("config", "env")
    for key in sorted(cfg, key=lambda k: -len(str(k))):
        if re.search(rf"(?<![\w/]){re.escape(str(key))}(?![\w])", message):
            return ("config", key)
    return ("config",)


def _hint(key: str, valid) -> str:
    return hint(key, valid, f"valid: {', '.join(str(v) for v in valid)}")


def experiment_dirs(experiments: Dict[str, dict]) -> List[str]:
    """``storage_path/name`` of each experiment (where Tune writes its trials)."""
    return [os.path.join(spec["storage_path"], name) for name, spec in experiments.items()]
