"""The :class:`~rllib_istar.envs.base.TextEnv` contract, checked cheaply (docs/ENV_CONTRACT.md).

Two kinds of check, both raising :class:`TextEnvContractError` with one line
that names the user's class, the offending member, its ``file:line`` and the fix:

* :func:`check_text_env_class` runs when ``register_text_env`` is given a
  ``TextEnv`` subclass, without building it: the required hooks are overridden,
  every hook accepts the arguments the base passes it, no member shadows a
  reserved name (see :func:`reserved_names`), ``DEFAULT_CONFIG`` holds the shared
  keys and ``PROMPT`` is a ``PromptTemplate``.
* :func:`check_reset_task`, :func:`check_apply`, :func:`check_noop` and
  :func:`check_oracle_label` run inside ``TextEnv.reset`` / ``step`` on what the
  hooks returned: a few ``isinstance`` checks, the message is built only on failure.

This module does not import :mod:`.base` (``base`` imports it); the class checks
take the base class as an argument. No Ray import.
"""
from __future__ import annotations

import inspect
import numbers
import os
import re
from typing import Any, Iterable

import numpy as np

from .parsing import ACTION_FORMATS
from .templates import PromptTemplate

__all__ = ["TextEnvContractError", "CONTRACT_DOC", "REQUIRED_HOOKS", "OPTIONAL_HOOKS",
           "CLASS_SETTINGS", "HOOK_CALLS", "reserved_names", "check_text_env_class",
           "check_reset_task", "check_apply", "check_noop", "check_oracle_label"]

#: Where the contract is written down (every message points there).
CONTRACT_DOC = "docs/ENV_CONTRACT.md"

#: Hooks a subclass must override (the base raises ``NotImplementedError``).
REQUIRED_HOOKS = ("admissible_actions", "reset_task", "apply_action", "noop")
#: Methods a subclass may override (``__init__``, ``reset``, ``step``, ``render``,
#: ``close``, ``validate_config`` and ``step_info`` must call ``super()``).
OPTIONAL_HOOKS = ("__init__", "extra_vocabulary", "validate_config", "max_obs_chars", "observation_charset",
                  "task_id", "oracle_step_label", "oracle_action_labels", "reject_action",
                  "format_example_action",
                  "step_info", "render_prompt", "reset", "step", "render", "close")
#: Class attributes a subclass sets (``PROMPT``) or may override.
CLASS_SETTINGS = ("DEFAULT_CONFIG", "PROMPT", "MAX_OBS_CHARS", "ANCHOR_STATES", "metadata")

#: How the base calls each hook: (positional arguments, keyword arguments, call text).
HOOK_CALLS: dict[str, tuple[int, tuple[str, ...], str]] = {
    "extra_vocabulary": (0, (), "cls.extra_vocabulary() -> list[str] (a @classmethod)"),
    "admissible_actions": (0, (), "admissible_actions() -> list[str]"),
    "reset_task": (2, (), "reset_task(task_seed, options) -> obs: str"),
    "apply_action": (1, (), "apply_action(action) -> (obs: str, reward: float, terminated: bool, won: bool)"),
    "noop": (0, (), "noop() -> (obs: str, reward: float)"),
    "__init__": (1, (), "__init__(env_config=None, **kwargs) calling super().__init__"),
    "validate_config": (1, (), "validate_config(cfg) calling super().validate_config(cfg)"),
    "max_obs_chars": (0, (), "max_obs_chars() -> int"),
    "observation_charset": (0, (), "observation_charset() -> str"),
    "task_id": (0, (), "task_id() -> str"),
    "oracle_step_label": (1, (), "oracle_step_label(action) -> float or None"),
    "oracle_action_labels": (0, (), "oracle_action_labels() -> {action: +1/-1/0} or None"),
    "reject_action": (1, (), "reject_action(action) -> str (why it is invalid) or None"),
    "format_example_action": (1, (), "format_example_action(rng: random.Random) -> str"),
    "step_info": (1, (), "step_info(parsed) -> dict calling super().step_info(parsed)"),
    "render_prompt": (2, (), "render_prompt(observation, history) -> str"),
    "reset": (0, ("seed", "options"), "reset(*, seed=None, options=None) -> (obs, info)"),
    "step": (1, (), "step(action_text) -> (obs, reward, terminated, truncated, info)"),
    "render": (0, (), "render()"),
    "close": (0, (), "close()"),
}

