"""The policy update in token-budget micro-batches, with exact gradient accumulation.

RLlib's ``TorchLearner._uncompiled_update`` runs one forward/backward over the
whole minibatch. With a real vocabulary that is the memory peak (192 rows x 158
tokens x 49k logits is ~6 GB in float32), so with ``policy_microbatch_tokens``
set, :class:`PolicyMicrobatchUpdate` splits each minibatch into micro-batches of at
most that many tokens (rows x their padded width), backpropagates each one's
share of the loss, and then takes the one optimizer step RLlib would have taken.

Exactness: the surrogate is a mean over ratio units (steps, or tokens at
``token`` level) and the KL/entropy terms are token means, so micro-batch ``k``
scales them by ``units_k / units`` and ``tokens_k / tokens``; the summed
gradient equals the minibatch gradient up to float rounding
(tests/learner/test_policy_microbatches.py). Metrics are combined the same way
(``ratio_max`` as a max, ``num_units`` as a sum) and logged once.

The learner's ``_uncompiled_update`` override zeroes the gradients, calls
:meth:`PolicyMicrobatchUpdate.run` and applies them; :class:`PolicyMicrobatchUpdate`
receives the loss function, the micro-batcher and where to log.
"""
from __future__ import annotations

import contextlib
from typing import Callable, Dict

import torch

from rllib_istar import columns as C
from rllib_istar import metrics as M
from rllib_istar.learner.microbatches import Microbatcher, token_budget_slices

# metrics averaged by token share (the rest by unit share; these two are not means)
_TOKEN_MEAN_METRICS = (M.APPROX_KL, M.KL_REF, M.ENTROPY)


class PolicyMicrobatchUpdate:
    """The policy's forward/backward over token-budget micro-batches of one minibatch.

    Args:
        budget: ``policy_microbatch_tokens``, the most tokens (rows x padded width) in
            one micro-batch.
        step_units: whether the surrogate averages over steps (``ratio_level`` step or
            step_product) rather than tokens.
        loss_fn: ``loss_fn(batch, fwd_out, unit_share, token_share) -> (loss, metrics)``,
            the learner's policy loss.
        microbatcher: pads the micro-batch count across DDP ranks.
        log: ``log(metrics)`` under the policy's module id.
    """

    def __init__(self, *, budget: int, step_units: bool, loss_fn: Callable,
                 microbatcher: Microbatcher, log: Callable[[Dict[str, float]], None]):
        self.budget = int(budget)
        self.step_units = step_units
        self.loss_fn = loss_fn
        self.microbatcher = microbatcher
        self.log = log

    def run(self, module, policy_batch) -> torch.Tensor:
        """Back-propagate every micro-batch's share of the loss into ``module``'s
        gradients (not zeroed, not applied here); returns the summed loss (0-dim)."""
        mask = policy_batch[C.RESPONSE_MASK]
        lengths = policy_batch[C.ATTENTION_MASK].sum(-1).long().tolist()
        groups = token_budget_slices(lengths, self.budget)
        step_units = self.step_units
        units_total = float((mask.sum(-1) > 0).sum() if step_units else mask.sum())
        tokens_total = float(mask.sum())
        merged: Dict[str, float] = {}
        loss_sum = torch.zeros((), device=mask.device)
        plan = self.microbatcher.padded(groups)
        for k, (rows, weight) in enumerate(plan):
            idx = torch.as_tensor(rows, device=mask.device)
            sub = {key: value[idx] for key, value in policy_batch.items()
                   if isinstance(value, torch.Tensor) and value.shape[:1] == mask.shape[:1]}
            sub_mask = sub[C.RESPONSE_MASK]
            units = float((sub_mask.sum(-1) > 0).sum() if step_units else sub_mask.sum())
            unit_share = weight * units / max(units_total, 1.0)
            token_share = weight * float(sub_mask.sum()) / max(tokens_total, 1.0)
            last = k == len(plan) - 1
            sync = module.no_sync() if hasattr(module, "no_sync") and not last \
                else contextlib.nullcontext()
            with sync:
                fwd_out = module.forward_train(sub)
                loss, metrics = self.loss_fn(sub, fwd_out, unit_share, token_share)
                if loss.grad_fn is not None:
                    loss.backward()
            loss_sum = loss_sum + loss.detach()
            _merge_metrics(merged, metrics, unit_share, token_share)
        self.log({**merged, M.NUM_POLICY_MICROBATCHES: len(groups)})
        return loss_sum


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
