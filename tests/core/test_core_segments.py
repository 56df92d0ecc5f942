"""Segment and masked reductions: hand-computed cases and nan-safety."""
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rllib_istar.core.advantages import broadcast_to_steps
from rllib_istar.core.segments import (
    as_bool_mask,
    compact_ids,
    masked_mean,
    masked_sum,
    masked_whiten,
    seg_count,
    seg_mean,
    seg_std,
    seg_sum,
)

NAN, INF = float("nan"), float("inf")


def test_compact_ids_relabels_in_sorted_order():
    ids, num = compact_ids(torch.tensor([42, -3, 42, 7]))
    assert ids.tolist() == [2, 0, 2, 1]
    assert num == 3
    assert ids.dtype == torch.long


def test_segment_reductions_by_hand():
    v = torch.tensor([1.0, 2.0, 4.0, 3.0])
    ids = torch.tensor([0, 1, 0, 0])
    assert seg_sum(v, ids, 3).tolist() == [8.0, 2.0, 0.0]
    assert seg_count(ids, 3).tolist() == [3.0, 1.0, 0.0]
    assert seg_mean(v, ids, 3).tolist() == pytest.approx([8 / 3, 2.0, 0.0])
    # segment 0: values 1, 4, 3, mean 8/3; unbiased var = ((5/3)^2 + (4/3)^2 + (1/3)^2) / 2 = 7/3
    std = seg_std(v, ids, 3)
    assert std.tolist() == pytest.approx([math.sqrt(7 / 3), 0.0, 0.0])
    assert broadcast_to_steps(seg_mean(v, ids, 3), ids).tolist() == pytest.approx([8 / 3, 2.0, 8 / 3, 8 / 3])


def test_seg_std_zero_and_singleton_have_finite_zero_gradient():
    v = torch.tensor([5.0, 5.0, 1.0], requires_grad=True)
    ids = torch.tensor([0, 0, 1])
    std = seg_std(v, ids, 2)
    assert std.tolist() == [0.0, 0.0]
    std.sum().backward()
    assert torch.isfinite(v.grad).all()
    assert v.grad.tolist() == [0.0, 0.0, 0.0]


def test_as_bool_mask_accepts_int_and_float():
    assert as_bool_mask(torch.tensor([0, 1, 3])).tolist() == [False, True, True]
    assert as_bool_mask(torch.tensor([0.0, 1.0])).tolist() == [False, True]
    b = torch.tensor([True, False])
    assert as_bool_mask(b) is b


def test_masked_sum_and_mean_ignore_nan_inf_forward_and_backward():
    x = torch.tensor([[1.0, NAN, 3.0], [INF, -INF, 2.0], [NAN, NAN, NAN]], requires_grad=True)
    m = torch.tensor([[1, 0, 1], [0, 0, 1], [0, 0, 0]])
    assert masked_sum(x, m, dim=-1).tolist() == [4.0, 2.0, 0.0]
    assert masked_mean(x, m, dim=-1).tolist() == [2.0, 2.0, 0.0]
    assert masked_sum(x, m).item() == 6.0
    assert masked_mean(x, m).item() == 2.0
    (masked_sum(x, m, dim=-1).sum() + masked_mean(x, m)).backward()
    g = x.grad
    assert torch.isfinite(g).all()
    expected = torch.tensor([[1 + 1 / 3, 0, 1 + 1 / 3], [0, 0, 1 + 1 / 3], [0, 0, 0]])
    assert torch.allclose(g, expected)


def test_masked_whiten_by_hand_and_nan_safe():
    x = torch.tensor([1.0, 3.0, NAN, 5.0], requires_grad=True)
    m = torch.tensor([True, True, False, True])
    # kept 1, 3, 5: mean 3, unbiased std 2 -> (-1, 0, 1)
    out = masked_whiten(x, m, eps=0.0)
    assert out.tolist() == pytest.approx([-1.0, 0.0, 0.0, 1.0])
    out.pow(2).sum().backward()
    assert torch.isfinite(x.grad).all()
    assert x.grad[2].item() == 0.0
    no_shift = masked_whiten(torch.tensor([1.0, 3.0, 5.0]), torch.ones(3, dtype=torch.bool), eps=0.0,
                             shift_mean=False)
    assert no_shift.tolist() == pytest.approx([0.5, 1.5, 2.5])
    assert masked_whiten(torch.tensor([4.0]), torch.tensor([True])).tolist() == [0.0]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.floats(-10, 10), st.integers(0, 4)), min_size=1, max_size=20))
def test_segment_reductions_match_a_python_loop(rows):
    v = torch.tensor([r[0] for r in rows], dtype=torch.float64)
    ids = torch.tensor([r[1] for r in rows])
    sums, means, stds = seg_sum(v, ids, 5), seg_mean(v, ids, 5), seg_std(v, ids, 5)
    for s in range(5):
        members = [r[0] for r in rows if r[1] == s]
        assert sums[s].item() == pytest.approx(sum(members), abs=1e-9)
        mean = sum(members) / len(members) if members else 0.0
        assert means[s].item() == pytest.approx(mean, abs=1e-9)
        if len(members) < 2:
            assert stds[s].item() == 0.0
        else:
            var = sum((x - mean) ** 2 for x in members) / (len(members) - 1)
            assert stds[s].item() == pytest.approx(math.sqrt(var), abs=1e-6)
