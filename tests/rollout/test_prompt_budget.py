"""Hand-made cases for the prompt truncation rule (rollout/prompt_budget.py)."""
from rllib_istar.rollout.prompt_budget import build_prompt


def _render(obs, history):
    return " ".join([f"{o} {a}" for o, a in history] + [obs])


def _encode(text):  # one id per word
    return [len(w) for w in text.split()]


def test_prompt_keeps_history_window_when_it_fits():
    hist = [("a", "x"), ("bb", "y"), ("ccc", "z")]
    p = build_prompt(_render, _encode, "now", hist, history_length=2, max_prompt_length=100)
    assert p.text == "bb y ccc z now"
    assert (p.history_dropped, p.tokens_cut) == (0, 0)


def test_prompt_drops_oldest_history_first_then_cuts_front():
    hist = [("a", "x"), ("bb", "y")]
    p = build_prompt(_render, _encode, "now", hist, history_length=2, max_prompt_length=3)
    assert p.text == "bb y now" and p.history_dropped == 1 and p.tokens_cut == 0
    p = build_prompt(_render, _encode, "one two three four", hist, history_length=2, max_prompt_length=3)
    assert p.history_dropped == 2 and p.tokens_cut == 1
    assert p.ids == _encode("two three four")


def test_prompt_history_length_zero_shows_no_history():
    p = build_prompt(_render, _encode, "now", [("a", "x")], history_length=0, max_prompt_length=10)
    assert p.text == "now"
