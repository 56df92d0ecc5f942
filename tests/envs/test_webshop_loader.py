"""Mini-WebShop loader: the real WebShop file schema, on a small fixture in that schema."""
from pathlib import Path

import pytest

from rllib_istar.envs.webshop.env import WebShopEnv, winning_products
from rllib_istar.envs.webshop.loader import load_catalogue, parse_pricing, title_nouns
from rllib_istar.envs.webshop.reward import score_purchase

FIXTURES = Path(__file__).parent / "fixtures" / "webshop"
ITEMS = str(FIXTURES / "items_shuffle_fixture.json")
ATTRS = str(FIXTURES / "items_ins_fixture.json")
HUMAN = str(FIXTURES / "items_human_ins_fixture.json")


def test_products_follow_the_reference_load_rules():
    cat = load_catalogue(ITEMS, ATTRS)
    assert [p.asin for p in cat.products] == ["B09QKP7XQL", "B07ZX3ABCD", "B01NOPRICE"]
    shoes, bars, lamp = cat.products
    assert shoes.title == "Acme Women's Running Shoes Lightweight Breathable"
    assert shoes.query == "running shoes"  # lower-cased and stripped
    assert shoes.options == {"color": ("black | white", "navy blue"), "size": ("7", "8")}
    assert shoes.bullets == ("Breathable mesh upper", "Non slip rubber sole")
    assert shoes.pricing == (24.99,) and shoes.price == 24.99 and shoes.price_tag == "$24.99"
    assert shoes.attributes == ("lightweight", "non slip", "rubber sole")
    assert bars.bullets == ("Gluten free and non gmo",) and bars.options == {"flavor": ("honey",)}
    assert bars.pricing == (10.99, 15.99) and 10.99 <= bars.price <= 15.99
    assert bars.price_tag == "$10.99 to $15.99"
    assert lamp.pricing == (100.0,) and lamp.attributes == ("led",)


def test_synthetic_goals_one_per_option_combination():
    cat = load_catalogue(ITEMS, ATTRS)
    shoes_goals = [g for g in cat.goals if g.asin == "B09QKP7XQL"]
    assert len(shoes_goals) == 4 and len(cat.goals) == 5  # the lamp has no instruction
    g = next(g for g in shoes_goals if g.options == {"color": "navy blue", "size": "8"})
    assert g.attributes == ("lightweight", "rubber sole")
    assert g.price_upper in (40.0, 50.0, 60.0)  # larger of 2 of (30, 40, 50, 60)
    assert g.instruction == ("i need lightweight running shoes with a rubber sole with color: "
                             f"navy blue, and size: 8, and price lower than {g.price_upper:.2f} dollars")
    shoes = cat.by_asin["B09QKP7XQL"]
    assert score_purchase(shoes, g, {"color": "navy blue", "size": "8"}).score == 1.0


def test_human_goals_replace_the_synthetic_ones():
    cat = load_catalogue(ITEMS, ATTRS, HUMAN)
    assert sorted(g.asin for g in cat.goals) == ["B07ZX3ABCD", "B09QKP7XQL"]
    shoes_goal = next(g for g in cat.goals if g.asin == "B09QKP7XQL")
    assert shoes_goal.instruction.startswith("I want black running shoes in size 7, and price")
    assert shoes_goal.options == {"option 0": "black | white", "option 1": "7"}
    shoes = cat.by_asin["B09QKP7XQL"]
    assert score_purchase(shoes, shoes_goal, {"color": "black | white", "size": "7"}).score == 1.0
    assert next(g for g in cat.goals if g.asin == "B07ZX3ABCD").options == {"flavor": "honey"}


def test_loading_is_deterministic_in_the_seed():
    a, b = load_catalogue(ITEMS, ATTRS, seed=3), load_catalogue(ITEMS, ATTRS, seed=3)
    assert a.goals == b.goals and a.products == b.products


@pytest.mark.parametrize("raw,parsed", [("$12.99", (12.99,)), ("$10.99 to $15.99", (10.99, 15.99)),
                                        ("$1,299.00", (1299.0,)), ("", (100.0,)), (None, (100.0,))])
def test_parse_pricing(raw, parsed):
    assert parse_pricing(raw) == parsed


def test_title_nouns_approximation():
    assert title_nouns("Nordic Gluten Free Granola Bar, 12 Pack") == \
        ("nordic", "gluten", "free", "granola", "bar")


def _act(env, action):
    return env.step(f"<think> </think> <action>{action}</action>")


@pytest.mark.parametrize("human", [False, True])
def test_the_env_reaches_score_one_on_loaded_files(human):
    env = WebShopEnv({"items_file": ITEMS, "attributes_file": ATTRS, "split": "all",
                      "human_goals_file": HUMAN if human else None})
    for index in range(len(env.goals)):
        env.reset(seed=0, options={"goal_index": index})
        assert env.goal.asin in winning_products(env.catalogue, env.goal)
        _, _, _, _, info = _act(env, f"search[{env.goal.query}]")
        assert info["is_action_valid"] and info["oracle_step_label"] == 1.0
        _act(env, f"click[{env.goal.asin.lower()}]")
        assert env.item == env.goal.asin
        for value in env.goal.options.values():
            _act(env, f"click[{value}]")
        _, reward, terminated, _, info = _act(env, "click[buy now]")
        assert terminated and info["won"] and info["task_score"] == 1.0 and reward == 10.0


def test_missing_items_file_for_attributes_is_an_error():
    with pytest.raises(ValueError, match="need items_file"):
        WebShopEnv({"attributes_file": ATTRS})
