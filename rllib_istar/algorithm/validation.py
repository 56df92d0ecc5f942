"""``IStarConfig.validate()``'s own checks: unknown keys, knob types, bounds and
choices (all from the knob declarations in ``knobs.py``), and settings that are
impossible together. Every failure is one line naming the problem and the fix.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, Iterable

from rllib_istar.algorithm.knobs import KNOB_TYPES, KNOBS, Knob
from rllib_istar.algorithm.rllib_knobs import RLLIB_KNOBS, RLLIB_UNUSED
from rllib_istar.messages import did_you_mean, hint, type_names

Fail = Callable[[str], None]


def knob_aliases() -> Dict[str, str]:
    """``{alias: knob name}`` from every knob's ``aliases`` (IStar's and RLlib's own);
    ValueError where an alias is itself a knob's name or two knobs claim one alias."""
    declared = [*KNOBS, *(knob for knob, _ in RLLIB_KNOBS.values())]
    names = {knob.name for knob in declared}
    out: Dict[str, str] = {}
    for knob in declared:
        for alias in knob.aliases:
            if alias in names or out.get(alias, knob.name) != knob.name:
                raise ValueError(f"knob alias {alias!r} of {knob.name} is already "
                                 f"{'a knob' if alias in names else 'an alias of ' + out[alias]}")
            out[alias] = knob.name
    return out


#: Names users bring from other libraries -> the knob they mean (the knobs' ``aliases``).
KNOB_ALIASES = knob_aliases()


def key_hint(key: str, valid: Iterable[str]) -> str:
    """``did you mean 'x'?`` for a near-miss config key or a knob's alias, else where the
    knobs are listed."""
    return hint(key, valid, "see the knob list in help(rllib_istar.IStarConfig)",
                aliases=KNOB_ALIASES)


#: AlgorithmConfig setters whose keyword arguments are config keys (for hints).
_SETTERS = ("environment", "env_runners", "learners", "debugging", "resources", "reporting",
            "checkpointing", "evaluation", "framework", "rl_module", "fault_tolerance",
            "callbacks", "multi_agent", "offline_data", "api_stack")


def unknown_training_key(kwargs: dict):
    """The first of ``kwargs`` that RLlib's ``AlgorithmConfig.training`` does not take."""
    import inspect

    from ray.rllib.algorithms.algorithm_config import AlgorithmConfig

    params = inspect.signature(AlgorithmConfig.training).parameters
    return next((k for k in kwargs if k not in params), None)


def training_key_hint(key: str, valid: Iterable[str]) -> str:
    """Where a key passed to ``.training()`` belongs: another setter
    (``seed`` -> ``.debugging(seed=...)``), else :func:`key_hint`."""
    import inspect

    from ray.rllib.algorithms.algorithm_config import AlgorithmConfig

    for setter in _SETTERS:
        method = getattr(AlgorithmConfig, setter, None)
        if method is not None and key in inspect.signature(method).parameters:
            return f"{key!r} is set with .{setter}({key}=...), not .training()"
    return key_hint(key, valid)


def check_unknown_keys(config, known: Iterable[str], fail: Fail) -> None:
    """Reject attributes that are no knob of ``known`` (RLlib's ``update_from_dict``
    accepts any key silently, docs/rllib_internals.md)."""
    known = set(known) | {"class"}  # RLlib's from_state() leaves "class"
    for key in vars(config):
        if key not in known and not key.startswith("__"):  # "__...__": Tune's own keys
            fail(f"unknown config key {key!r}; {key_hint(key, known)}")


def _range(knob: Knob) -> str:
    rng = knob.valid_range()
    return f" (valid range {rng})" if rng else ""


def check_knob(knob: Knob, value: Any, fail: Fail, types=None) -> None:
    """Type (from the knob's annotation, or ``types``), choices, then bounds."""
    types = types or KNOB_TYPES[knob.name]
    if (isinstance(value, bool) and bool not in types) or not isinstance(value, types):
        fail(f"{knob.name} must be {type_names(types)}{_range(knob)}, got {value!r} "
             f"({type(value).__name__})")
    if knob.choices is not None and value not in knob.choices:
        fail(f"{knob.name}={value!r} is not valid; choose one of "
             f"{', '.join(repr(c) for c in knob.choices)}{did_you_mean(value, knob.choices)}")
    bound = knob.bound_error(value)
    if bound:
        fail(bound)


def check_knobs(config, fail: Fail) -> None:
    for knob in KNOBS:
        check_knob(knob, getattr(config, knob.name), fail)


def check_rllib_knobs(config, defaults, fail: Fail) -> None:
    """RLlib's own attributes that IStar reads (types and bounds, RLLIB_KNOBS), and the
    ones it does not read set away from ``defaults`` (an IStarConfig as built)."""
    for name, (knob, types) in RLLIB_KNOBS.items():
        value = getattr(config, name)
        if name == "lr" and isinstance(value, list):
            _check_schedule(name, value, fail)
            continue
        check_knob(knob, value, fail, types)
    for name, instead in RLLIB_UNUSED.items():
        if getattr(config, name, None) != getattr(defaults, name, None):
            fail(f"{name}={getattr(config, name)!r} is an RLlib setting IStar does not use; "
                 f"{instead}")


def _check_schedule(name: str, value: list, fail: Fail) -> None:
    """RLlib's piecewise schedule: ``[[timestep, value], ...]``, timesteps from 0, up."""
    ok = value and all(isinstance(p, (list, tuple)) and len(p) == 2 and
                       all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in p)
                       for p in value)
    if not ok or value[0][0] != 0 or any(a[0] >= b[0] for a, b in zip(value, value[1:])) \
            or any(p[1] <= 0 for p in value):
        fail(f"{name} schedule must be [[0, {name}0], [timestep, {name}1], ...] with rising "
             f"timesteps from 0 and every {name} > 0, got {value!r}")


def check_rllib_key_type(key: str, value: Any, defaults, fail: Fail) -> None:
    """A YAML or dict value for one of RLlib's own keys that IStar does not read, against
    the type of its default in ``defaults`` (a fresh config): RLlib type-checks none of
    them, and ``update_from_dict`` would store a slip such as ``"2"`` silently. Called
    before the value is set (the keys IStar reads are checked with their ranges by
    :func:`check_rllib_knobs`)."""
    if key in RLLIB_KNOBS:
        return
    default = vars(defaults).get(key)
    if isinstance(default, bool):
        if not isinstance(value, bool):
            fail(f"{key} must be true or false, got {value!r}")
    elif isinstance(default, (int, float)) and isinstance(value, (str, bool, dict)):
        fail(f"{key} must be a number, got {value!r} ({type(value).__name__})")
