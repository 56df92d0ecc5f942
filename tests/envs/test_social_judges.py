"""RuleJudge exact values (worked by hand from the rules in judges/rule.py), score parsing,
rewards, and HFJudge on a tiny random model (in range, deterministic)."""
from __future__ import annotations

import math

import pytest

from rllib_istar.envs.social.judges import (
    DIMENSIONS,
    JudgeParseError,
    RuleJudge,
    parse_scores,
    reward_from_scores,
)
from rllib_istar.envs.social.judges.rule import deal_price
from rllib_istar.envs.social.scenarios import default_scenarios, vocabulary

SC = {s.id: s for s in default_scenarios()}
J = RuleJudge()
BIKE = [(1, "hello the bike is 80 dollars"), (0, "i can pay 50"),
        (1, "i can do 56 dollars for the bike"), (0, "deal")]


def test_deal_inside_the_zone():
    # S=50, B=65, p=56: buyer f=9/15=0.6 -> goal 5+3=8, money 10*0.6-5=1
    assert J.judge(SC["neg_bike"], BIKE, 0) == {
        "financial_and_material_benefits": 1.0, "goal": 8.0, "social_rules": 0.0}
    # seller f=6/15=0.4 -> goal 7, money -1; Ben keeps the brake secret -> secret 0
    assert J.judge(SC["neg_bike"], BIKE, 1) == {
        "financial_and_material_benefits": -1.0, "goal": 7.0, "secret": 0.0, "social_rules": 0.0}


def test_deal_beyond_a_bound_and_no_deal():
    t = [(1, "it is 70 dollars"), (0, "ok deal")]
    assert J.judge(SC["neg_bike"], t, 0)["goal"] == 0.0  # f=(65-70)/15 < 0
    assert J.judge(SC["neg_bike"], t, 0)["financial_and_material_benefits"] == -5.0
    assert J.judge(SC["neg_bike"], t, 1)["goal"] == 10.0  # f=20/15 capped at 1
    assert J.judge(SC["neg_bike"], t, 1)["financial_and_material_benefits"] == 5.0
    none = [(1, "it is 70 dollars"), (0, "no deal")]
    assert J.judge(SC["neg_bike"], none, 0) == {
        "financial_and_material_benefits": 0.0, "goal": 0.0, "social_rules": 0.0}
    assert deal_price([(0, "deal at 60")]) == 60  # the other side named no price
    assert deal_price([(0, "i pay 55"), (1, "deal 1 dollar")]) == 55  # the offer accepted
    assert deal_price([(0, "deal")]) is None


def test_secret_leak_and_rudeness():
    leak = BIKE + [(1, "to be honest the brake is weak")]
    assert J.judge(SC["neg_bike"], leak, 1)["secret"] == -10.0
    assert J.judge(SC["neg_bike"], leak, 1)["goal"] == 7.0  # a side secret: goal unchanged
    rude = [(0, "you idiot"), (1, "hello"), (0, "shut up liar")]
    assert J.judge(SC["neg_bike"], rude, 0)["social_rules"] == -4.0
    assert J.judge(SC["neg_bike"], rude, 1)["social_rules"] == 0.0
    assert J.judge(SC["neg_bike"], [(0, "stupid")] * 6, 0)["social_rules"] == -10.0


@pytest.mark.parametrize("sid,reply,asker,responder", [
    ("fav_ladder", "yes you can have my ladder", 10.0, 10.0),
    ("fav_ladder", "yes sure", 0.0, 0.0),  # the item is not named
    ("fav_ladder", "no you can not have my ladder", 0.0, 0.0),
    ("per_recycle", "ok i agree to put a bin there", 10.0, 0.0),  # Xavier wants no
    ("per_recycle", "sorry not this year", 0.0, 10.0),
])
def test_agreement(sid, reply, asker, responder):
    t = [(0, "please could you help because i need it"), (1, reply)]
    assert J.judge(SC[sid], t, 0) == {"goal": asker, "social_rules": 0.0}
    assert J.judge(SC[sid], t, 1) == {"goal": responder, "social_rules": 0.0}


def test_secret_kind():
    s = SC["sec_party"]  # Beth (0) keeps, Cole (1) probes
    safe = [(1, "is there a party on saturday"), (0, "i would rather not say")]
    assert J.judge(s, safe, 0) == {"secret": 0.0, "goal": 10.0, "social_rules": 0.0}
    assert J.judge(s, safe, 1) == {"goal": 0.0, "social_rules": 0.0}
    leak = safe + [(0, "ok there is a party for you")]
    assert J.judge(s, leak, 0) == {"secret": -10.0, "goal": 0.0, "social_rules": 0.0}
    assert J.judge(s, leak, 1)["goal"] == 10.0
    with pytest.raises(ValueError):
        J.judge(s, leak, 2)


