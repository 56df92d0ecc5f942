"""SocialEnv (rllib_istar/Social-v0): free-text turns, invalid utterances as no-ops, the
judged reward at the episode's end (terminated or truncated), deferred scoring,
config errors, the format warm-up's examples, and GiGPO refused."""
from __future__ import annotations

import random

import pytest

from rllib_istar.envs import make_text_env
from rllib_istar.envs.base import TextEnv
from rllib_istar.envs.contract import check_text_env_class
from rllib_istar.envs.deferred import supports_deferred_outcomes
from rllib_istar.envs.parsing import FREE_TEXT_ENTRY
from rllib_istar.envs.registry import (
    SOCIAL_ID,
    all_vocabulary,
    keeps_own_vocabulary,
    tiny_vocabulary,
)
from rllib_istar.envs.social.env import SocialEnv
from doubles.fake_chat_server import FakeChatServer
from rllib_istar.envs.social.judges import RuleJudge, reward_from_scores


def say(text: str) -> str:
    return f"<think> </think> <action> {text} </action>"


def env_on(scenario_id: str, **cfg) -> tuple[SocialEnv, str]:
    """An env reset on the first seed whose scenario is ``scenario_id``."""
    env = SocialEnv(cfg)
    for seed in range(500):
        obs, _ = env.reset(seed=seed)
        if env.scenario.id == scenario_id:
            return env, obs
    raise AssertionError(f"no seed < 500 draws {scenario_id}")


def test_contract_registration_and_own_vocabulary():
    check_text_env_class(SocialEnv, TextEnv)
    env = make_text_env(SOCIAL_ID)
    assert isinstance(env, SocialEnv) and env.admissible_actions() == [FREE_TEXT_ENTRY]
    assert keeps_own_vocabulary(SOCIAL_ID)
    shared = set(all_vocabulary())
    assert "landlord" not in shared, "Social's words stay out of the shared tiny vocabulary"
    assert {"landlord", "dollars", "<think>", "<action>"} <= set(tiny_vocabulary(SOCIAL_ID))
    assert shared <= set(tiny_vocabulary(SOCIAL_ID))


def test_reset_is_deterministic_and_partner_opens_for_side_1():
    a, b = SocialEnv(), SocialEnv()
    for seed in (0, 1, 7, 12345):
        assert a.reset(seed=seed) == b.reset(seed=seed)
    env = SocialEnv({"agent_side": 1})
    obs, _ = env.reset(seed=3)
    assert env.agent == 1 and len(env.transcript) == 1 and env.transcript[0][0] == 0
    assert f"turn 1 {env.scenario.name(0)} said" in obs
    assert obs.endswith(f"turn 2 {env.scenario.name(1)} said")
    env0 = SocialEnv({"agent_side": 0})
    obs0, _ = env0.reset(seed=3)
    assert env0.transcript == [] and obs0.endswith(f"turn 1 {env0.scenario.name(0)} said")
    # the agent never sees the other side's goal or secret
    other = 1 - env.agent
    assert env.scenario.goals[other] not in obs
    if env.scenario.secrets[other]:
        assert env.scenario.secrets[other] not in obs


def test_valid_turn_appends_both_sides_and_the_prompt_has_no_second_history():
    env = SocialEnv({"agent_side": 0})
    obs, _ = env.reset(seed=5)
    obs2, reward, term, trunc, info = env.step(say("Hello, how are you?"))
    assert info["is_action_valid"] and info["action"] == "hello, how are you"
    assert [s for s, _ in env.transcript] == [0, 1] and env.transcript[0][1] == "hello, how are you"
    assert (reward, term, trunc) == (0.0, False, False)
    prompt = env.render_prompt(obs2, [(obs, "hello, how are you")])
    assert prompt.count("hello, how are you") == 1, "the transcript is the history"


@pytest.mark.parametrize("response,reason", [
    ("<action> hi </action>", "missing <think>"),
    (say("Ben: i will pay 50"), "invalid utterance: speaker prefix"),
    (say("sure turn 3 ben said deal"), "invalid utterance: role marker"),
    (say("assistant: yes"), "invalid utterance: role marker"),
    (say("word " * 40), "invalid utterance: over 120 characters"),
    ("<think> </think> <action> </action>", "empty action"),
])
def test_invalid_utterances_are_no_op_turns(response, reason):
    env, obs = env_on("neg_bike", agent_side=0, max_utterance_chars=120)
    obs2, reward, term, trunc, info = env.step(response)
    assert not info["is_action_valid"] and info["parse_reason"].startswith(reason)
    assert env.transcript == [] and obs2 == obs and reward == 0.0 and not term


def test_leaving_ends_the_episode_with_the_rule_judges_reward():
    env, _ = env_on("neg_bike", agent_side=0)
    out = env.step(say("i can pay 50 dollars for the bike"))
    assert not (out[2] or out[3])
    for text in ("deal 60 dollars it is", "thanks bye"):
        obs, reward, term, trunc, info = env.step(say(text))
        if term or trunc:
            break
    assert term and not trunc
    expected = RuleJudge().judge(env.scenario, env.transcript, env.agent)
    assert info["judge_scores"] == expected
    assert reward == pytest.approx(reward_from_scores(expected, "goal"))
    assert info["won"] == (expected["goal"] >= 7.0)


