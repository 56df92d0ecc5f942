"""``IStarConfig.validate()``'s own checks: unknown keys, knob types, bounds and
choices (all from the knob declarations in ``knobs.py``), and settings that are
impossible together. Every failure is one line naming the problem and the fix.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable

from rllib_istar.algorithm.knobs import (
    KNOB_TYPES,
    KNOBS,
    RLLIB_KNOBS,
    RLLIB_UNUSED,
    Knob,
)
from rllib_istar.messages import did_you_mean, hint, type_names

Fail = Callable[[str], None]


def key_hint(key: str, valid: Iterable[str]) -> str:
    """``did you mean 'x'?`` for a near-miss config key, else where the knobs are listed."""
    return hint(key, valid, "see the knob list in help(rllib_istar.IStarConfig)")


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


def check_settings(config, fail: Fail) -> None:
    """Settings that are valid alone but impossible together (or with this machine)."""
    from rllib_istar.envs import registered_env_ids

    if not config.env:
        fail("no env set; use .environment('rllib_istar/KeyCorridor-v0') or "
             f"env: in the YAML (registered: {', '.join(registered_env_ids())})")
    elif isinstance(config.env, str) and config.env not in registered_env_ids():
        fail(f"unknown env {config.env!r}{did_you_mean(config.env, registered_env_ids())}; "
             f"registered: {', '.join(registered_env_ids())}; for your own env call "
             "register_text_env first (rllib: --import MODULE, the module that calls it)")
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
    if config.num_env_runners > config.num_groups:
        fail(f"num_env_runners={config.num_env_runners} > num_groups={config.num_groups}: "
             "each env runner samples whole groups; lower num_env_runners or raise num_groups")
    _check_prm_reference(config, fail)
    _check_against_env(config, fail)
    _check_precision_and_text(config, fail)
    if config.generation_backend == "vllm":
        import importlib.util

        if importlib.util.find_spec("vllm") is None:
            fail("generation_backend 'vllm' needs vLLM: pip install 'rllib_istar[vllm]' on a "
                 "GPU machine, or use 'hf'")


def _check_prm_reference(config, fail: Fail) -> None:
    """The ``initial`` PRM reference needs an explicit pull toward pi_init and a PRM that
    starts from the policy's checkpoint (docs/STEP_REWARDS.md)."""
    if not config.estimator.prm_loss:
        return
    if config.prm_reference == "initial" and config.kl_coef <= 0:
        fail("prm_reference='initial' drops the rolling reference's penalty on the policy's "
             "drift, and without it the policy degenerates (measured: invalid actions or a "
             "deterministic policy within 15 iterations); set kl_coef > 0 (0.2 measured "
             "stable) or prm_reference: rolling")
    if config.uses_initial_reference and config.prm_init is not None:
        fail("prm_reference/prm_dpo_reference 'initial' scores the PRM against the initial "
             "policy, which the PRM starts from only when prm_init is null; set prm_init: null "
             "or use the rolling reference")


def _check_precision_and_text(config, fail: Fail) -> None:
    """stop_strings / response_prefix shapes, autocast over float32 weights, LoRA deps."""
    stops = config.stop_strings
    if stops is not None and (not stops or not all(isinstance(x, str) and x for x in stops)):
        fail(f"stop_strings must be null or a list of non-empty strings, got {stops!r}")
    if config.response_prefix is not None and not config.response_prefix:
        fail("response_prefix is the empty string; set null for none")
    if config.autocast_dtype and config.model_dtype != "float32":
        fail(f"autocast_dtype={config.autocast_dtype!r} needs float32 master weights, but "
             f"model_dtype={config.model_dtype!r}; set model_dtype: float32")
    if config.policy_mode == "lora" and config.generation_backend == "vllm":
        fail("policy_mode 'lora' with generation_backend 'vllm' is not supported (vLLM "
             "would need the merged weights each sync); use policy_mode: full or backend 'hf'")
    if "lora" in (config.policy_mode, config.prm_mode):
        import importlib.util

        if importlib.util.find_spec("peft") is None:
            fail("policy_mode/prm_mode 'lora' needs peft: pip install 'rllib_istar[lora]'")


