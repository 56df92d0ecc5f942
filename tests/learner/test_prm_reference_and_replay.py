"""``prm_reference`` (rolling | initial) with its regulariser, and the PRM's replay of
recent batches (docs/STEP_REWARDS.md). Each test runs a real ``train()`` first, so the
state the checks read (a moved policy, PRM and optimizer moments) is a trained one."""
import pytest
import torch
from algo_utils import changed, module_state, tiny_config

from rllib_istar import columns as C
from rllib_istar.envs import CREDIT_CHAIN_ID


def _adam_steps(learner, module_id):
    (name,) = learner._module_optimizers[module_id]
    state = learner.get_optimizer(module_id, name).state
    return sorted({float(s["step"]) for s in state.values()})


def _rows(algo):
    from rllib_istar.connectors.episodes_to_rows import episodes_to_rows

    return episodes_to_rows(algo.env_runner_group.local_env_runner.sample())


def _fresh_policy_logp(algo, rows):
    """Log-probs of a policy module built afresh from the checkpoint (the initial weights)."""
    spec = algo.config.policy_module_spec()
    runner = algo.env_runner_group.local_env_runner
    spec.observation_space, spec.action_space = runner.env.observation_space, runner.env.action_space
    fresh = spec.build()
    return fresh.token_logprobs(rows[C.INPUT_IDS], rows[C.ATTENTION_MASK],
                                response_mask=rows[C.RESPONSE_MASK])


@pytest.mark.parametrize("mode", [{}, {"policy_mode": "lora"}, {"prm_mode": "lora"}])
def test_initial_reference_logprobs_equal_the_initial_models_after_training(build, mode):
    algo = build(tiny_config("istar_rloo", prm_reference="initial", kl_coef=0.2, **mode))
    policy0 = module_state(algo, "default_policy")
    algo.train()
    algo.train()
    assert changed(policy0, module_state(algo, "default_policy")), "the policy should move"
    learner = algo.learner_group._learner
    rows = _rows(algo)
    init = learner.microbatcher.chunked_logp(learner._initial.token_logprobs, rows)
    expected = _fresh_policy_logp(algo, rows)
    policy_now = learner.microbatcher.chunked_logp(learner.module["default_policy"].token_logprobs, rows)
    mask = rows[C.RESPONSE_MASK].bool()
    assert torch.allclose(init[mask], expected[mask], atol=1e-5)
    assert not torch.allclose(policy_now[mask], expected[mask], atol=1e-3)
    # LoRA: pi_init is the base with the adapter off, not a second copy of the weights
    assert learner._initial.holds_copy == (mode == {})


def test_initial_reference_scores_against_pi_init(build):
    algo = build(tiny_config("istar_rloo", prm_reference="initial", kl_coef=0.2))
    algo.train()
    learner = algo.learner_group._learner
    rows = _rows(algo)
    r = learner.score_step_rewards(rows)
    prm = learner.microbatcher.chunked_logp(learner.module["prm"].token_logprobs, rows)
    init = learner.microbatcher.chunked_logp(learner._initial.token_logprobs, rows)
    old = learner.microbatcher.chunked_logp(learner.module["default_policy"].token_logprobs, rows)
    beta, mask = algo.config.prm_beta, rows[C.RESPONSE_MASK]
    from rllib_istar.core.step_rewards import implicit_step_rewards

    assert torch.allclose(r, implicit_step_rewards(prm, init, mask, beta), atol=1e-6)
    assert not torch.allclose(r, implicit_step_rewards(prm, old, mask, beta), atol=1e-4)


def test_initial_reference_without_a_regulariser_is_refused():
    """Today's fixed-reference setup without a KL term degenerated in 3 of 3 runs."""
    with pytest.raises(ValueError, match="set kl_coef > 0"):
        tiny_config("istar_rloo", prm_reference="initial").validate()
    with pytest.raises(ValueError, match="prm_init is null"):
        tiny_config("istar_rloo", prm_reference="initial", kl_coef=0.2,
                    prm_init="/tmp").validate()
    tiny_config("istar_rloo", prm_reference="initial", kl_coef=0.2).validate()
    # the DPO loss's reference alone keeps the rolling scoring's drift penalty
    tiny_config("istar_rloo", prm_dpo_reference="initial").validate()