_BOOLS = (bool, np.bool_)


class TextEnvContractError(TypeError):
    """A ``TextEnv`` subclass breaks the contract; the message is one line with the fix."""


# ---------------------------------------------------------------- locations
def _short_path(path: str) -> str:
    """``path`` relative to the working folder when inside it, else as is."""
    try:
        rel = os.path.relpath(path)
    except ValueError:  # another drive (Windows)
        return path
    return path if rel.startswith("..") else rel


def _class_location(cls: type) -> str:
    try:
        _, line = inspect.getsourcelines(cls)
        return f"{_short_path(inspect.getsourcefile(cls) or '?')}:{line}"
    except (OSError, TypeError):
        module = inspect.getmodule(cls)
        return f"{_short_path(getattr(module, '__file__', None) or '?')}:?"


def _owner(cls: type, name: str) -> type | None:
    """The class in ``cls``'s MRO that defines ``name``."""
    return next((k for k in cls.__mro__ if name in vars(k)), None)


def _function_of(raw: Any):
    if isinstance(raw, (classmethod, staticmethod)):
        raw = raw.__func__
    elif isinstance(raw, property):
        raw = raw.fget
    return inspect.unwrap(raw) if callable(raw) else None


def _member_location(cls: type, name: str) -> str:
    """``file:line`` of the member ``name`` as ``cls`` sees it (its class's line if unknown)."""
    owner = _owner(cls, name) or cls
    func = _function_of(vars(owner)[name]) if name in vars(owner) else None
    code = getattr(func, "__code__", None)
    if code is not None:
        return f"{_short_path(code.co_filename)}:{code.co_firstlineno}"
    try:  # a plain attribute: the line that assigns it in its class body
        lines, start = inspect.getsourcelines(owner)
        pattern = re.compile(rf"^\s*{re.escape(name)}\s*[:=]")
        for i, text in enumerate(lines):
            if pattern.match(text):
                return f"{_short_path(inspect.getsourcefile(owner) or '?')}:{start + i}"
    except (OSError, TypeError):
        pass
    return _class_location(owner)


def _fail(cls: type, member: str | None, problem: str, fix: str) -> TextEnvContractError:
    where = _member_location(cls, member) if member else _class_location(cls)
    name = f"{cls.__name__}.{member}" if member else cls.__name__
    text = f"{name} ({where}): {problem}; {fix}; see {CONTRACT_DOC}"
    return TextEnvContractError(" ".join(text.split()))


def _short_repr(value: Any, limit: int = 80) -> str:
    try:
        text = repr(value)
    except Exception:  # a broken __repr__ must not hide the contract error
        text = f"<{type(value).__name__}>"
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "..."


# ------------------------------------------------------- registration checks
def reserved_names(base: type) -> tuple[str, ...]:
    """Names a subclass must not define (sorted): what the base class, or gymnasium's
    ``Env`` above it, defines and is no hook, plus ``base.RESERVED_ATTRIBUTES`` (what
    ``__init__``/``reset``/``step`` set on every instance)."""
    hooks = (set(REQUIRED_HOOKS) | set(OPTIONAL_HOOKS) | set(CLASS_SETTINGS)
             | set(getattr(base, "OLD_HOOK_NAMES", {})))  # the old names, for one release
    names: set[str] = set()
    for klass in base.__mro__:
        if klass is object or klass.__module__ == "typing":
            continue
        names.update(n for n in vars(klass) if not (n.startswith("__") and n.endswith("__")))
    return tuple(sorted((names - hooks) | set(getattr(base, "RESERVED_ATTRIBUTES", ()))))


def _subclass_layers(cls: type, base: type) -> Iterable[type]:
    """The classes of ``cls``'s MRO that come before ``base`` (the user's own code)."""
    for klass in cls.__mro__:
        if klass is base:
            return
        yield klass


