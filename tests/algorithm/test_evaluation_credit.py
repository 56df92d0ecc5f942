"""``credit_summary``: the evaluator's step-credit line against the env's oracle labels."""
import math

import pytest

from rllib_istar.algorithm.evaluation import credit_summary


def _records(*steps):
    return [{"steps": [{"prm_step_reward": r, "oracle_label": lab} for r, lab in steps]}]


def test_right_steps_scored_higher_give_auc_one_and_the_means():
    s = credit_summary(_records((0.5, 1.0), (0.3, 1.0), (-0.2, -1.0), (9.0, 0.0), (7.0, None)))
    assert s["credit_auc_step_reward"] == 1.0
    assert s["step_reward_right_mean"] == pytest.approx(0.4)
    assert s["step_reward_wrong_mean"] == pytest.approx(-0.2)
    assert s["decisive_steps"] == 3.0  # hall (0) and unlabelled (None) steps are not decisive
    assert (s["right_steps"], s["wrong_steps"]) == (2.0, 1.0)


def test_a_prm_that_blames_the_right_steps_gives_auc_zero_and_ties_give_half():
    assert credit_summary(_records((-1.0, 1.0), (1.0, -1.0)))["credit_auc_step_reward"] == 0.0
    assert credit_summary(_records((0.1, 1.0), (0.1, -1.0)))["credit_auc_step_reward"] == 0.5


def test_one_sided_labels_give_nan_auc_not_a_number_made_up():
    s = credit_summary(_records((0.1, 1.0), (0.2, 1.0)))
    assert math.isnan(s["credit_auc_step_reward"]) and math.isnan(s["step_reward_wrong_mean"])


def test_no_labels_or_no_prm_gives_nothing():
    assert credit_summary(_records((0.1, None), (0.2, 0.0))) == {}
    assert credit_summary(_records((None, 1.0), (None, -1.0))) == {}
