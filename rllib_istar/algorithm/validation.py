"""``IStarConfig.validate()``'s own checks: unknown keys, knob types, bounds and
choices (all from the knob declarations in ``knobs.py``), and settings that are
impossible together. Every failure is one line naming the problem and the fix.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable

from rllib_istar.algorithm.knobs import KNOB_TYPES, KNOBS, Knob
from rllib_istar.messages import did_you_mean, hint, type_names

Fail = Callable[[str], None]


def key_hint(key: str, valid: Iterable[str]) -> str:
    """``did you mean 'x'?`` for a near-miss config key, else where the knobs are listed."""
    return hint(key, valid, "see the knob list in help(rllib_istar.IStarConfig)")


def check_unknown_keys(config, known: Iterable[str], fail: Fail) -> None:
    """Reject attributes that are no knob of ``known`` (RLlib's ``update_from_dict``
    accepts any key silently, notes/RLLIB_2.60.md)."""
    known = set(known) | {"class"}  # RLlib's from_state() leaves "class"
    for key in vars(config):
        if key not in known and not key.startswith("__"):  # "__...__": Tune's own keys
            fail(f"unknown config key {key!r}; {key_hint(key, known)}")


def check_knob(knob: Knob, value: Any, fail: Fail) -> None:
    """Type (from the knob's annotation), choices, then bounds."""
    types = KNOB_TYPES[knob.name]
    if isinstance(value, bool) and bool not in types:
        fail(f"{knob.name} must be {type_names(types)}, got {value!r}")
    if not isinstance(value, types):
        fail(f"{knob.name} must be {type_names(types)}, got {value!r} ({type(value).__name__})")
    if knob.choices is not None and value not in knob.choices:
        fail(f"{knob.name}={value!r} is not valid; choose one of "
             f"{', '.join(repr(c) for c in knob.choices)}{did_you_mean(value, knob.choices)}")
    bound = knob.bound_error(value)
    if bound:
        fail(bound)


def check_knobs(config, fail: Fail) -> None:
    for knob in KNOBS:
        check_knob(knob, getattr(config, knob.name), fail)


def check_settings(config, fail: Fail) -> None:
    """Settings that are valid alone but impossible together (or with this machine)."""
    from rllib_istar.envs import registered_env_ids

    if not config.env:
        fail("no env set; use .environment('rllib_istar/KeyCorridor-v0') or "
             f"env: in the YAML (registered: {', '.join(registered_env_ids())})")
    elif isinstance(config.env, str) and config.env not in registered_env_ids():
        fail(f"unknown env {config.env!r}; registered: "
             f"{', '.join(registered_env_ids())}{did_you_mean(config.env, registered_env_ids())}")
    try:
        spec = config.estimator
    except ValueError as e:
        fail(str(e))
        return
    if spec.prm_loss and config.prm_mode == "none":
        fail(f"advantage_estimator {config.advantage_estimator} needs the PRM but prm_mode is "
             "'none'; set prm_mode: full (or lora), or pick an outcome-only estimator "
             "(rloo, grpo, reinforce_pp)")
    if spec.token_level and config.ratio_level in ("step", "step_product"):
        fail(f"{config.advantage_estimator}/{config.ablation} gives token-level advantages; "
             "set ratio_level: token (or auto)")
    if config.num_learners > 1 and config.num_groups < config.num_learners:
        fail(f"num_groups={config.num_groups} < num_learners={config.num_learners}: "
             "each learner needs whole groups")
    if config.generation_backend == "vllm":
        import importlib.util

        if importlib.util.find_spec("vllm") is None:
            fail("generation_backend 'vllm' needs vLLM: pip install 'rllib_istar[vllm]' on a "
                 "GPU machine, or use 'hf'")
