"""``HFPartner``: the other side played by a local causal LM (a frozen policy copy, a
tiny random model in tests, or any HF folder).

The prompt is the partner's :func:`~.dialogue.background`, the transcript as
``turn k Name said text`` lines and an open ``turn k Name said`` for the partner; the
reply is the first line of the generation, stripped of a leading ``Name said`` /
``Name:`` prefix and cut to ``max_chars``. Greedy by default; ``greedy=False`` samples
with a seed derived from ``seed`` and the transcript length (reproducible).
"""
from __future__ import annotations

import os

from .dialogue import Transcript, background, format_transcript
from .hf import LocalLM, first_line, generate_text, load_local_lm
from .partners import Partner
from .scenarios import Scenario

__all__ = ["HFPartner"]


class HFPartner(Partner):
    """A partner backed by a local Hugging Face causal LM."""

    def __init__(self, model: str | os.PathLike | LocalLM, *, max_new_tokens: int = 40,
                 max_chars: int = 300, greedy: bool = True, temperature: float = 1.0,
                 seed: int = 0, dtype: str = "float32"):
        self.lm = load_local_lm(model, dtype)
        self.max_new_tokens, self.max_chars = max_new_tokens, max_chars
        self.greedy, self.temperature, self.seed = greedy, temperature, seed

    def prompt(self, scenario: Scenario, transcript: Transcript, side: int) -> str:
        """The text the model continues."""
        return background(scenario, side) + "\n" + format_transcript(scenario, transcript, side)

    def reply(self, scenario: Scenario, transcript: Transcript, side: int) -> str:
        text = generate_text(self.lm, self.prompt(scenario, transcript, side),
                             max_new_tokens=self.max_new_tokens, greedy=self.greedy,
                             temperature=self.temperature, seed=self.seed + len(transcript))
        line = first_line(text, 10 * self.max_chars)
        name = scenario.name(side).lower()
        for prefix in (name + " said", name + ":"):
            if line.lower().startswith(prefix):
                line = line[len(prefix):].strip()
        return first_line(line, self.max_chars)
