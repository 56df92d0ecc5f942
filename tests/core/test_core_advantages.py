"""Advantages (docs/algorithm.md §3): estimators by hand, registry, properties."""
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rllib_istar.core import advantages as adv_mod
from rllib_istar.core.advantages import (
    EPISODE_ESTIMATORS,
    broadcast_to_steps,
    episode_advantages,
    merged_outcomes,
    mix_advantages,
    register_episode_estimator,
    step_advantages,
)

NAMES = ["grpo", "grpo_mean", "reinforce_pp", "rloo"]
R = torch.tensor([1.0, 0.0, 0.0, 1.0])
G0 = torch.zeros(4, dtype=torch.long)


def test_one_group_of_four_by_hand():
    # mean 0.5; unbiased std sqrt(4 * 0.25 / 3) = 0.57735
    std = math.sqrt(1 / 3)
    grpo = episode_advantages("grpo", R, G0, eps=1e-6)
    z = 0.5 / (std + 1e-6)
    assert grpo.tolist() == pytest.approx([z, -z, -z, z])
    assert grpo[0].item() == pytest.approx(0.8660, abs=1e-4)
    assert episode_advantages("grpo_mean", R, G0).tolist() == [0.5, -0.5, -0.5, 0.5]
    # rloo: 1 - mean(0, 0, 1) = 0.6667; 0 - mean(1, 0, 1) = -0.6667
    assert episode_advantages("rloo", R, G0).tolist() == pytest.approx([0.6667, -0.6667, -0.6667, 0.6667], abs=1e-4)


def test_reinforce_pp_whitens_over_the_whole_batch():
    # group A [1, 0, 0, 1] -> centred (.5, -.5, -.5, .5); group B [1, 0] -> (.5, -.5)
    # batch std (unbiased) = sqrt(6 * .25 / 5) = sqrt(.3) = 0.5477; result +-0.9129
    out = torch.tensor([1.0, 0.0, 0.0, 1.0, 1.0, 0.0])
    gid = torch.tensor([0, 0, 0, 0, 1, 1])
    a = episode_advantages("reinforce_pp", out, gid, eps=0.0)
    s = 0.5 / math.sqrt(0.3)
    assert a.tolist() == pytest.approx([s, -s, -s, s, s, -s])
    assert s == pytest.approx(0.9129, abs=1e-4)
    # grpo on the same batch uses per-group stds: group B std = sqrt(.5) -> .5 / .7071 = .7071
    assert episode_advantages("grpo", out, gid, eps=0.0)[4].item() == pytest.approx(0.7071, abs=1e-4)


@pytest.mark.parametrize("name", NAMES)
def test_singleton_and_constant_groups_give_finite_zeros(name):
    out = torch.tensor([3.0, 1.0, 0.0, 2.0, 2.0, 2.0, 7.0])
    gid = torch.tensor([10, 20, 20, 30, 30, 30, 40])  # 10, 40 singletons; 30 constant
    a = episode_advantages(name, out, gid)
    assert torch.isfinite(a).all()
    assert a[0].item() == 0.0 and a[6].item() == 0.0
    assert a[3:6].tolist() == [0.0, 0.0, 0.0]
    assert (a[1] > 0).item() and (a[2] < 0).item()
    assert episode_advantages(name, torch.tensor([5.0]), torch.tensor([0])).tolist() == [0.0]
    assert episode_advantages(name, torch.ones(4), G0).tolist() == [0.0] * 4


def test_unknown_estimator_lists_valid_names():
    with pytest.raises(ValueError) as e:
        episode_advantages("grpoo", R, G0)
    assert str(e.value) == "unknown episode estimator 'grpoo'; valid: grpo, grpo_mean, reinforce_pp, rloo"


def test_registering_a_taken_name_fails():
    with pytest.raises(ValueError, match="already registered"):
        register_episode_estimator("rloo")(lambda *a: None)
    assert sorted(EPISODE_ESTIMATORS) == NAMES


@settings(max_examples=40, deadline=None)
@given(name=st.sampled_from(NAMES), seed=st.integers(0, 10_000))
def test_estimators_equivariant_under_reordering_and_relabelling(name, seed):
    g = torch.Generator().manual_seed(seed)
    m = 12
    out = torch.randint(0, 3, (m,), generator=g).double()
    gid = torch.randint(0, 4, (m,), generator=g)
    base = episode_advantages(name, out, gid)
    perm = torch.randperm(m, generator=g)
    new_labels = torch.tensor([17, -5, 3, 1000])  # relabel groups with arbitrary ints
    moved = episode_advantages(name, out[perm], new_labels[gid[perm]])
    assert torch.allclose(moved, base[perm])
    assert torch.isfinite(base).all()


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(-5, 5), min_size=2, max_size=8))
def test_rloo_is_scaled_mean_baseline(values):
    out = torch.tensor(values, dtype=torch.float64)
    gid = torch.zeros(len(values), dtype=torch.long)
    g = len(values)
    rloo = episode_advantages("rloo", out, gid)
    assert torch.allclose(rloo, g / (g - 1) * episode_advantages("grpo_mean", out, gid))


def test_step_advantages_over_all_steps_of_the_group():
    # group 0 has two trajectories with steps (0.1, 0.3) and (0.2); group 1 one step
    r = torch.tensor([0.1, 0.3, 0.2, 4.0])
    gid = torch.tensor([0, 0, 0, 1])
    # group 0: mean 0.2, unbiased std 0.1 -> (-1, 1, 0); singleton group -> 0
    assert step_advantages(r, gid, eps=0.0).tolist() == pytest.approx([-1.0, 1.0, 0.0, 0.0])
    assert step_advantages(torch.full((3,), 0.7), torch.zeros(3, dtype=torch.long)).tolist() == [0.0] * 3


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_step_advantages_equivariant(seed):
    g = torch.Generator().manual_seed(seed)
    r = torch.randn(20, generator=g, dtype=torch.float64)
    gid = torch.randint(0, 3, (20,), generator=g)
    perm = torch.randperm(20, generator=g)
    assert torch.allclose(step_advantages(r[perm], gid[perm] * 7 + 1), step_advantages(r, gid)[perm])


def test_mix_merge_and_broadcast():
    a_e = broadcast_to_steps(torch.tensor([1.0, -1.0]), torch.tensor([0, 0, 1]))
    assert a_e.tolist() == [1.0, 1.0, -1.0]
    assert mix_advantages(a_e, torch.tensor([0.5, -0.5, 2.0]), 0.5).tolist() == [1.25, 0.75, 0.0]
    assert mix_advantages(a_e, torch.tensor([0.5, -0.5, 2.0]), 0.0).tolist() == a_e.tolist()
    with pytest.raises(ValueError, match="alpha"):
        mix_advantages(a_e, a_e, -0.1)
    with pytest.raises(ValueError, match="shape"):
        mix_advantages(a_e, a_e[:2], 1.0)
    # merged: r_o + alpha * sum_t r_phi: (1 + 2 * (0.1 + 0.2), 0 + 2 * (-0.5))
    merged = merged_outcomes(torch.tensor([1.0, 0.0]), torch.tensor([0.1, -0.5, 0.2]),
                             torch.tensor([0, 1, 0]), alpha=2.0)
    assert merged.tolist() == pytest.approx([1.6, -1.0])
    with pytest.raises(ValueError, match="alpha"):
        merged_outcomes(torch.tensor([1.0]), torch.tensor([1.0]), torch.tensor([0]), alpha=-1.0)


def test_module_exports_registry():
    assert adv_mod.get_episode_estimator("grpo") is EPISODE_ESTIMATORS["grpo"]
