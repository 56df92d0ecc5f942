"""``ModelLoadError``, the error of model resolution and loading (a leaf: no package imports).

It lives below ``lm.loading`` and ``lm.pretrained`` so both raise the same class
(``loading`` resolves the aliases ``pretrained`` registers); import it from
either, or from ``rllib_istar.lm``.
"""
from __future__ import annotations


class ModelLoadError(ValueError):
    """A model path or loading option is unusable; the message says how to fix it."""
