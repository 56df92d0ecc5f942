"""Where a sampled response ends: the one cut rule every generation backend applies.

A response ends at the first EOS (kept) or at the token completing the first stop
string in its decoded text (kept, nothing after), whichever comes first: finish_reason
"stop"; else it is ``max_new_tokens`` long, "length" (``rollout/generation.py``).
"""
from __future__ import annotations

import bisect
from typing import Callable, Iterable, NamedTuple, Optional, Sequence


class GenerationResult(NamedTuple):
    response_ids: list[int]
    logp: list[float]
    finish_reason: str  # "stop" (EOS or a stop string) or "length" (hit max_new_tokens)


def check_stop_strings(stop_strings) -> tuple[str, ...]:
    """``None`` -> ``()``; a string or a list of non-empty strings -> a tuple of them."""
    stops = (stop_strings,) if isinstance(stop_strings, str) else tuple(stop_strings or ())
    if not all(isinstance(s, str) and s for s in stops):
        raise ValueError(f"stop_strings must be non-empty strings, got {stop_strings!r}")
    return stops


def cut_response(ids: Sequence[int], logp: Sequence[float], eos_ids: Iterable[int],
                 stop_strings: Iterable[str] = (),
                 decode: Optional[Callable[[list[int]], str]] = None) -> GenerationResult:
    """Cut sampled ids (and log-probs) where the response ends: ``ids[:n]`` for the
    smallest ``n`` such that ``ids[n - 1]`` is an EOS id (kept) or ``decode(ids[:n])``
    contains a stop string (the completing token is kept even if its text runs past
    it; nothing after): finish_reason "stop"; else ``ids`` whole, "length". ``decode``
    (ids -> text) is needed with stop strings; the search bisects (O(log n) decodes),
    assuming a prefix decodes to a prefix of the longer text up to an incomplete last
    character (true of byte-level BPE and word-level decoders)."""
    ids, logp = list(ids), list(logp)
    if len(ids) != len(logp):
        raise ValueError(f"{len(ids)} ids but {len(logp)} log-probs")
    eos = set(eos_ids)
    end = next((k + 1 for k, tok in enumerate(ids) if tok in eos), None)
    stops = check_stop_strings(stop_strings)
    if stops and decode is None:
        raise ValueError("cut_response needs decode= to find stop strings")
    head = ids if end is None else ids[:end - 1]  # a stop string must end before the EOS

    def has_stop(n: int) -> bool:
        text = decode(head[:n])
        return any(s in text for s in stops)

    if stops and head and has_stop(len(head)):  # first n with a stop string, bisected
        end = 1 + bisect.bisect_left(range(1, len(head) + 1), True, key=has_stop)
    if end is None:
        return GenerationResult(ids, logp, "length")
    return GenerationResult(ids[:end], logp[:end], "stop")


def cut_at_eos(ids: Sequence[int], logp: Sequence[float],
               eos_ids: Iterable[int]) -> GenerationResult:
    """Truncate after the first EOS (kept); ``finish_reason`` "stop" iff one was found."""
    return cut_response(ids, logp, eos_ids)


def text_decoder(tokenizer) -> Callable[[list[int]], str]:
    """The text stop strings are matched in: each token's literal text, special tokens
    included (as transformers' ``StopStringCriteria`` sees them), no clean-up."""
    return lambda ids: tokenizer.decode(ids, skip_special_tokens=False,
                                        clean_up_tokenization_spaces=False)
