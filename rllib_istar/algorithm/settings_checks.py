"""Settings that are valid alone but impossible together: a list of named checks.

Each :class:`SettingsCheck` has a name, the rule in one line (docs/KNOBS.md "Settings
checked together" is rendered from :data:`SETTINGS_CHECKS`) and a function
``check(config, fail)`` that calls ``fail`` with a one-line message naming the problem
and the fix. ``IStarConfig.validate()`` runs them in order after the single-knob checks
(``validation.py``); ``rllib train`` reaches them through ``validate()`` too, so the
command line and the Python API refuse the same settings with the same words.
"""
from __future__ import annotations

import importlib.util
import os
from typing import Callable, NamedTuple, Optional

from rllib_istar.messages import VLLM_NO_IMAGES, did_you_mean

__all__ = ["SettingsCheck", "SETTINGS_CHECKS", "check_settings"]

Fail = Callable[[str], None]


class SettingsCheck(NamedTuple):
    """One cross-knob rule: ``check(config, fail)`` returns False to stop the later
    checks (they would fail on the same cause), anything else to go on."""

    name: str
    rule: str
    check: Callable[[object, Fail], Optional[bool]]


def check_settings(config, fail: Fail) -> None:
    """Run every :data:`SETTINGS_CHECKS` entry in order on ``config``."""
    for entry in SETTINGS_CHECKS:
        if entry.check(config, fail) is False:
            return


# --------------------------------------------------------------- the checks
def env_is_registered(config, fail: Fail) -> None:
    from rllib_istar.envs import registered_env_ids

    if not config.env:
        fail("no env set; use .environment('rllib_istar/KeyCorridor-v0') or "
             f"env: in the YAML (registered: {', '.join(registered_env_ids())})")
    elif isinstance(config.env, str) and config.env not in registered_env_ids():
        fail(f"unknown env {config.env!r}{did_you_mean(config.env, registered_env_ids())}; "
             f"registered: {', '.join(registered_env_ids())}; for your own env call "
             "register_text_env first (rllib: --import MODULE, the module that calls it)")


def estimator_resolves(config, fail: Fail) -> bool:
    try:
        config.estimator
    except ValueError as e:
        fail(str(e))
        return False
    return True


def prm_estimator_has_a_prm(config, fail: Fail) -> None:
    if config.estimator.prm_loss and config.prm_mode == "none":
        fail(f"advantage_estimator {config.advantage_estimator} needs the PRM but prm_mode is "
             "'none'; set prm_mode: full (or lora), or pick an outcome-only estimator "
             "(rloo, grpo, reinforce_pp)")


def token_advantages_have_token_ratios(config, fail: Fail) -> None:
    if config.estimator.token_level and config.ratio_level in ("step", "step_product"):
        fail(f"{config.advantage_estimator}/{config.ablation} gives token-level advantages; "
             "set ratio_level: token (or auto)")


def whole_groups_per_learner(config, fail: Fail) -> None:
    if config.num_learners > 1 and config.num_groups < config.num_learners:
        fail(f"num_groups={config.num_groups} < num_learners={config.num_learners}: "
             "each learner needs whole groups")


def whole_groups_per_env_runner(config, fail: Fail) -> None:
    if config.num_env_runners > config.num_groups:
        fail(f"num_env_runners={config.num_env_runners} > num_groups={config.num_groups}: "
             "each env runner samples whole groups; lower num_env_runners or raise num_groups")


def async_rollouts_have_remote_runners(config, fail: Fail) -> None:
    if config.rollout_mode == "async" and not config.in_evaluation and config.num_env_runners < 1:
        fail("rollout_mode 'async' samples on remote env runners while the learner trains, "
             "but num_env_runners is 0 (the local runner shares the learner's process); set "
             "num_env_runners >= 1 (.env_runners(num_env_runners=1)) or rollout_mode: sync")


def initial_reference_is_regularised(config, fail: Fail) -> None:
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


def gigpo_env_repeats_states(config, fail: Fail) -> None:
    from rllib_istar.envs.registry import text_env_class

    if not isinstance(config.env, str) or config.advantage_estimator != "gigpo":
        return
    env_cls = text_env_class(config.env)
    if env_cls is not None and not getattr(env_cls, "ANCHOR_STATES", True):
        fail(f"advantage_estimator gigpo needs repeated states, but {config.env} never "
             "revisits an observation (ANCHOR_STATES = False): every step would be its own "
             "anchor group; use istar_rloo, istar_grpo, rloo or grpo")


def image_env_has_a_vision_policy(config, fail: Fail) -> None:
    from rllib_istar.envs.images import config_gives_images

    env_cls, env_config = _resolved_env(config)
    if env_cls is None or not config_gives_images(env_cls, env_config):
        return
    if config.generation_backend == "vllm":
        fail(f"{config.env} observes images: {VLLM_NO_IMAGES} (or env_config observation: text)")
    if not _is_vision_spec(config.model_path):
        fail(f"{config.env} observes images, but model_path {config.model_path!r} is not a "
             "vision-language model; use model_path: tiny-vlm or a local Qwen2.5-VL / "
             "Qwen2-VL folder, or set env_config observation: text for a text model")


def episode_fits_history_and_minibatch(config, fail: Fail) -> None:
    env_cls, env_config = _resolved_env(config)
    if env_cls is None or not isinstance(env_config.get("max_steps"), int):
        return
    env_steps = env_config["max_steps"]
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


def stop_strings_and_prefix_are_text(config, fail: Fail) -> None:
    stops = config.stop_strings
    if stops is not None and (not stops or not all(isinstance(x, str) and x for x in stops)):
        fail(f"stop_strings must be null or a list of non-empty strings, got {stops!r}")
    if config.response_prefix is not None and not config.response_prefix:
        fail("response_prefix is the empty string; set null for none")