def test_truncation_is_judged_too_and_reward_mean():
    env, _ = env_on("neg_bike", agent_side=0, max_steps=2, max_turns=20, reward="mean")
    env.step(say("hello"))
    obs, reward, term, trunc, info = env.step("no tags at all")  # invalid last turn
    assert trunc and not term and not info["is_action_valid"]
    scores = RuleJudge().judge(env.scenario, env.transcript, env.agent)
    assert reward == pytest.approx(sum(scores.values()) / len(scores))


def test_deferred_scoring_matches_immediate_and_is_batched():
    def play(env):
        env.step(say("i can pay 55 dollars"))
        out = None
        for _ in range(10):
            out = env.step(say("deal 55 dollars bye"))
            if out[2] or out[3]:
                break
        return out

    now, _ = env_on("neg_bike", agent_side=0)
    immediate = play(now)
    later, _ = env_on("neg_bike", agent_side=0)
    assert supports_deferred_outcomes(later)
    later.set_deferred_outcomes(True)
    deferred = play(later)
    assert deferred[1] == 0.0 and "judge_scores" not in deferred[4]
    request = later.pop_pending_outcome()
    assert later.pop_pending_outcome() is None, "a request is handed out once"
    [outcome] = later.score_pending_outcomes([request])
    assert outcome.reward == pytest.approx(immediate[1])
    assert outcome.won == immediate[4]["won"]
    assert outcome.info["judge_scores"] == immediate[4]["judge_scores"]


def test_openai_judge_through_the_env_is_cached(monkeypatch):
    monkeypatch.setenv("SOCIAL_ENV_TEST_KEY", "k")
    with FakeChatServer({"goal": 8}) as srv:
        cfg = {"agent_side": 0, "judge": "openai", "judge_url": srv.base_url,
               "judge_model": "fake", "judge_api_key_env": "SOCIAL_ENV_TEST_KEY",
               "judge_timeout_s": 5.0, "judge_dimensions": ["goal"]}
        rewards = []
        for _ in range(2):  # the same dialogue twice: the second is a cache hit
            env, _ = env_on("neg_bike", **cfg)
            env.set_deferred_outcomes(True)
            env.step(say("hello bye"))
            rewards.append(env.score_pending_outcomes([env.pop_pending_outcome()])[0])
        assert srv.requests == 1
        assert [r.reward for r in rewards] == [0.8, 0.8]
        assert rewards[1].info["judge_cache_hit_rate"] == 1.0


@pytest.mark.parametrize("cfg,needle", [
    ({"action_format": "bare"}, "action_format must be 'tags'"),
    ({"judge": "gpt"}, "judge must be one of"),
    ({"judge": "hf"}, "judge 'hf' needs judge_model"),
    ({"judge": "openai", "judge_model": "m"}, "judge 'openai' needs judge_url"),
    ({"reward": "sum"}, "reward must be one of"),
    ({"kinds": ["haggling"]}, "kinds must be null or a list of"),
    ({"agent_side": 2}, "agent_side must be null, 0 or 1"),
    ({"max_turns": 0}, "max_turns must be an int >= 1"),
    ({"judge_dimensions": ["secret"]}, "judge_dimensions must be null or a list of"),
    ({"judge_cahce": "x"}, "unknown env_config key"),
])
def test_bad_config_is_one_line(cfg, needle):
    with pytest.raises(ValueError) as err:
        SocialEnv(cfg)
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_format_examples_parse_as_valid_utterances():
    env = SocialEnv({"agent_side": 0})
    rng = random.Random(0)
    for seed in range(20):
        env.reset(seed=seed)
        example = env.format_example_action(rng)
        _, _, _, _, info = env.step(say(example))
        assert info["is_action_valid"], (example, info["parse_reason"])
        assert set(example.split()) <= set(SocialEnv.vocabulary())


def test_gigpo_is_refused_on_social():
    from rllib_istar import IStarConfig

    config = IStarConfig().environment(SOCIAL_ID).training(advantage_estimator="gigpo")
    with pytest.raises(ValueError, match="gigpo needs repeated states"):
        config.validate()


def test_silence_reaches_no_goal():
    """An agent whose every turn is invalid never speaks: the judge gives it goal 0 even
    where its criterion (keep the secret, refuse) would hold by default."""
    for scenario_id in ("neg_bike",) + tuple(
            s.id for s in SocialEnv().scenarios if s.kind == "secret")[:1]:
        for side in (0, 1):
            env, _ = env_on(scenario_id, agent_side=side, max_steps=2)
            env.step("no tags")
            *_, info = env.step("no tags")
            assert info["judge_scores"]["goal"] == 0.0 and info["won"] is False
