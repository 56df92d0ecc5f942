"""GiGPO pieces: anchor groups, discounted returns, anchor-normalised step advantages."""
import random

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rllib_istar.core.advantages import mix_advantages
from rllib_istar.core.gigpo import (
    anchor_ids,
    anchor_step_advantages,
    discounted_returns,
)


def test_anchor_ids_across_groups():
    gid = torch.tensor([0, 0, 1, 0, 1, 1])
    keys = ["room A", "room B", "room A", "room A", "room A", ("tuple", 1)]
    # group 0: room A -> 0, room B -> 1; group 1: room A -> 2 (not 0), tuple -> 3
    assert anchor_ids(gid, keys).tolist() == [0, 1, 2, 0, 2, 3]
    with pytest.raises(ValueError, match="entries"):
        anchor_ids(gid, keys[:3])


def test_discounted_returns_by_hand_gamma_half_interleaved_and_shuffled():
    # trajectory 7: rewards (0, 0, 1) at steps 0, 1, 2 -> R = (0.25, 0.5, 1)
    # trajectory 3: rewards (-1, 2) at steps 0, 1 -> R = (-1 + 0.5 * 2, 2) = (0, 2)
    rewards = torch.tensor([1.0, 2.0, 0.0, -1.0, 0.0])
    traj = torch.tensor([7, 3, 7, 3, 7])
    step = torch.tensor([2, 1, 0, 0, 1])
    out = discounted_returns(rewards, traj, step, gamma=0.5)
    assert out.tolist() == pytest.approx([1.0, 2.0, 0.25, 0.0, 0.5])


def test_discounted_returns_gamma_edges_gaps_and_errors():
    r = torch.tensor([1.0, 2.0, 3.0])
    t = torch.zeros(3, dtype=torch.long)
    s = torch.tensor([0, 1, 2])
    assert discounted_returns(r, t, s, 0.0).tolist() == [1.0, 2.0, 3.0]
    assert discounted_returns(r, t, s, 1.0).tolist() == [6.0, 5.0, 3.0]
    # a gap (steps 0 and 2): the missing step counts as reward 0 -> 1 + 0.25 * 3
    assert discounted_returns(torch.tensor([1.0, 3.0]), torch.tensor([0, 0]), torch.tensor([0, 2]),
                              0.5).tolist() == [1.75, 3.0]
    with pytest.raises(ValueError, match="duplicate"):
        discounted_returns(r, t, torch.tensor([0, 1, 1]), 0.9)
    with pytest.raises(ValueError, match="gamma"):
        discounted_returns(r, t, s, 1.5)
    assert discounted_returns(torch.zeros(0), torch.zeros(0, dtype=torch.long),
                              torch.zeros(0, dtype=torch.long), 0.9).shape == (0,)


@settings(max_examples=40, deadline=None)
@given(lengths=st.lists(st.integers(1, 6), min_size=1, max_size=5), gamma=st.floats(0.0, 1.0),
       seed=st.integers(0, 10_000))
def test_discounted_returns_match_python_and_are_order_free(lengths, gamma, seed):
    rng = random.Random(seed)
    rows = [(traj, k, rng.uniform(-2, 2)) for traj, n in enumerate(lengths) for k in range(n)]
    rng.shuffle(rows)
    traj = torch.tensor([r[0] for r in rows])
    step = torch.tensor([r[1] for r in rows])
    rew = torch.tensor([r[2] for r in rows], dtype=torch.float64)
    out = discounted_returns(rew, traj, step, gamma)
    for i, (tr, k, _) in enumerate(rows):
        expect = sum(gamma ** (k2 - k) * r2 for tr2, k2, r2 in rows if tr2 == tr and k2 >= k)
        assert out[i].item() == pytest.approx(expect, abs=1e-9)


def test_anchor_step_advantages_by_hand():
    ret = torch.tensor([3.0, 1.0, 7.0, 2.0, 2.0])
    aid = torch.tensor([5, 5, 9, 4, 4])  # anchor 9 singleton, anchor 4 constant
    assert anchor_step_advantages(ret, aid, "mean").tolist() == [1.0, -1.0, 0.0, 0.0, 0.0]
    # anchor 5: mean 2, unbiased std sqrt(2) -> +-0.7071
    std = anchor_step_advantages(ret, aid, "std", eps=0.0)
    assert std.tolist() == pytest.approx([0.7071, -0.7071, 0.0, 0.0, 0.0], abs=1e-4)
    with pytest.raises(ValueError, match="valid: mean, std"):
        anchor_step_advantages(ret, aid, "max")


def test_gigpo_advantage_composes_episode_and_anchor_terms():
    """GiGPO's A = A_E + w * A_step is the generic mix of the anchor term (§5)."""
    a_e = torch.tensor([0.5, 0.5, -1.0])
    step = anchor_step_advantages(torch.tensor([3.0, 1.0, 7.0]), torch.tensor([0, 0, 1]), "mean")
    assert mix_advantages(a_e, step, 2.0).tolist() == [2.5, -1.5, -1.0]
    assert mix_advantages(a_e, step, 0.0).tolist() == a_e.tolist()
    with pytest.raises(ValueError, match="alpha"):
        mix_advantages(a_e, step, -1.0)
