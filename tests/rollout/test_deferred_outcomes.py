"""Deferred outcomes (envs/deferred.py) through LLMEnvRunner on Social-v0: one batched
judge call per sample(), its reward added to each episode's last step, its won taken,
its scores kept in custom data and logged; the tiny model covers Social's own words."""
from __future__ import annotations

import pytest

from rllib_istar import columns as C
from rllib_istar import metrics as M
from rllib_istar.envs.registry import SOCIAL_ID
from rllib_istar.envs.social.judges import RuleJudge


@pytest.fixture(scope="module")
def runner():
    from rllib_istar import IStarConfig
    from rllib_istar.rollout.env_runner import LLMEnvRunner

    config = (IStarConfig().environment(SOCIAL_ID, env_config={"max_steps": 3, "max_turns": 6})
              .training(group_size=2, num_groups=3, max_new_tokens=12, history_length=0,
                        format_warmup_steps=0,
                        advantage_estimator="rloo", outcome="return")
              .debugging(seed=0))
    r = LLMEnvRunner(config=config, worker_index=0)
    yield r
    r.stop()


def test_base_model_spec_adds_the_env_for_tiny_models():
    from rllib_istar import IStarConfig

    assert IStarConfig().environment(SOCIAL_ID).base_model_spec() == f"tiny+{SOCIAL_ID}"
    toy = IStarConfig().environment("rllib_istar/KeyCorridor-v0")
    assert toy.base_model_spec() == "tiny", "shared-vocabulary envs keep the shared tiny model"


def test_one_batched_judge_call_per_sample(runner, monkeypatch):
    calls = []
    env = runner._pooled_env(0)
    judge = env.judge
    inner = judge.inner.judge_many

    def counting(requests):
        calls.append(len(requests))
        return inner(requests)

    monkeypatch.setattr(judge.inner, "judge_many", counting)
    episodes = runner.sample()
    assert len(episodes) == 6
    assert len(calls) <= 1 and sum(calls) <= 6, "at most one judge_many per sample"
    metrics = runner.get_metrics()
    assert metrics[M.DEFERRED_OUTCOMES] == 6
    assert f"{M.DEFERRED_PREFIX}judge_scores/goal" in metrics


def test_episode_reward_and_won_come_from_the_judge(runner):
    penalty = runner.config.invalid_action_penalty
    for slot, ep in enumerate(runner.sample()):  # no env error: episode i ran in slot i
        env = runner._env_pool[slot]
        scores = ep.custom_data[C.DEFERRED_INFO]["judge_scores"]
        assert scores == RuleJudge().judge(env.scenario, env.transcript, env.agent)
        valid = ep.get_extra_model_outputs(C.ACTION_VALID)
        raw = ep.get_extra_model_outputs(C.ENV_REWARD_RAW)
        rewards = ep.get_rewards()
        assert list(raw[:-1]) == [0.0] * (len(raw) - 1), "the judge scores only the end"
        assert raw[-1] == pytest.approx(scores["goal"] / 10.0)
        assert rewards[-1] == pytest.approx(raw[-1] - (0.0 if valid[-1] else penalty))
        assert ep.custom_data[C.WON] == (scores["goal"] >= 7.0)
        assert ep.custom_data[C.OUTCOME] == pytest.approx(float(sum(rewards)))
