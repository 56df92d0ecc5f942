"""What a (peft-wrapped) transformers model is and accepts: a leaf of ``lm/``, no Ray."""
from __future__ import annotations

import inspect
from typing import Any

_FORWARD_TAKES: dict = {}


def base_model(model: Any) -> Any:
    """The transformers model under a peft wrapper (peft injects its adapters in place,
    so the base carries them), or ``model`` itself."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def forward_takes(model: Any, name: str) -> bool:
    """Whether the (peft-unwrapped) model's ``forward`` has a parameter ``name``; cached
    per (model class, name), since the forward passes of a run ask it every time."""
    cls = type(base_model(model))
    key = (cls, name)
    if key not in _FORWARD_TAKES:
        _FORWARD_TAKES[key] = name in inspect.signature(cls.forward).parameters
    return _FORWARD_TAKES[key]