def _check_against_env(config, fail: Fail) -> None:
    """Settings that the env's ``max_steps`` makes impossible (built-in and registered
    TextEnv classes; a plain creator callable is not inspected)."""
    if not isinstance(config.env, str):
        return
    _check_anchor_states(config, fail)
    _check_image_inputs(config, fail)
    try:
        env_steps = _env_max_steps(config.env, dict(config.env_config or {}))
    except Exception:  # a bad env_config is reported when the env is built
        return
    if env_steps is None:
        return
    steps = min(env_steps, config.max_episode_steps)
    if config.history_length > steps:
        fail(f"history_length={config.history_length} > the episode's {steps} steps "
             f"(env max_steps {env_steps}, max_episode_steps {config.max_episode_steps}): the "
             f"prompt never holds more than {max(steps - 1, 0)} pairs; set history_length <= "
             f"{steps}")
    rows = config.num_groups * config.group_size * steps
    if config.minibatch_size is not None and config.minibatch_size > rows:
        fail(f"minibatch_size={config.minibatch_size} > the largest batch, num_groups x "
             f"group_size x {steps} steps = {rows} step rows; lower it or set null (the "
             "whole batch)")


def _check_anchor_states(config, fail: Fail) -> None:
    """GiGPO groups steps by identical observations; an env whose class says they never
    repeat (``TextEnv.ANCHOR_STATES = False``, e.g. Social-v0) gets no anchor groups."""
    from rllib_istar.envs.registry import text_env_class

    if config.advantage_estimator != "gigpo":
        return
    env_cls = text_env_class(config.env)
    if env_cls is not None and not getattr(env_cls, "ANCHOR_STATES", True):
        fail(f"advantage_estimator gigpo needs repeated states, but {config.env} never "
             "revisits an observation (ANCHOR_STATES = False): every step would be its own "
             "anchor group; use istar_rloo, istar_grpo, rloo or grpo")


def _check_image_inputs(config, fail: Fail) -> None:
    """An env observing pictures (``envs/images.py``) needs a vision-language policy
    (``lm/vision.py``) generated through the ``hf`` backend."""
    from rllib_istar.envs.images import config_gives_images
    from rllib_istar.envs.registry import text_env_class

    env_cls = text_env_class(config.env)  # the caller checked config.env is an id
    try:
        images = env_cls is not None and config_gives_images(
            env_cls, env_cls.resolve_config(dict(config.env_config or {})))
    except Exception:  # a bad env_config is reported when the env is built
        return
    if not images:
        return
    if config.generation_backend == "vllm":
        from rllib_istar.rollout.generation import VLLM_NO_IMAGES

        fail(f"{config.env} observes images: {VLLM_NO_IMAGES} (or env_config observation: text)")
    if not _is_vision_spec(config.model_path):
        fail(f"{config.env} observes images, but model_path {config.model_path!r} is not a "
             "vision-language model; use model_path: tiny-vlm or a local Qwen2.5-VL / "
             "Qwen2-VL folder, or set env_config observation: text for a text model")


def _is_vision_spec(spec) -> bool:
    """Whether a ``model_path`` setting names a vision-language model; True when it cannot
    tell without loading (a missing folder is reported when the model loads)."""
    import os

    from rllib_istar.lm.loading import is_tiny_spec
    from rllib_istar.lm.vision import is_vision_model_path

    if is_tiny_spec(spec):
        return str(spec).strip().startswith("tiny-vlm")
    path = os.path.abspath(os.path.expanduser(str(spec)))
    if os.path.isdir(path):
        return is_vision_model_path(path)
    from rllib_istar.lm.pretrained import lookup

    return lookup(str(spec)) is None  # the registered pretrained models are text models


def _env_max_steps(env_id: str, env_config: dict):
    """The ``max_steps`` a registered TextEnv class resolves ``env_config`` to, without
    building the env; None for a creator callable."""
    from rllib_istar.envs.registry import text_env_class

    env_cls = text_env_class(env_id)
    return None if env_cls is None else int(env_cls.resolve_config(env_config)["max_steps"])
