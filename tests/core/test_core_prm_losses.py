"""PRM losses (docs/algorithm.md §2, PRIME): pairs, trajectory DPO, CE, gradient reach."""
import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from rllib_istar.core.prm_losses import (
    groups_without_pairs,
    pair_accuracy,
    preference_pairs,
    prime_ce_loss,
    trajectory_dpo_loss,
    trajectory_dpo_loss_share,
)


def _logsig(x):
    return -math.log1p(math.exp(-x))


# ---------------------------------------------------------------- pairs
def test_preference_pairs_binary_by_hand():
    # group 0: [1, 0, 0, 1]; group 1: [0, 1]; group 2: [0, 0] (no pair); group 3: singleton
    out = torch.tensor([1.0, 0.0, 0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 1.0])
    gid = torch.tensor([0, 0, 0, 0, 1, 1, 2, 2, 3])
    pairs = preference_pairs(out, gid)
    assert pairs.dtype == torch.long and pairs.shape == (5, 2)
    assert pairs.tolist() == [[0, 1], [0, 2], [3, 1], [3, 2], [5, 4]]
    assert groups_without_pairs(out, gid) == 2


def test_preference_pairs_sorted_by_group_then_winner_then_loser():
    out = torch.tensor([0.0, 1.0, 1.0, 0.0, 1.0])
    gid = torch.tensor([9, 2, 9, 2, 9])
    # group 2 first: (1, 3); then group 9: winners 2, 4 over loser 0
    assert preference_pairs(out, gid).tolist() == [[1, 3], [2, 0], [4, 0]]


def test_preference_pairs_margin_on_graded_outcomes():
    out = torch.tensor([0.9, 0.5, 0.45, 0.0])
    gid = torch.zeros(4, dtype=torch.long)
    # differences: 0-1 .4, 0-2 .45, 0-3 .9, 1-2 .05, 1-3 .5, 2-3 .45
    assert preference_pairs(out, gid, margin=0.1).tolist() == [[0, 1], [0, 2], [0, 3], [1, 3], [2, 3]]
    assert preference_pairs(out, gid, margin=0.0).tolist() == [[0, 1], [0, 2], [0, 3], [1, 2], [1, 3], [2, 3]]
    assert preference_pairs(out, gid, margin=0.6).tolist() == [[0, 3]]
    assert preference_pairs(out, gid, margin=1.0).shape == (0, 2)
    with pytest.raises(ValueError, match="margin"):
        preference_pairs(out, gid, margin=-0.1)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2), st.integers(0, 3)), min_size=1, max_size=12),
       st.integers(0, 1000))
def test_preference_pairs_equivariant_under_reordering(rows, seed):
    out = torch.tensor([float(r[0]) for r in rows])
    gid = torch.tensor([r[1] for r in rows])
    perm = torch.randperm(len(rows), generator=torch.Generator().manual_seed(seed))
    base = {tuple(p) for p in preference_pairs(out, gid).tolist()}
    moved = preference_pairs(out[perm], gid[perm])  # position i holds old trajectory perm[i]
    assert {tuple(p) for p in perm[moved].tolist()} == base
    expected = {(i, j) for i in range(len(rows)) for j in range(len(rows))
                if rows[i][1] == rows[j][1] and rows[i][0] > rows[j][0]}
    assert base == expected


# ---------------------------------------------------------------- DPO
def test_trajectory_dpo_loss_by_hand_sum_and_mean():
    # trajectory 0: steps (0.5, 1.0); trajectory 1: step (-1.0); trajectory 2: steps (2.0, 0.0, 1.0)
    lr = torch.tensor([0.5, -1.0, 2.0, 1.0, 0.0, 1.0])
    traj = torch.tensor([0, 1, 2, 0, 2, 2])
    pairs = torch.tensor([[0, 1], [1, 2]])
    beta = 0.5
    out = trajectory_dpo_loss(lr, traj, pairs, beta, agg="sum")
    # Q = (1.5, -1, 3): deltas 2.5 and -4
    assert out.traj_logratio.tolist() == pytest.approx([1.5, -1.0, 3.0])
    expect = -(_logsig(0.5 * 2.5) + _logsig(0.5 * -4.0)) / 2
    assert out.loss.item() == pytest.approx(expect, rel=1e-6)
    assert out.metrics["dpo_loss"].item() == pytest.approx(expect, rel=1e-6)
    assert out.metrics["pair_acc"].item() == 0.5
    assert out.metrics["num_pairs"] == 2.0
    assert out.metrics["margin_mean"].item() == pytest.approx((2.5 - 4.0) / 2)
    mean = trajectory_dpo_loss(lr, traj, pairs, beta, agg="mean")
    # Q = (0.75, -1, 1): deltas 1.75 and -2
    assert mean.traj_logratio.tolist() == pytest.approx([0.75, -1.0, 1.0])
    assert mean.loss.item() == pytest.approx(-(_logsig(0.875) + _logsig(-1.0)) / 2, rel=1e-6)


