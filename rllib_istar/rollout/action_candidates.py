"""The labelled actions of a decisive state, as response token ids (same-state credit).

At every step the runner asks the env for the oracle label of every admissible action
(:meth:`~rllib_istar.envs.base.TextEnv.oracle_action_labels`). Where the labels hold
both a right (+1) and a wrong (-1) action, each labelled action becomes its canonical
response (:func:`~rllib_istar.envs.parsing.format_response`, the text after any
``response_prefix``, then EOS), tokenised as the format warm-up does. The learner
scores every candidate at the step's prompt with each credit signal
(``learner/same_state_credit.py``).
"""
from __future__ import annotations

from typing import Callable, List, Optional, Tuple

from rllib_istar.envs.contract import check_action_labels
from rllib_istar.envs.parsing import format_response, response_after_prefix

__all__ = ["is_decisive", "response_ids_encoder", "action_candidates"]


def is_decisive(labels: Optional[dict]) -> bool:
    """True when ``labels`` ranks at least one right (+1) against one wrong (-1) action.

    >>> is_decisive({"red": 1.0, "blue": -1.0}), is_decisive({"red": 0.0, "blue": 0.0})
    (True, False)
    """
    values = set((labels or {}).values())
    return 1.0 in values and -1.0 in values


def response_ids_encoder(tokenizer, action_format: str,
                         response_prefix: Optional[str]) -> Callable[[str], List[int]]:
    """``action -> response ids``: the canonical response after ``response_prefix``,
    tokenised without special tokens, plus the tokenizer's EOS id when it has one."""
    eos = getattr(tokenizer, "eos_token_id", None)

    def encode(action: str) -> List[int]:
        text = response_after_prefix(format_response(action, action_format), response_prefix)
        return list(tokenizer.encode(text, add_special_tokens=False)) + ([eos] if eos is not None
                                                                       else [])
    return encode


def action_candidates(env, encode: Callable[[str], List[int]]
                      ) -> Tuple[List[List[int]], List[float]]:
    """``(response ids per labelled action, labels)`` at ``env``'s current state, sorted
    by action text; ``([], [])`` where the state is not decisive."""
    labels = check_action_labels(env, env.oracle_action_labels())
    if not is_decisive(labels):
        return [], []
    actions = sorted(labels)
    return [encode(a) for a in actions], [float(labels[a]) for a in actions]
