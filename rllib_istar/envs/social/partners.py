"""The other side of the dialogue: one interface, :class:`Partner`, and a deterministic
:class:`ScriptedPartner` (:class:`~.hf_partner.HFPartner` is the model-backed one).

``reply(scenario, transcript, side)`` returns the next utterance of ``side`` (the
partner's side) given the transcript so far. The scripted partner is a pure function
of its arguments (no hidden state, so one instance serves any number of dialogues)
and follows the scenario's main criterion:

* **deal, partner sells**: opens at ``list_price``; to an offer at or above its last
  ask it says ``deal``; to an offer below ``seller_min`` it counters halfway between
  its last ask and the offer but never below ``seller_min`` (at the floor it says so);
  to an offer in ``[seller_min, last ask)`` it counters halfway (rounded up) the first
  time and accepts from the agent's second offer on. A message without a number gets
  the last ask again. **Partner buys**: the mirror image (opens at ``buyer_open``,
  halfway rounded down, never above ``buyer_max``).
* **agreement, partner responds**: says yes (naming the ``item`` if the scenario has
  one) once the agent's last utterance meets ``needs`` (a polite word and a reason
  word); without the polite word it asks for a nice ask, without a reason it asks why.
  **Partner asks**: asks with the request, repeats once more, thanks on a yes (no
  negation) and gives up after three asks.
* **secret, partner probes**: asks the scenario's ``questions`` in order, then leaves;
  it leaves at once after a leak. **Partner keeps**: reveals its ``reveal`` sentence
  when the agent's last utterance has a trust word (``promise``, ``trust``) and a topic
  word, deflects a question on a topic word, else small talk.

After an accepted deal or a yes it leaves (``ok thanks bye``), and it always leaves
once it has spoken ``max_turns`` times. Every line comes from :mod:`.phrases`.
"""
from __future__ import annotations

import math
from abc import ABC, abstractmethod

from . import phrases as P
from .dialogue import Transcript, has_any, numbers
from .scenarios import Scenario

__all__ = ["Partner", "ScriptedPartner", "is_acceptance", "is_yes"]

_BYE = P.SMALL_TALK[-1]


class Partner(ABC):
    """Produces the next utterance of one side of a dialogue."""

    @abstractmethod
    def reply(self, scenario: Scenario, transcript: Transcript, side: int) -> str:
        """The next utterance of ``side`` after ``transcript`` (one line)."""


def is_acceptance(text: str) -> bool:
    """An accept word (:data:`phrases.ACCEPT_WORDS`) and no negation."""
    return has_any(text, P.ACCEPT_WORDS) and not has_any(text, P.REFUSE_WORDS)


def is_yes(text: str, yes_words, no_words) -> bool:
    """A yes word and none of the no words."""
    return has_any(text, yes_words) and not has_any(text, no_words)


class ScriptedPartner(Partner):
    """Deterministic rule-based partner (rules in the module docstring)."""

    def __init__(self, max_turns: int = 8):
        if max_turns < 1:
            raise ValueError(f"ScriptedPartner: max_turns must be >= 1, got {max_turns}")
        self.max_turns = max_turns

    def reply(self, scenario: Scenario, transcript: Transcript, side: int) -> str:
        mine = [t for s, t in transcript if s == side]
        theirs = [t for s, t in transcript if s != side]
        if len(mine) >= self.max_turns:
            return _BYE
        last = theirs[-1] if theirs and transcript[-1][0] != side else ""
        if scenario.kind == "negotiation" and scenario.deal is not None:
            return self._deal(scenario, side, mine, theirs, last)
        if scenario.agreement is not None and scenario.kind in ("persuasion", "favour"):
            return self._agreement(scenario, side, mine, last)
        if scenario.secret is not None:
            return self._secret(scenario, side, mine, last)
        return P.SMALL_TALK[min(len(mine), len(P.SMALL_TALK) - 1)]

    # ------------------------------------------------------------------ deal
    @staticmethod
    def _deal(sc: Scenario, side: int, mine: list[str], theirs: list[str], last: str) -> str:
        d = sc.deal
        selling = side == d.seller
        lines = P.SELLER_LINES if selling else P.BUYER_LINES
        said = [n for t in mine for n in numbers(t)]
        prev = said[-1] if said else (d.list_price if selling else d.buyer_open)
        if mine and last and is_acceptance(last):
            return _BYE
        offer = numbers(last)[-1] if last and numbers(last) else None
        if offer is None:
            key = "counter" if mine else "open"
            return lines[key].format(p=prev, item=d.item)
        n_offers = sum(1 for t in theirs if numbers(t))
        if selling:
            if offer >= prev:
                return lines["accept"].format(p=offer)
            if offer >= d.seller_min and n_offers >= 2:
                return lines["accept"].format(p=offer)
            counter = max(d.seller_min, math.ceil((prev + offer) / 2))
            if counter == prev == d.seller_min:
                return lines["floor"].format(p=d.seller_min)
        else:
            if offer <= prev:
                return lines["accept"].format(p=offer)
            if offer <= d.buyer_max and n_offers >= 2:
                return lines["accept"].format(p=offer)
            counter = min(d.buyer_max, math.floor((prev + offer) / 2))
            if counter == prev == d.buyer_max:
                return lines["ceiling"].format(p=d.buyer_max)
        return lines["counter"].format(p=counter, item=d.item)

    # ------------------------------------------------------------- agreement
    @staticmethod
    def _agreement(sc: Scenario, side: int, mine: list[str], last: str) -> str:
        a = sc.agreement
        if side == a.responder:
            if any(is_yes(t, a.yes_words, a.no_words) for t in mine):
                return _BYE
            if not last:
                return P.SMALL_TALK[0]
            if "polite" in a.needs and not has_any(last, P.POLITE_WORDS):
                return P.RESPONDER_LINES["nice"]
            if "reason" in a.needs and not has_any(last, P.REASON_WORDS):
                return P.RESPONDER_LINES["why"]
            if a.item:
                return P.RESPONDER_LINES["yes_item"].format(item=a.item)
            return P.RESPONDER_LINES["yes"].format(request=a.request)
        if last and is_yes(last, a.yes_words, a.no_words):
            return P.ASKER_LINES["thanks"]
        if not mine:
            return P.ASKER_LINES["ask"].format(request=a.request)
        return P.ASKER_LINES["again"] if len(mine) < 3 else P.ASKER_LINES["give_up"]

    # ---------------------------------------------------------------- secret
    @staticmethod
    def _secret(sc: Scenario, side: int, mine: list[str], last: str) -> str:
        s = sc.secret
        if side == s.prober:
            if last and has_any(last, s.leak_words):
                return _BYE
            return s.questions[len(mine)] if len(mine) < len(s.questions) else _BYE
        if side == s.keeper and last:
            if has_any(last, P.TRUST_WORDS) and has_any(last, s.topic_words):
                return P.KEEPER_LINES["reveal"].format(reveal=s.reveal)
            if has_any(last, s.topic_words):
                return P.KEEPER_LINES["deflect"]
        return P.SMALL_TALK[min(len(mine), len(P.SMALL_TALK) - 2)]
