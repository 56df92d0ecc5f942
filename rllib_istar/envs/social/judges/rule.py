"""``RuleJudge``: deterministic scores from the scenario's machine-checkable criteria.

Scoring rules (side ``a`` is the judged agent; words match per ``dialogue.has_phrase``):

* **deal** (negotiations). The first utterance with an accept word and no negation
  (``partners.is_acceptance``) closes the deal at the price the *other* side named
  last before it (the offer being accepted); if the other side named none, at the
  last number in the accepting utterance; with no number at all there is no deal.
  With ``S = seller_min``, ``B = buyer_max`` and price ``p`` the side's surplus share
  is ``f = (B - p) / (B - S)`` for the buyer and ``(p - S) / (B - S)`` for the seller.
  ``goal`` = 0 without a deal or when ``f < 0`` (a price beyond the side's own bound),
  else ``5 + 5 * min(f, 1)``; ``financial_and_material_benefits`` = 0 without a deal,
  else ``10 * clip(f, 0, 1) - 5``.
* **agreement** (persuasion, favours). "Yes" = some responder utterance with a yes
  word, none of the no words and, if the scenario has an ``item``, the item word.
  The asker's ``goal`` is 10 on a yes, else 0; the responder's is 10 when the outcome
  matches ``responder_wants``, else 0.
* **secret**. Leaked = some keeper utterance contains a leak word. The keeper's
  ``secret`` dimension is -10 if leaked, else 0. When secret keeping is the
  scenario's kind, the keeper's ``goal`` is 10 if not leaked, else 0, and the
  prober's is 10 if leaked, else 0 (in other kinds the secret only sets the
  ``secret`` dimension).
* ``social_rules`` (always): -2 per utterance of the side with a rude word
  (:data:`phrases.RUDE_WORDS`), at least -10.
* **silence**: a side with no utterance in the transcript reaches no goal (``goal`` 0),
  whatever the criterion says: otherwise a keeper, or a responder who wants "no",
  would score 10 by never speaking (a policy whose every output is invalid did, on
  Social-v0, before this rule).

``goal`` always comes from the scenario kind's criterion; ``financial_and_material_benefits``
is present for deals and ``secret`` for the keeper of a secret.
"""
from __future__ import annotations

from .. import phrases as P
from ..dialogue import Transcript, has_any, has_phrase, numbers
from ..partners import is_acceptance, is_yes
from ..scenarios import Scenario
from .base import Judge

__all__ = ["RuleJudge", "deal_price", "agreed", "leaked"]


def deal_price(transcript: Transcript) -> int | None:
    """The agreed price (rules in the module docstring), or None without a deal."""
    for k, (side, text) in enumerate(transcript):
        if not is_acceptance(text):
            continue
        offers = [n for s, t in transcript[:k] if s != side for n in numbers(t)]
        if offers:
            return offers[-1]
        own = numbers(text)
        if own:
            return own[-1]
    return None


def agreed(scenario: Scenario, transcript: Transcript) -> bool:
    """Whether the responder said yes (and named the item, if any)."""
    a = scenario.agreement
    return any(s == a.responder and is_yes(t, a.yes_words, a.no_words)
               and (not a.item or has_phrase(t, a.item)) for s, t in transcript)


def leaked(scenario: Scenario, transcript: Transcript) -> bool:
    """Whether the keeper said a leak word."""
    sec = scenario.secret
    return any(s == sec.keeper and has_any(t, sec.leak_words) for s, t in transcript)


class RuleJudge(Judge):
    """Scores from the scenario criteria (rules in the module docstring)."""

    kind = "rule"
    model_id = "rules-v1"

    def judge(self, scenario: Scenario, transcript: Transcript, agent: int) -> dict[str, float]:
        if agent not in (0, 1):
            raise ValueError(f"agent must be a side, 0 or 1, got {agent!r}")
        out: dict[str, float] = {}
        if scenario.deal is not None:
            d = scenario.deal
            price = deal_price(transcript)
            if price is None:
                goal, money = 0.0, 0.0
            else:
                span = d.buyer_max - d.seller_min
                f = (d.buyer_max - price) / span if agent == d.buyer else (price - d.seller_min) / span
                goal = 0.0 if f < 0 else 5.0 + 5.0 * min(f, 1.0)
                money = 10.0 * min(1.0, max(0.0, f)) - 5.0
            out["financial_and_material_benefits"] = round(money, 6)
            if scenario.kind == "negotiation":
                out["goal"] = round(goal, 6)
        if scenario.agreement is not None and scenario.kind in ("persuasion", "favour"):
            a, yes = scenario.agreement, agreed(scenario, transcript)
            ok = yes if agent == a.asker else yes == (a.responder_wants == "yes")
            out["goal"] = 10.0 if ok else 0.0
        if scenario.secret is not None:
            sec, leak = scenario.secret, leaked(scenario, transcript)
            if agent == sec.keeper:
                out["secret"] = -10.0 if leak else 0.0
            if scenario.kind == "secret":
                out["goal"] = 10.0 if leak == (agent != sec.keeper) else 0.0
        rude = sum(1 for s, t in transcript if s == agent and has_any(t, P.RUDE_WORDS))
        out["social_rules"] = float(max(-10, -2 * rude))
        out.setdefault("goal", 0.0)
        if not any(s == agent for s, _ in transcript):  # silence reaches no goal
            out["goal"] = 0.0
        return out
