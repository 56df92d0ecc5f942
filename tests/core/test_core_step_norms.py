"""``step_adv_norm`` scopes on hand-made cases (docs/algorithm.md §3)."""
import math

import pytest
import torch

from rllib_istar.core.advantages import step_advantages
from rllib_istar.core.step_norms import STEP_ADV_NORMS, group_step_ids, normalised_step_advantages

# two groups; group 0 has two trajectories of 3 steps, group 1 one trajectory of 2 steps
R = torch.tensor([1., 4., 10., 3., 4., 12., 7., 9.])
GROUP = torch.tensor([0, 0, 0, 0, 0, 0, 1, 1])
STEP = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])
# anchors: in group 0, steps 0 share an observation, step 1s differ, steps 2 share
ANCHOR = torch.tensor([0, 1, 2, 0, 3, 2, 4, 5])
S2 = 1 / math.sqrt(2)  # z-score of a pair (unbiased std)


def _norm(name):
    return normalised_step_advantages(name, R, GROUP, STEP, ANCHOR, eps=0.0)


def test_group_is_the_contract_step_advantages():
    assert torch.equal(_norm("group"), step_advantages(R, GROUP, eps=0.0))


def test_group_step_compares_only_steps_at_the_same_index():
    expected = torch.tensor([-S2, 0., -S2, S2, 0., S2, 0., 0.])  # step 1 of group 0: 4 vs 4
    assert torch.allclose(_norm("group_step"), expected, atol=1e-6)


def test_anchor_uses_identical_observations_and_falls_back_to_group_step():
    # anchors 0 (1 vs 3) and 2 (10 vs 12) are pairs; 1, 3, 4, 5 are singletons -> group_step,
    # which for group 0 step 1 is (4, 4) -> 0 and for group 1 singletons -> 0
    expected = torch.tensor([-S2, 0., -S2, S2, 0., S2, 0., 0.])
    assert torch.allclose(_norm("anchor"), expected, atol=1e-6)
    # an anchor pair that differs from the (group, step) set: step 1 singletons that fall back
    anchor = torch.tensor([0, 1, 2, 0, 3, 2, 4, 5])
    r = R.clone(); r[4] = 6.0                      # group 0 step 1: 4 vs 6, each its own anchor
    out = normalised_step_advantages("anchor", r, GROUP, STEP, anchor, eps=0.0)
    assert torch.allclose(out[[1, 4]], torch.tensor([-S2, S2]), atol=1e-6)


def test_anchor_pairs_override_the_step_index():
    # the same observation at different step indices is one anchor set
    r = torch.tensor([0., 2., 5.]); g = torch.zeros(3, dtype=torch.long)
    t = torch.tensor([0, 1, 1]); a = torch.tensor([7, 7, 8])
    out = normalised_step_advantages("anchor", r, g, t, a, eps=0.0)
    assert torch.allclose(out[:2], torch.tensor([-S2, S2]), atol=1e-6)
    # step 2 is a singleton anchor: it falls back to its (group, t=1) set {2., 5.} -> +S2
    assert math.isclose(float(out[2]), S2, rel_tol=1e-5)


def test_batch_max_abs_divides_by_the_largest_magnitude_without_centring():
    assert torch.allclose(_norm("batch_max_abs"), R / 12.0)
    r = torch.tensor([-4., 2., 0.])
    assert normalised_step_advantages("batch_max_abs", r, torch.zeros(3), torch.arange(3),
                                      torch.arange(3)).tolist() == [-1.0, 0.5, 0.0]
    assert torch.equal(normalised_step_advantages("batch_max_abs", torch.zeros(3), torch.zeros(3),
                                                  torch.arange(3), torch.arange(3)), torch.zeros(3))


def test_group_step_center_is_centred_locally_and_scaled_by_the_batch():
    centred = torch.tensor([-1., 0., -1., 1., 0., 1., 0., 0.])  # group 1's singletons: 0
    shared = centred[:6]                                        # sets with >= 2 members
    expected = centred / shared.std()
    assert torch.allclose(_norm("group_step_center"), expected, atol=1e-6)
    # unlike group_step, a set with tiny spread stays tiny
    r = torch.tensor([0., 10., 5., 5.001]); g = torch.zeros(4, dtype=torch.long)
    t = torch.tensor([0, 0, 1, 1])
    local = normalised_step_advantages("group_step", r, g, t, t, eps=0.0)
    scaled = normalised_step_advantages("group_step_center", r, g, t, t, eps=0.0)
    assert abs(float(local[3])) == pytest.approx(S2, rel=1e-3)
    assert abs(float(scaled[3])) < 1e-3


def test_group_step_ids():
    assert group_step_ids(torch.tensor([5, 5, 9, 5]), torch.tensor([0, 1, 0, 0])).tolist() == [0, 1, 2, 0]


def test_unknown_norm_lists_the_valid_ones():
    with pytest.raises(ValueError, match="unknown step_adv_norm 'grup'; valid: group, group_step"):
        normalised_step_advantages("grup", R, GROUP, STEP, ANCHOR)


@pytest.mark.parametrize("name", sorted(STEP_ADV_NORMS))
def test_every_scope_handles_an_empty_batch_and_is_finite(name):
    e = torch.zeros(0)
    assert normalised_step_advantages(name, e, e.long(), e.long(), e.long()).shape == (0,)
    out = normalised_step_advantages(name, torch.randn(50), torch.randint(0, 3, (50,)),
                                     torch.randint(0, 4, (50,)), torch.randint(0, 9, (50,)))
    assert torch.isfinite(out).all()
