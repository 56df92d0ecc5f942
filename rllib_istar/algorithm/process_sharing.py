"""The local env runner's frozen policy base, held once with the learner's.

With ``num_env_runners: 0`` and a local learner (``num_learners: 0``) the env runner and
the learner live in the driver's process, and with ``policy_mode: lora`` both build the
same frozen base. :func:`share_local_runner_weights` points the runner's frozen
parameters at the learner policy's equal tensors (``lm/shared_weights.py``; where the
runner holds its weights in another dtype, e.g. bf16 for autocast, nothing is shared).
"""
from __future__ import annotations

from rllib_istar.lm.shared_weights import share_frozen_weights
from rllib_istar.rl_modules.specs import POLICY_ID

__all__ = ["share_local_runner_weights"]


def share_local_runner_weights(env_runner_group, learner_group) -> int:
    """Bytes of the local env runner's frozen policy weights now shared with the local
    learner's policy (0 without a local runner module or with remote learners)."""
    runner = env_runner_group.local_env_runner
    module = getattr(runner, "module", None)
    if module is None or not learner_group.is_local:
        return 0
    (result,) = learner_group.foreach_learner(
        lambda learner: share_frozen_weights(module, learner.module[POLICY_ID].unwrapped()))
    return int(result.get())  # RLlib's CallResult: raises the function's error, if any
