"""One iteration of every estimator and ablation on the tiny model and the toy env.

Checks that the losses move the parameters they should and only those: the
policy always changes; the PRM changes for PRM estimators except under
``ablation: frozen_prm`` (the authors' released PRM never trains); outcome-only estimators build no PRM at all.
"""
import pytest
import torch
from algo_utils import changed, module_state, tiny_config

CASES = [
    ("istar_rloo", None), ("istar_grpo", None), ("istar_reinforce_pp", None),
    ("rloo", None), ("grpo", None), ("reinforce_pp", None), ("gigpo", None), ("prime", None),
    ("istar_rloo", "merged"), ("istar_rloo", "token_level_pr"), ("istar_rloo", "gt_step_reward"),
    ("istar_rloo", "frozen_prm"),
]


@pytest.mark.parametrize("estimator,ablation", CASES, ids=[f"{e}-{a}" for e, a in CASES])
def test_one_iteration_moves_the_right_modules(build, estimator, ablation):
    config = tiny_config(estimator, ablation=ablation)
    algo = build(config)
    learner_modules = set(algo.learner_group._learner.module.keys())
    has_prm = config.uses_prm
    assert learner_modules == ({"default_policy", "prm"} if has_prm else {"default_policy"})
    policy0 = module_state(algo, "default_policy")
    prm0 = module_state(algo, "prm") if has_prm else None
    result = algo.train()

    policy_changed = changed(policy0, module_state(algo, "default_policy"))
    assert len(policy_changed) == len(policy0), "every policy tensor should move"
    learners = result["learners"]
    assert {"policy_loss", "clip_frac", "ratio_mean", "ratio_max", "approx_kl",
            "rollout_learner_logp_gap", "adv_episode_mean"} <= set(learners["default_policy"])
    env = result["env_runners"]
    assert {"success_rate", "episode_return_mean", "episode_len_mean", "invalid_action_rate",
            "generated_tokens_per_s"} <= set(env)
    # the rollout and the learner compute the same log-probs (same weights, fp32)
    assert learners["default_policy"]["rollout_learner_logp_gap_max"] < 1e-4
    if has_prm:
        prm_changed = changed(prm0, module_state(algo, "prm"))
        key = "dpo_loss" if config.estimator.prm_loss == "dpo" else "ce_loss"
        if config.estimator.train_prm:
            assert len(prm_changed) == len(prm0), "every PRM tensor should move"
            assert key in learners["prm"]
        else:  # frozen_prm: the released code's detached loss, the PRM never trains
            assert prm_changed == [] and key not in learners["prm"]
    else:
        assert "prm" not in learners


def test_step_rewards_come_from_the_updated_prm_only_with_prm_update_before(build):
    """``before`` scores with the PRM after its DPO step; ``after`` with the PRM before it."""
    import torch

    from rllib_istar import columns as C
    from rllib_istar.core.step_rewards import implicit_step_rewards

    for order in ("before", "after"):
        algo = build(tiny_config("istar_rloo", prm_update=order, num_groups=4))
        learner = algo.learner_group._learner
        prm = learner.module["prm"]
        captured = {}
        original = learner.prm_phase.run

        def spy(rows, old_logp, init_logp, _orig=original):
            captured["pre"] = learner.microbatcher.chunked_logp(prm.token_logprobs, rows)
            out = _orig(rows, old_logp, init_logp)
            captured["post"] = learner.microbatcher.chunked_logp(prm.token_logprobs, rows)
            captured["args"] = (rows[C.RESPONSE_MASK], old_logp, out[0])
            return out

        learner.prm_phase.run = spy
        algo.train()
        mask, old_logp, used = captured["args"]
        beta = algo.config.prm_beta
        pre = implicit_step_rewards(captured["pre"], old_logp, mask, beta)
        post = implicit_step_rewards(captured["post"], old_logp, mask, beta)
        assert not torch.allclose(pre, post), "the PRM step must change the step rewards"
        expected = post if order == "before" else pre
        assert torch.allclose(used, expected, atol=1e-6), order


def test_policy_update_leaves_prm_untouched_and_prm_update_leaves_policy_untouched(build):
    algo = build(tiny_config("istar_rloo"))
    learner = algo.learner_group._learner
    from rllib_istar.connectors.episodes_to_rows import episodes_to_rows

    episodes = algo.env_runner_group.local_env_runner.sample()
    rows = {k: v for k, v in episodes_to_rows(episodes).items()}
    old_logp = learner._old_logp(rows)
    policy0, prm0 = module_state(algo, "default_policy"), module_state(algo, "prm")
    learner.prm_phase.dpo_step(rows, old_logp)
    assert changed(policy0, module_state(algo, "default_policy")) == []
    assert len(changed(prm0, module_state(algo, "prm"))) == len(prm0)


def test_weight_sync_ships_the_policy_only(build):
    """The PRM is learner-only: its inference-only state is empty, so no sync ships it."""
    algo = build(tiny_config("istar_rloo"))
    state = algo.learner_group.get_state(components="learner/rl_module",
                                         inference_only=True)["learner"]["rl_module"]
    assert state["prm"] == {} and len(state["default_policy"]) > 0
    runner = algo.env_runner_group.local_env_runner
    assert not hasattr(runner.module, "prm") and type(runner.module).__name__ == "CausalLMRLModule"
    algo.train()
    runner_state = runner.module.get_state()
    learner_policy = module_state(algo, "default_policy")
    assert all(torch.equal(runner_state[k], learner_policy[k]) for k in runner_state)
    assert all(v.dtype == learner_policy[k].dtype for k, v in runner_state.items())


def test_kl_to_reference_and_entropy_bonus_are_logged_and_finite(build):
    import math

    algo = build(tiny_config("rloo", kl_coef=0.1, entropy_coef=0.01, num_epochs=2))
    result = algo.train()["learners"]["default_policy"]
    assert math.isfinite(result["kl_ref"]) and result["kl_ref"] >= 0.0
    assert math.isfinite(result["entropy"]) and result["entropy"] > 0.0
