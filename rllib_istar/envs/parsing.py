"""Action parsers: turn an LLM response into one admissible env action.

``parse_action(text, admissible, action_format)`` never raises. It returns a
:class:`ParsedAction` whose ``action`` is the admissible action (spelled as in
``admissible``) when ``valid`` is True, and ``None`` otherwise; ``reason`` is a
short human-readable explanation ("ok" when valid).

Exact rules (both formats):

* Only the first :data:`MAX_SCAN_CHARS` (4096) characters of the response are
  looked at; anything after that is ignored (so a tag that closes later does
  not count). Non-``str`` input (``None``, numbers, ...) is invalid; ``bytes``
  are decoded as UTF-8 with replacement characters.
* Matching is case-insensitive: the scanned text and the admissible actions are
  lower-cased. Internal runs of whitespace in a candidate collapse to one space.
* A candidate is stripped of surrounding whitespace and of the characters in
  :data:`STRIP_CHARS` (ASCII punctuation except ``<``, ``>`` and ``/``, so a
  stray tag is never stripped into a valid action); ``"  Up. "`` matches ``up``
  but ``"move up"`` does not.

``"tags"`` (the reference's format): find the first ``<think>``, then the first
``</think>`` after it, then the first ``<action>`` after that, then the first
``</action>`` after that. All four must exist. The candidate is the text between
``<action>`` and ``</action>``. Action tags that appear *inside* the think block
are therefore ignored, and when several action blocks follow, the first one
wins. (The reference takes the first ``<action>`` anywhere, only requires both
think tags somewhere, and accepts any direction word found as a substring; we
require an exact match so that credit goes to well-formed answers.) Nested
action tags make the candidate contain ``<action>`` and thus never match.

``"bare"``: the candidate is the first whitespace-separated word of the
stripped, lower-cased text; only single-word actions can be expressed.

Pattern entries (both formats): an admissible entry of the form ``name[<placeholder>]``
(e.g. WebShop's ``search[<your query>]``, see :data:`PATTERN_ENTRY`) admits
``name[ARG]`` for any ARG that is non-empty after stripping and holds no ``[`` or ``]``.
Exact entries are tried first; a pattern match returns the canonical action
``name[arg]`` (the argument lower-cased, whitespace collapsed, stripped of
:data:`STRIP_CHARS` at its end) rather than the entry. Envs without such entries are
unaffected.

Free text (both formats, e.g. Social's utterances): the admissible entry
:data:`FREE_TEXT_ENTRY` (``"<free text>"``) admits any non-empty candidate, returned
normalised (lower-cased, whitespace collapsed, :data:`STRIP_CHARS` stripped at both
ends); exact and pattern entries are tried first. With ``"bare"`` the candidate is
still the first word, so free-text envs use ``"tags"``. The env's
``reject_action`` hook then applies its own rules (length, role markers).
"""
from __future__ import annotations

import re
import string
from typing import Iterable, NamedTuple, Optional

__all__ = ["ACTION_FORMATS", "MAX_SCAN_CHARS", "STRIP_CHARS", "ParsedAction",
           "parse_action", "normalize_action"]
__all__ += ["PATTERN_ENTRY", "is_pattern_entry", "format_response", "response_after_prefix"]

#: Supported values of the ``action_format`` env_config key.
ACTION_FORMATS = ("tags", "bare")
#: Number of leading characters of a response that the parser scans.
MAX_SCAN_CHARS = 4096
#: Characters stripped from both ends of a candidate action (besides whitespace).
STRIP_CHARS = "".join(c for c in string.punctuation if c not in "<>/") + string.whitespace

_THINK_OPEN, _THINK_CLOSE = "<think>", "</think>"
_ACTION_OPEN, _ACTION_CLOSE = "<action>", "</action>"
_WS = re.compile(r"\s+")
#: An admissible entry ``name[<placeholder>]`` that admits ``name[<any argument>]``.
PATTERN_ENTRY = re.compile(r"^([a-z][a-z0-9_]*)\[<[^<>\[\]]*>\]$")
#: The admissible entry that admits any non-empty text (see the module docstring).
FREE_TEXT_ENTRY = "<free text>"


class ParsedAction(NamedTuple):
    """Result of parsing one response. ``action`` is not None iff ``valid``."""

    action: str | None
    valid: bool
    reason: str


def normalize_action(text: str) -> str:
    """Lower-case, strip :data:`STRIP_CHARS` at both ends, collapse whitespace."""
    return _WS.sub(" ", text.lower().strip(STRIP_CHARS))


