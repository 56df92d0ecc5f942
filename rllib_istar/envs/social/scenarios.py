"""Team-written social scenarios (``scenarios.json``): dataclasses, a validating loader,
deterministic selection by seed and the word list they need.

A scenario has a ``kind`` (``negotiation``, ``persuasion``, ``favour``, ``secret``), a
``setting``, a ``relationship`` (:data:`RELATIONSHIPS`), two :class:`Profile` s (side
0 and side 1), each side's private ``goals[side]`` and ``secrets[side]`` (``""`` for
none) and machine-checkable ``criteria`` (at least the one its kind needs,
:data:`KIND_CRITERION`):

* ``deal`` (:class:`Deal`): ``item``, the ``buyer`` side, the seller's ``list_price``,
  the buyer's ``buyer_open``, the seller's floor ``seller_min`` and the buyer's ceiling
  ``buyer_max``, with ``buyer_open <= seller_min < buyer_max <= list_price``.
* ``agreement`` (:class:`Agreement`): the ``asker`` side, the ``request`` phrase, the
  ``yes_words``/``no_words`` a reply is checked for, an optional ``item`` the yes must
  name (a favour that hands over an object), what the responder itself wants
  (``responder_wants``: ``yes``/``no``) and what the scripted responder ``needs``
  before it agrees (``polite``, ``reason``).
* ``secret`` (:class:`Secret`): the ``keeper`` and ``prober`` sides (prober may be
  null), the ``leak_words`` whose appearance in a keeper's utterance is a leak, the
  ``topic_words`` that make a question about the secret, the keeper's ``reveal``
  sentence and the prober's ``questions``.

Text is lower-case plain words (names capitalised), so :func:`vocabulary` (every word
of every scenario and of :mod:`.phrases`, plus the numbers -10..max price) covers a
word-level tokenizer. :func:`load_scenarios` raises :class:`ScenarioError` with one
line naming the scenario id and the bad field.
"""
from __future__ import annotations

import json
import random
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any, Sequence

from . import phrases

__all__ = ["Profile", "Deal", "Agreement", "Secret", "Scenario", "ScenarioError", "KINDS",
           "RELATIONSHIPS", "KIND_CRITERION", "load_scenarios", "parse_scenario",
           "default_scenarios", "select_scenario", "vocabulary"]

KINDS = ("negotiation", "persuasion", "favour", "secret")
RELATIONSHIPS = ("stranger", "know_by_name", "acquaintance", "friend", "family")
KIND_CRITERION = {"negotiation": "deal", "persuasion": "agreement", "favour": "agreement",
                  "secret": "secret"}
NEEDS = ("polite", "reason")


class ScenarioError(ValueError):
    """A scenario breaks the schema; the message is one line naming id and field."""


@dataclass(frozen=True)
class Profile:
    name: str
    occupation: str
    bio: str


@dataclass(frozen=True)
class Deal:
    item: str
    buyer: int
    list_price: int
    buyer_open: int
    seller_min: int
    buyer_max: int

    @property
    def seller(self) -> int:
        return 1 - self.buyer


@dataclass(frozen=True)
class Agreement:
    asker: int
    request: str
    yes_words: tuple[str, ...]
    no_words: tuple[str, ...]
    item: str = ""
    responder_wants: str = "yes"
    needs: tuple[str, ...] = NEEDS

    @property
    def responder(self) -> int:
        return 1 - self.asker


@dataclass(frozen=True)
class Secret:
    keeper: int
    prober: int | None
    leak_words: tuple[str, ...]
    topic_words: tuple[str, ...]
    reveal: str
    questions: tuple[str, ...]


@dataclass(frozen=True)
class Scenario:
    id: str
    kind: str
    setting: str
    relationship: str
    profiles: tuple[Profile, Profile]
    goals: tuple[str, str]
    secrets: tuple[str, str]
    deal: Deal | None = None
    agreement: Agreement | None = None
    secret: Secret | None = None

    def name(self, side: int) -> str:
        """The name of ``side`` (0 or 1)."""
        return self.profiles[side].name

    def texts(self) -> list[str]:
        """Every free text of the scenario (for :func:`vocabulary`)."""
        out = [self.setting, self.relationship.replace("_", " "), *self.goals, *self.secrets]
        for p in self.profiles:
            out += [p.name, p.occupation, p.bio]
        if self.deal:
            out += [self.deal.item, *(str(v) for v in (self.deal.list_price, self.deal.buyer_open,
                                                       self.deal.seller_min, self.deal.buyer_max))]
        if self.agreement:
            a = self.agreement
            out += [a.request, a.item, *a.yes_words, *a.no_words]
        if self.secret:
            s = self.secret
            out += [s.reveal, *s.leak_words, *s.topic_words, *s.questions]
        return out


# ------------------------------------------------------------------ validation
def _fail(sid: str, field: str, why: str) -> ScenarioError:
    return ScenarioError(f"scenario {sid!r} field {field!r}: {why}")


