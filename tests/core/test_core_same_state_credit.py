"""Same-state credit math (core/credit_metrics.py): hand-made cases where the pooled AUC misleads."""
import math

import pytest
import torch

from rllib_istar.core.credit_metrics import (
    counterfactual_step_advantages,
    decisive_auc,
    same_state_accuracy,
)
from rllib_istar.core.step_norms import normalised_step_advantages


def test_pooled_auc_and_same_state_accuracy_disagree_on_prompt_offsets():
    """Prompt A's scores all sit above prompt B's (a prompt-level drift), and the policy
    samples A's right action and B's wrong one more often: pooled, A's right steps beat
    B's wrong ones (AUC 0.64), yet at each prompt the wrong action ranks first."""
    scores = torch.tensor([5.0] * 4 + [6.0] + [1.0] + [2.0] * 4)
    labels = torch.tensor([1.0] * 4 + [-1.0] + [1.0] + [-1.0] * 4)
    states = torch.tensor([0] * 5 + [1] * 5)
    assert decisive_auc(scores, labels) == pytest.approx(16 / 25)
    assert same_state_accuracy(scores, labels, states) == (0.0, 8)


def test_same_state_accuracy_counts_pairs_ties_and_ignores_unlabelled():
    scores = torch.tensor([1.0, 1.0, 0.0, 9.0, 3.0])
    labels = torch.tensor([1.0, -1.0, -1.0, 0.0, 1.0])
    states = torch.tensor([0, 0, 0, 0, -1])            # the last row has no decisive prompt
    acc, pairs = same_state_accuracy(scores, labels, states)
    assert pairs == 2 and acc == pytest.approx((0.5 + 1.0) / 2)
    acc, pairs = same_state_accuracy(scores, torch.ones(5), states)
    assert pairs == 0 and math.isnan(acc)


def test_counterfactual_step_advantage_replaces_the_sampled_step():
    r = torch.tensor([1.0, 3.0, 0.0, 2.0])
    group = torch.tensor([0, 0, 1, 1])
    step = torch.zeros(4, dtype=torch.long)
    cand = torch.tensor([5.0, -1.0, 0.0])
    row = torch.tensor([0, 0, 3])
    got = counterfactual_step_advantages("group_step", r, cand, row, group, step, step)
    for k in range(3):   # by hand: swap the reward in, normalise, read that row
        swapped = r.clone()
        swapped[row[k]] = cand[k]
        want = normalised_step_advantages("group_step", swapped, group, step, step)[row[k]]
        assert got[k] == pytest.approx(float(want))
    # z-score of two values: the larger is +0.707, the smaller -0.707; a tie gives 0
    assert got.tolist() == pytest.approx([0.7071, -0.7071, 0.0], abs=1e-3)
