"""Where built models live, and how transformers is kept quiet (a leaf: no package imports).

``$RLLIB_ISTAR_CACHE`` (default ``~/.cache/rllib_istar``) holds the offline tiny
models (``tiny/<hash>``, ``lm/tiny.py``) and the format-warmed checkpoints
(``warmup/<hash>``, ``algorithm/warmup.py``).
"""
from __future__ import annotations

import os

WARMUP_DIR = "warmup"  # sub-folder of the cache root for format-warmed checkpoints


def cache_root() -> str:
    """``$RLLIB_ISTAR_CACHE`` or ``~/.cache/rllib_istar``."""
    root = os.environ.get("RLLIB_ISTAR_CACHE") or os.path.join(
        os.path.expanduser("~"), ".cache", "rllib_istar")
    return os.path.abspath(root)


def is_warmup_path(path: str) -> bool:
    """True if ``path`` names a folder where a format-warmed checkpoint belongs."""
    return os.path.dirname(os.path.abspath(path)) == os.path.join(cache_root(), WARMUP_DIR)


def quiet_transformers() -> None:
    """No per-file progress bars from transformers (they drown the training log)."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