def _check_required(cls: type, base: type) -> None:
    for name in REQUIRED_HOOKS:
        if _owner(cls, name) in (None, base):
            _, _, call = HOOK_CALLS[name]
            raise _fail(cls, None, f"the required hook {name} is not defined",
                        f"add {call}")


def _check_arity(cls: type, base: type) -> None:
    layers = tuple(_subclass_layers(cls, base))
    for name, (npos, kwargs, call) in HOOK_CALLS.items():
        owner = _owner(cls, name)
        if owner not in layers:  # the base's own (or gymnasium's) version
            continue
        raw = vars(owner)[name]
        if isinstance(raw, property) or not callable(_function_of(raw) or raw):
            raise _fail(cls, name, f"is {_short_repr(raw)}, not a method",
                        f"define it as {call}")
        if isinstance(raw, staticmethod):
            target, lead = raw.__func__, ()
        elif isinstance(raw, classmethod):
            target, lead = raw.__func__, (cls,)
        elif inspect.isfunction(raw):
            if name == "extra_vocabulary":
                raise _fail(cls, name, "is an instance method but vocabulary() calls it on "
                                       "the class", "decorate it with @classmethod")
            target, lead = raw, (None,)
        else:  # another callable object: called as it is
            target, lead = raw, ()
        try:
            sig = inspect.signature(target)
        except (TypeError, ValueError):  # builtins without a signature: trust them
            continue
        try:
            sig.bind(*lead, *([None] * npos), **{k: None for k in kwargs})
        except TypeError as e:
            raise _fail(cls, name, f"has the signature {name}{sig} "
                                   f"but the base calls it as {call.split(' ->')[0]} ({e})",
                        f"define it as {call}") from None


def _check_reserved(cls: type, base: type) -> None:
    reserved = set(reserved_names(base))
    attributes = set(getattr(base, "RESERVED_ATTRIBUTES", ()))
    for klass in _subclass_layers(cls, base):
        for name in vars(klass):
            if name not in reserved:
                continue
            what = ("sets it on every instance" if name in attributes
                    else f"defines {name} and calls or reads it")
            prefix = cls.__name__.lower().removesuffix("env") or "my"
            raise _fail(cls, name, f"shadows the reserved name {name!r} (TextEnv {what}, "
                                   "so the base and your member overwrite each other)",
                        f"rename yours, e.g. to _{prefix}_{name.lstrip('_')}")


def _check_default_config(cls: type) -> None:
    cfg = getattr(cls, "DEFAULT_CONFIG", None)
    fix = ("set DEFAULT_CONFIG = {'action_format': 'tags' or 'bare', 'max_steps': N, "
           "...your keys}")
    if not isinstance(cfg, dict):
        raise _fail(cls, "DEFAULT_CONFIG", f"is {_short_repr(cfg)}, not a dict", fix)
    bad = sorted(repr(k) for k in cfg if not isinstance(k, str))
    if bad:
        raise _fail(cls, "DEFAULT_CONFIG", f"has non-string key(s) {', '.join(bad)}",
                    "use string keys (they are env_config keys)")
    missing = [k for k in ("action_format", "max_steps") if k not in cfg]
    if missing:
        raise _fail(cls, "DEFAULT_CONFIG", f"lacks the shared key(s) {missing} that "
                                           "TextEnv reads", fix)
    if cfg["action_format"] not in ACTION_FORMATS:
        raise _fail(cls, "DEFAULT_CONFIG", f"has action_format={cfg['action_format']!r}",
                    f"use one of {list(ACTION_FORMATS)}")
    steps = cfg["max_steps"]
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise _fail(cls, "DEFAULT_CONFIG", f"has max_steps={steps!r}", "use an int >= 1")


def _check_settings(cls: type) -> None:
    prompt = getattr(cls, "PROMPT", None)
    fix = "set PROMPT = PromptTemplate(instruction='...') (from rllib_istar.envs)"
    if prompt is None:
        raise _fail(cls, None, "PROMPT is not set", fix)
    if not isinstance(prompt, PromptTemplate):
        raise _fail(cls, "PROMPT", f"is {_short_repr(prompt)}, not a PromptTemplate", fix)
    limit = getattr(cls, "MAX_OBS_CHARS", None)
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise _fail(cls, "MAX_OBS_CHARS", f"is {_short_repr(limit)}", "use an int >= 1")
    meta = getattr(cls, "metadata", None)
    if not isinstance(meta, dict) or not isinstance(meta.get("render_modes"), (list, tuple)):
        raise _fail(cls, "metadata", f"is {_short_repr(meta)}",
                    "use a dict with a 'render_modes' list, e.g. {'render_modes': ['ansi']}")


