"""LLMEnvRunner: group semantics, batched generation, token-in/token-out, bad input."""
import pytest
import torch

from rllib_istar import columns as C
from rllib_istar.envs import register_text_env
from rllib_istar.envs.key_corridor import KeyCorridorEnv
from rllib_istar.rollout.env_runner import LLMEnvRunner


class CrashingEnv(KeyCorridorEnv):
    """Raises on its second step for odd task seeds."""

    def step(self, action):
        if self._task_seed % 2 == 1 and self._steps_taken >= 1:
            raise RuntimeError("simulated env crash")
        self._steps_taken += 1
        return super().step(action)

    def reset(self, *, seed=None, options=None):
        self._steps_taken = 0
        self._task_seed = seed
        return super().reset(seed=seed, options=options)


register_text_env("test/Crashing-v0", CrashingEnv)


def _runner(env="rllib_istar/KeyCorridor-v0", **knobs):
    from rllib_istar import IStarConfig

    # format_warmup_steps 0: a random tiny model (these tests check rollout mechanics)
    settings = dict(group_size=4, num_groups=3, max_new_tokens=3, advantage_estimator="rloo",
                    format_warmup_steps=0)
    settings.update(knobs)
    config = IStarConfig().environment(env).training(**settings)
    return LLMEnvRunner(config=config, worker_index=0)


def test_groups_share_the_task_and_keep_exact_token_ids():
    runner = _runner()
    episodes = runner.sample()
    assert len(episodes) == 12
    groups = {}
    for ep in episodes:
        groups.setdefault(ep.custom_data[C.GROUP_ID], []).append(ep)
    assert len(groups) == 3 and all(len(g) == 4 for g in groups.values())
    for members in groups.values():
        assert len({ep.get_observations()[0] for ep in members}) == 1
        assert len({ep.custom_data[C.TASK_SEED] for ep in members}) == 1
    tok = runner.tokenizer
    for ep in episodes:
        responses = ep.get_extra_model_outputs(C.RESPONSE_IDS)
        logps = ep.get_extra_model_outputs(C.ROLLOUT_LOGP)
        for t, action_text in enumerate(ep.get_actions()):
            assert len(responses[t]) == len(logps[t]) <= 3
            assert action_text == tok.decode(responses[t], skip_special_tokens=True)
        assert C.OUTCOME in ep.custom_data and ep.is_done


def test_one_batched_generate_call_per_step():
    runner = _runner()
    calls = []
    original = runner.generator.generate

    def spy(prompts, **kw):
        calls.append(len(prompts))
        return original(prompts, **kw)

    runner.generator.generate = spy
    episodes = runner.sample()
    steps = max(len(ep) for ep in episodes)
    assert len(calls) == steps
    assert calls[0] == 12  # every live env at once
    assert sum(calls) == sum(len(ep) for ep in episodes)


def test_outcome_subtracts_the_invalid_penalty():
    runner = _runner(invalid_action_penalty=0.25)
    for ep in runner.sample():
        valid = ep.get_extra_model_outputs(C.ACTION_VALID)
        raw = ep.get_extra_model_outputs(C.ENV_REWARD_RAW)
        for t, r in enumerate(ep.get_rewards()):
            assert r == pytest.approx(raw[t] - (0.0 if valid[t] else 0.25))
        expected = float(ep.custom_data[C.WON]) - 0.25 * valid.count(False)
        assert ep.custom_data[C.OUTCOME] == pytest.approx(expected)


def test_env_crash_drops_the_trajectory_and_counts_it():
    runner = _runner(env="test/Crashing-v0", num_groups=6)
    seeds = [1, 2, 3, 4]
    episodes = runner.sample(task_seeds=seeds)
    kept = {ep.custom_data[C.TASK_SEED] for ep in episodes}
    assert kept == {2, 4} and len(episodes) == 8
    metrics = runner.get_metrics()
    assert metrics["num_env_errors"] == 8


def test_overlong_prompts_are_cut_and_counted():
    runner = _runner(max_prompt_length=8, history_length=2)
    episodes = runner.sample(num_groups=1)
    for ep in episodes:
        assert all(len(p) <= 8 for p in ep.get_extra_model_outputs(C.PROMPT_IDS))
    metrics = runner.get_metrics()
    assert metrics["num_prompts_cut"] > 0


def test_unknown_env_and_missing_model_fail_with_clear_messages(tmp_path):
    from rllib_istar.envs import UnknownEnvError
    from rllib_istar.lm import ModelLoadError

    with pytest.raises(UnknownEnvError, match="rllib_istar/KeyCorridor-v0"):
        _runner(env="rllib_istar/Nope-v0")
    missing = str(tmp_path / "no_model_here")
    with pytest.raises(ModelLoadError, match="no_model_here"):
        _runner(model_path=missing)


def test_state_has_no_weights_unless_asked_and_set_state_loads_policy_weights():
    runner = _runner()
    state = runner.get_state()
    assert "rl_module" not in state and state["num_env_steps_sampled_lifetime"] == 0
    weights = {k: torch.zeros_like(v) for k, v in runner.module.get_state().items()}
    runner.set_state({"rl_module": {"default_policy": weights, "prm": {}}, "weights_seq_no": 3})
    assert all(float(v.abs().sum()) == 0 for v in runner.module.get_state().values())
    # an older sequence number is ignored
    runner.set_state({"rl_module": {"default_policy": {k: v + 1 for k, v in weights.items()}},
                      "weights_seq_no": 2})
    assert all(float(v.abs().sum()) == 0 for v in runner.module.get_state().values())


def test_same_seed_same_rollouts():
    a, b = _runner(), _runner()
    ea, eb = a.sample(), b.sample()
    assert [e.get_actions() for e in ea] == [e.get_actions() for e in eb]
