"""One copy in memory of the frozen weights several modules of a process load alike.

With ``policy_mode: lora`` and ``prm_mode: lora`` the policy's and the PRM's bases are
the same initial checkpoint, frozen (only the adapters train), and so is the policy
base of an env runner living in the learner's process (``num_env_runners: 0``). Each
module still loads its own copy; :func:`share_frozen_weights` then points the target's
frozen parameters at the source's equal tensors, and the target's copies are freed.
The pi_init reference needs no copy of its own either: it is the base with the adapter
off (``learner/initial_policy.py``).

A parameter is shared only where both are frozen (``requires_grad`` False: an optimizer
never steps them), have the same name in the underlying model, shape, dtype and device,
and hold equal values (checked once, here), so sharing never changes a number. Nothing
writes to a frozen base in place during training; a LoRA merge for export runs on a
separately built module (``algorithm/export.py``).
"""
from __future__ import annotations

from typing import Dict

import torch

__all__ = ["share_frozen_weights", "canonical_name"]

_PEFT_PREFIX = "base_model.model."


def canonical_name(name: str) -> str:
    """A parameter's name in the underlying Hugging Face model: peft's wrapper prefix and
    its ``base_layer`` level removed, so a LoRA model's frozen weights and a plain
    model's weights of the same checkpoint have the same names.

    >>> canonical_name("base_model.model.model.layers.0.self_attn.q_proj.base_layer.weight")
    'model.layers.0.self_attn.q_proj.weight'
    """
    if name.startswith(_PEFT_PREFIX):
        name = name[len(_PEFT_PREFIX):]
    return name.replace(".base_layer.", ".")


def _frozen(module: torch.nn.Module) -> Dict[str, torch.nn.Parameter]:
    return {canonical_name(n): p for n, p in module.named_parameters() if not p.requires_grad}


def share_frozen_weights(target: torch.nn.Module, source: torch.nn.Module) -> int:
    """Point each frozen parameter of ``target`` at ``source``'s equal frozen tensor of the
    same name; returns the bytes no longer held twice (0 when nothing matches)."""
    available = _frozen(source)
    saved = 0
    with torch.no_grad():
        for name, param in _frozen(target).items():
            kept = available.get(name)
            if (kept is None or kept.shape != param.shape or kept.dtype != param.dtype
                    or kept.device != param.device):
                continue
            if kept.data_ptr() == param.data_ptr() or not torch.equal(kept, param):
                continue
            param.data = kept.data
            saved += param.numel() * param.element_size()
    return saved
