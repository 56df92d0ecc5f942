"""Mini-WebShop catalogue: determinism, goals per the reference rules, distractors."""
import itertools

import pytest

from rllib_istar.envs.webshop.catalogue import (
    CATEGORIES,
    NO_PRICE_CEILING,
    PRICE_CEILINGS,
    generate_catalogue,
    price_ceiling,
)
from rllib_istar.envs.webshop.env import winning_products
from rllib_istar.envs.webshop.fuzzy import token_set_ratio
from rllib_istar.envs.webshop.reward import FUZZY_THRESHOLD, normalize_color

CAT = generate_catalogue(300, seed=0)


def test_generation_is_deterministic_in_the_seed():
    again = generate_catalogue(300, seed=0)
    assert again.products == CAT.products and again.goals == CAT.goals
    assert generate_catalogue(300, seed=1).products != CAT.products


def test_sizes_and_ids():
    assert len(CAT) == 300 and len(generate_catalogue(7)) == 7
    asins = [p.asin for p in CAT.products]
    assert asins == [f"b0{i:08d}" for i in range(300)] and len(set(asins)) == 300
    assert len(CAT.goals) == sum(
        len(list(itertools.product(*p.options.values()))) for p in CAT.products)


@pytest.mark.parametrize("bad", [0, -1, 5001, 2.5, True, "10"])
def test_bad_sizes_are_refused(bad):
    with pytest.raises(ValueError, match="num_products must be an int"):
        generate_catalogue(bad)


def test_products_have_the_reference_fields():
    for p in CAT.products:
        cat, sub, typ = p.product_category.split(" › ")
        assert cat == p.category and typ == p.query and typ in CATEGORIES[cat]["subs"][sub]
        assert p.title.endswith(p.query) and p.title.split()[0] == p.title_nouns[0]
        assert set(p.attributes) <= set(CATEGORIES[cat]["attributes"]) and 3 <= len(p.attributes) <= 4
        assert set(p.options) == set(CATEGORIES[cat]["options"])
        assert len(p.pricing) in (1, 2) and min(p.pricing) <= p.price <= max(p.pricing)


def test_goals_follow_the_reference_rules():
    for g in CAT.goals:
        target = CAT.by_asin[g.asin]
        assert set(g.attributes) <= set(target.attributes) and 1 <= len(g.attributes) <= 3
        assert all(target.options[n] and v in target.options[n] for n, v in g.options.items())
        above = [c for c in PRICE_CEILINGS if c > target.price][:4]
        assert g.price_upper in above[1:]  # the larger of 2 sampled from the first 4
        option_text = ", and ".join(f"{n}: {v}" for n, v in sorted(g.options.items()))
        assert g.instruction.endswith(f" with {option_text}, and price lower than "
                                      f"{g.price_upper:.2f} dollars")
        assert g.query in g.instruction and all(a in g.instruction for a in g.attributes)


def test_price_ceiling_rule():
    import random

    rng = random.Random(0)
    assert {price_ceiling(24.99, rng) for _ in range(200)} == {40.0, 50.0, 60.0}
    assert price_ceiling(975.0, rng) == 990.0  # 980 and 990 qualify: both are sampled
    assert price_ceiling(985.0, rng) == NO_PRICE_CEILING  # only 990 qualifies


def test_distractors_exist_for_search_and_choice():
    by_type = {}
    for p in CAT.products:
        by_type.setdefault(p.query, []).append(p)
    for g in CAT.goals[:200]:
        target = CAT.by_asin[g.asin]
        same_type = [p for p in by_type[target.query] if p.asin != target.asin]
        assert any(set(p.attributes) != set(target.attributes) for p in same_type)
        assert any(p.query != target.query and set(g.attributes) <= set(p.attributes)
                   for p in CAT.products if p.category == target.category) or len(g.attributes) > 1
    twins = [(a, b) for a, b in zip(CAT.products, CAT.products[1:])
             if (a.query, a.attributes, a.options) == (b.query, b.attributes, b.options)]
    assert len(twins) >= 10
    for original, twin in twins:
        for g in (g for g in CAT.goals if g.asin == original.asin):
            assert twin.price > g.price_upper  # the over-budget twin never wins
            assert twin.asin not in winning_products(CAT, g)


def test_no_two_values_of_an_option_or_a_category_attribute_fuzzy_match():
    """So a wrong option, or another attribute, really costs score."""
    for spec in CATEGORIES.values():
        lists = [*spec["options"].values(), spec["attributes"]]
        for values in lists:
            for a, b in itertools.combinations(values, 2):
                assert token_set_ratio(normalize_color(a), normalize_color(b)) <= FUZZY_THRESHOLD, (a, b)


def test_the_target_always_wins_its_goal():
    small = generate_catalogue(100, seed=0)
    assert all(g.asin in winning_products(small, g) for g in small.goals)
