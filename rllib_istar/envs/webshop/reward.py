"""The reference's purchase score (``web_agent_site/engine/goal.py::get_reward``).

With ``A`` the goal's attributes, ``O`` the goal's options and ``p`` the product's price:

* attribute hits: a goal attribute is matched if some product attribute has
  ``token_set_ratio > 85`` with it, else if it is a substring of the lower-cased title,
  joined bullets or description;
* option hits: both sides are reduced to the first colour word of :data:`COLOR_WORDS`
  they contain (else left as they are); a goal option value is matched if some chosen
  value has ``token_set_ratio > 85`` with it;
* price hit: ``p <= price_upper``;
* type factor ``r_type``: ``query_match`` (same source query), ``category_match`` (at least
  2 shared breadcrumb segments), ``title_score`` (share of the goal title's nouns found in
  the bought title's nouns; 0.2 when the goal title has none). Start at 1; 0.5 if none of
  the three holds (``title_score > 0.2`` for the last); then 0.1 if ``title_score < 0.1``
  and 0 if ``title_score == 0`` (these override).

``score = r_type * (attr_hits + option_hits + price_hit) / (|A| + |O| + 1)``, in [0, 1];
success means ``score == 1.0``.

Differences from the reference, on purpose: nouns come from ``title_nouns`` (the
generated catalogue knows its brand and type words; the loader approximates them)
instead of spaCy; ``COLOR_WORDS`` is a short list (the reference's has ~100); goal
options are compared by value (the reference's synthetic goals pass ``(name, value)``
pairs, a quirk not reproduced).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

from .catalogue import Goal, Product
from .fuzzy import token_set_ratio

__all__ = ["COLOR_WORDS", "FUZZY_THRESHOLD", "ScoreBreakdown", "normalize_color",
           "type_factor", "attribute_hits", "option_hits", "score_purchase"]

FUZZY_THRESHOLD = 85
#: Colour words options are reduced to (a subset of the reference's list, in its spirit).
COLOR_WORDS: tuple[str, ...] = (
    "navy blue", "light blue", "dark blue", "black", "white", "red", "blue", "green", "grey",
    "gray", "pink", "brown", "purple", "yellow", "orange", "beige", "gold", "silver", "oak")


@dataclass(frozen=True)
class ScoreBreakdown:
    """The parts of one purchase score."""

    score: float
    r_type: float
    attribute_hits: int
    option_hits: int
    price_hit: int
    num_attributes: int
    num_options: int


def normalize_color(value: str) -> str:
    """The first colour word of :data:`COLOR_WORDS` contained in ``value``, else ``value``."""
    for color in COLOR_WORDS:
        if color in value:
            return color
    return value


def _nouns_score(goal_nouns: Sequence[str], bought_nouns: Sequence[str]) -> float:
    desired = [n.lower() for n in goal_nouns]
    if not desired:
        return 0.2
    return len(set(desired) & {n.lower() for n in bought_nouns}) / len(desired)


def type_factor(product: Product, goal: Goal) -> float:
    """``r_type`` in {1, 0.5, 0.1, 0} (see the module docstring)."""
    query_match = product.query == goal.query
    bought = {s.strip() for s in product.product_category.split("›")}
    wanted = {s.strip() for s in goal.product_category.split("›")}
    category_match = len(bought & wanted) >= 2
    title_score = _nouns_score(goal.title_nouns, product.title_nouns)
    r_type = 1.0
    if not (query_match or category_match or title_score > 0.2):
        r_type = 0.5
    if title_score < 0.1:
        r_type = 0.1
    if title_score == 0.0:
        r_type = 0.0
    return r_type


def attribute_hits(product: Product, goal_attributes: Sequence[str]) -> int:
    """Goal attributes matched by the product's attributes (fuzzy) or text (substring)."""
    text = (product.title.lower(), " ".join(product.bullets).lower(), product.description.lower())
    hits = 0
    for wanted in goal_attributes:
        if any(token_set_ratio(have, wanted) > FUZZY_THRESHOLD for have in product.attributes) \
                or any(wanted in t for t in text):
            hits += 1
    return hits


def option_hits(chosen_values: Sequence[str], goal_values: Sequence[str]) -> int:
    """Goal option values matched by some chosen value (colour-normalized, fuzzy)."""
    chosen = [normalize_color(v) for v in chosen_values]
    hits = 0
    for wanted in (normalize_color(v) for v in goal_values):
        if any(token_set_ratio(have, wanted) > FUZZY_THRESHOLD for have in chosen):
            hits += 1
    return hits


def score_purchase(product: Product, goal: Goal, chosen_options: Mapping[str, str],
                   price: float | None = None) -> ScoreBreakdown:
    """The score of buying ``product`` with ``chosen_options`` (name -> value) for ``goal``;
    ``price`` defaults to ``product.price``."""
    price = product.price if price is None else price
    r_type = type_factor(product, goal)
    attrs = attribute_hits(product, goal.attributes)
    opts = option_hits(list(chosen_options.values()), list(goal.options.values()))
    price_hit = int(price <= goal.price_upper)
    total = len(goal.attributes) + len(goal.options) + 1
    score = r_type * (attrs + opts + price_hit) / total
    return ScoreBreakdown(score=score, r_type=r_type, attribute_hits=attrs, option_hits=opts,
                          price_hit=price_hit, num_attributes=len(goal.attributes),
                          num_options=len(goal.options))