def test_replay_trains_the_prm_on_recent_batches_and_only_the_prm(build):
    algo = build(tiny_config("istar_rloo", prm_replay_batches=3, prm_epochs=2))
    learner = algo.learner_group._learner
    seen = []
    for expected_batches in (1, 2, 3, 3):
        before, policy_before = _adam_steps(learner, "prm"), module_state(algo, "default_policy")
        original = learner.prm_phase.run

        def watch(rows, old_logp, init_logp, _orig=original):
            p0 = module_state(algo, "default_policy")
            out = _orig(rows, old_logp, init_logp)
            seen.append(changed(p0, module_state(algo, "default_policy")))
            return out

        learner.prm_phase.run = watch
        result = algo.train()
        learner.prm_phase.run = original
        after = _adam_steps(learner, "prm")
        assert after == [s + 2 * expected_batches for s in before] if before else \
            after == [2.0 * expected_batches]
        assert result["learners"]["prm"]["prm_replay_batches"] == expected_batches - 1
        assert changed(policy_before, module_state(algo, "default_policy"))
    assert all(moved == [] for moved in seen), "the PRM phase moved the policy"


def test_replay_rides_in_the_learner_state(build):
    algo = build(tiny_config("istar_rloo", prm_replay_batches=3))
    algo.train()
    algo.train()
    learner = algo.learner_group._learner
    state = learner.get_state()
    assert len(state["prm_replay"]) == 2
    other = build(tiny_config("istar_rloo", prm_replay_batches=3)).learner_group._learner
    assert len(other._prm_replay) == 0
    other.set_state(state)
    assert len(other._prm_replay) == 2
    for (rows_a, ref_a), (rows_b, ref_b) in zip(learner._prm_replay.get_state(),
                                                other._prm_replay.get_state()):
        assert torch.equal(ref_a, ref_b) and torch.equal(rows_a[C.INPUT_IDS], rows_b[C.INPUT_IDS])


def test_replay_state_survives_a_checkpoint(build, tmp_path):
    algo = build(tiny_config("istar_rloo", prm_replay_batches=2))
    algo.train()
    algo.save_to_path(str(tmp_path / "ckpt"))
    held = algo.learner_group._learner._prm_replay.get_state()
    restored = build(tiny_config("istar_rloo", prm_replay_batches=2))
    restored.restore_from_path(str(tmp_path / "ckpt"))
    got = restored.learner_group._learner._prm_replay.get_state()
    assert len(got) == len(held) == 1
    assert torch.equal(got[0][1], held[0][1])


def test_same_state_terms_add_up_and_mean_what_they_say(build):
    """On CreditChain after real updates: with the initial reference r_phi IS the PRM's
    progress (same ranking); with frozen_prm the PRM never moves, so its progress ranks
    nothing (0.5) and the drift term ranks exactly opposite to the policy's drift."""
    algo = build(tiny_config("istar_rloo", lr=1e-3, num_groups=4, prm_reference="initial",
                             kl_coef=0.2).environment(CREDIT_CHAIN_ID))
    for _ in range(2):
        out = algo.train()["learners"]["default_policy"]
    assert out["credit_state_step_reward"] == out["credit_state_prm_progress"]
    assert out["credit_state_pairs"] == 2 * out["credit_state_prompts"]  # 1 right x 2 wrong
    frozen = build(tiny_config("istar_rloo", lr=1e-3, num_groups=4, ablation="frozen_prm")
                   .environment(CREDIT_CHAIN_ID))
    policy0 = module_state(frozen, "default_policy")
    for _ in range(2):
        out = frozen.train()["learners"]["default_policy"]
    assert changed(policy0, module_state(frozen, "default_policy")), "the policy should move"
    assert out["credit_state_prm_progress"] == 0.5
    assert out["credit_state_step_reward"] == out["credit_state_drift_term"]
    assert out["credit_state_drift_term"] == pytest.approx(1.0 - out["credit_state_policy_drift"])


def test_outcome_only_methods_log_the_policy_drift_and_sampled_credit(build):
    algo = build(tiny_config("rloo", lr=1e-3, num_groups=4).environment(CREDIT_CHAIN_ID))
    for _ in range(2):
        out = algo.train()["learners"]["default_policy"]
    assert "credit_state_policy_drift" in out and "credit_state_step_reward" not in out
    # RLOO's own advantage IS the RLOO signal
    assert out["credit_sampled_advantage"] == out["credit_sampled_rloo"]
