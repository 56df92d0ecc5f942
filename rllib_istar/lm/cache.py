"""Where built models live, and how transformers is kept quiet (a leaf: no package imports).

``$RLLIB_ISTAR_CACHE`` (default ``~/.cache/rllib_istar``) holds the offline tiny
models (``tiny/<hash>``, ``lm/tiny.py``) and the format-warmed checkpoints
(``warmup/<hash>``, ``warmup/finetune.py``).
"""
from __future__ import annotations

import os
import shutil
import tempfile
from typing import Callable

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


def build_once(final: str, build: Callable[[str], None]) -> str:
    """``final``, a model folder in the cache, built once with ``build(tmp_dir)`` if its
    ``config.json`` is missing. Race-safe: each builder writes a private temp dir beside
    it, then ``os.replace`` publishes it; a loser of the race (the target exists) deletes
    its copy and uses the winner's. A folder is only ever visible complete."""
    if os.path.isfile(os.path.join(final, "config.json")):
        return final
    root = os.path.dirname(final)
    os.makedirs(root, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".building-", dir=root)
    os.chmod(tmp, 0o755)  # mkdtemp makes it 0700
    try:
        build(tmp)
        try:
            os.replace(tmp, final)
        except OSError:  # another process published first (target dir exists, non-empty)
            if not os.path.isfile(os.path.join(final, "config.json")):
                raise
    finally:
        if os.path.isdir(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
    return final
