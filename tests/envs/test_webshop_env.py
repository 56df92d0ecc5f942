"""WebShopEnv: contract, oracle episodes to score 1, oracle step labels, no-ops, seeding."""
import math
import random
import time

import gymnasium
import pytest

from rllib_istar import columns as C
from rllib_istar.envs import WEBSHOP_ID, WebShopEnv, make_text_env, register_text_env
from rllib_istar.envs.webshop.catalogue import catalogue_words
from rllib_istar.envs.webshop.search import RESULTS_PER_PAGE


def act(env, action):
    return env.step(f"<think> shop </think> <action>{action}</action>")


def oracle_actions(env):
    """Search the goal's type, page to the target, open it, pick the goal options, buy."""
    goal = env.goal
    actions = [f"search[{goal.query}]"]
    position = env.index.search(goal.query).index(goal.asin)
    actions += ["click[next >]"] * (position // RESULTS_PER_PAGE)
    actions += [f"click[{goal.asin}]", *(f"click[{v}]" for v in goal.options.values()),
                "click[buy now]"]
    return actions


def play(env, actions):
    steps = []
    for a in actions:
        obs, reward, terminated, truncated, info = act(env, a)
        steps.append((obs, reward, terminated, truncated, info))
        if terminated or truncated:
            break
    return steps


def test_registered_and_passes_the_contract(scratch_ids):
    scratch_ids.append("test/WebShopCopy-v0")
    register_text_env("test/WebShopCopy-v0", WebShopEnv)  # runs the contract check
    assert isinstance(make_text_env(WEBSHOP_ID), WebShopEnv)
    env = gymnasium.make(WEBSHOP_ID, max_steps=5)
    obs, info = env.reset(seed=3)
    assert obs.startswith("WebShop [SEP] Instruction: [SEP] ") and obs.endswith(" [SEP] Search")
    assert info["task_score"] == 0.0 and info["won"] is False
    env.close()


@pytest.mark.parametrize("reward_mode,success_reward", [("success_10", 10.0), ("score", 1.0)])
def test_oracle_actions_reach_score_one_with_positive_labels(reward_mode, success_reward):
    env = WebShopEnv({"reward_mode": reward_mode})
    for seed in range(40):
        env.reset(seed=seed)
        steps = play(env, oracle_actions(env))
        obs, reward, terminated, truncated, info = steps[-1]
        assert terminated and not truncated and info["won"] and info["task_score"] == 1.0
        assert reward == success_reward and sum(s[1] for s in steps) == success_reward
        assert obs.endswith("Your score (min 0.0, max 1.0) [SEP] 1.00")
        assert all(s[4]["is_action_valid"] for s in steps)
        assert [s[4][C.ORACLE_LABEL] for s in steps] == [1.0] * len(steps)


def _goal_with_twin(env):
    """A goal whose target has an over-budget twin (same title, dearer)."""
    for index, goal in enumerate(env.goals):
        target = env.catalogue.by_asin[goal.asin]
        twins = [p for p in env.catalogue.products if p.asin != target.asin
                 and (p.title, p.attributes) == (target.title, target.attributes)
                 and p.price > goal.price_upper]
        if twins:
            return index, twins[0]
    raise AssertionError("no twin in the catalogue")


def test_labels_on_a_hand_made_trajectory_with_mistakes():
    env = WebShopEnv()
    index, twin = _goal_with_twin(env)
    env.reset(seed=0, options={"goal_index": index})
    goal = env.goal
    name, right = next(iter(goal.options.items()))
    wrong = next(v for v in env.catalogue.by_asin[goal.asin].options[name] if v != right)
    trajectory = [
        ("search[zzz]", -1.0),                 # no result holds a winner
        ("click[back to search]", 0.0),
        (f"search[{goal.query}]", 1.0),
        (f"click[{twin.asin}]", -1.0),         # the over-budget twin
        (f"click[{right}]", 0.0),              # an option on a non-winner: no label
        ("click[description]", 0.0),
        ("click[< prev]", 0.0),                # sub-page -> item
        ("click[< prev]", 0.0),                # item -> results
    ]
    env_steps = play(env, [a for a, _ in trajectory])
    assert [s[4][C.ORACLE_LABEL] for s in env_steps] == [lab for _, lab in trajectory]
    assert env.page == "results"
    env2 = WebShopEnv({"max_steps": 20})
    env2.reset(seed=0, options={"goal_index": index})
    tail = [
        (f"search[{goal.query}]", 1.0),
        *[("click[next >]", 1.0)] * (env2.index.search(goal.query).index(goal.asin) // 10),
        (f"click[{goal.asin}]", 1.0),
        (f"click[{wrong}]", -1.0),             # a wrong value of a goal option
        (f"click[{right}]", 1.0),
        (f"click[{right}]", 0.0),              # already matched
        ("click[features]", 0.0), ("click[< prev]", 0.0),
        ("not an action", 0.0),                # invalid: label 0
        ("click[buy now]", 1.0 if len(goal.options) == 1 else -1.0),
    ]
    steps = play(env2, [a for a, _ in tail])
    assert [s[4][C.ORACLE_LABEL] for s in steps] == [lab for _, lab in tail]
    assert steps[-1][2] and steps[-1][4]["won"] == (len(goal.options) == 1)


def test_buying_the_twin_misses_the_price_and_is_labelled_wrong():
    env = WebShopEnv()
    index, twin = _goal_with_twin(env)
    env.reset(seed=0, options={"goal_index": index})
    goal = env.goal
    steps = play(env, [f"search[{twin.title}]", f"click[{twin.asin}]",
                       *(f"click[{v}]" for v in goal.options.values()), "click[buy now]"])
    n = len(goal.attributes) + len(goal.options) + 1
    _, reward, terminated, _, info = steps[-1]
    assert terminated and reward == 0.0 and not info["won"]
    assert info["task_score"] == pytest.approx((n - 1) / n) and info[C.ORACLE_LABEL] == -1.0


def test_paging_labels():
    """Next > is +1 only onto the page that shows a winner; other paging is 0."""
    env = WebShopEnv({"max_steps": 20})
    for index, goal in enumerate(env.goals):
        results = env.index.search("from")
        winners_at = [results.index(a) // 10 for a in results if a == goal.asin]
        if winners_at and winners_at[0] >= 1:
            break
    env.reset(seed=0, options={"goal_index": index})
    page = next(results.index(a) // 10 for a in results if a in env.winners)
    assert page >= 1
    steps = play(env, ["search[from]", *["click[next >]"] * page, "click[< prev]"])
    labels = [s[4][C.ORACLE_LABEL] for s in steps]
    assert labels == [1.0] + [0.0] * (page - 1) + [1.0, 0.0]


def test_invalid_actions_are_no_ops():
    env = WebShopEnv({"max_steps": 4})
    obs0, _ = env.reset(seed=5)
    for text in ["click[buy now]", "search[]", "<action>search[shoes]</action>", "buy", ""]:
        obs, reward, terminated, truncated, info = env.step(
            text if text.startswith("<") or not text else f"<think></think><action>{text}</action>")
        assert obs == obs0 and reward == 0.0 and not terminated and not info["is_action_valid"]
        assert info[C.ORACLE_LABEL] == 0.0 and info["task_score"] == 0.0
        if truncated:
            break
    assert truncated and info["step"] == 4
    env.reset(seed=5)
    act(env, f"search[{env.goal.query}]")
    page = env.current_observation
    _, reward, _, _, info = act(env, "click[b999999999]")
    assert env.current_observation == page and not info["is_action_valid"] and reward == 0.0


def test_truncation_at_max_steps_default_10():
    env = WebShopEnv()
    assert env.max_steps == 10
    env.reset(seed=1)
    steps = play(env, ["click[description]"] * 20)
    assert len(steps) == 10 and steps[-1][3] and not steps[-1][2]


def test_reset_is_deterministic_in_the_seed():
    a, b = WebShopEnv(), WebShopEnv()
    for seed in (0, 1, 17, 2**31 - 2):
        assert a.reset(seed=seed)[0] == b.reset(seed=seed)[0]
        assert a.goal == b.goal and a.winners == b.winners
    instructions = {WebShopEnv().reset(seed=s)[0] for s in range(30)}
    assert len(instructions) > 20
    test_env = WebShopEnv({"split": "test"})
    assert len(test_env.goals) == 100 and test_env.goals == a.catalogue.goals[:100]
    assert a.goals == a.catalogue.goals[100:]


def test_listed_search_mode():
    env = WebShopEnv({"search_mode": "listed"})
    env.reset(seed=0)
    admissible = env.admissible_actions()
    assert len(admissible) == 20 and f"search[{env.goal.query}]" in admissible
    assert not act(env, "search[red]")[4]["is_action_valid"]
    assert act(env, f"search[{env.goal.query}]")[4][C.ORACLE_LABEL] == 1.0


@pytest.mark.parametrize("cfg,match", [
    ({"num_products": 0}, "num_products must be an int"),
    ({"split": "dev"}, "split must be one of"),
    ({"reward_mode": "dense"}, "reward_mode must be one of"),
    ({"search_mode": "any"}, "search_mode must be one of"),
    ({"catalogue_seed": -1}, "catalogue_seed must be an int"),
    ({"num_test_goals": 10_000}, "has no goals"),
    ({"items_file": 3}, "items_file must be a path"),
    ({"colour": "red"}, "unknown env_config key"),
])
def test_bad_config_values_raise_one_line(cfg, match):
    with pytest.raises(ValueError, match=match) as err:
        WebShopEnv(cfg)
    assert "\n" not in str(err.value)


def test_bad_goal_index():
    with pytest.raises(ValueError, match="goal_index must be an int"):
        WebShopEnv().reset(seed=0, options={"goal_index": -1})


def test_vocabulary_covers_pages_actions_and_prompts():
    vocab = set(WebShopEnv.vocabulary())
    env = WebShopEnv({"max_steps": 30})
    rng = random.Random(0)
    words = sorted(catalogue_words())  # free queries made of catalogue words
    for seed in range(40):
        obs, _ = env.reset(seed=seed)
        history = []
        seen = [obs]
        for _ in range(30):
            admissible = env.admissible_actions()
            seen.append(env.render_prompt(obs, history[-2:]))
            if admissible == ["search[<your query>]"]:
                choice = rng.choice([env.goal.query, " ".join(rng.sample(words, 3))])
                action = f"search[{choice}]"
            else:
                action = rng.choice(admissible)
            seen.append(action)
            new_obs, _, terminated, truncated, _ = act(env, action)
            history.append((obs, action))
            obs = new_obs
            seen.append(obs)
            if terminated or truncated:
                break
        unknown = {w for text in seen for w in text.split()} - vocab
        assert not unknown, unknown


def test_step_and_reset_time_is_reported():
    env = WebShopEnv()
    rng = random.Random(0)
    resets = steps = 0
    reset_s = step_s = 0.0
    while steps < 2000:
        t0 = time.perf_counter()
        env.reset(seed=rng.randrange(10**6))
        reset_s += time.perf_counter() - t0
        resets += 1
        for action in oracle_actions(env):
            t0 = time.perf_counter()
            _, _, terminated, truncated, _ = act(env, action)
            step_s += time.perf_counter() - t0
            steps += 1
            if terminated or truncated:
                break
    print(f"\nWebShopEnv (100 products): reset {1e3 * reset_s / resets:.3f} ms, "
          f"step {1e3 * step_s / steps:.3f} ms (parse included) over {steps} steps")
    assert math.isfinite(step_s)


def test_free_search_warmup_examples_are_filled_queries():
    """The format warm-up trains on filled-in queries, never the literal placeholder."""
    import random

    from rllib_istar.envs.webshop.env import WebShopEnv

    env = WebShopEnv({"search_mode": "free"})
    rng = random.Random(0)
    for seed in range(10):
        env.reset(seed=seed)
        example = env.format_example_action(rng)
        assert example.startswith("search[") and "<" not in example, example
        query = example[len("search["):-1].split()
        assert 1 <= len(query) <= 4 and set(query) <= set(env.goal.instruction.lower().split())
        _, _, _, _, info = env.step(f"<think> </think> <action> {example} </action>")
        assert info["is_action_valid"], info["parse_reason"]
