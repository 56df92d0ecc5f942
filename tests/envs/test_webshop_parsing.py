"""Pattern entries of parse_action (``name[<placeholder>]``, WebShop's free search)."""
import pytest

from rllib_istar.envs.parsing import is_pattern_entry, parse_action

PATTERN = "search[<your query>]"
ADMISSIBLE = [PATTERN, "click[buy now]", "click[< prev]", "click[next >]"]


def tags(action):
    return f"<think> ok </think> <action>{action}</action>"


@pytest.mark.parametrize("written,expected", [
    ("search[red running shoes]", "search[red running shoes]"),
    ("Search[Red  Running\tShoes]", "search[red running shoes]"),
    (" search[ red shoes. ] ", "search[red shoes]"),
    ("search[red shoes", "search[red shoes]"),      # the closing bracket is stripped anyway
    ("search[b000000012]", "search[b000000012]"),
])
def test_a_pattern_entry_admits_any_non_empty_argument(written, expected):
    parsed = parse_action(tags(written), ADMISSIBLE, "tags")
    assert parsed.valid and parsed.action == expected and parsed.reason == "ok"


@pytest.mark.parametrize("written", ["search[]", "search[ ]", "search[.]", "search", "search red",
                                     "search[a]b]", "search[a[b]", "find[red]", "searchx[red]"])
def test_a_pattern_entry_refuses_empty_or_malformed_arguments(written):
    parsed = parse_action(tags(written), ADMISSIBLE, "tags")
    assert not parsed.valid and parsed.action is None and "not admissible" in parsed.reason


def test_exact_entries_match_first_and_keep_their_spelling():
    assert parse_action(tags("click[Buy Now]"), ADMISSIBLE).action == "click[buy now]"
    assert parse_action(tags("click[next >]"), ADMISSIBLE).action == "click[next >]"
    assert parse_action(tags("click[< prev]"), ADMISSIBLE).action == "click[< prev]"
    assert not parse_action(tags("click[buy]"), ADMISSIBLE).valid  # click is no pattern here


def test_bare_format_fills_a_pattern_with_one_word():
    assert parse_action("search[shoes] please", ADMISSIBLE, "bare").action == "search[shoes]"


def test_without_a_pattern_entry_a_search_is_not_admissible():
    assert not parse_action(tags("search[red]"), ["click[buy now]"]).valid


@pytest.mark.parametrize("entry,is_pattern", [
    ("search[<your query>]", True), ("SEARCH[<q>]", True), ("search[...]", False),
    ("click[buy now]", False), ("search[<a>] x", False), ("up", False)])
def test_is_pattern_entry(entry, is_pattern):
    assert is_pattern_entry(entry) is is_pattern