def _short(text: str, limit: int = 40) -> str:
    text = text.replace("\n", " ")
    return repr(text if len(text) <= limit else text[:limit] + "...")


def is_pattern_entry(action: str) -> bool:
    """True for an admissible entry ``name[<placeholder>]`` (see the module docstring)."""
    return PATTERN_ENTRY.match(action.strip().lower()) is not None


def _match_pattern(norm: str, entry: str) -> str | None:
    """The canonical ``name[arg]`` if ``norm`` fills the pattern ``entry``, else None."""
    name = PATTERN_ENTRY.match(entry.strip().lower()).group(1)
    prefix = f"{name}["
    if not norm.startswith(prefix):
        return None
    arg = norm[len(prefix):]
    arg = arg[:-1] if arg.endswith("]") else arg
    arg = _WS.sub(" ", arg.strip(STRIP_CHARS))
    if not arg or "[" in arg or "]" in arg:
        return None
    return f"{prefix}{arg}]"


def _match(candidate: str, admissible: Iterable[str]) -> ParsedAction:
    norm = normalize_action(candidate)
    if not norm:
        return ParsedAction(None, False, "empty action")
    admissible = list(admissible)
    for action in admissible:
        if normalize_action(action) == norm:
            return ParsedAction(action, True, "ok")
    for action in admissible:
        if is_pattern_entry(action):
            filled = _match_pattern(norm, action)
            if filled is not None:
                return ParsedAction(filled, True, "ok")
    if FREE_TEXT_ENTRY in admissible:
        return ParsedAction(norm, True, "ok")
    return ParsedAction(None, False, f"not admissible: {_short(norm)}")


def _parse_tags(text: str, admissible: Iterable[str]) -> ParsedAction:
    i = text.find(_THINK_OPEN)
    if i < 0:
        return ParsedAction(None, False, "missing <think>")
    j = text.find(_THINK_CLOSE, i + len(_THINK_OPEN))
    if j < 0:
        return ParsedAction(None, False, "missing </think>")
    k = text.find(_ACTION_OPEN, j + len(_THINK_CLOSE))
    if k < 0:
        return ParsedAction(None, False, "missing <action> after </think>")
    start = k + len(_ACTION_OPEN)
    end = text.find(_ACTION_CLOSE, start)
    if end < 0:
        return ParsedAction(None, False, "missing </action>")
    return _match(text[start:end], admissible)


def _parse_bare(text: str, admissible: Iterable[str]) -> ParsedAction:
    words = text.split(None, 1)
    if not words:
        return ParsedAction(None, False, "empty response")
    return _match(words[0], admissible)


def parse_action(text, admissible: list[str], action_format: str = "tags") -> ParsedAction:
    """Parse ``text`` against ``admissible`` in ``action_format`` ("tags" | "bare").

    Never raises; see the module docstring for the exact rules.
    """
    try:
        if isinstance(text, (bytes, bytearray)):
            text = bytes(text[: 4 * MAX_SCAN_CHARS]).decode("utf-8", errors="replace")
        if not isinstance(text, str):
            return ParsedAction(None, False, f"response is not a string ({type(text).__name__})")
        text = text[:MAX_SCAN_CHARS].lower()
        if not text.strip():
            return ParsedAction(None, False, "empty response")
        if action_format == "tags":
            return _parse_tags(text, admissible)
        if action_format == "bare":
            return _parse_bare(text, admissible)
        return ParsedAction(None, False, f"unknown action_format {action_format!r}")
    except Exception as exc:  # pragma: no cover - defensive: the parser must never raise
        return ParsedAction(None, False, f"parser error: {type(exc).__name__}")


def format_response(action: str, action_format: str) -> str:
    """The canonical response text of ``action`` in ``action_format`` (what the format
    warm-up teaches, and what the same-state credit metric scores): it parses back to
    ``action``."""
    if action_format == "tags":
        return f"<think> </think> <action> {action} </action>"
    return action


def response_after_prefix(response: str, response_prefix: Optional[str]) -> str:
    """The part of ``response`` the model generates when the prompt ends with
    ``response_prefix``: the text after the prefix's first occurrence (the prefix
    must occur in the formatted response)."""
    if not response_prefix:
        return response
    at = response.find(response_prefix)
    if at < 0:
        raise ValueError(f"response_prefix {response_prefix!r} does not occur in the warm-up's "
                         f"response {response!r}; make the prefix a start of the action format "
                         "(e.g. '<think> </think> <action>' for 'tags')")
    return response[at + len(response_prefix):]
