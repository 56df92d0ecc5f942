"""Regression (issue 15, bug 1): the PRM phase steps the PRM's optimizer and nothing else.

RLlib's ``apply_gradients`` steps every optimizer the learner holds. After the
first ``train()`` the policy's parameters still hold the last minibatch's
gradient, so a PRM step through ``apply_gradients`` re-applied it to the policy
after pi_old was computed. These tests therefore run a real ``train()`` first
(gradients, Adam moments, a moved pi_old), then watch the PRM phase of the
second one.
"""
import pytest
import torch
from algo_utils import changed, module_state, tiny_config


def _policy_params(learner):
    return [p.detach().clone() for p in learner.module["default_policy"].parameters()]


def _adam_steps(learner, module_id):
    (name,) = learner._module_optimizers[module_id]
    state = learner.get_optimizer(module_id, name).state
    return sorted(float(s["step"]) for s in state.values())


@pytest.mark.parametrize("estimator", ["istar_rloo", "prime"])
def test_prm_phase_after_a_first_train_leaves_the_policy_bit_identical(build, estimator):
    algo = build(tiny_config(estimator, prm_epochs=2))
    learner = algo.learner_group._learner
    algo.train()
    policy = learner.module["default_policy"]
    assert any(p.grad is not None for p in policy.parameters()), \
        "the first update should leave policy gradients behind (the state the bug needs)"
    seen = {}
    original = learner.prm_phase.run

    def watch(rows, old_logp, init_logp, _orig=original):
        before, steps_before = _policy_params(learner), _adam_steps(learner, "default_policy")
        prm_before = module_state(algo, "prm")
        prm_steps_before = _adam_steps(learner, "prm")
        out = _orig(rows, old_logp, init_logp)
        seen["policy_moved"] = [i for i, (a, b) in enumerate(zip(before, _policy_params(learner)))
                                if not torch.equal(a, b)]
        seen["policy_adam"] = (steps_before, _adam_steps(learner, "default_policy"))
        seen["prm_changed"] = changed(prm_before, module_state(algo, "prm"))
        seen["prm_adam"] = (prm_steps_before, _adam_steps(learner, "prm"))
        seen["n_prm"] = len(prm_before)
        return out

    learner.prm_phase.run = watch
    algo.train()
    assert seen["policy_moved"] == [], f"{len(seen['policy_moved'])} policy tensors moved"
    assert seen["policy_adam"][0] == seen["policy_adam"][1], "the policy optimizer stepped"
    assert len(seen["prm_changed"]) == seen["n_prm"], "every PRM tensor should move"
    before, after = seen["prm_adam"]
    assert after == [s + 2 for s in before], "two PRM epochs = two PRM optimizer steps"


def test_policy_logprobs_at_ppo_start_equal_pi_old_after_a_first_train(build):
    """With no stale step, the first PPO minibatch starts at ratio 1 exactly."""
    algo = build(tiny_config("istar_rloo", num_epochs=1, minibatch_size=None))
    algo.train()
    learner = algo.learner_group._learner
    captured = {}
    original = learner.compute_loss_for_module

    def spy(*, module_id, config, batch, fwd_out, _orig=original):
        captured.setdefault("first", (fwd_out["logp"].detach().clone(), batch["old_logp"].clone(),
                                      batch["response_mask"].clone()))
        return _orig(module_id=module_id, config=config, batch=batch, fwd_out=fwd_out)

    learner.compute_loss_for_module = spy
    algo.train()
    logp, old, mask = captured["first"]
    gap = ((logp - old).abs() * mask).max()
    assert float(gap) < 1e-5, f"policy moved before PPO: max |logp - old_logp| {float(gap)}"
