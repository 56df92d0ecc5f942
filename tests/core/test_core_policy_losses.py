"""Clipped surrogate by ratio level (docs/algorithm.md §4)."""
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rllib_istar.core.policy_losses import RATIO_LEVELS, clipped_surrogate

NAN, INF = float("nan"), float("inf")

# two steps, T = 4: row 0 = prompt, 2 response tokens, pad; row 1 = prompt, 3 response tokens
OLD = torch.tensor([[-3.0, -1.0, -1.0, 0.0], [-2.0, -1.0, -1.0, -1.0]])
DIFF = torch.tensor([[0.0, 0.1, 0.3, 0.0], [0.0, -0.3, 0.0, -0.3]])  # logp - old on response tokens
MASK = torch.tensor([[0, 1, 1, 0], [0, 1, 1, 1]], dtype=torch.bool)
ADV = torch.tensor([1.0, 2.0])


def test_step_level_by_hand():
    logp = OLD + DIFF
    out = clipped_surrogate(logp, OLD, MASK, ADV, clip_low=0.2, clip_high=0.28)
    # rho_0 = exp(0.2) = 1.2214 (inside [0.8, 1.28]); rho_1 = exp(-0.2) = 0.8187
    r0, r1 = math.exp(0.2), math.exp(-0.2)
    assert out.loss.item() == pytest.approx(-(r0 * 1.0 + r1 * 2.0) / 2, rel=1e-6)
    assert out.metrics["clip_frac"].item() == 0.0
    assert out.metrics["ratio_mean"].item() == pytest.approx((r0 + r1) / 2, rel=1e-6)
    assert out.metrics["ratio_max"].item() == pytest.approx(r0, rel=1e-6)
    assert out.metrics["num_units"].item() == 2.0
    # k3 over the 5 response tokens: (e^d - 1) - d
    ds = [0.1, 0.3, -0.3, 0.0, -0.3]
    k3 = sum(math.expm1(d) - d for d in ds) / 5
    assert out.metrics["approx_kl"].item() == pytest.approx(k3, rel=1e-5)
    assert out.metrics["policy_loss"].item() == pytest.approx(out.loss.item())


def test_step_product_and_token_by_hand():
    logp = OLD + DIFF
    # step_product: rho_0 = exp(0.4) = 1.4918 > 1.28, A > 0 -> clipped 1.28; rho_1 = exp(-0.6) = 0.5488
    # A > 0 and rho < 1 - 0.2: min picks the unclipped 0.5488 * 2 (clip not active)
    out = clipped_surrogate(logp, OLD, MASK, ADV, 0.2, 0.28, "step_product")
    assert out.loss.item() == pytest.approx(-(1.28 * 1.0 + math.exp(-0.6) * 2.0) / 2, rel=1e-6)
    assert out.metrics["clip_frac"].item() == 0.5
    # token: 5 tokens, token-mean over the batch; e^0.3 = 1.35 > 1.28 with A = 1 is clipped to 1.28;
    # e^-0.3 = 0.74 < 0.8 with A = 2 > 0 keeps the (smaller) unclipped term
    tok = clipped_surrogate(logp, OLD, MASK, ADV, 0.2, 0.28, "token")
    terms = [math.exp(0.1) * 1, 1.28 * 1, math.exp(-0.3) * 2, 1.0 * 2, math.exp(-0.3) * 2]
    assert tok.loss.item() == pytest.approx(-sum(terms) / 5, rel=1e-6)
    assert tok.metrics["clip_frac"].item() == pytest.approx(1 / 5)
    assert tok.metrics["num_units"].item() == 5.0


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), clip_low=st.floats(0.0, 0.5), clip_high=st.floats(0.0, 0.5))
def test_levels_agree_when_every_step_has_one_token(seed, clip_low, clip_high):
    g = torch.Generator().manual_seed(seed)
    n, t = 6, 4
    old = -torch.rand(n, t, generator=g) * 3
    logp = old + torch.randn(n, t, generator=g) * 0.3
    pos = torch.randint(0, t, (n,), generator=g)
    mask = torch.nn.functional.one_hot(pos, t).bool()
    adv = torch.randn(n, generator=g)
    outs = {lvl: clipped_surrogate(logp, old, mask, adv, clip_low, clip_high, lvl) for lvl in RATIO_LEVELS}
    for lvl in ("step_product", "token"):
        assert torch.allclose(outs[lvl].loss, outs["step"].loss, atol=1e-6), lvl
        for key in ("clip_frac", "ratio_mean", "ratio_max", "approx_kl"):
            assert torch.allclose(outs[lvl].metrics[key], outs["step"].metrics[key], atol=1e-6), (lvl, key)


