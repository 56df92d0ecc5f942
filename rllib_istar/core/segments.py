"""Segment and mask reductions shared by every formula in ``rllib_istar.core``.

Two kinds of grouping appear in iStar (docs/algorithm.md, "Objects"):

* **segments**: a flat ``(N,)`` vector whose entries belong to segments named
  by integer ids (steps -> trajectory, trajectories -> group, steps ->
  anchor state). The ``seg_*`` functions assume the ids are ``0..S-1``
  (``long``); call :func:`compact_ids` first when they are arbitrary
  integers (e.g. hashes, or a subset of a larger batch). Segments with no
  member give 0, never NaN.
* **masks**: a padded ``(N, T)`` tensor of per-token values with a mask that
  is True (or non-zero) on response tokens and False on prompt/padding.
  The ``masked_*`` functions select with :func:`torch.where`, so whatever a
  masked position holds (any finite value, ``inf`` or ``nan``) reaches
  neither the result nor the gradient.

Everything here is differentiable where it makes sense and free of
``.item()`` calls (no device syncs).
"""
from __future__ import annotations

import torch

__all__ = [
    "compact_ids",
    "seg_sum",
    "seg_count",
    "seg_mean",
    "seg_std",
    "seg_constant",
    "seg_centred",
    "seg_zscore",
    "as_bool_mask",
    "masked_sum",
    "masked_mean",
    "masked_whiten",
]