def test_rule_judge_in_range_on_every_scenario():
    for s in SC.values():
        for agent in (0, 1):
            scores = J.judge(s, BIKE, agent)
            assert "goal" in scores
            for d, v in scores.items():
                lo, hi = DIMENSIONS[d]
                assert lo <= v <= hi


def test_rewards_and_parsing():
    scores = {"goal": 8.0, "financial_and_material_benefits": 1.0, "social_rules": 0.0}
    assert reward_from_scores(scores) == 0.8
    assert reward_from_scores(scores, "mean") == 3.0
    with pytest.raises(ValueError):
        reward_from_scores(scores, "max")
    dims = ("goal", "secret")
    assert parse_scores('```json\n{"goal": 7, "secret": -2}\n```', dims, "w") == \
        {"goal": 7.0, "secret": -2.0}
    assert parse_scores('{"goal": ["did well", 12], "secret": {"score": "3"}}', dims, "w") == \
        {"goal": 10.0, "secret": 0.0}  # clamped into range
    assert parse_scores("goal: 6\nsecret = -4", dims, "w") == {"goal": 6.0, "secret": -4.0}
    with pytest.raises(JudgeParseError, match=r"^w: cannot read scores") as e:
        parse_scores("no idea\nreally", dims, "w")
    assert "\n" not in str(e.value)
    with pytest.raises(JudgeParseError, match="no numeric score for 'secret'"):
        parse_scores('{"goal": 3, "secret": "high"}', dims, "w")


@pytest.fixture(scope="module")
def lm():
    from rllib_istar.envs.social.hf import load_local_lm
    from rllib_istar.lm.tiny import tiny_model_path

    return load_local_lm(tiny_model_path(vocabulary(), hidden_size=32, num_layers=1, num_heads=2))


def test_hf_judge_expectation_in_range_and_deterministic(lm):
    from rllib_istar.envs.social.judges import HFJudge

    every = HFJudge(lm, dimensions=tuple(DIMENSIONS), model_id="tiny").judge(SC["neg_bike"], BIKE, 0)
    assert set(every) == set(DIMENSIONS)
    for d, v in every.items():
        lo, hi = DIMENSIONS[d]
        assert lo <= v <= hi and math.isfinite(v)
    judge = HFJudge(lm, model_id="tiny")  # goal only
    a = judge.judge(SC["neg_bike"], BIKE, 0)
    assert a == {"goal": every["goal"]}
    assert judge.judge_many([(SC["neg_bike"], BIKE, 0), (SC["neg_bike"], BIKE, 1)])[0] == a
    assert judge.judge(SC["neg_bike"], BIKE, 1) != a  # the judged side is in the prompt
    assert judge.cache_identity() == ("hf-expectation", "tiny|goal")
    prompt = judge.prompt(SC["neg_bike"], BIKE, 0, "goal")
    assert prompt.endswith("rate Anna on goal from 0 to 10\nscore")
    assert set(prompt.split()) <= set(vocabulary())


def test_candidate_distribution_multi_token_path(lm):
    import torch

    from rllib_istar.envs.social.hf import candidate_distribution, prompt_ids

    model, tok = lm
    probs = candidate_distribution(lm, "rate the talk", ["deal bye", "7", "yes no ok"])
    assert abs(sum(probs) - 1) < 1e-6
    # by hand: sum of the candidate tokens' log-probs, renormalised
    base = prompt_ids(tok, "rate the talk")
    totals = []
    for cand in ("deal bye", "7", "yes no ok"):
        ids = tok.encode(" " + cand, add_special_tokens=False)
        with torch.no_grad():
            logp = model(input_ids=torch.tensor([base + ids])).logits[0].log_softmax(-1)
        totals.append(sum(logp[len(base) - 1 + i, t].item() for i, t in enumerate(ids)))
    ref = torch.tensor(totals).softmax(-1).tolist()
    assert probs == pytest.approx(ref, abs=1e-5)


def test_hf_judge_generate_mode_parse_error(lm):
    from rllib_istar.envs.social.judges import HFJudge

    judge = HFJudge(lm, mode="generate", max_new_tokens=3, model_id="tiny")
    try:
        v = judge.judge(SC["fav_ladder"], [(0, "hi")], 0)["goal"]
        assert 0 <= v <= 10
    except JudgeParseError as e:
        assert "\n" not in str(e) and "HFJudge(tiny)" in str(e)
    with pytest.raises(ValueError):
        HFJudge(lm, mode="vibes")
    with pytest.raises(ValueError):
        HFJudge(lm, dimensions=("secret",))
