"""The judge interface, the SOTOPIA dimensions, the rubric prompt and score parsing.

``judge(scenario, transcript, agent) -> scores``: ``agent`` is the judged side (0 or
1) and ``scores`` a dict with ``goal`` (0..10) and whichever other
:data:`DIMENSIONS` the judge scores. ``judge_many(requests)`` judges a batch (one
rollout iteration); the base class loops, the HTTP judge runs a thread pool.
``cache_identity()`` is the (kind, model id) part of the cache key (``cache.py``).
"""
from __future__ import annotations

import json
import re
from abc import ABC, abstractmethod
from typing import Any, NamedTuple, Sequence

from .. import phrases as P
from ..dialogue import Transcript, format_transcript
from ..scenarios import Scenario

__all__ = ["DIMENSIONS", "GOAL_ONLY", "Judge", "JudgeRequest", "JudgeError",
           "JudgeUnreachableError", "JudgeParseError", "reward_from_scores", "rubric",
           "parse_scores", "check_scores", "check_dimensions"]

#: SOTOPIA's seven dimensions and their score ranges (inclusive).
DIMENSIONS: dict[str, tuple[int, int]] = {
    "believability": (0, 10), "relationship": (-5, 5), "knowledge": (0, 10),
    "secret": (-10, 0), "social_rules": (-10, 0),
    "financial_and_material_benefits": (-5, 5), "goal": (0, 10)}
GOAL_ONLY = ("goal",)


class JudgeError(RuntimeError):
    """A judge could not score (one-line message naming what and the fix)."""


class JudgeUnreachableError(JudgeError):
    """The judge endpoint did not answer (refused, timed out, 5xx after retries)."""


class JudgeParseError(JudgeError):
    """The judge answered, but no valid scores could be read from the reply."""


class JudgeRequest(NamedTuple):
    scenario: Scenario
    transcript: Transcript
    agent: int


def check_dimensions(dimensions: Sequence[str]) -> tuple[str, ...]:
    """Validate a dimension list (must contain ``goal``); returns it as a tuple."""
    bad = [d for d in dimensions if d not in DIMENSIONS]
    if bad or "goal" not in dimensions:
        raise ValueError(f"dimensions must be among {list(DIMENSIONS)} and include 'goal', "
                         f"got {list(dimensions)}")
    return tuple(dimensions)


class Judge(ABC):
    """Scores one side of a finished (or partial) dialogue."""

    kind: str = "judge"
    model_id: str = ""

    @abstractmethod
    def judge(self, scenario: Scenario, transcript: Transcript, agent: int) -> dict[str, float]:
        """Scores of side ``agent``: ``goal`` plus the dimensions this judge covers."""

    def judge_many(self, requests: Sequence[JudgeRequest]) -> list[dict[str, float]]:
        """Judge a batch, in order."""
        return [self.judge(*r) for r in requests]

    def cache_identity(self) -> tuple[str, str]:
        """(kind, model id) for the cache key; include anything that changes scores."""
        return self.kind, self.model_id


def check_scores(scores: dict[str, Any], dimensions: Sequence[str], where: str) -> dict[str, float]:
    """Floats of ``dimensions`` from ``scores``, clamped into their ranges; a missing
    or non-numeric one raises :class:`JudgeParseError` naming ``where``."""
    out = {}
    for d in dimensions:
        v = scores.get(d)
        if isinstance(v, (list, tuple)) and v:  # SOTOPIA's (reasoning, score) pairs
            v = v[-1]
        if isinstance(v, dict):
            v = v.get("score")
        if isinstance(v, str) and re.fullmatch(r"\s*-?\d+(\.\d+)?\s*", v):
            v = float(v)
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise JudgeParseError(f"{where}: reply has no numeric score for {d!r} (got {v!r}); "
                                  "make the judge answer with the JSON object the prompt asks for")
        lo, hi = DIMENSIONS[d]
        out[d] = float(min(hi, max(lo, v)))
    return out


_JSON = re.compile(r"\{.*\}", re.S)


def parse_scores(text: str, dimensions: Sequence[str], where: str) -> dict[str, float]:
    """Scores from a judge's reply text: a JSON object (code fences and text around it
    are fine), else ``dimension: number`` pairs; see :func:`check_scores`."""
    m = _JSON.search(text or "")
    if m:
        try:
            obj = json.loads(m.group(0))
            if isinstance(obj, dict):
                return check_scores(obj, dimensions, where)
        except ValueError:
            pass
    pairs = {k.lower(): float(v) for k, v in
             re.findall(r"([A-Za-z_]+)\W{0,3}?\s*[:=]\s*(-?\d+(?:\.\d+)?)", text or "")}
    one_line = " ".join((text or "").split())[:80]
    if not all(d in pairs for d in dimensions):
        raise JudgeParseError(f"{where}: cannot read scores {list(dimensions)} from the reply "
                              f"{one_line!r}; make the judge answer with a JSON object")
    return check_scores(pairs, dimensions, where)


def rubric(scenario: Scenario, transcript: Transcript, agent: int) -> str:
    """Both sides' full background (the judge sees goals and secrets) and the talk."""
    r = P.JUDGE_RUBRIC
    lines = [r["intro"], r["setting"].format(setting=scenario.setting)]
    for side, p in enumerate(scenario.profiles):
        lines.append(r["person"].format(name=p.name, occupation=p.occupation,
                                        goal=scenario.goals[side],
                                        secret=scenario.secrets[side] or r["no_secret"]))
    lines += [r["talk"], format_transcript(scenario, transcript)]
    return "\n".join(lines)


def reward_from_scores(scores: dict[str, float], mode: str = "goal") -> float:
    """``"goal"``: goal / 10 (0..1); ``"mean"``: the mean of the dimensions present
    (the reference's reward, SOTOPIA's "overall")."""
    if mode == "goal":
        return float(scores["goal"]) / 10.0
    if mode == "mean":
        return float(sum(scores.values()) / len(scores))
    raise ValueError(f"reward mode must be 'goal' or 'mean', got {mode!r}")
