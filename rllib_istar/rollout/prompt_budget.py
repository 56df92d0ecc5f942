"""Prompt construction with an explicit, counted truncation rule.

docs/algorithm.md "Objects": the prompt p_t is the task instruction, the last
``history_length`` (observation, action) pairs and the current observation,
rendered by the env's template, then tokenised (chat template if the tokenizer
has one).

Truncation rule when the prompt exceeds ``max_prompt_length`` tokens:

1. drop history pairs, oldest first, until it fits (each dropped pair is
   counted in ``history_dropped``);
2. if it still does not fit with no history at all, keep the *last*
   ``max_prompt_length`` tokens (the current observation, the format hint and
   the generation prompt live at the end) and set ``tokens_cut``.

Nothing raises: an over-long prompt is shortened and counted, never a crash.
"""
from __future__ import annotations

from typing import Callable, NamedTuple, Sequence


class Prompt(NamedTuple):
    ids: list[int]
    text: str
    history_dropped: int  # history pairs dropped to fit max_prompt_length
    tokens_cut: int       # prompt tokens cut from the front after that (0 if none)


def build_prompt(
    render: Callable[[str, list[tuple[str, str]]], str],
    encode: Callable[[str], list[int]],
    observation: str,
    history: Sequence[tuple[str, str]],
    history_length: int,
    max_prompt_length: int,
) -> Prompt:
    """Render and tokenise one prompt, applying the module's truncation rule.

    Args:
        render: ``env.render_prompt(observation, history) -> str``.
        encode: text -> prompt token ids (``models.encode_prompt`` bound to a tokenizer).
        observation: the current observation text.
        history: every (observation, action) pair so far, oldest first.
        history_length: how many of the latest pairs the template may show (H).
        max_prompt_length: the token budget for the prompt.

    Example: with H=2 and a budget that only fits one pair, the oldest of the
    two is dropped and ``history_dropped == 1``.
    """
    window = list(history[-history_length:]) if history_length > 0 else []
    dropped = 0
    while True:
        text = render(observation, window)
        ids = encode(text)
        if len(ids) <= max_prompt_length or not window:
            break
        window = window[1:]
        dropped += 1
    cut = max(0, len(ids) - max_prompt_length)
    if cut:
        ids = ids[cut:]
    return Prompt(ids=list(ids), text=text, history_dropped=dropped, tokens_cut=cut)
