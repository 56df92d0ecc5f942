"""Building blocks of an offline social-dialogue environment (SOTOPIA-like).

Nothing here imports Ray; ``rllib_istar.lm`` is not imported
either (it is a higher import layer), local models load through ``transformers``.

* :mod:`.scenarios` (+ ``scenarios.json``, package data): 33 team-written scenarios
  (negotiation, persuasion, favour, secret), :func:`load_scenarios` with one-line
  schema errors, :func:`select_scenario` by seed, :func:`vocabulary`.
* :mod:`.dialogue`: transcripts (``[(side, text), ...]``), what a side sees
  (:func:`background`), ``turn k Name said text`` rendering, the utterance check and
  the termination rules.
* :mod:`.partners` (:class:`Partner`, :class:`ScriptedPartner`) and
  :mod:`.hf_partner` (:class:`HFPartner`).
* :mod:`.judges` (:class:`RuleJudge`, :class:`HFJudge`, :class:`OpenAICompatibleJudge`)
  and :mod:`.cache` (:class:`JudgeCache`, :class:`CachedJudge`). A local
  OpenAI-compatible fake server for the tests and the benchmark is a test double
  (``tests/doubles/fake_chat_server.py``).

The env built from these pieces is :class:`.env.SocialEnv` (``rllib_istar/Social-v0``;
its module docstring states the turn structure, what counts as invalid output, the
termination rules, the judged reward and the batched, deferred judge calls).
"""
from __future__ import annotations

from .cache import CachedJudge, JudgeCache, cache_key
from .dialogue import (
    MAX_UTTERANCE_CHARS,
    background,
    check_utterance,
    format_transcript,
    is_leave,
    should_end,
)
from .hf_partner import HFPartner
from .judges import (
    DIMENSIONS,
    HFJudge,
    Judge,
    JudgeError,
    JudgeParseError,
    JudgeRequest,
    JudgeUnreachableError,
    OpenAICompatibleJudge,
    RuleJudge,
    reward_from_scores,
)
from .partners import Partner, ScriptedPartner
from .scenarios import (
    KINDS,
    Scenario,
    ScenarioError,
    default_scenarios,
    load_scenarios,
    select_scenario,
    vocabulary,
)

__all__ = ["CachedJudge", "JudgeCache", "cache_key", "MAX_UTTERANCE_CHARS", "background",
           "check_utterance", "format_transcript", "is_leave", "should_end", "HFPartner",
           "DIMENSIONS", "HFJudge", "Judge", "JudgeError", "JudgeParseError", "JudgeRequest",
           "JudgeUnreachableError", "OpenAICompatibleJudge", "RuleJudge", "reward_from_scores",
           "Partner", "ScriptedPartner", "KINDS", "Scenario", "ScenarioError",
           "default_scenarios", "load_scenarios", "select_scenario", "vocabulary"]
