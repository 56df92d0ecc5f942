"""Credit-quality metrics are logged on an env with oracle labels, and mean what they say;
``ablation: frozen_prm`` scores with a PRM that never trains."""
import pytest
import torch
from algo_utils import changed, module_state, tiny_config

from rllib_istar.envs import CREDIT_CHAIN_ID

AUCS = ("credit_auc_advantage", "credit_auc_rloo", "credit_auc_gigpo")


def _credit_config(estimator, **kw):
    return tiny_config(estimator, lr=1e-3, **kw).environment(CREDIT_CHAIN_ID)


@pytest.mark.parametrize("estimator", ["istar_rloo", "rloo"])
def test_credit_metrics_are_logged_each_iteration(build, estimator):
    algo = build(_credit_config(estimator, num_groups=4))
    for _ in range(2):  # and after a real first update
        learners = algo.train()["learners"]["default_policy"]
        for key in AUCS:
            assert 0.0 <= learners[key] <= 1.0, key
        assert learners["credit_decisive_steps"] > 0
    if estimator == "rloo":
        # RLOO's own advantage IS the RLOO signal: the two AUCs must agree exactly
        assert learners["credit_auc_advantage"] == pytest.approx(learners["credit_auc_rloo"])
        assert "credit_auc_step_reward" not in learners
    else:
        for key in ("credit_auc_step_reward", "credit_auc_step_adv",
                    "credit_step_adv_abs_decisive", "credit_step_adv_abs_other"):
            assert key in learners, key


def test_credit_metrics_are_absent_without_labels():
    """A batch whose rows carry no oracle label logs no credit metric."""
    from rllib_istar.learner.pooled_credit import credit_metrics

    rows = {"step_oracle": torch.full((4,), float("nan"))}
    assert credit_metrics(rows, torch.zeros(4), None, {}, pair_margin=0.0) == {}


def test_frozen_prm_never_trains_and_still_scores(build):
    algo = build(tiny_config("istar_rloo", ablation="frozen_prm", num_groups=4))
    prm0, policy0 = module_state(algo, "prm"), module_state(algo, "default_policy")
    result = algo.train()
    algo.train()
    assert changed(prm0, module_state(algo, "prm")) == []
    assert len(changed(policy0, module_state(algo, "default_policy"))) == len(policy0)
    prm_metrics = result["learners"]["prm"]
    assert "dpo_loss" not in prm_metrics and "step_reward_std" in prm_metrics
    # r_phi = beta * sum(log pi_init - log pi_old): nonzero once the policy moved
    assert algo.train()["learners"]["prm"]["step_reward_std"] > 0


def test_frozen_prm_is_rejected_on_outcome_only_estimators():
    from rllib_istar.learner.estimator_tables import resolve_estimator

    with pytest.raises(ValueError, match="ablation 'frozen_prm' modifies an iStar estimator"):
        resolve_estimator("rloo", "frozen_prm")
    assert resolve_estimator("istar_grpo", "frozen_prm").train_prm is False
