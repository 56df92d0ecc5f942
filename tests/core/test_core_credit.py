"""Credit-quality metrics on hand-made cases (core/credit_metrics.py)."""
import math

import torch

from rllib_istar.core.credit_metrics import decisive_auc, decisive_gap_share, mean_abs_by_decisiveness

NAN = float("nan")


def test_auc_counts_pairs_and_ties_and_ignores_unlabelled_steps():
    labels = torch.tensor([1., 1., -1., -1., 0., NAN])
    assert decisive_auc(torch.tensor([3., 1., 2., 0., 99., -99.]), labels) == 0.75
    assert decisive_auc(torch.tensor([1., 1., 1., 1., 0., 0.]), labels) == 0.5
    assert decisive_auc(torch.tensor([0., 0., 1., 1., 0., 0.]), labels) == 0.0


def test_auc_matches_brute_force_on_random_data():
    g = torch.Generator().manual_seed(0)
    scores = torch.randint(0, 5, (300,), generator=g).float()
    labels = torch.randint(-1, 2, (300,), generator=g).float()
    right, wrong = scores[labels == 1].tolist(), scores[labels == -1].tolist()
    brute = sum((a > b) + 0.5 * (a == b) for a in right for b in wrong) / (len(right) * len(wrong))
    assert math.isclose(decisive_auc(scores, labels), brute, rel_tol=1e-12)


def test_auc_is_nan_without_both_classes():
    assert math.isnan(decisive_auc(torch.tensor([1., 2.]), torch.tensor([1., 0.])))


def test_gap_share_all_on_decisive_steps_half_and_none():
    traj = torch.tensor([0, 0, 1, 1])
    labels = torch.tensor([1., 0., -1., 0.])
    pairs = torch.tensor([[0, 1]])
    assert decisive_gap_share(torch.tensor([2., 1., 0., 1.]), traj, labels, pairs, 2) == 1.0
    assert decisive_gap_share(torch.tensor([1., 2., 0., 1.]), traj, labels, pairs, 2) == 0.5
    assert decisive_gap_share(torch.tensor([0., 3., 0., 1.]), traj, labels, pairs, 2) == 0.0
    assert math.isnan(decisive_gap_share(torch.ones(4), traj, labels, pairs, 2))  # no gap
    assert math.isnan(decisive_gap_share(torch.ones(4), traj, labels, torch.zeros((0, 2)).long(), 2))


def test_signal_and_noise_by_decisiveness():
    a, b = mean_abs_by_decisiveness(torch.tensor([2., -4., 1., -1.]), torch.tensor([1., -1., 0., 0.]))
    assert (a, b) == (3.0, 1.0)
    a, b = mean_abs_by_decisiveness(torch.tensor([2.]), torch.tensor([0.]))
    assert math.isnan(a) and b == 2.0
