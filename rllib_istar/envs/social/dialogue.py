"""Transcripts and the text rules shared by partners, judges and the future env.

A transcript is a sequence of ``(side, text)`` pairs (side 0 or 1, in speaking
order). Matching is on lower-cased words: :func:`has_phrase` finds a word or a
multi-word phrase at word boundaries, :func:`numbers` lists the integers of a text.
:func:`background` is what one side sees (its own goal and secret, the other's name,
occupation and, from ``acquaintance`` up, bio; never the other's goal or secret),
:func:`format_transcript` renders ``turn k Name said text`` lines as the reference
does, :func:`check_utterance` says why a policy's utterance is invalid and
:func:`is_leave` / :func:`should_end` are the reference's termination rules.
"""
from __future__ import annotations

import re
from typing import Sequence

from . import phrases
from .scenarios import Scenario

__all__ = ["Turn", "Transcript", "words_of", "has_phrase", "has_any", "numbers",
           "background", "format_transcript", "check_utterance", "is_leave", "should_end",
           "MAX_UTTERANCE_CHARS"]

Turn = tuple[int, str]
Transcript = Sequence[Turn]
#: Default length limit of one utterance (characters).
MAX_UTTERANCE_CHARS = 300
_WORD = re.compile(r"[a-z0-9]+")
_NUM = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?![\w])")
#: ``bio`` visible to the other side from this relationship up (as in the reference).
_TURN = re.compile(r"\bturn \d+\b")
_SEES_BIO = ("acquaintance", "friend", "family")


def words_of(text: str) -> list[str]:
    """Lower-case alphanumeric words of ``text``."""
    return _WORD.findall(text.lower())


def has_phrase(text: str, phrase: str) -> bool:
    """Whether the word sequence ``phrase`` occurs in ``text`` at word boundaries."""
    w, p = words_of(text), words_of(phrase)
    return bool(p) and any(w[i:i + len(p)] == p for i in range(len(w) - len(p) + 1))


def has_any(text: str, phrase_list: Sequence[str]) -> bool:
    """Whether any of ``phrase_list`` occurs in ``text`` (:func:`has_phrase`)."""
    return any(has_phrase(text, p) for p in phrase_list)


def numbers(text: str) -> list[int]:
    """The numbers written in ``text`` (``"60"``, ``"$60"``, ``"-3"``; ``"6.5"`` -> 6,
    decimals are cut to ints), in order; digits inside words (``x7``) do not count."""
    return [int(float(m)) for m in _NUM.findall(text.replace("$", " "))]


def background(scenario: Scenario, side: int) -> str:
    """The scenario as ``side`` sees it, one fact per line."""
    b, me, other = phrases.BACKGROUND, scenario.profiles[side], scenario.profiles[1 - side]
    lines = [b["setting"].format(setting=scenario.setting),
             b["you"].format(name=me.name, occupation=me.occupation, bio=me.bio),
             b["other"].format(name=other.name, occupation=other.occupation)]
    if scenario.relationship in _SEES_BIO:
        lines.append(b["other_bio"].format(name=other.name, bio=other.bio))
    lines.append(b["relationship"].format(relationship=scenario.relationship.replace("_", " ")))
    lines.append(b["goal"].format(goal=scenario.goals[side]))
    if scenario.secrets[side]:
        lines.append(b["secret"].format(secret=scenario.secrets[side]))
    return "\n".join(lines)


def format_transcript(scenario: Scenario, transcript: Transcript, next_side: int | None = None) -> str:
    """``turn k Name said text`` lines; with ``next_side`` a final open ``turn k Name said``."""
    b = phrases.BACKGROUND
    lines = [b["turn"].format(k=k + 1, name=scenario.name(s), text=t)
             for k, (s, t) in enumerate(transcript)]
    if next_side is not None:
        lines.append(b["next"].format(k=len(transcript) + 1, name=scenario.name(next_side)))
    return "\n".join(lines)


def check_utterance(scenario: Scenario, side: int, text: str,
                    max_chars: int = MAX_UTTERANCE_CHARS) -> str:
    """``"ok"`` or why ``text`` is not a valid utterance for ``side``: empty, longer than
    ``max_chars``, more than one line, starting with a speaker prefix (either name
    followed by ``:`` or ``said``) or containing a role marker (:data:`phrases.ROLE_MARKERS`, ``turn <number>``)."""
    if not text or not text.strip():
        return "empty"
    if len(text) > max_chars:
        return f"over {max_chars} characters"
    if "\n" in text.strip():
        return "more than one line"
    low = text.strip().lower()
    for name in (scenario.name(0), scenario.name(1)):
        n = name.lower()
        if low.startswith(n + ":") or low.startswith(n + " said"):
            return f"speaker prefix {name!r}"
    for marker in phrases.ROLE_MARKERS:
        if marker in low:
            return f"role marker {marker.strip()!r}"
    if _TURN.search(low):
        return "role marker 'turn <number>'"
    return "ok"


def is_leave(text: str) -> bool:
    """The reference's leave rule: the utterance has a :data:`phrases.LEAVE_WORDS` phrase."""
    return has_any(text, phrases.LEAVE_WORDS)


def should_end(transcript: Transcript, max_turns: int = 20) -> bool:
    """End at ``max_turns`` utterances (both sides count) or when the last one leaves."""
    return len(transcript) >= max_turns or (bool(transcript) and is_leave(transcript[-1][1]))