def _text(sid: str, d: dict, key: str, field: str, allow_empty: bool = False) -> str:
    v = d.get(key)
    if not isinstance(v, str) or (not allow_empty and not v.strip()):
        raise _fail(sid, field, f"must be a non-empty string, got {v!r}")
    if "\n" in v:
        raise _fail(sid, field, "must be one line")
    return v.strip()


def _int(sid: str, d: dict, key: str, field: str, lo: int | None = None) -> int:
    v = d.get(key)
    if isinstance(v, bool) or not isinstance(v, int) or (lo is not None and v < lo):
        raise _fail(sid, field, f"must be an int{'' if lo is None else f' >= {lo}'}, got {v!r}")
    return v


def _side(sid: str, d: dict, key: str, field: str, optional: bool = False) -> int | None:
    v = d.get(key)
    if optional and v is None:
        return None
    if v not in (0, 1) or isinstance(v, bool):
        raise _fail(sid, field, f"must be a side, 0 or 1, got {v!r}")
    return v


def _words(sid: str, d: dict, key: str, field: str) -> tuple[str, ...]:
    v = d.get(key)
    if not isinstance(v, list) or not v or not all(isinstance(w, str) and w.strip() for w in v):
        raise _fail(sid, field, f"must be a non-empty list of strings, got {v!r}")
    return tuple(w.strip().lower() for w in v)


def _parse_deal(sid: str, d: Any) -> Deal:
    if not isinstance(d, dict):
        raise _fail(sid, "criteria.deal", "must be an object")
    f = "criteria.deal."
    deal = Deal(item=_text(sid, d, "item", f + "item"), buyer=_side(sid, d, "buyer", f + "buyer"),
                list_price=_int(sid, d, "list_price", f + "list_price", 1),
                buyer_open=_int(sid, d, "buyer_open", f + "buyer_open", 0),
                seller_min=_int(sid, d, "seller_min", f + "seller_min", 0),
                buyer_max=_int(sid, d, "buyer_max", f + "buyer_max", 0))
    if not deal.buyer_open <= deal.seller_min:
        raise _fail(sid, f + "buyer_open", f"must be <= seller_min {deal.seller_min}, "
                    f"got {deal.buyer_open}")
    if not deal.seller_min < deal.buyer_max:
        raise _fail(sid, f + "buyer_max", f"must be > seller_min {deal.seller_min} (a zone "
                    f"of agreement), got {deal.buyer_max}")
    if not deal.buyer_max <= deal.list_price:
        raise _fail(sid, f + "list_price", f"must be >= buyer_max {deal.buyer_max}, "
                    f"got {deal.list_price}")
    return deal


def _parse_agreement(sid: str, d: Any) -> Agreement:
    if not isinstance(d, dict):
        raise _fail(sid, "criteria.agreement", "must be an object")
    f = "criteria.agreement."
    wants = d.get("responder_wants", "yes")
    if wants not in ("yes", "no"):
        raise _fail(sid, f + "responder_wants", f"must be 'yes' or 'no', got {wants!r}")
    needs = d.get("needs", list(NEEDS))
    if not isinstance(needs, list) or any(n not in NEEDS for n in needs):
        raise _fail(sid, f + "needs", f"must be a list of {list(NEEDS)}, got {needs!r}")
    return Agreement(asker=_side(sid, d, "asker", f + "asker"),
                     request=_text(sid, d, "request", f + "request"),
                     yes_words=_words(sid, d, "yes_words", f + "yes_words"),
                     no_words=_words(sid, d, "no_words", f + "no_words"),
                     item=_text(sid, d, "item", f + "item", allow_empty=True)
                     if "item" in d else "", responder_wants=wants, needs=tuple(needs))


def _parse_secret(sid: str, d: Any) -> Secret:
    if not isinstance(d, dict):
        raise _fail(sid, "criteria.secret", "must be an object")
    f = "criteria.secret."
    keeper = _side(sid, d, "keeper", f + "keeper")
    prober = _side(sid, d, "prober", f + "prober", optional=True)
    if prober == keeper:
        raise _fail(sid, f + "prober", "must be the other side than keeper (or null)")
    leak = _words(sid, d, "leak_words", f + "leak_words")
    reveal = _text(sid, d, "reveal", f + "reveal")
    if not any(w in reveal.lower() for w in leak):
        raise _fail(sid, f + "reveal", f"must contain one of the leak_words {list(leak)}")
    return Secret(keeper=keeper, prober=prober, leak_words=leak,
                  topic_words=_words(sid, d, "topic_words", f + "topic_words"), reveal=reveal,
                  questions=_words(sid, d, "questions", f + "questions"))


