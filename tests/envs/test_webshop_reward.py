"""Mini-WebShop purchase score against the reference formula, on hand-made cases:
score = r_type * (attribute hits + option hits + price hit) / (|A| + |O| + 1)."""
import dataclasses

import pytest

from rllib_istar.envs.webshop.catalogue import Goal, Product
from rllib_istar.envs.webshop.fuzzy import HAVE_RAPIDFUZZ, token_set_ratio
from rllib_istar.envs.webshop.reward import normalize_color, score_purchase, type_factor

SHOES = Product(
    asin="b000000001", category="fashion", product_category="fashion › shoes › running shoes",
    query="running shoes", title="acme lightweight running shoes",
    description="this running shoes from acme is lightweight and quick drying",
    bullets=("lightweight running shoes", "made by acme"), pricing=(19.99,), price=19.99,
    options={"color": ("red", "blue"), "size": ("small", "large")},
    attributes=("lightweight", "breathable", "non slip"), title_nouns=("acme", "running", "shoes"))
GOAL = Goal(
    asin="b000000001", instruction="i need lightweight and breathable running shoes",
    attributes=("lightweight", "breathable"), options={"color": "red", "size": "small"},
    price_upper=30.0, query="running shoes", product_category="fashion › shoes › running shoes",
    title="acme lightweight running shoes", title_nouns=("acme", "running", "shoes"))
RIGHT = {"color": "red", "size": "small"}


def test_full_match_scores_exactly_one():
    s = score_purchase(SHOES, GOAL, RIGHT)
    assert s.score == 1.0 and (s.attribute_hits, s.option_hits, s.price_hit, s.r_type) == (2, 2, 1, 1.0)


def test_a_missing_attribute_costs_one_part_in_five():
    goal = dataclasses.replace(GOAL, attributes=("lightweight", "waterproof"))
    s = score_purchase(SHOES, goal, RIGHT)
    assert s.attribute_hits == 1 and s.score == pytest.approx(4 / 5)


def test_an_attribute_found_in_the_text_counts():
    """Not among the product's attributes, but a substring of its description."""
    goal = dataclasses.replace(GOAL, attributes=("lightweight", "quick drying"))
    assert score_purchase(SHOES, goal, RIGHT).score == 1.0


@pytest.mark.parametrize("chosen,hits", [
    ({"color": "red", "size": "large"}, 1), ({"color": "blue", "size": "large"}, 0),
    ({"color": "red"}, 1), ({}, 0)])
def test_wrong_or_missing_options(chosen, hits):
    s = score_purchase(SHOES, GOAL, chosen)
    assert s.option_hits == hits and s.score == pytest.approx((2 + hits + 1) / 5)


def test_over_budget_misses_the_price_part():
    s = score_purchase(SHOES, GOAL, RIGHT, price=35.0)
    assert s.price_hit == 0 and s.score == pytest.approx(4 / 5)
    assert score_purchase(SHOES, GOAL, RIGHT, price=30.0).price_hit == 1  # "lower than" is <=


def _lamp(nouns, query="desk lamp", category="furniture › office › desk lamp"):
    """A product that matches the goal's attributes, options and budget, of another type."""
    return dataclasses.replace(SHOES, query=query, product_category=category, title_nouns=nouns)


@pytest.mark.parametrize("goal_nouns,bought_nouns,query,category,r_type", [
    # title_score = 1/5 = 0.2: not > 0.2, no query or category match -> 0.5
    (("acme", "running", "shoes", "sole", "lace"), ("acme", "desk", "lamp"), None, None, 0.5),
    # the same title score, rescued by the query match -> 1
    (("acme", "running", "shoes", "sole", "lace"), ("acme", "desk", "lamp"), "running shoes", None, 1.0),
    # ... or by 2 shared breadcrumb segments -> 1
    (("acme", "running", "shoes", "sole", "lace"), ("acme", "desk", "lamp"), None,
     "fashion › shoes › sandals", 1.0),
    # title_score = 1/11 < 0.1 -> 0.1, even with a query match
    (tuple("acme b c d e f g h i j k".split()), ("acme", "lamp"), "running shoes", None, 0.1),
    # no shared noun -> 0, even with a query match
    (("running", "shoes"), ("desk", "lamp"), "running shoes", None, 0.0),
    # a goal title without nouns: title_score 0.2 -> 0.5 without another match
    ((), ("desk", "lamp"), None, None, 0.5),
    # title_score 1/3 > 0.2 suffices
    (("acme", "running", "shoes"), ("acme", "desk", "lamp"), None, None, 1.0),
])
def test_type_factor_cases(goal_nouns, bought_nouns, query, category, r_type):
    bought = _lamp(bought_nouns, query=query or "desk lamp",
                   category=category or "furniture › office › desk lamp")
    goal = dataclasses.replace(GOAL, title_nouns=goal_nouns)
    assert type_factor(bought, goal) == r_type
    assert score_purchase(bought, goal, RIGHT).score == pytest.approx(r_type)


def test_type_factor_scales_the_partial_score():
    bought = _lamp(("acme", "desk", "lamp"))
    goal = dataclasses.replace(GOAL, title_nouns=("acme", "running", "shoes", "sole", "lace"))
    assert score_purchase(bought, goal, {"color": "red"}).score == pytest.approx(0.5 * 4 / 5)


def test_colour_normalization():
    assert normalize_color("dark red") == "red" and normalize_color("navy blue") == "navy blue"
    assert normalize_color("small") == "small"
    shirt = dataclasses.replace(SHOES, options={"color": ("dark red",), "size": ("small",)})
    assert score_purchase(shirt, GOAL, {"color": "dark red", "size": "small"}).score == 1.0


@pytest.mark.parametrize("a,b,ratio", [
    ("fuzzy wuzzy was a bear", "fuzzy fuzzy was a bear", 100),
    ("lightweight", "lightweight", 100), ("Non-Slip", "non slip", 100),
    ("pack of 6", "pack of 12", 88),       # 2*7/(7+9): "of pack" vs "of pack 6"
    ("red", "blue", 29),                   # Indel: LCS 1 ("e"), 2*1/7
    ("", "red", 0)])
def test_token_set_ratio_known_values(a, b, ratio):
    assert token_set_ratio(a, b) == ratio


@pytest.mark.skipif(not HAVE_RAPIDFUZZ, reason="rapidfuzz not installed: the fallback is in use")
def test_fallback_agrees_with_rapidfuzz():  # pragma: no cover - depends on the environment
    from rllib_istar.envs.webshop import fuzzy

    for a, b in [("easy assembly", "easy clean"), ("long lasting", "long battery life")]:
        assert fuzzy.python_token_set_ratio(a, b) == round(fuzzy._rf_fuzz.token_set_ratio(a, b))
