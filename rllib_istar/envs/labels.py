"""Whether an env labels the admissible actions of its states (same-state credit).

An env opts in by overriding :meth:`~rllib_istar.envs.base.TextEnv.oracle_action_labels`;
the runner then records the labelled actions of every decisive state and the learner
keeps a frozen copy of the initial policy to split the step reward into its terms.
"""
from __future__ import annotations

from typing import Any

from .base import TextEnv

__all__ = ["gives_action_labels"]


def gives_action_labels(env_or_class: Any) -> bool:
    """True when the env (an instance or a class) overrides ``oracle_action_labels``.

    ```pycon
    >>> from rllib_istar.envs.credit_chain import CreditChainEnv
    >>> gives_action_labels(CreditChainEnv), gives_action_labels(TextEnv)
    (True, False)

    ```
    """
    cls = env_or_class if isinstance(env_or_class, type) else type(env_or_class)
    hook = getattr(cls, "oracle_action_labels", None)
    return hook is not None and hook is not TextEnv.oracle_action_labels
