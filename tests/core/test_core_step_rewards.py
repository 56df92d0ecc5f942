"""Implicit step rewards (docs/algorithm.md §1): hand values and mask properties."""
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rllib_istar.core.step_rewards import (
    implicit_step_rewards,
    step_logratio,
    token_implicit_rewards,
    token_logratio,
)

NAN, INF = float("nan"), float("inf")

# two steps, T = 5: row 0 = 2 prompt tokens, 2 response tokens, 1 pad;
# row 1 = 1 prompt token, 3 response tokens, 1 pad.
PRM = torch.tensor([[-5.0, -4.0, -1.0, -2.0, 0.0],
                    [-3.0, -0.5, -0.5, -1.0, 0.0]])
OLD = torch.tensor([[-1.0, -1.0, -1.5, -1.0, -9.0],
                    [-7.0, -1.0, -0.25, -1.0, 3.0]])
MASK = torch.tensor([[0, 0, 1, 1, 0],
                     [0, 1, 1, 1, 0]], dtype=torch.bool)


def test_implicit_step_rewards_by_hand_with_prompt_and_padding():
    # row 0: (-1 + 1.5) + (-2 + 1) = -0.5; row 1: (0.5) + (-0.25) + 0 = 0.25
    assert step_logratio(PRM, OLD, MASK).tolist() == pytest.approx([-0.5, 0.25])
    assert implicit_step_rewards(PRM, OLD, MASK, beta=0.05).tolist() == pytest.approx([-0.025, 0.0125])
    tok = token_implicit_rewards(PRM, OLD, MASK, beta=0.05)
    assert torch.allclose(tok, torch.tensor([[0, 0, 0.025, -0.05, 0], [0, 0.025, -0.0125, 0, 0]]))
    assert torch.allclose(tok.sum(-1), implicit_step_rewards(PRM, OLD, MASK, 0.05))


def test_int_and_float_masks_equal_bool_mask():
    ref = implicit_step_rewards(PRM, OLD, MASK, 0.1)
    assert torch.equal(implicit_step_rewards(PRM, OLD, MASK.long(), 0.1), ref)
    assert torch.equal(implicit_step_rewards(PRM, OLD, MASK.float(), 0.1), ref)


def test_gradient_reaches_prm_logp_only_at_response_tokens():
    prm = PRM.clone().requires_grad_(True)
    implicit_step_rewards(prm, OLD, MASK, beta=0.5).sum().backward()
    assert torch.equal(prm.grad, 0.5 * MASK.float())


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    fill=st.sampled_from([NAN, INF, -INF, 0.0, 1e6, -3.0]),
    beta=st.floats(0.01, 2.0),
)
def test_masked_positions_change_nothing(seed, fill, beta):
    g = torch.Generator().manual_seed(seed)
    n, t = 4, 6
    prm = -torch.rand(n, t, generator=g) * 3
    old = -torch.rand(n, t, generator=g) * 3
    mask = torch.rand(n, t, generator=g) > 0.4
    ref = implicit_step_rewards(prm, old, mask, beta)
    prm2 = torch.where(mask, prm, torch.full_like(prm, fill)).requires_grad_(True)
    old2 = torch.where(mask, old, torch.full_like(old, -fill if fill == fill else fill))
    out = implicit_step_rewards(prm2, old2, mask, beta)
    assert torch.allclose(out, ref)
    out.sum().backward()
    assert torch.isfinite(prm2.grad).all()
    assert (prm2.grad[~mask] == 0).all()
    assert torch.allclose(token_implicit_rewards(prm2, old2, mask, beta).sum(-1), ref, atol=1e-5)
    assert torch.isfinite(token_logratio(prm2, old2, mask)).all()


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_row_permutation_permutes_rewards(seed):
    g = torch.Generator().manual_seed(seed)
    prm, old = -torch.rand(5, 4, generator=g), -torch.rand(5, 4, generator=g)
    mask = torch.rand(5, 4, generator=g) > 0.3
    perm = torch.randperm(5, generator=g)
    out = implicit_step_rewards(prm, old, mask, 0.05)
    assert torch.allclose(implicit_step_rewards(prm[perm], old[perm], mask[perm], 0.05), out[perm])