def check_text_env_class(cls: type, base: type) -> None:
    """Check the ``base`` subclass ``cls`` against the contract, without building it.

    Raises:
        TextEnvContractError: the first problem found, in one line with the fix.
    """
    if not (isinstance(cls, type) and issubclass(cls, base)):
        raise TypeError(f"{cls!r} is not a subclass of {base.__name__}")
    _check_required(cls, base)
    _check_arity(cls, base)
    _check_reserved(cls, base)
    _check_default_config(cls)
    _check_settings(cls)


# ------------------------------------------------------------ run-time checks
def _is_number(x: Any) -> bool:
    return type(x) in (float, int) or isinstance(x, numbers.Real)


def _returned(env: Any, hook: str, value: Any, detail: str = "") -> TextEnvContractError:
    cls = type(env)
    _, _, call = HOOK_CALLS[hook]
    got = f"returned {_short_repr(value)} ({type(value).__name__}{detail})"
    return _fail(cls, hook, got, f"the contract is {call}")


def _tuple_problem(value: Any, fields: tuple[tuple[str, Any], ...]) -> str | None:
    """Why ``value`` is not a tuple of ``fields`` ((name, check)); None when it is."""
    if not isinstance(value, tuple):
        return ""
    if len(value) != len(fields):
        return f" of {len(value)}, expected {len(fields)}"
    for (field, ok), item in zip(fields, value):
        if not ok(item):
            return f"; its {field} is {_short_repr(item, 30)} ({type(item).__name__})"
    return None


_APPLY_FIELDS = (("obs", lambda x: isinstance(x, str)), ("reward", _is_number),
                 ("terminated", lambda x: isinstance(x, _BOOLS)),
                 ("won", lambda x: isinstance(x, _BOOLS)))
_NOOP_FIELDS = _APPLY_FIELDS[:2]


def check_reset_task(env: Any, obs: Any) -> str:
    """``obs`` if it is a ``str``, else :class:`TextEnvContractError`."""
    if isinstance(obs, str):
        return obs
    raise _returned(env, "reset_task", obs)


def check_apply(env: Any, result: Any) -> tuple:
    """``result`` if it is ``(obs: str, reward: number, terminated: bool, won: bool)``."""
    if (type(result) is tuple and len(result) == 4 and isinstance(result[0], str)
            and _is_number(result[1]) and isinstance(result[2], _BOOLS)
            and isinstance(result[3], _BOOLS)):
        return result
    problem = _tuple_problem(result, _APPLY_FIELDS)
    if problem is None:  # a tuple subclass (e.g. a NamedTuple) with the right fields
        return result
    raise _returned(env, "apply_action", result, problem)


def check_noop(env: Any, result: Any) -> tuple:
    """``result`` if it is ``(obs: str, reward: number)``."""
    if type(result) is tuple and len(result) == 2 and isinstance(result[0], str) \
            and _is_number(result[1]):
        return result
    problem = _tuple_problem(result, _NOOP_FIELDS)
    if problem is None:
        return result
    raise _returned(env, "noop", result, problem)


def check_oracle_label(env: Any, label: Any) -> Any:
    """``label`` if it is ``None`` or a number (NaN = unknown)."""
    if label is None or _is_number(label):
        return label
    raise _returned(env, "oracle_step_label", label)


def check_action_labels(env: Any, labels: Any) -> Any:
    """``labels`` if it is ``None`` or a dict of admissible action -> number."""
    if labels is None:
        return labels
    admissible = set(env.admissible_actions())
    if isinstance(labels, dict) and all(isinstance(a, str) and a in admissible and _is_number(v)
                                        for a, v in labels.items()):
        return labels
    raise _returned(env, "oracle_action_labels", labels)
