"""Deferred episode outcomes: a final reward scored outside the env, once per rollout.

Some envs end an episode with a score that is expensive to compute one episode at a
time (an LLM judge behind an HTTP endpoint). Such an env implements three methods,
and the project's env runner (:class:`~rllib_istar.rollout.env_runner.LLMEnvRunner`)
then scores every episode of a ``sample()`` call in one batch:

* ``set_deferred_outcomes(enabled: bool)``: the runner calls it with True when it
  builds the env; from then on ``step`` returns the final step *without* the score.
* ``pop_pending_outcome() -> request | None``: after the episode ended, the opaque
  request describing it (returned once).
* ``score_pending_outcomes(requests: list) -> list[DeferredOutcome]``: scores a batch
  of requests (of envs with the same config), in order.

The runner adds each :class:`DeferredOutcome`'s ``reward`` to the episode's last step
reward (so ``outcome: return`` and the invalid-action penalty work unchanged), takes
its ``won`` as the episode's, and stores its ``info`` in the episode's custom data
(:data:`rllib_istar.columns.DEFERRED_INFO`). Without the runner (plain gymnasium) the
env scores inside ``step``. No Ray import.
"""
from __future__ import annotations

from typing import Any, NamedTuple

__all__ = ["DeferredOutcome", "supports_deferred_outcomes"]


class DeferredOutcome(NamedTuple):
    """The score of one finished episode."""

    reward: float       # added to the last step's reward
    won: bool           # the episode's success
    info: dict          # extra facts (e.g. the judge's scores), kept with the episode


def supports_deferred_outcomes(env: Any) -> bool:
    """Whether ``env`` implements the three methods of the module docstring."""
    return all(callable(getattr(env, name, None)) for name in
               ("set_deferred_outcomes", "pop_pending_outcome", "score_pending_outcomes"))
