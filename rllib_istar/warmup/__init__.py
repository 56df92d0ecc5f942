"""The format warm-up: fine-tuning a model on random admissible actions before RL.

``prepare_policy_model(config)`` returns the warmed checkpoint's folder (built once and
cached; ``finetune.py``), with progress lines (``progress.py``) and a partial result a
rerun resumes from (``partial.py``).
"""
from rllib_istar.warmup.finetune import (
    build_warmup_model,
    prepare_policy_model,
    warmup_model_path,
    warmup_path_for,
)

__all__ = ["build_warmup_model", "prepare_policy_model", "warmup_model_path", "warmup_path_for"]
