"""``HFJudge``: a local causal LM scores each dimension with the rubric prompt.

For each requested dimension the prompt is :func:`~.base.rubric` plus
``rate <Name> on <dimension> from <lo> to <hi>`` and ``score``. Two modes:

* ``"expectation"`` (default): the expected score under the model's distribution over
  the integer candidates ``lo..hi`` (renormalised, ``hf.candidate_distribution``), so
  the score lies in range by construction and is deterministic.
* ``"generate"``: greedy generation; the first integer of the text, clamped into range;
  no integer raises :class:`~.base.JudgeParseError`.
"""
from __future__ import annotations

import os
import re
from typing import Sequence

from .. import phrases as P
from ..dialogue import Transcript
from ..hf import LocalLM, candidate_distribution, generate_text, load_local_lm
from ..scenarios import Scenario
from .base import (
    DIMENSIONS,
    GOAL_ONLY,
    Judge,
    JudgeParseError,
    check_dimensions,
    rubric,
)

__all__ = ["HFJudge"]

_INT = re.compile(r"-?\d+")


class HFJudge(Judge):
    """A judge backed by a local Hugging Face causal LM (see the module docstring)."""

    kind = "hf"

    def __init__(self, model: str | os.PathLike | LocalLM, *,
                 dimensions: Sequence[str] = GOAL_ONLY, mode: str = "expectation",
                 max_new_tokens: int = 8, model_id: str | None = None, dtype: str = "float32"):
        if mode not in ("expectation", "generate"):
            raise ValueError(f"HFJudge: mode must be 'expectation' or 'generate', got {mode!r}")
        self.dimensions = check_dimensions(dimensions)
        self.mode, self.max_new_tokens = mode, max_new_tokens
        self.lm = load_local_lm(model, dtype)
        if model_id is None:
            model_id = (os.fspath(model) if not isinstance(model, tuple) else
                        str(getattr(self.lm[0].config, "_name_or_path", "") or type(self.lm[0]).__name__))
        self.model_id = model_id

    def cache_identity(self) -> tuple[str, str]:
        return f"{self.kind}-{self.mode}", f"{self.model_id}|{','.join(self.dimensions)}"

    def prompt(self, scenario: Scenario, transcript: Transcript, agent: int, dimension: str) -> str:
        """The rubric prompt for one dimension."""
        lo, hi = DIMENSIONS[dimension]
        r = P.JUDGE_RUBRIC
        ask = r["ask"].format(name=scenario.name(agent), dimension=dimension, lo=lo, hi=hi)
        return "\n".join([rubric(scenario, transcript, agent), ask, r["score"]])

    def judge(self, scenario: Scenario, transcript: Transcript, agent: int) -> dict[str, float]:
        out = {}
        for dim in self.dimensions:
            lo, hi = DIMENSIONS[dim]
            text = self.prompt(scenario, transcript, agent, dim)
            if self.mode == "expectation":
                values = list(range(lo, hi + 1))
                probs = candidate_distribution(self.lm, text, [str(v) for v in values])
                score = sum(p * v for p, v in zip(probs, values))
            else:
                reply = generate_text(self.lm, text, max_new_tokens=self.max_new_tokens)
                m = _INT.search(reply)
                if m is None:
                    one = " ".join(reply.split())[:60]
                    raise JudgeParseError(f"HFJudge({self.model_id}): no integer score for "
                                          f"{dim!r} in the reply {one!r}; use mode='expectation'")
                score = int(m.group(0))
            out[dim] = float(min(hi, max(lo, score)))
        return out
