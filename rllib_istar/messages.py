"""Pieces of one-line error messages shared by the config and the command line.

No Ray import: ``IStarConfig`` (``istar.py``) and ``rllib train``
(``cli_experiments.py``) both phrase "did you mean ...?" and type names with these.
"""
from __future__ import annotations

import difflib
from typing import Any, Iterable, Optional

# Names users bring from other libraries (RLlib's old stack, TRL, verl, CleanRL, papers)
# -> IStarConfig's name. Consulted before spelling similarity: "learning_rate" is 'lr',
# not the nearest spelling 'learning_starts'.
ALIASES = {
    "learning_rate": "lr", "lr_rate": "lr", "policy_lr": "lr", "actor_lr": "lr",
    "prm_learning_rate": "prm_lr", "reward_lr": "prm_lr", "rm_lr": "prm_lr",
    "batch_size": "num_groups", "train_batch_size": "num_groups", "n_tasks": "num_groups",
    "mini_batch_size": "minibatch_size", "sgd_minibatch_size": "minibatch_size",
    "ppo_mini_batch_size": "minibatch_size", "micro_batch_size": "microbatch_size",
    "n_epochs": "num_epochs", "epochs": "num_epochs", "num_sgd_iter": "num_epochs",
    "ppo_epochs": "num_epochs", "num_ppo_epochs": "num_epochs",
    "gamma": "gigpo_gamma", "discount": "gigpo_gamma",
    "kl": "kl_coef", "kl_coeff": "kl_coef", "beta_kl": "kl_coef", "kl_loss_coef": "kl_coef",
    "temp": "temperature", "sampling_temperature": "temperature",
    "entropy_coeff": "entropy_coef", "ent_coef": "entropy_coef",
    "clip": "clip_low", "clip_param": "clip_low", "clip_ratio": "clip_low",
    "clip_range": "clip_low", "cliprange": "clip_low", "epsilon": "clip_low",
    "clip_ratio_high": "clip_high", "clip_ratio_low": "clip_low",
    "max_grad_norm": "grad_clip", "grad_norm_clip": "grad_clip",
    "beta": "prm_beta", "dpo_beta": "prm_beta", "reward_beta": "prm_beta",
    "alpha": "step_advantage_weight", "step_weight": "step_advantage_weight",
    "num_generations": "group_size", "rollout_n": "group_size", "n_samples": "group_size",
    "group": "group_size", "num_trajectories": "group_size",
    "num_workers": "num_env_runners", "num_rollout_workers": "num_env_runners",
    "max_tokens": "max_new_tokens", "max_response_length": "max_new_tokens",
    "max_completion_length": "max_new_tokens", "response_length": "max_new_tokens",
    "max_length": "max_prompt_length", "prompt_length": "max_prompt_length",
    "adv_estimator": "advantage_estimator", "estimator": "advantage_estimator",
    "model": "model_path", "model_name": "model_path", "model_name_or_path": "model_path",
    "warmup_steps": "format_warmup_steps", "history": "history_length",
    "max_steps": "max_episode_steps", "invalid_penalty": "invalid_action_penalty",
}


def nearest(value: Any, valid: Iterable[Any], cutoff: float = 0.6) -> Optional[str]:
    """The name in ``valid`` that ``value`` means: its :data:`ALIASES` entry when that is
    valid, else the closest spelling (both compared as strings), or None."""
    names = [str(v) for v in valid]
    alias = ALIASES.get(str(value).lower().replace("-", "_"))
    if alias in names and alias != value:
        return alias
    near = difflib.get_close_matches(str(value), names, n=1, cutoff=cutoff)
    return near[0] if near else None


def did_you_mean(value: Any, valid: Iterable[Any], cutoff: float = 0.6) -> str:
    """``" (did you mean 'x'?)"`` for a near miss, else ``""``; for the end of a message."""
    near = nearest(value, valid, cutoff)
    return f" (did you mean {near!r}?)" if near is not None and near != value else ""


def hint(value: Any, valid: Iterable[Any], otherwise: str) -> str:
    """``"did you mean 'x'?"`` for a near miss, else ``otherwise``; for after a ``;``."""
    near = nearest(value, valid)
    return f"did you mean {near!r}?" if near is not None else otherwise


def type_names(types: Iterable[type]) -> str:
    """``(int, type(None))`` -> ``"int or null"`` (YAML spells None as null)."""
    return " or ".join("null" if t is type(None) else t.__name__ for t in types)
