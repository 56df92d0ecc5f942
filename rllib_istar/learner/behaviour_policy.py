"""pi_old of rows sampled one policy version back (``rollout_mode: async``).

With asynchronous rollouts the env runners sample iteration k+1's groups with the
weights the learner held when iteration k's update began, so every row of an update
comes from the policy one version behind the learner (docs/algorithm.md §4
"Asynchronous rollouts"). The importance ratio, the PRM's rolling reference and the
step rewards must then use that behaviour policy, not the learner's current one.

:class:`BehaviourPolicy` keeps the policy's trainable parameters as they were at the
start of the previous update (one copy: the LoRA adapters, or every weight of a full
model) and computes log-probs under them by swapping the tensors into the live module
for the duration of a no-grad pass (no second module, no copy on the swap). Rows whose
version is the learner's current one are scored with the live weights.

Versions are RLlib's ``WEIGHTS_SEQ_NO``: the learner's count of updates, which a weight
sync hands to the env runners and each episode records (``columns.POLICY_VERSION``).
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Dict, Iterator, Mapping, Optional

import torch

from rllib_istar import columns as C

__all__ = ["BehaviourPolicy", "policy_lag"]


def policy_lag(rows: Mapping[str, torch.Tensor], learner_version: int) -> Optional[torch.Tensor]:
    """``(N,) long``: how many updates each row's sampling policy is behind the learner
    (``learner_version - step_policy_version``), or None where the rows carry no version."""
    if C.STEP_POLICY_VERSION not in rows:
        return None
    return learner_version - rows[C.STEP_POLICY_VERSION].long()


class BehaviourPolicy:
    """The policy's trainable parameters at one earlier version, and log-probs under them.

    Args:
        module: the policy module (unwrapped); its parameters with ``requires_grad`` are
            the ones an update changes, and the only ones kept.
    """

    def __init__(self, module: torch.nn.Module):
        self._module = module
        self._version: Optional[int] = None
        self._saved: Dict[str, torch.Tensor] = {}

    def remember(self, version: int) -> None:
        """Keep a copy of the live trainable parameters as ``version`` (replaces the
        previous copy). Call at the start of an update, before anything changes them."""
        with torch.no_grad():
            self._saved = {name: p.detach().clone()
                           for name, p in self._module.named_parameters() if p.requires_grad}
        self._version = int(version)

    @contextmanager
    def _swapped_in(self) -> Iterator[None]:
        """The kept parameters in the live module (their tensors swapped in, then back)."""
        params = dict(self._module.named_parameters())
        for name, kept in self._saved.items():
            params[name].data, self._saved[name] = kept, params[name].data
        try:
            yield
        finally:
            for name, live in self._saved.items():
                params[name].data, self._saved[name] = live, params[name].data

    def logp(self, chunked_logp: Callable, token_logprobs: Callable,
             rows: Mapping[str, torch.Tensor], versions: torch.Tensor,
             learner_version: int) -> torch.Tensor:
        """``(N, L)`` no-grad token log-probs of ``rows`` under the policy that sampled
        each of them.

        Args:
            chunked_logp: ``(logp_fn, rows) -> (n, L)``, the micro-batched no-grad pass
                (``Microbatcher.chunked_logp``).
            token_logprobs: the live policy module's ``token_logprobs``.
            rows: step-row columns (``input_ids``, ``attention_mask``, ``response_mask``,
                optional ``images``), ``N`` rows.
            versions: ``(N,)`` each row's sampling version.
            learner_version: the learner's current version (its live weights).

        Raises RuntimeError for a version that is neither the learner's nor the kept one.
        """
        versions = versions.long()
        known = {learner_version} | ({self._version} if self._version is not None else set())
        odd = sorted({int(v) for v in versions.unique()} - known)
        if odd:
            raise RuntimeError(
                f"rows sampled by policy version(s) {odd}, but the learner holds versions "
                f"{sorted(known)}: rollout_mode 'async' keeps one version back; the env "
                "runners must be synced once per iteration (IStar.training_step does this)")
        present = sorted({int(v) for v in versions.unique()})
        if len(present) == 1:  # one sampling policy for the whole batch: no row copies
            return self._logp_at(present[0], learner_version, chunked_logp, token_logprobs, rows)
        columns = [c for c in (C.INPUT_IDS, C.ATTENTION_MASK, C.RESPONSE_MASK, C.IMAGES)
                   if c in rows]
        out = torch.zeros_like(rows[C.RESPONSE_MASK], dtype=torch.float32)
        for version in present:
            index = (versions == version).nonzero(as_tuple=True)[0]
            part = {c: rows[c][index] for c in columns}
            out[index] = self._logp_at(version, learner_version, chunked_logp, token_logprobs,
                                       part)
        return out

    def _logp_at(self, version: int, learner_version: int, chunked_logp: Callable,
                 token_logprobs: Callable, rows: Mapping[str, torch.Tensor]) -> torch.Tensor:
        if version == learner_version:
            return chunked_logp(token_logprobs, rows)
        with self._swapped_in():
            return chunked_logp(token_logprobs, rows)
