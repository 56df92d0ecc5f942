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

import torch
from ray.rllib.core.rl_module.apis import InferenceOnlyAPI
from ray.rllib.utils.annotations import override

from rllib_istar.rl_modules.causal_lm import CausalLMRLModule, model_config_dict

PRM_MODES = ("full", "lora")


def lora_target_modules(model: torch.nn.Module) -> List[str]:
    """Sorted unique leaf names of the ``nn.Linear`` layers inside the decoder blocks
    (e.g. q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj)."""
    names = set()
    for full_name, mod in model.named_modules():
        if isinstance(mod, torch.nn.Linear) and ".layers." in f".{full_name}":
            names.add(full_name.rsplit(".", 1)[-1])
    names.discard("lm_head")
    if not names:  # unusual layout: fall back to every linear but the head
        names = {n.rsplit(".", 1)[-1] for n, m in model.named_modules()
                 if isinstance(m, torch.nn.Linear)} - {"lm_head"}
    return sorted(names)


class ImplicitPRMRLModule(CausalLMRLModule):
    """Learner-only PRM; ``token_logprobs`` gives log pi_phi per token (same numerics)."""

    def setup(self):
        cfg = model_config_dict(self.model_config)
        mode = cfg.get("prm_mode", "full")
        if mode not in PRM_MODES:
            raise ValueError(f"unknown prm_mode {mode!r}; valid: {', '.join(PRM_MODES)}")
        self.prm_mode = mode
        super().setup()
        # LoRA: the state is the trainable adapter tensors only (names fixed at setup).
        self._adapter_keys = ({n for n, p in self.named_parameters() if p.requires_grad}
                              if mode == "lora" else None)
        self.role = "prm"
        self.learner_only = True

    def _build_lm(self, cfg: dict) -> torch.nn.Module:
        base = super()._build_lm(cfg)
        if self.prm_mode == "full":
            return base
        try:
            from peft import LoraConfig, get_peft_model
        except ImportError as e:
            raise ImportError("prm_mode='lora' needs peft: pip install 'rllib_istar[lora]'") from e
        lora = LoraConfig(r=int(cfg.get("lora_rank", 8)), lora_alpha=int(cfg.get("lora_alpha", 16)),
                          lora_dropout=0.0, bias="none", task_type="CAUSAL_LM",
                          target_modules=lora_target_modules(base))
        model = get_peft_model(base, lora)  # freezes every base parameter
        model.eval()
        return model

    @override(InferenceOnlyAPI)
    def get_non_inference_attributes(self) -> List[str]:
        return ["lm"]

    def _state_keys_filter(self, key: str) -> bool:
        return self._adapter_keys is None or key in self._adapter_keys
