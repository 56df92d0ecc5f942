"""The policy update in token-budget micro-batches, with exact gradient accumulation.

RLlib's ``TorchLearner._uncompiled_update`` runs one forward/backward over the
whole minibatch. With a real vocabulary that is the memory peak (192 rows x 158
tokens x 49k logits is ~6 GB in float32), so with ``policy_microbatch_tokens``
set, :class:`PolicyMicrobatches` splits each minibatch into micro-batches of at
most that many tokens (rows x their padded width), backpropagates each one's
share of the loss, and then takes the one optimizer step RLlib would have taken.

Exactness: the surrogate is a mean over ratio units (steps, or tokens at
``token`` level) and the KL/entropy terms are token means, so micro-batch ``k``
scales them by ``units_k / units`` and ``tokens_k / tokens``; the summed
gradient equals the minibatch gradient up to float rounding
(tests/learner/test_policy_microbatches.py). Metrics are combined the same way
(``ratio_max`` as a max, ``num_units`` as a sum) and logged once.

A mixin for :class:`~rllib_istar.learner.learner.IStarTorchLearner` (uses its
``policy_loss``, ``_synced_count`` and ``_log``).
"""
from __future__ import annotations

import contextlib
from typing import Dict, List

import torch

from rllib_istar import columns as C
from rllib_istar import metrics as M
from rllib_istar.rl_modules.specs import POLICY_ID

# metrics averaged by token share (the rest by unit share; these two are not means)
_TOKEN_MEAN_METRICS = (M.APPROX_KL, M.KL_REF, M.ENTROPY)


def token_budget_slices(lengths: List[int], budget: int) -> List[List[int]]:
    """Row indices grouped so that ``len(group) * max(lengths[group]) <= budget``.

    Rows are taken longest first (less padding per micro-batch); a row longer
    than the budget forms a micro-batch of its own. Every row appears exactly once.

    >>> token_budget_slices([3, 10, 4, 9], 20)
    [[1, 3], [2, 0]]
    """
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    groups: List[List[int]] = []
    width = 0
    for i in order:
        if groups and (len(groups[-1]) + 1) * max(width, lengths[i]) <= budget:
            groups[-1].append(i)
            width = max(width, lengths[i])
        else:
            groups.append([i])
            width = lengths[i]
    return groups


class PolicyMicrobatches:
    """Overrides ``_uncompiled_update`` when ``config.policy_microbatch_tokens`` is set."""

    def _uncompiled_update(self, batch: Dict, **kwargs):
        budget = self.config.policy_microbatch_tokens
        if not budget or set(batch) != {POLICY_ID}:
            return super()._uncompiled_update(batch, **kwargs)
        policy_batch = batch[POLICY_ID]
        mask = policy_batch[C.RESPONSE_MASK]
        lengths = policy_batch[C.ATTENTION_MASK].sum(-1).long().tolist()
        groups = token_budget_slices(lengths, int(budget))
        step_units = self.config.effective_ratio_level != "token"
        units_total = float((mask.sum(-1) > 0).sum() if step_units else mask.sum())
        tokens_total = float(mask.sum())
        for optim in self._optimizer_parameters:
            optim.zero_grad(set_to_none=True)
        module = self.module[POLICY_ID]
        merged: Dict[str, float] = {}
        loss_sum = torch.zeros((), device=mask.device)
        count = self._synced_count(len(groups))
        for k in range(count):
            # ranks with fewer micro-batches run zero-weight ones so DDP's all-reduce lines up
            idx = torch.as_tensor(groups[k] if k < len(groups) else groups[0], device=mask.device)
            sub = {key: value[idx] for key, value in policy_batch.items()
                   if isinstance(value, torch.Tensor) and value.shape[:1] == mask.shape[:1]}
            sub_mask = sub[C.RESPONSE_MASK]
            units = float((sub_mask.sum(-1) > 0).sum() if step_units else sub_mask.sum())
            weight = 1.0 if k < len(groups) else 0.0
            unit_share = weight * units / max(units_total, 1.0)
            token_share = weight * float(sub_mask.sum()) / max(tokens_total, 1.0)
            last = k == count - 1
            sync = module.no_sync() if hasattr(module, "no_sync") and not last \
                else contextlib.nullcontext()
            with sync:
                fwd_out = module.forward_train(sub)
                loss, metrics = self.policy_loss(sub, fwd_out, unit_share, token_share)
                if loss.grad_fn is not None:
                    loss.backward()
            loss_sum = loss_sum + loss.detach()
            _merge_metrics(merged, metrics, unit_share, token_share)
        self._log(POLICY_ID, {**merged, M.NUM_POLICY_MICROBATCHES: len(groups)})
        grads = {pid: p.grad for pid, p in self._params.items() if p.grad is not None}
        self.apply_gradients(self.postprocess_gradients(grads))
        return {}, {POLICY_ID: loss_sum}, {}


def _merge_metrics(merged: Dict[str, float], metrics: Dict[str, torch.Tensor],
                   unit_share: float, token_share: float) -> None:
    """Fold one micro-batch's metrics into ``merged`` (weighted means, max, sum)."""
    for key, value in metrics.items():
        value = float(value)
        if key == M.RATIO_MAX:
            merged[key] = max(merged.get(key, value), value)
        elif key == M.NUM_UNITS:
            merged[key] = merged.get(key, 0.0) + value
        else:
            share = token_share if key in _TOKEN_MEAN_METRICS else unit_share
            merged[key] = merged.get(key, 0.0) + share * value
