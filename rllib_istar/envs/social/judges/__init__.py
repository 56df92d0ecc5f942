"""Judges: ``judge(scenario, transcript, agent) -> {"goal": 0..10, ...}``.

:class:`RuleJudge` (scenario criteria, deterministic), :class:`HFJudge` (a local HF
model, expectation over the score tokens), :class:`OpenAICompatibleJudge` (any
``/v1/chat/completions`` endpoint); wrap any of them in ``cache.CachedJudge``.
"""
from __future__ import annotations

from .base import (
    DIMENSIONS,
    GOAL_ONLY,
    Judge,
    JudgeError,
    JudgeParseError,
    JudgeRequest,
    JudgeUnreachableError,
    parse_scores,
    reward_from_scores,
    rubric,
)
from .hf import HFJudge
from .openai_compat import OpenAICompatibleJudge
from .rule import RuleJudge

__all__ = ["DIMENSIONS", "GOAL_ONLY", "Judge", "JudgeError", "JudgeParseError", "JudgeRequest",
           "JudgeUnreachableError", "parse_scores", "reward_from_scores", "rubric", "HFJudge",
           "OpenAICompatibleJudge", "RuleJudge"]
