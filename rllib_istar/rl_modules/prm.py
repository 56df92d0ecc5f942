"""The implicit PRM: a second causal LM trained on the Learner only.

``ImplicitPRMRLModule`` is built from ``RLModuleSpec(learner_only=True)``; it never
lives on an EnvRunner and must never be shipped by RLlib's weight sync, so its
inference-only state is empty (``get_non_inference_attributes() == ["lm"]``; RLlib's
unfiltered ``sync_weights`` otherwise ships learner-only modules too).

Extra ``model_config`` keys (besides the policy's):
    prm_mode: "full" (default) a complete trainable copy loaded from ``model_path``
        (the policy's checkpoint unless the user names another), or "lora": a peft
        LoRA adapter over a frozen copy of the base.
    lora_rank (8), lora_alpha (16): LoRA hyperparameters; the adapter targets every
        ``nn.Linear`` of the attention/MLP blocks, found by name (``lm_head`` excluded).

State: "full" mode behaves like the policy (all weights). "lora" mode's
``get_state()`` holds only the trainable adapter tensors (the frozen base is rebuilt
from ``model_path`` on restore); ``set_state`` accepts exactly such a dict
(every key must match an adapter tensor; all adapter tensors must be given).
"""
from __future__ import annotations

from typing import List

from ray.rllib.core.rl_module.apis import InferenceOnlyAPI
from ray.rllib.utils.annotations import override

from rllib_istar.choices import PRM_MODES
from rllib_istar.rl_modules.causal_lm import CausalLMRLModule, model_config_dict



class ImplicitPRMRLModule(CausalLMRLModule):
    """Learner-only PRM; ``token_logprobs`` gives log pi_phi per token (same numerics)."""

    def setup(self):
        cfg = model_config_dict(self.model_config)
        mode = cfg.get("prm_mode", "full")
        if mode not in PRM_MODES:
            raise ValueError(f"unknown prm_mode {mode!r}; valid: {', '.join(PRM_MODES)}")
        self.prm_mode = mode
        super().setup()
        self.role = "prm"
        self.learner_only = True

    def _uses_lora(self, cfg: dict) -> bool:
        return self.prm_mode == "lora"

    @override(InferenceOnlyAPI)
    def get_non_inference_attributes(self) -> List[str]:
        return ["lm"]

