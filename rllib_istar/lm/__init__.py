"""Model loading: offline tiny models, local HF folders, prompt encoding, log-probs."""
from rllib_istar.lm.loading import (
    DTYPES,
    ModelLoadError,
    encode_prompt,
    load_causal_lm,
    load_tokenizer,
    resolve_model_path,
    to_torch_dtype,
)
from rllib_istar.lm.logprobs import compute_token_logprobs
from rllib_istar.lm.tiny import build_tiny_model, tiny_model_path

__all__ = [
    "DTYPES",
    "ModelLoadError",
    "build_tiny_model",
    "compute_token_logprobs",
    "encode_prompt",
    "load_causal_lm",
    "load_tokenizer",
    "resolve_model_path",
    "tiny_model_path",
    "to_torch_dtype",
]
