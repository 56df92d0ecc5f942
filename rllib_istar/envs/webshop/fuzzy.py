"""``token_set_ratio``: rapidfuzz's when installed, else an exact pure-Python copy.

The reference calls ``thefuzz.fuzz.token_set_ratio`` (which runs rapidfuzz with
``full_process``: lower-case, non-alphanumerics to spaces, strip) and compares the
result with ``> 85``. The fallback reproduces that algorithm: split both processed
strings into token sets; 100 if they share a token and one set contains the other;
else the best normalized Indel similarity (``100 * (1 - indel / (len1 + len2))``,
``indel = len1 + len2 - 2 * LCS``) among ``(sect + diff_a, sect + diff_b)``,
``(sect, sect + diff_a)`` and ``(sect, sect + diff_b)`` (sorted, space-joined tokens),
rounded to an int as thefuzz does.
"""
from __future__ import annotations

import functools
import re

__all__ = ["token_set_ratio", "python_token_set_ratio", "HAVE_RAPIDFUZZ", "full_process"]

try:  # pragma: no cover - depends on the environment
    from rapidfuzz import fuzz as _rf_fuzz
    HAVE_RAPIDFUZZ = True
except ImportError:  # pragma: no cover
    _rf_fuzz = None
    HAVE_RAPIDFUZZ = False

_NON_ALNUM = re.compile(r"[^0-9a-z]+")


def full_process(text: str) -> str:
    """thefuzz's ``full_process``: lower-case, non-alphanumerics to spaces, strip."""
    return _NON_ALNUM.sub(" ", str(text).lower()).strip()


def _lcs_length(a: str, b: str) -> int:
    if len(a) < len(b):
        a, b = b, a
    previous = [0] * (len(b) + 1)
    for ca in a:
        current = [0]
        for j, cb in enumerate(b):
            current.append(previous[j] + 1 if ca == cb else max(previous[j + 1], current[j]))
        previous = current
    return previous[-1]


def _ratio(a: str, b: str) -> float:
    total = len(a) + len(b)
    if total == 0:
        return 100.0
    return 100.0 * 2 * _lcs_length(a, b) / total


@functools.lru_cache(maxsize=65536)
def token_set_ratio(left: str, right: str) -> int:
    """thefuzz's ``fuzz.token_set_ratio(left, right)`` (an int in 0..100)."""
    a, b = full_process(left), full_process(right)
    if not a or not b:
        return 0
    if _rf_fuzz is not None:  # pragma: no cover - depends on the environment
        return int(round(_rf_fuzz.token_set_ratio(a, b)))
    return python_token_set_ratio(a, b)


def python_token_set_ratio(a: str, b: str) -> int:
    """The pure-Python algorithm on already processed strings (the fallback)."""
    if not a or not b:
        return 0
    tokens_a, tokens_b = set(a.split()), set(b.split())
    common = tokens_a & tokens_b
    only_a, only_b = sorted(tokens_a - tokens_b), sorted(tokens_b - tokens_a)
    if common and (not only_a or not only_b):
        return 100
    sect = " ".join(sorted(common))
    diff_a, diff_b = " ".join(only_a), " ".join(only_b)
    sect_a = f"{sect} {diff_a}".strip()
    sect_b = f"{sect} {diff_b}".strip()
    best = _ratio(sect_a, sect_b)
    if sect:
        best = max(best, _ratio(sect, sect_a), _ratio(sect, sect_b))
    return int(round(best))