@pytest.mark.parametrize("level", sorted(RATIO_LEVELS))
def test_gradient_reaches_logp_only_at_response_positions(level):
    logp = (OLD + DIFF).clone().requires_grad_(True)
    clipped_surrogate(logp, OLD, MASK, ADV, 0.5, 0.5, level).loss.backward()
    assert (logp.grad[~MASK] == 0).all()
    assert (logp.grad[MASK] != 0).all()  # nothing clipped at +-0.5 with these ratios
    assert (logp.grad[MASK] < 0).all()  # positive advantages: raise the log-probs


@pytest.mark.parametrize("level", sorted(RATIO_LEVELS))
def test_garbage_in_masked_positions_changes_nothing(level):
    ref_logp = (OLD + DIFF).clone().requires_grad_(True)
    ref = clipped_surrogate(ref_logp, OLD, MASK, ADV, 0.2, 0.28, level)
    ref.loss.backward()
    for fill in (NAN, INF, -INF, 1e4):
        logp = torch.where(MASK, OLD + DIFF, torch.full_like(OLD, fill)).requires_grad_(True)
        old = torch.where(MASK, OLD, torch.full_like(OLD, -fill if fill == fill else fill))
        out = clipped_surrogate(logp, old, MASK, ADV, 0.2, 0.28, level)
        assert torch.allclose(out.loss, ref.loss)
        for key, value in out.metrics.items():
            assert torch.allclose(value, ref.metrics[key]), key
        out.loss.backward()
        assert torch.isfinite(logp.grad).all()
        assert torch.allclose(logp.grad, ref_logp.grad)


@pytest.mark.parametrize("level", sorted(RATIO_LEVELS))
def test_empty_rows_are_excluded(level):
    logp = OLD + DIFF
    mask = MASK.clone()
    extra_mask = torch.zeros(1, 4, dtype=torch.bool)
    with_empty = clipped_surrogate(torch.cat([logp, torch.full((1, 4), NAN)]), torch.cat([OLD, OLD[:1]]),
                                   torch.cat([mask, extra_mask]), torch.cat([ADV, torch.tensor([NAN])]),
                                   0.2, 0.28, level)
    plain = clipped_surrogate(logp, OLD, mask, ADV, 0.2, 0.28, level)
    assert torch.allclose(with_empty.loss, plain.loss)
    assert with_empty.metrics["num_units"].item() == plain.metrics["num_units"].item()
    leaf = logp.clone().requires_grad_(True)
    empty = clipped_surrogate(leaf, OLD, torch.zeros_like(MASK), ADV, 0.2, 0.28, level)
    assert empty.loss.item() == 0.0 and empty.loss.requires_grad
    empty.loss.backward()
    assert (leaf.grad == 0).all()
    assert empty.metrics["clip_frac"].item() == 0.0 and empty.metrics["num_units"].item() == 0.0


@pytest.mark.parametrize("level", sorted(RATIO_LEVELS))
def test_clip_above_with_positive_advantage_stops_the_gradient(level):
    old = torch.zeros(2, 3)
    mask = torch.tensor([[0, 1, 1], [0, 1, 1]], dtype=torch.bool)
    logp = torch.full((2, 3), 0.5).requires_grad_(True)  # every ratio >= e^0.5 = 1.65 > 1.2
    out = clipped_surrogate(logp, old, mask, torch.tensor([1.0, 3.0]), 0.2, 0.2, level)
    out.loss.backward()
    assert out.metrics["clip_frac"].item() == 1.0
    assert (logp.grad == 0).all()
    # negative advantage and ratio below 1 - clip_low: also clipped
    logp2 = torch.full((2, 3), -0.5).requires_grad_(True)
    out2 = clipped_surrogate(logp2, old, mask, torch.tensor([-1.0, -2.0]), 0.2, 0.2, level)
    out2.loss.backward()
    assert out2.metrics["clip_frac"].item() == 1.0
    assert (logp2.grad == 0).all()
    # wrong-side ratios are never clipped (pessimistic min): A > 0 with rho < 1 - eps
    logp3 = torch.full((2, 3), -0.5).requires_grad_(True)
    out3 = clipped_surrogate(logp3, old, mask, torch.tensor([1.0, 1.0]), 0.2, 0.2, level)
    out3.loss.backward()
    assert out3.metrics["clip_frac"].item() == 0.0
    assert (logp3.grad[mask] != 0).all()


