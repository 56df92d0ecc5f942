"""LoRA adapters (peft) for the policy and the PRM modules.

``wrap_lora(base, rank, alpha)`` puts a LoRA adapter on every ``nn.Linear`` of the
decoder blocks (``lm_head`` excluded) and freezes every base weight; the
adapter tensors are the only trainable (and only checkpointed) parameters.
"""
from __future__ import annotations

from typing import List

import torch

LORA_EXTRA_HINT = "pip install 'rllib_istar[lora]'"


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


def wrap_lora(base: torch.nn.Module, rank: int, alpha: int, role: str) -> torch.nn.Module:
    """``peft`` LoRA model over ``base`` (base frozen, adapters trainable, eval mode)."""
    try:
        from peft import LoraConfig, get_peft_model
    except ImportError as e:
        raise ImportError(f"LoRA for the {role} needs peft: {LORA_EXTRA_HINT}") from e
    lora = LoraConfig(r=int(rank), lora_alpha=int(alpha), lora_dropout=0.0, bias="none",
                      task_type="CAUSAL_LM", target_modules=lora_target_modules(base))
    model = get_peft_model(base, lora)  # freezes every base parameter
    model.eval()
    return model
