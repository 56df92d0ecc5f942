"""Action parser: a table of nasty inputs, the scan cap, and a never-raises property."""
from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rllib_istar.envs.parsing import (
    MAX_SCAN_CHARS,
    ParsedAction,
    normalize_action,
    parse_action,
)

DIRS = ["up", "down", "left", "right"]
KEYS = ["red", "green", "blue"]
OK = "<think>plan</think>"
BIG = 2 * 1024 * 1024

TAGS_CASES = [
    # (id, text, expected action, expected valid)
    ("plain", f"{OK}<action>up</action>", "up", True),
    ("empty", "", None, False),
    ("whitespace", " \n\t  \r\n", None, False),
    ("none", None, None, False),
    ("int", 12, None, False),
    ("bytes", f"{OK}<action>left</action>".encode(), "left", True),
    ("spaces around", f"{OK}<action>  down \n</action>", "down", True),
    ("punctuation around", f"{OK}<action> Up. </action>", "up", True),
    ("quoted", f'{OK}<action>"right"</action>', "right", True),
    ("upper-case tags and word", "<THINK>x</THINK><ACTION>UP</ACTION>", "up", True),
    ("mixed-case tags", "<Think>x</tHiNk><Action>Left</ACTION>", "left", True),
    ("emoji", f"{OK}<action>⬆️</action>", None, False),
    ("emoji around", f"<think>🤔🤔</think><action>up</action> 🎉", "up", True),
    ("cjk action", f"{OK}<action>左</action>", None, False),
    ("cjk think", "<think>向上推箱子</think><action>up</action>", "up", True),
    ("lone surrogate", f"<think>\ud800</think><action>down\udfff</action>", None, False),
    ("dotted capital I", "<think>İİİ</think><action>up</action>", "up", True),
    ("2MB tail after answer", f"{OK}<action>up</action>" + "x" * BIG, "up", True),
    ("2MB before answer", "x" * BIG + f"{OK}<action>up</action>", None, False),
    ("nested action tags", f"{OK}<action><action>up</action></action>", None, False),
    ("missing closing action", f"{OK}<action>up", None, False),
    ("malformed closing", f"{OK}<action>up</action", None, False),
    ("missing opening action", f"{OK}up</action>", None, False),
    ("no think", "<action>up</action>", None, False),
    ("unclosed think", "<think>plan <action>up</action>", None, False),
    ("think after action", "<action>up</action><think>x</think>", None, False),
    ("action only inside think", "<think>I will say <action>up</action></think>", None, False),
    ("word only inside think", "<think>up</think>", None, False),
    ("inside think ignored, later wins", "<think><action>up</action></think><action>down</action>",
     "down", True),
    ("multiple action tags: first wins", f"{OK}<action>up</action><action>down</action>",
     "up", True),
    ("first block invalid", f"{OK}<action>jump</action><action>down</action>", None, False),
    ("empty action", f"{OK}<action></action>", None, False),
    ("two words", f"{OK}<action>move up</action>", None, False),
    ("glued words", f"{OK}<action>upup</action>", None, False),
    ("empty think is fine", "<think></think><action>right</action>", "right", True),
    ("text between blocks", f"{OK} so: <action>\nleft\n</action> done", "left", True),
    ("html-ish noise", f"{OK}<action><b>up</b></action>", None, False),
]

BARE_CASES = [
    ("plain", "red", "red", True),
    ("sentence", "Red is the one", "red", True),
    ("leading space and period", "   blue.", "blue", True),
    ("upper", "GREEN", "green", True),
    ("empty", "", None, False),
    ("whitespace", "\n \t", None, False),
    ("none", None, None, False),
    ("not admissible", "forward", None, False),
    ("prefix word", "reddish", None, False),
    ("second word only", "the red", None, False),
    ("tags are not bare", "<action>red</action>", None, False),
    ("emoji first", "🔴 red", None, False),
    ("cjk", "红色", None, False),
    ("2MB repeated", "red " * (BIG // 4), "red", True),
    ("2MB one word", "r" * BIG, None, False),
]


@pytest.mark.parametrize("name,text,action,valid", TAGS_CASES, ids=[c[0] for c in TAGS_CASES])
def test_tags_table(name, text, action, valid):
    out = parse_action(text, DIRS, "tags")
    assert isinstance(out, ParsedAction)
    assert (out.action, out.valid) == (action, valid), out.reason
    assert isinstance(out.reason, str) and out.reason


@pytest.mark.parametrize("name,text,action,valid", BARE_CASES, ids=[c[0] for c in BARE_CASES])
def test_bare_table(name, text, action, valid):
    out = parse_action(text, KEYS, "bare")
    assert (out.action, out.valid) == (action, valid), out.reason


def test_returns_admissible_spelling_and_reason():
    out = parse_action(f"{OK}<action>open door</action>", ["Open Door", "close"], "tags")
    assert out == ParsedAction("Open Door", True, "ok")
    bad = parse_action(f"{OK}<action>jump</action>", DIRS, "tags")
    assert "not admissible" in bad.reason and "jump" in bad.reason
    assert "missing </action>" in parse_action(f"{OK}<action>up", DIRS, "tags").reason


def test_cap_boundary():
    answer = f"{OK}<action>up</action>"
    pad = MAX_SCAN_CHARS - len(answer)
    assert parse_action("x" * pad + answer, DIRS, "tags").valid
    assert not parse_action("x" * (pad + 1) + answer, DIRS, "tags").valid


def test_unknown_format_and_empty_admissible():
    expected = ParsedAction(None, False, "unknown action_format 'json'")
    assert parse_action("up", DIRS, "json") == expected
    assert not parse_action(f"{OK}<action>up</action>", [], "tags").valid


def test_megabyte_inputs_are_fast():
    texts = ["<think>" * (BIG // 7), "<action>" * (BIG // 8), "x" * BIG, "a " * (BIG // 2)]
    start = time.perf_counter()
    for text in texts:
        for fmt in ("tags", "bare"):
            assert not parse_action(text, DIRS, fmt).valid
    assert time.perf_counter() - start < 2.0  # generous: it only scans 4096 chars


def test_normalize_action():
    assert normalize_action("  Up.\n") == "up"
    assert normalize_action("Open   the\tdoor!") == "open the door"
    assert normalize_action("<up>") == "<up>"  # tag characters are never stripped


_tag_pieces = st.sampled_from(["<think>", "</think>", "<action>", "</action>", "up", "down",
                               " ", "\n", "<", ">", "/", "UP", "Left", ".", "🤔", "左"])


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=200), st.lists(_tag_pieces, max_size=30).map("".join)),
       st.sampled_from(["tags", "bare"]))
def test_never_raises_and_action_is_admissible(text, fmt):
    out = parse_action(text, DIRS, fmt)
    assert isinstance(out, ParsedAction)
    assert (out.action is not None) == out.valid
    if out.valid:
        assert out.action in DIRS