def compact_ids(ids: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Relabel arbitrary integer ids as ``0..S-1`` (sorted order of the ids).

    Shapes: ``ids (N,)`` any integer dtype -> ``(compact (N,) long, S)``.

    ```pycon
    >>> c, s = compact_ids(torch.tensor([7, 3, 7, 9]))
    >>> c.tolist(), s
    ([1, 0, 1, 2], 3)

    ```
    """
    uniq, inverse = torch.unique(ids, sorted=True, return_inverse=True)
    return inverse.long(), int(uniq.numel())


def seg_sum(values: torch.Tensor, ids: torch.Tensor, num_segments: int) -> torch.Tensor:
    """Sum ``values`` per segment.

    Shapes: ``values (N,)`` float, ``ids (N,)`` long in ``0..S-1`` ->
    ``(S,)``; an empty segment sums to 0. Differentiable in ``values``.

    ```pycon
    >>> seg_sum(torch.tensor([1., 2., 4.]), torch.tensor([0, 1, 0]), 3).tolist()
    [5.0, 2.0, 0.0]

    ```
    """
    out = values.new_zeros((num_segments,) + tuple(values.shape[1:]))
    return out.index_add(0, ids.long(), values)


def seg_count(ids: torch.Tensor, num_segments: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Number of members of each segment.

    Shapes: ``ids (N,)`` long in ``0..S-1`` -> ``(S,)`` of ``dtype``.

    ```pycon
    >>> seg_count(torch.tensor([0, 1, 0]), 3).tolist()
    [2.0, 1.0, 0.0]

    ```
    """
    ones = torch.ones(ids.shape[0], dtype=dtype, device=ids.device)
    return seg_sum(ones, ids, num_segments)


def seg_mean(values: torch.Tensor, ids: torch.Tensor, num_segments: int) -> torch.Tensor:
    """Mean of ``values`` per segment; an empty segment gives 0.

    Shapes: ``values (N,)``, ``ids (N,)`` long in ``0..S-1`` -> ``(S,)``.

    ```pycon
    >>> seg_mean(torch.tensor([1., 2., 4.]), torch.tensor([0, 1, 0]), 3).tolist()
    [2.5, 2.0, 0.0]

    ```
    """
    count = seg_count(ids, num_segments, dtype=values.dtype)
    return seg_sum(values, ids, num_segments) / count.clamp(min=1)


def seg_constant(values: torch.Tensor, ids: torch.Tensor, num_segments: int) -> torch.Tensor:
    """Whether every member of a segment holds the same value (max == min, exactly).

    Shapes: ``values (N,)``, ``ids (N,)`` long in ``0..S-1`` -> ``(S,)`` bool; an
    empty or single-member segment is constant. This is the zero-spread test of
    every normalisation here: a float mean of equal values can be one rounding
    step off them (eight copies of 0.9 in float32), so ``v - mean`` and the std
    are ~1e-8 rather than 0, and a z-score would push the whole segment one way.

    ```pycon
    >>> seg_constant(torch.tensor([.9, .9, .9, 1., 2.]), torch.tensor([0, 0, 0, 1, 1]), 3).tolist()
    [True, False, True]

    ```
    """
    init_hi = values.new_full((num_segments,), float("-inf"))
    init_lo = values.new_full((num_segments,), float("inf"))
    hi = init_hi.scatter_reduce(0, ids.long(), values.detach(), reduce="amax", include_self=True)
    lo = init_lo.scatter_reduce(0, ids.long(), values.detach(), reduce="amin", include_self=True)
    return (hi == lo) | (seg_count(ids, num_segments) <= 1)


def seg_centred(values: torch.Tensor, ids: torch.Tensor, num_segments: int) -> torch.Tensor:
    """``v - mean_s``, exactly 0 in a constant segment (:func:`seg_constant`).

    Shapes: ``values (N,)``, ``ids (N,)`` long in ``0..S-1`` -> ``(N,)``.

    ```pycon
    >>> seg_centred(torch.full((8,), 0.9), torch.zeros(8, dtype=torch.long), 1).abs().max().item()
    0.0

    ```
    """
    centred = values - seg_mean(values, ids, num_segments)[ids]
    const = seg_constant(values, ids, num_segments)[ids]
    return torch.where(const, torch.zeros_like(centred), centred)


def seg_std(values: torch.Tensor, ids: torch.Tensor, num_segments: int) -> torch.Tensor:
    """Unbiased (``n - 1``) standard deviation per segment.

    Shapes: ``values (N,)``, ``ids (N,)`` long in ``0..S-1`` -> ``(S,)``.
    A segment with fewer than two members, or whose members are all equal
    (:func:`seg_constant`), gives exactly 0 (and a zero, not NaN, gradient: ``sqrt`` is only evaluated
    where the variance is positive).

    ```pycon
    >>> [round(v, 4) for v in seg_std(torch.tensor([1., 0., 0., 1., 5.]),
    ...                               torch.tensor([0, 0, 0, 0, 1]), 2).tolist()]
    [0.5774, 0.0]

    ```
    """
    count = seg_count(ids, num_segments, dtype=values.dtype)
    mean = seg_mean(values, ids, num_segments)
    centred = values - mean[ids]
    sq = seg_sum(centred * centred, ids, num_segments)
    var = sq / (count - 1).clamp(min=1)
    ok = (count >= 2) & (var > 0) & ~seg_constant(values, ids, num_segments)
    safe = torch.where(ok, var, torch.ones_like(var))
    return torch.where(ok, safe.sqrt(), torch.zeros_like(var))


def seg_zscore(values: torch.Tensor, ids: torch.Tensor, num_segments: int,
               eps: float = 1e-6) -> torch.Tensor:
    """``(v - mean_s) / (std_s + eps)`` with the unbiased std of each segment.

    Shapes: ``values (N,)``, ``ids (N,)`` long in ``0..S-1`` -> ``(N,)``.
    Where the segment's std is 0 (singleton, or all values equal, tested as
    max == min) the result is exactly 0, whatever ``eps`` (``eps = 0`` is allowed).

    ```pycon
    >>> [round(v, 4) for v in seg_zscore(torch.tensor([1., 0., 3.]), torch.tensor([0, 0, 1]), 2).tolist()]
    [0.7071, -0.7071, 0.0]

    ```
    """
    mean = seg_mean(values, ids, num_segments)[ids]
    std = seg_std(values, ids, num_segments)[ids]
    ok = std > 0
    z = (values - mean) / torch.where(ok, std + eps, torch.ones_like(std))
    return torch.where(ok, z, torch.zeros_like(z))


def as_bool_mask(mask: torch.Tensor) -> torch.Tensor:
    """Bool view of a mask given as bool, int or float (non-zero = kept).

    ```pycon
    >>> as_bool_mask(torch.tensor([0., 1., 2.])).tolist()
    [False, True, True]

    ```
    """
    return mask if mask.dtype == torch.bool else mask != 0


def masked_sum(x: torch.Tensor, mask: torch.Tensor, dim: int | None = None) -> torch.Tensor:
    """Sum of ``x`` over positions where ``mask`` is set (nan-safe).

    Shapes: ``x`` and ``mask`` broadcastable (typically ``(N, T)``); ``dim``
    None sums everything (0-dim result), ``dim=-1`` gives ``(N,)``.
    Masked-out positions may hold anything, ``nan``/``inf`` included.

    ```pycon
    >>> x = torch.tensor([[1., float('nan'), 3.], [4., 5., float('inf')]])
    >>> m = torch.tensor([[1, 0, 1], [1, 1, 0]])
    >>> masked_sum(x, m, dim=-1).tolist()
    [4.0, 9.0]

    ```
    """
    kept = torch.where(as_bool_mask(mask), x, torch.zeros_like(x))
    return kept.sum() if dim is None else kept.sum(dim=dim)


def masked_mean(x: torch.Tensor, mask: torch.Tensor, dim: int | None = None) -> torch.Tensor:
    """Mean of ``x`` over masked-in positions; 0 where nothing is masked in.

    Shapes as :func:`masked_sum`. An all-False row (or mask) gives 0 that
    still carries a (zero) gradient, never NaN.

    ```pycon
    >>> x = torch.tensor([[1., float('nan'), 3.], [4., 5., 6.]])
    >>> m = torch.tensor([[1, 0, 1], [0, 0, 0]])
    >>> masked_mean(x, m, dim=-1).tolist()
    [2.0, 0.0]

    ```
    """
    bmask = as_bool_mask(mask)
    count = torch.broadcast_to(bmask, torch.broadcast_shapes(bmask.shape, x.shape))
    count = count.sum() if dim is None else count.sum(dim=dim)
    return masked_sum(x, bmask, dim) / count.clamp(min=1).to(x.dtype)


def masked_whiten(x: torch.Tensor, mask: torch.Tensor, eps: float = 1e-6,
                  shift_mean: bool = True) -> torch.Tensor:
    """Whiten ``x`` over its masked-in positions: ``(x - mean) / (std + eps)``.

    Shapes: ``x`` and ``mask`` of the same shape (any); the result has that
    shape and is 0 at masked-out positions. ``std`` is unbiased (``n - 1``)
    and taken as 0 when fewer than two positions are kept or all kept values
    are equal (the result is then 0 everywhere, whatever ``eps``). With
    ``shift_mean=False`` the result is ``x / (std + eps)`` (used when the
    mean is 0 by construction, as for group-centred values).

    ```pycon
    >>> [round(v, 4) for v in masked_whiten(torch.tensor([1., 3., 99.]),
    ...                                     torch.tensor([1, 1, 0])).tolist()]
    [-0.7071, 0.7071, 0.0]

    ```
    """
    bmask = torch.broadcast_to(as_bool_mask(mask), x.shape)
    x = torch.where(bmask, x, torch.zeros_like(x))  # nan-safe in backward too
    ids = torch.zeros(x.numel(), dtype=torch.long, device=x.device)
    flat = x.reshape(-1)
    keep = bmask.reshape(-1)
    kept = flat[keep]
    mean = seg_mean(kept, ids[: kept.numel()], 1)[0]
    std = seg_std(kept, ids[: kept.numel()], 1)[0]
    centred = x - mean if shift_mean else x
    ok = std > 0
    out = centred / torch.where(ok, std + eps, torch.ones_like(std))
    return torch.where(bmask & ok, out, torch.zeros_like(out))
