"""Model-aware defaults: the knobs whose right value depends on the model's size.

Each knob in :data:`MODEL_DEFAULTS` defaults to ``"auto"``. ``IStarConfig.validate()``
replaces an ``"auto"`` with the tiny models' value when ``model_path`` names a tiny model
built in code (``tiny``, ``tiny:...``, ``tiny-bpe``, ``tiny-vlm``: random weights, a
word-level vocabulary, seconds per iteration on a CPU), and with the checkpoint value for
any other model: the authors' scripts' value for 1.5-7B models where they give one (lr,
prm_lr, num_epochs, alpha), else this project's (group_size and num_groups 4 x 4,
max_new_tokens 8, no warm-up). It says so in one line (:func:`model_defaults_line`). A
value the user set is never changed; setting any of these knobs overrides its ``auto``.

The tiny values are the toy's tuned settings (tuned_examples/toy_istar_cpu.yaml,
docs/benchmarks/toy_sokoban.md "Tuning"), its 8 x 8 trajectories per iteration included, except
alpha: 0.03, not the toy's 0.1, because on the README's 2-step cue env (chance 0.5, 60
iterations, seeds 0 and 1) alpha 0.1 stayed at chance on both seeds, 0.03 learned on
both (last-10 success 0.93 and 0.96), and RLOO (alpha 0) learned on 3 of 3 earlier
(docs/DECISIONS.md, "Learning rates");
``format_warmup_steps`` teaches a random tiny model the action format before RL;
``max_new_tokens`` is 2 for the ``bare`` action format (one word and EOS) and 8 for
``tags``. ``gradient_checkpointing`` is on for a checkpoint: on SmolLM2-135M (the tuned
toy YAMLs, 2 CPU cores) it took the process's peak RSS from 8.1 to 3.8 GiB for 12% more
time per iStar iteration (25% for RLOO), and a tiny model's activations are too small
to pay for the recompute (docs/benchmarks/cost.md "The real model's time and memory").
"""
from __future__ import annotations

import logging
from typing import Any, Dict, Optional, Tuple

#: IStarConfig.validate() announces the resolved knobs here (rllib train prints them itself)
logger = logging.getLogger(__name__)

AUTO = "auto"

#: knob -> (value for a tiny model, value for a pretrained checkpoint)
MODEL_DEFAULTS: Dict[str, Tuple[Any, Any]] = {
    "lr": (1e-3, 1e-6),
    "prm_lr": (3e-4, 1e-6),
    "num_epochs": (3, 1),
    "step_advantage_weight": (0.03, 1.0),
    "format_warmup_steps": (150, 0),
    "max_new_tokens": (2, 8),
    "group_size": (8, 4),
    "num_groups": (8, 4),
    "gradient_checkpointing": (False, True),
}
#: a tiny model's max_new_tokens for an env whose action_format is "tags" (think + action)
TINY_TAGS_MAX_NEW_TOKENS = 8


def is_tiny_model(model_path: Any) -> bool:
    """Whether ``model_path`` names a tiny model built in code (``lm.loading.is_tiny_spec``)."""
    from rllib_istar.lm.loading import is_tiny_spec

    return is_tiny_spec(model_path)


def _action_format(env: Any, env_config: Optional[dict]) -> Optional[str]:
    """The ``action_format`` a registered TextEnv resolves ``env_config`` to; None when the
    env is not a registered TextEnv class (a creator callable, an unknown id)."""
    if not isinstance(env, str):
        return None
    from rllib_istar.envs.registry import registered_env_ids, text_env_class

    if env not in registered_env_ids():
        return None  # an unknown id is reported, with the known ones, where the env is built
    env_cls = text_env_class(env)
    if env_cls is None:
        return None
    try:
        return env_cls.resolve_config(env_config or {}).get("action_format")
    except ValueError:
        return None  # a bad env_config is reported by validation, with its fix


def model_default_values(model_path: Any, env: Any = None,
                         env_config: Optional[dict] = None) -> Dict[str, Any]:
    """What every ``"auto"`` knob resolves to for ``model_path`` (and the env's format)."""
    tiny = is_tiny_model(model_path)
    values = {name: pair[0] if tiny else pair[1] for name, pair in MODEL_DEFAULTS.items()}
    if tiny and _action_format(env, env_config) == "tags":
        values["max_new_tokens"] = TINY_TAGS_MAX_NEW_TOKENS
    return values


def resolve_model_defaults(config) -> Dict[str, Any]:
    """Set every knob of ``config`` that holds ``"auto"`` to its model's value; returns
    ``{knob: value}`` for the knobs it set (empty when none held ``"auto"``)."""
    autos = [name for name in MODEL_DEFAULTS if getattr(config, name, None) == AUTO]
    if not autos:
        return {}
    values = model_default_values(config.model_path, config.env, config.env_config)
    for name in autos:
        setattr(config, name, values[name])
    return {name: values[name] for name in autos}


def model_defaults_line(model_path: Any, applied: Dict[str, Any]) -> Optional[str]:
    """The one line that announces the resolved ``"auto"`` knobs; None when none was."""
    if not applied:
        return None
    kind = "tiny model" if is_tiny_model(model_path) else "checkpoint"
    settings = ", ".join(f"{name} {value:g}" if isinstance(value, float) else f"{name} {value}"
                         for name, value in applied.items())
    return (f"defaults for the {kind} {model_path!r}: {settings} "
            "(set any of them to override; docs/KNOBS.md)")


def with_model_defaults(config):
    """``config`` itself when no knob holds ``"auto"`` (a validated config), else a copy with
    them resolved, unannounced: for parts built from a config nobody validated (an env
    runner made by hand)."""
    if not any(getattr(config, name, None) == AUTO for name in MODEL_DEFAULTS):
        return config
    resolved = config.copy(copy_frozen=False)
    resolve_model_defaults(resolved)
    return resolved
