"""``credit_summary``: the evaluator's step-credit line against the env's oracle labels.

These few-step examples pass ``min_per_class=1``; the default minimum (10 of each class,
``MIN_AUC_CLASS_SIZE``) is tested in tests/cli/test_first_hour_cli.py."""
import pytest

from rllib_istar.algorithm.evaluation import credit_summary


def _records(*steps):
    return [{"steps": [{"prm_step_reward": r, "oracle_label": lab} for r, lab in steps]}]


def test_right_steps_scored_higher_give_auc_one_and_the_means():
    s = credit_summary(_records((0.5, 1.0), (0.3, 1.0), (-0.2, -1.0), (9.0, 0.0), (7.0, None)),
                       min_per_class=1)
    assert s["credit_auc_step_reward"] == 1.0
    assert s["step_reward_right_mean"] == pytest.approx(0.4)
    assert s["step_reward_wrong_mean"] == pytest.approx(-0.2)
    assert s["decisive_steps"] == 3.0  # hall (0) and unlabelled (None) steps are not decisive
    assert (s["right_steps"], s["wrong_steps"]) == (2.0, 1.0)


def test_a_prm_that_blames_the_right_steps_gives_auc_zero_and_ties_give_half():
    auc = "credit_auc_step_reward"
    assert credit_summary(_records((-1.0, 1.0), (1.0, -1.0)), min_per_class=1)[auc] == 0.0
    assert credit_summary(_records((0.1, 1.0), (0.1, -1.0)), min_per_class=1)[auc] == 0.5


def test_one_sided_labels_give_no_auc_only_the_counts():
    s = credit_summary(_records((0.1, 1.0), (0.2, 1.0)), min_per_class=1)
    assert s == {"decisive_steps": 2.0, "right_steps": 2.0, "wrong_steps": 0.0}


def test_no_labels_or_no_prm_gives_nothing():
    assert credit_summary(_records((0.1, None), (0.2, 0.0))) == {}
    assert credit_summary(_records((None, 1.0), (None, -1.0))) == {}