def autocast_has_float32_weights(config, fail: Fail) -> None:
    if config.autocast_dtype and config.model_dtype != "float32":
        fail(f"autocast_dtype={config.autocast_dtype!r} needs float32 master weights, but "
             f"model_dtype={config.model_dtype!r}; set model_dtype: float32")


def lora_is_available(config, fail: Fail) -> None:
    if config.policy_mode == "lora" and config.generation_backend == "vllm":
        fail("policy_mode 'lora' with generation_backend 'vllm' is not supported (vLLM "
             "would need the merged weights each sync); use policy_mode: full or backend 'hf'")
    if "lora" in (config.policy_mode, config.prm_mode) and importlib.util.find_spec("peft") is None:
        fail("policy_mode/prm_mode 'lora' needs peft: pip install 'rllib_istar[lora]'")


def vllm_is_installed(config, fail: Fail) -> None:
    if config.generation_backend == "vllm" and importlib.util.find_spec("vllm") is None:
        fail("generation_backend 'vllm' needs vLLM: pip install 'rllib_istar[vllm]' on a "
             "GPU machine, or use 'hf'")


#: Every cross-knob rule, in the order ``validate()`` runs them.
SETTINGS_CHECKS = (
    SettingsCheck("env_is_registered", "`env` is set and registered (your own env: "
                  "`register_text_env`, or `--import MODULE` on the command line).",
                  env_is_registered),
    SettingsCheck("estimator_resolves", "`advantage_estimator` with `ablation` names an "
                  "estimator (the later checks read it).", estimator_resolves),
    SettingsCheck("prm_estimator_has_a_prm", "A PRM estimator needs `prm_mode` other than "
                  "`none`.", prm_estimator_has_a_prm),
    SettingsCheck("token_advantages_have_token_ratios", "Token-level advantages (`prime`, "
                  "`token_level_pr`) need `ratio_level` `token` or `auto`.",
                  token_advantages_have_token_ratios),
    SettingsCheck("whole_groups_per_learner", "`num_groups` >= `num_learners` when "
                  "`num_learners` > 1 (each learner needs whole groups).",
                  whole_groups_per_learner),
    SettingsCheck("whole_groups_per_env_runner", "`num_env_runners` <= `num_groups` (each "
                  "env runner samples whole groups).", whole_groups_per_env_runner),
    SettingsCheck("async_rollouts_have_remote_runners", "`rollout_mode: async` needs "
                  "`num_env_runners` >= 1 (the local runner shares the learner's process).",
                  async_rollouts_have_remote_runners),
    SettingsCheck("initial_reference_is_regularised", "`prm_reference: initial` needs "
                  "`kl_coef` > 0; an `initial` reference (scoring or DPO) needs `prm_init: "
                  "null`.", initial_reference_is_regularised),
    SettingsCheck("gigpo_env_repeats_states", "`gigpo` needs an env whose states repeat "
                  "(not `ANCHOR_STATES = False`, e.g. Social-v0).", gigpo_env_repeats_states),
    SettingsCheck("image_env_has_a_vision_policy", "An env observing images needs a "
                  "vision-language `model_path` and `generation_backend: hf`.",
                  image_env_has_a_vision_policy),
    SettingsCheck("episode_fits_history_and_minibatch", "`history_length` <= the episode's "
                  "steps, min(env `max_steps`, `max_episode_steps`); `minibatch_size` <= "
                  "`num_groups` x `group_size` x the episode's steps (the largest batch).",
                  episode_fits_history_and_minibatch),
    SettingsCheck("stop_strings_and_prefix_are_text", "`stop_strings` is null or non-empty "
                  "strings; `response_prefix` is null or non-empty.",
                  stop_strings_and_prefix_are_text),
    SettingsCheck("autocast_has_float32_weights", "`autocast_dtype` needs `model_dtype: "
                  "float32`.", autocast_has_float32_weights),
    SettingsCheck("lora_is_available", "`policy_mode: lora` does not go with "
                  "`generation_backend: vllm`; LoRA needs peft installed.", lora_is_available),
    SettingsCheck("vllm_is_installed", "`generation_backend: vllm` needs vLLM installed.",
                  vllm_is_installed),
)


# --------------------------------------------------------------- helpers
def _is_vision_spec(spec) -> bool:
    """Whether a ``model_path`` setting names a vision-language model; True when it cannot
    tell without loading (a missing folder is reported when the model loads)."""
    from rllib_istar.lm.loading import is_tiny_spec
    from rllib_istar.lm.vision import is_vision_model_path

    if is_tiny_spec(spec):
        return str(spec).strip().startswith("tiny-vlm")
    path = os.path.abspath(os.path.expanduser(str(spec)))
    if os.path.isdir(path):
        return is_vision_model_path(path)
    from rllib_istar.lm.pretrained import lookup

    return lookup(str(spec)) is None  # the registered pretrained models are text models


def _resolved_env(config):
    """``(TextEnv class, its resolved env_config)`` of ``config.env``, without building the
    env; ``(None, None)`` for an env that is not a registered TextEnv id (a creator
    callable) or an ``env_config`` that does not resolve (reported when the env is built)."""
    from rllib_istar.envs.registry import text_env_class

    if not isinstance(config.env, str):
        return None, None
    env_cls = text_env_class(config.env)
    if env_cls is None:
        return None, None
    try:
        return env_cls, env_cls.resolve_config(dict(config.env_config or {}))
    except Exception:
        return None, None
