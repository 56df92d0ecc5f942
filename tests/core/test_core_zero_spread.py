"""Zero spread is detected exactly (max == min) in every normalisation (issue 15, fix 4).

float32 means of equal values that binary cannot represent are one rounding
step off (8 x 0.9 -> mean 0.90000004), so ``v - mean`` and the std are ~1e-8
and a z-score used to push the whole group one way (-0.056 for eight 0.9s).
"""
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rllib_istar.core.advantages import EPISODE_ESTIMATORS, episode_advantages, step_advantages
from rllib_istar.core.gigpo import ANCHOR_NORMS, anchor_step_advantages
from rllib_istar.core.segments import masked_whiten, seg_constant, seg_std, seg_zscore
from rllib_istar.core.step_norms import STEP_ADV_NORMS, normalised_step_advantages

Z8 = torch.zeros(8, dtype=torch.long)


@pytest.mark.parametrize("value", [0.9, -0.1, 0.95 ** 3, 0.1, 1.0 / 3.0])
@pytest.mark.parametrize("name", sorted(EPISODE_ESTIMATORS))
def test_equal_outcomes_give_exactly_zero_episode_advantage(name, value):
    out = episode_advantages(name, torch.full((8,), value), Z8)
    assert torch.equal(out, torch.zeros(8)), (name, value, out)


def test_the_reported_values_were_nonzero_under_a_rounded_std():
    """The failure mode itself: the float32 mean of 8 x 0.9 is off by one ulp."""
    x = torch.full((8,), 0.9)
    assert float((x - x.mean()).abs().max()) > 0  # why max == min is needed


def test_step_and_anchor_advantages_of_equal_values_are_zero():
    x = torch.full((8,), 0.95 ** 3)
    assert torch.equal(step_advantages(x, Z8), torch.zeros(8))
    for norm in ANCHOR_NORMS:
        assert torch.equal(anchor_step_advantages(x, Z8, norm), torch.zeros(8)), norm
    steps = torch.arange(8) % 2
    for norm in STEP_ADV_NORMS:
        if norm == "batch_max_abs":  # no centring by design: r / max|r| = 1
            continue
        out = normalised_step_advantages(norm, x, Z8, steps, steps)
        assert torch.equal(out, torch.zeros(8)), norm


def test_seg_constant_and_std_on_mixed_segments():
    v = torch.tensor([0.9] * 8 + [0.0, 1.0])
    ids = torch.tensor([0] * 8 + [1, 1])
    assert seg_constant(v, ids, 3).tolist() == [True, False, True]
    std = seg_std(v, ids, 2)
    assert std[0] == 0 and std[1] > 0
    z = seg_zscore(v, ids, 2)
    assert torch.equal(z[:8], torch.zeros(8)) and z[8] < 0 < z[9]


def test_masked_whiten_of_equal_values_is_zero():
    out = masked_whiten(torch.full((5,), -0.1), torch.tensor([1, 1, 1, 1, 0]))
    assert torch.equal(out, torch.zeros(5))


@settings(max_examples=200, deadline=None)
@given(value=st.floats(-1e6, 1e6, allow_nan=False, width=32), size=st.integers(1, 33),
       groups=st.integers(1, 4), eps=st.sampled_from([0.0, 1e-6, 1e-3]))
def test_property_any_group_of_identical_values_gives_exactly_zero(value, size, groups, eps):
    ids = torch.arange(size * groups) // size
    x = torch.full((size * groups,), value, dtype=torch.float32)
    zeros = torch.zeros_like(x)
    for name in EPISODE_ESTIMATORS:
        assert torch.equal(episode_advantages(name, x, ids, eps=eps), zeros), name
    assert torch.equal(step_advantages(x, ids, eps=eps), zeros)
    for norm in ANCHOR_NORMS:
        assert torch.equal(anchor_step_advantages(x, ids, norm, eps=eps), zeros), norm
    steps = torch.arange(size * groups) % 3
    for norm in ("group", "group_step", "anchor", "group_step_center"):
        assert torch.equal(normalised_step_advantages(norm, x, ids, steps, ids, eps=eps), zeros), norm