def test_one_step_trajectories_equal_standard_sigmoid_dpo():
    g = torch.Generator().manual_seed(3)
    pi = -torch.rand(6, generator=g) * 4  # log pi(y) per "response"
    ref = -torch.rand(6, generator=g) * 4
    pairs = torch.tensor([[0, 1], [2, 3], [4, 5], [0, 5]])
    beta = 0.7
    ours = trajectory_dpo_loss(pi - ref, torch.arange(6), pairs, beta)
    w, l = pairs[:, 0], pairs[:, 1]
    standard = -F.logsigmoid(beta * ((pi[w] - ref[w]) - (pi[l] - ref[l]))).mean()
    assert torch.allclose(ours.loss, standard)
    mean_agg = trajectory_dpo_loss(pi - ref, torch.arange(6), pairs, beta, agg="mean")
    assert torch.allclose(mean_agg.loss, ours.loss)


def test_no_pairs_gives_zero_loss_that_backpropagates():
    lr = torch.tensor([0.3, float("nan"), -2.0], requires_grad=True)
    out = trajectory_dpo_loss(lr, torch.tensor([0, 1, 1]), torch.zeros((0, 2), dtype=torch.long), 0.05)
    assert out.loss.item() == 0.0
    assert out.loss.requires_grad
    out.loss.backward()
    assert lr.grad is not None and lr.grad.tolist() == [0.0, 0.0, 0.0]
    assert out.metrics["num_pairs"] == 0.0 and out.metrics["pair_acc"].item() == 0.0


def test_gradient_reaches_every_step_of_paired_trajectories_only():
    # trajectories 0, 1 paired; trajectory 2 is in no pair
    lr = torch.tensor([0.2, -0.1, 0.4, 0.3, 1.0, -1.0], requires_grad=True)
    traj = torch.tensor([0, 0, 1, 1, 2, 2])
    for agg in ("sum", "mean"):
        lr.grad = None
        trajectory_dpo_loss(lr, traj, torch.tensor([[0, 1]]), beta=0.05, agg=agg).loss.backward()
        g = lr.grad
        assert (g[:4] != 0).all(), agg
        assert (g[:2] < 0).all() and (g[2:4] > 0).all(), agg  # raise winner, lower loser
        assert g[4:].tolist() == [0.0, 0.0], agg


def test_detached_logratio_does_not_reach_the_prm_like_the_authors_code():
    prm_param = torch.tensor([0.5, 0.5], requires_grad=True)
    lr = prm_param * torch.tensor([1.0, -1.0])
    out = trajectory_dpo_loss(lr.detach(), torch.tensor([0, 1]), torch.tensor([[0, 1]]), 1.0)
    assert not out.loss.requires_grad  # released code: the PRM never trains
    ours = trajectory_dpo_loss(lr, torch.tensor([0, 1]), torch.tensor([[0, 1]]), 1.0)
    ours.loss.backward()
    assert prm_param.grad is not None and (prm_param.grad != 0).all()


def test_unknown_aggregation_lists_valid_names():
    with pytest.raises(ValueError, match="valid: mean, sum"):
        trajectory_dpo_loss(torch.zeros(2), torch.tensor([0, 1]), torch.tensor([[0, 1]]), 1.0, agg="max")