def test_asymmetric_clip_bounds_are_honoured():
    old = torch.zeros(1, 1)
    mask = torch.ones(1, 1, dtype=torch.bool)
    up = torch.full((1, 1), math.log(1.1))
    # rho 1.1, A = 1: kept with clip_high 0.2, clipped to 1.05 with clip_high 0.05 (clip_low irrelevant)
    assert clipped_surrogate(up, old, mask, torch.ones(1), 0.01, 0.2).loss.item() == pytest.approx(-1.1)
    assert clipped_surrogate(up, old, mask, torch.ones(1), 0.5, 0.05).loss.item() == pytest.approx(-1.05)
    down = torch.full((1, 1), math.log(0.9))
    # rho 0.9, A = -1: kept with clip_low 0.2, clipped to 0.95 with clip_low 0.05 (clip_high irrelevant)
    assert clipped_surrogate(down, old, mask, -torch.ones(1), 0.2, 0.01).loss.item() == pytest.approx(0.9)
    assert clipped_surrogate(down, old, mask, -torch.ones(1), 0.05, 0.5).loss.item() == pytest.approx(0.95)


def test_advantages_and_old_logp_get_no_gradient():
    adv = ADV.clone().requires_grad_(True)
    old = OLD.clone().requires_grad_(True)
    logp = (OLD + DIFF).clone().requires_grad_(True)
    clipped_surrogate(logp, old, MASK, adv, 0.2, 0.2).loss.backward()
    assert adv.grad is None and old.grad is None and logp.grad is not None


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), level=st.sampled_from(sorted(RATIO_LEVELS)))
def test_row_order_does_not_matter(seed, level):
    g = torch.Generator().manual_seed(seed)
    old = -torch.rand(5, 4, generator=g)
    logp = old + 0.2 * torch.randn(5, 4, generator=g)
    mask = torch.rand(5, 4, generator=g) > 0.3
    adv = torch.randn(5, generator=g)
    perm = torch.randperm(5, generator=g)
    a = clipped_surrogate(logp, old, mask, adv, 0.2, 0.3, level)
    b = clipped_surrogate(logp[perm], old[perm], mask[perm], adv[perm], 0.2, 0.3, level)
    assert torch.allclose(a.loss, b.loss, atol=1e-6)


def test_invalid_arguments_list_valid_choices():
    with pytest.raises(ValueError, match="unknown ratio level 'seq'; valid: step, step_product, token"):
        clipped_surrogate(OLD, OLD, MASK, ADV, 0.2, 0.2, "seq")
    with pytest.raises(ValueError, match="clip_low"):
        clipped_surrogate(OLD, OLD, MASK, ADV, 1.0, 0.2)
    with pytest.raises(ValueError, match="clip_high"):
        clipped_surrogate(OLD, OLD, MASK, ADV, 0.2, -0.1)


def test_token_level_accepts_per_token_advantages_equal_to_broadcast():
    torch.manual_seed(1)
    logp, old = torch.randn(3, 5), torch.randn(3, 5)
    mask = torch.tensor([[0, 1, 1, 0, 0], [0, 0, 1, 1, 1], [1, 1, 0, 0, 0]])
    adv = torch.tensor([0.5, -1.0, 2.0])
    per_step = clipped_surrogate(logp, old, mask, adv, 0.2, 0.2, "token")
    per_token = clipped_surrogate(logp, old, mask, adv[:, None].expand(3, 5).clone(), 0.2, 0.2, "token")
    assert torch.allclose(per_step.loss, per_token.loss)
    # a per-token advantage only matters on its own token
    tok_adv = torch.zeros(3, 5)
    tok_adv[0, 1] = 1.0
    lp = logp.clone().requires_grad_(True)
    clipped_surrogate(lp, old, mask, tok_adv, 10.0 - 9.5, 10.0, "token").loss.backward()
    nonzero = (lp.grad != 0).nonzero().tolist()
    assert nonzero == [[0, 1]]


def test_per_token_advantages_rejected_at_step_level():
    import pytest

    with pytest.raises(ValueError, match="ratio_level 'token'"):
        clipped_surrogate(torch.zeros(2, 3), torch.zeros(2, 3), torch.ones(2, 3),
                          torch.zeros(2, 3), 0.2, 0.2, "step")
