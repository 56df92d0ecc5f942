"""The frozen initial policy pi_init: the KL reference, the ``initial`` PRM reference,
and the split of the step reward into its two terms (docs/STEP_REWARDS.md).

    beta*log(pi_phi/pi_old) = beta*log(pi_phi/pi_init) + beta*log(pi_init/pi_old)

Where the weights come from, cheapest first:

* a LoRA policy (``policy_mode: lora``): its base with the adapter off;
* a LoRA PRM (``prm_mode: lora``) that starts from the policy's checkpoint
  (``prm_init`` null): the PRM's base with the adapter off;
* otherwise a frozen copy of the policy's weights taken when the learner is built
  (before any update, and before a checkpoint's weights are restored).

Log-probs use the policy module's numerics (temperature, autocast, image inputs).
"""
from __future__ import annotations

import contextlib
import copy
from typing import Optional

import torch

from rllib_istar.lm.logprobs import compute_token_logprobs

__all__ = ["InitialPolicy"]


class InitialPolicy:
    """``token_logprobs(ids, mask, response_mask=None, images=None) -> (n, L)`` of pi_init.

    ``policy``, ``prm``: the unwrapped policy and PRM modules (``prm`` None without a PRM);
    ``prm_shares_init``: the PRM was initialised from the policy's checkpoint.
    """

    def __init__(self, policy, prm=None, prm_shares_init: bool = True):
        self._policy = policy
        self._frozen_lm: Optional[torch.nn.Module] = None
        self._adapter_owner = None
        if getattr(policy, "_adapter_keys", None) is not None:
            self._adapter_owner, self.source = policy, "policy base (LoRA adapter off)"
        elif prm is not None and prm_shares_init and getattr(prm, "_adapter_keys", None) is not None:
            self._adapter_owner, self.source = prm, "PRM base (LoRA adapter off)"
        else:
            self._frozen_lm = copy.deepcopy(policy.lm).eval().requires_grad_(False)
            self.source = "frozen copy of the initial policy"

    @property
    def holds_copy(self) -> bool:
        """Whether a frozen copy of the weights is held (costs one model's memory)."""
        return self._frozen_lm is not None

    def token_logprobs(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                       response_mask: Optional[torch.Tensor] = None,
                       images: Optional[torch.Tensor] = None) -> torch.Tensor:
        """(n, L) ids and mask -> (n, L) float32 log-probs of pi_init, no gradient; only
        the ``response_mask`` positions are computed (others 0), as the modules do."""
        with torch.no_grad():
            if self._frozen_lm is None:
                with self._adapter_owner.lm.disable_adapter():
                    return self._adapter_owner.token_logprobs(
                        input_ids, attention_mask, response_mask=response_mask,
                        images=images, temperature=self._policy.temperature)
            policy = self._policy
            dev = next(self._frozen_lm.parameters()).device
            ctx = policy.autocast() if hasattr(policy, "autocast") else contextlib.nullcontext()
            with ctx:
                return compute_token_logprobs(
                    self._frozen_lm, input_ids.to(dev), attention_mask.to(dev),
                    policy.temperature, target_mask=None if response_mask is None
                    else response_mask.to(dev), model_inputs=policy.image_inputs(images))