def parse_scenario(d: Any, index: int = 0) -> Scenario:
    """One scenario from its JSON object; raises :class:`ScenarioError` (one line)."""
    sid = d.get("id") if isinstance(d, dict) else None
    if not isinstance(sid, str) or not sid.strip():
        raise ScenarioError(f"scenario #{index} field 'id': must be a non-empty string, got {sid!r}")
    kind = d.get("kind")
    if kind not in KINDS:
        raise _fail(sid, "kind", f"must be one of {list(KINDS)}, got {kind!r}")
    rel = d.get("relationship")
    if rel not in RELATIONSHIPS:
        raise _fail(sid, "relationship", f"must be one of {list(RELATIONSHIPS)}, got {rel!r}")
    for key in ("profiles", "goals", "secrets"):
        if not isinstance(d.get(key), list) or len(d[key]) != 2:
            raise _fail(sid, key, f"must be a list of two (side 0, side 1), got {d.get(key)!r}")
    profiles = []
    for i, p in enumerate(d["profiles"]):
        if not isinstance(p, dict):
            raise _fail(sid, f"profiles[{i}]", "must be an object")
        name = _text(sid, p, "name", f"profiles[{i}].name")
        if len(name.split()) != 1:
            raise _fail(sid, f"profiles[{i}].name", f"must be one word, got {name!r}")
        profiles.append(Profile(name, _text(sid, p, "occupation", f"profiles[{i}].occupation"),
                                _text(sid, p, "bio", f"profiles[{i}].bio")))
    if profiles[0].name == profiles[1].name:
        raise _fail(sid, "profiles[1].name", "must differ from profiles[0].name")
    goals = tuple(_text(sid, {"g": g}, "g", f"goals[{i}]") for i, g in enumerate(d["goals"]))
    secrets = tuple(_text(sid, {"s": s}, "s", f"secrets[{i}]", allow_empty=True)
                    for i, s in enumerate(d["secrets"]))
    crit = d.get("criteria")
    if not isinstance(crit, dict):
        raise _fail(sid, "criteria", "must be an object")
    unknown = sorted(set(crit) - {"deal", "agreement", "secret"})
    if unknown:
        raise _fail(sid, f"criteria.{unknown[0]}", "unknown criterion; valid: deal, agreement, secret")
    need = KIND_CRITERION[kind]
    if need not in crit:
        raise _fail(sid, f"criteria.{need}", f"is required for kind {kind!r}")
    return Scenario(
        id=sid, kind=kind, setting=_text(sid, d, "setting", "setting"), relationship=rel,
        profiles=(profiles[0], profiles[1]), goals=goals, secrets=secrets,  # type: ignore[arg-type]
        deal=_parse_deal(sid, crit["deal"]) if "deal" in crit else None,
        agreement=_parse_agreement(sid, crit["agreement"]) if "agreement" in crit else None,
        secret=_parse_secret(sid, crit["secret"]) if "secret" in crit else None)


def load_scenarios(path: str | None = None, data: Any = None) -> list[Scenario]:
    """Scenarios from ``data`` (the JSON object), a JSON file ``path``, or the packaged
    ``scenarios.json``; sorted by id. Ids must be unique."""
    if data is None:
        if path is None:
            text = resources.files(__package__).joinpath("scenarios.json").read_text("utf-8")
        else:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        try:
            data = json.loads(text)
        except ValueError as e:
            raise ScenarioError(f"scenario file {path or 'scenarios.json'!r} is not JSON: {e}") from None
    items = data.get("scenarios") if isinstance(data, dict) else data
    if not isinstance(items, list) or not items:
        raise ScenarioError("scenario data must be a non-empty list or {'scenarios': [...]}")
    out = [parse_scenario(d, i) for i, d in enumerate(items)]
    seen: set[str] = set()
    for s in out:
        if s.id in seen:
            raise _fail(s.id, "id", "is not unique")
        seen.add(s.id)
    return sorted(out, key=lambda s: s.id)


@lru_cache(maxsize=1)
def _default() -> tuple[Scenario, ...]:
    return tuple(load_scenarios())


def default_scenarios(kinds: Sequence[str] | None = None) -> list[Scenario]:
    """The packaged scenarios (cached), optionally only those of ``kinds``."""
    return [s for s in _default() if kinds is None or s.kind in kinds]


def select_scenario(seed: int, scenarios: Sequence[Scenario] | None = None) -> Scenario:
    """The scenario for ``seed``: deterministic, independent of the list's order."""
    pool = sorted(scenarios if scenarios is not None else _default(), key=lambda s: s.id)
    if not pool:
        raise ScenarioError("select_scenario: no scenarios to choose from")
    return pool[random.Random(int(seed)).randrange(len(pool))]


def vocabulary(scenarios: Sequence[Scenario] | None = None) -> list[str]:
    """Every whitespace-separated word of the scenarios and of :mod:`.phrases`, the
    names with a trailing ``said`` marker removed, and the numbers -10..max price
    (sorted). Placeholders (``{p}``) are dropped."""
    pool = scenarios if scenarios is not None else _default()
    texts = phrases.fixed_texts()
    top = 10
    for s in pool:
        texts += s.texts()
        if s.deal:
            top = max(top, s.deal.list_price)
    words = {w for t in texts for w in t.split() if "{" not in w}
    words |= {str(i) for i in range(-10, top + 1)}
    return sorted(words)