def test_pair_accuracy_and_num_trajectories():
    assert pair_accuracy(torch.tensor([1.0, 2.0]), torch.zeros((0, 2), dtype=torch.long)).item() == 0.0
    assert pair_accuracy(torch.tensor([3.0, 2.0, 2.0]), torch.tensor([[0, 1], [2, 1]])).item() == 0.5
    out = trajectory_dpo_loss(torch.tensor([1.0]), torch.tensor([0]), torch.tensor([[0, 3]]), 1.0,
                              num_trajectories=5)
    assert out.traj_logratio.tolist() == [1.0, 0.0, 0.0, 0.0, 0.0]
    assert out.loss.item() == pytest.approx(-_logsig(1.0))


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), agg=st.sampled_from(["sum", "mean"]))
def test_dpo_loss_invariant_to_trajectory_relabelling_and_step_order(seed, agg):
    g = torch.Generator().manual_seed(seed)
    m = 6
    traj = torch.randint(0, m, (15,), generator=g)
    lr = torch.randn(15, generator=g, dtype=torch.float64)
    outcomes = torch.randint(0, 2, (m,), generator=g).double()
    gid = torch.tensor([0, 0, 0, 1, 1, 1])
    pairs = preference_pairs(outcomes, gid)
    base = trajectory_dpo_loss(lr, traj, pairs, 0.3, agg, num_trajectories=m)
    relabel = torch.randperm(m, generator=g)  # trajectory i is now called relabel[i]
    order = torch.randperm(15, generator=g)   # steps arrive shuffled
    moved = trajectory_dpo_loss(lr[order], relabel[traj[order]], relabel[pairs], 0.3, agg,
                                num_trajectories=m)
    assert torch.allclose(moved.loss, base.loss)
    assert torch.allclose(moved.traj_logratio[relabel], base.traj_logratio)


# ---------------------------------------------------------------- PRIME
def test_prime_ce_loss_by_hand_and_gradient_mask():
    tok = torch.tensor([[0.0, 2.0, 1.0, float("nan")], [5.0, -1.0, -1.0, 0.0]], requires_grad=True)
    mask = torch.tensor([[0, 1, 1, 0], [0, 1, 1, 1]])
    labels = torch.tensor([1, 1])
    out = prime_ce_loss(tok, mask, labels, beta=0.5)
    # logits: 0.5 * 3 = 1.5 (label 1), 0.5 * -2 = -1 (label 1)
    expect = (math.log1p(math.exp(-1.5)) + math.log1p(math.exp(1.0))) / 2
    assert out.loss.item() == pytest.approx(expect, rel=1e-6)
    assert out.metrics["ce_loss"].item() == pytest.approx(expect, rel=1e-6)
    assert out.metrics["acc"].item() == 0.5
    assert out.metrics["num_rows"] == 2.0
    out.loss.backward()
    assert torch.isfinite(tok.grad).all()
    assert (tok.grad[~mask.bool()] == 0).all()
    assert (tok.grad[mask.bool()] < 0).all()  # both labels 1: push the log-ratio up
    zero = prime_ce_loss(torch.tensor([[1.0, -1.0]]), torch.tensor([[1, 1]]), torch.tensor([0.0]), 1.0)
    assert zero.loss.item() == pytest.approx(math.log(2.0))


@pytest.mark.parametrize("agg", ["sum", "mean"])
def test_dpo_loss_shares_of_whole_groups_add_up_to_the_loss_and_its_gradient(agg):
    torch.manual_seed(0)
    traj = torch.tensor([0, 0, 1, 2, 2, 2, 3, 4, 5, 5])     # 6 trajectories, 10 steps
    group = torch.tensor([0, 0, 0, 1, 1, 1])                 # two groups of three
    outcome = torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 1.0])
    pairs = preference_pairs(outcome, group)
    s = torch.randn(10, requires_grad=True)
    whole = trajectory_dpo_loss(s, traj, pairs, beta=0.7, agg=agg).loss
    (want,) = torch.autograd.grad(whole, s)
    by_group = [torch.nonzero(group[traj] == g).flatten() for g in (0, 1)]
    shares = [trajectory_dpo_loss_share(s[i], traj[i], pairs, 0.7, agg, 6, len(pairs))
              for i in by_group]
    (got,) = torch.autograd.grad(sum(shares), s)
    assert torch.allclose(sum(shares), whole) and torch.allclose(got, want)
    # the whole batch as one part is the loss itself, bit for bit
    assert torch.equal(trajectory_dpo_loss_share(s, traj, pairs, 0.7, agg, 6, len(pairs)), whole)
    # a part without pairs: zero, and it keeps the graph
    lone = trajectory_dpo_loss_share(s[:3], traj[:3], pairs[:0], 0.7, agg, 6, len(pairs))
    assert float(lone) == 0.0 and lone.requires_grad


def test_dpo_loss_share_refuses_a_pair_split_across_parts():
    traj, pairs = torch.tensor([0, 1]), torch.tensor([[0, 1]])
    with pytest.raises(ValueError, match="split the batch by whole groups"):
        trajectory_dpo_loss_share(torch.zeros(1), traj[:1], pairs, 1.0, "sum", 2, 1)
