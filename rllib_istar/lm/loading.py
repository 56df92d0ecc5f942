"""Resolve, load and prompt Hugging Face causal LMs, strictly offline.

``model_path`` is either ``"tiny"`` / ``"tiny:<arch>:<hidden>:<layers>"`` (a random
tiny model over every registered env's vocabulary, see ``models.tiny``) or a local
Hugging Face folder (``config.json`` + weights + tokenizer files). Nothing is ever
downloaded: every ``from_pretrained`` gets ``local_files_only=True``.
"""
from __future__ import annotations

import json
import os

from rllib_istar.lm.cache import is_warmup_path, quiet_transformers

DTYPES = ("float32", "bfloat16", "float16")
_DTYPE_ALIASES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16",
                  "half": "float16", "float": "float32"}


class ModelLoadError(ValueError):
    """A model path or loading option is unusable; the message says how to fix it."""


def _fix_hint(spec: str) -> str:
    return (f"set model_path to a local Hugging Face folder (config.json + weights) or "
            f"'tiny' (got {spec!r})")


def parse_tiny_spec(spec: str) -> dict:
    """``"tiny"`` -> defaults; ``"tiny:<arch>:<hidden>:<layers>"`` -> those values."""
    parts = spec.split(":")
    out = {"arch": "llama", "hidden_size": 64, "num_layers": 2}
    if len(parts) == 1:
        return out
    if len(parts) != 4:
        raise ModelLoadError(f"bad tiny model spec {spec!r}; use 'tiny' or "
                             "'tiny:<arch>:<hidden>:<layers>', e.g. 'tiny:qwen2:128:2'")
    try:
        out.update(arch=parts[1], hidden_size=int(parts[2]), num_layers=int(parts[3]))
    except ValueError:
        raise ModelLoadError(f"bad tiny model spec {spec!r}: hidden and layers must be "
                             "integers, e.g. 'tiny:llama:64:2'") from None
    return out


def resolve_model_path(spec: str) -> str:
    """Turn a ``model_path`` setting into an existing local folder (building tiny ones).

    Raises:
        ModelLoadError: the path does not exist or has no ``config.json``.
    """
    if not isinstance(spec, (str, os.PathLike)) or not str(spec).strip():
        raise ModelLoadError(f"model_path is empty; {_fix_hint(str(spec))}")
    spec = str(spec).strip()
    if spec == "tiny" or spec.startswith("tiny:"):
        from rllib_istar.lm.tiny import ARCHS, tiny_model_path

        kw = parse_tiny_spec(spec)
        if kw["arch"] not in ARCHS:
            raise ModelLoadError(f"bad tiny model spec {spec!r}: arch must be one of "
                                 f"{', '.join(ARCHS)}")
        from rllib_istar.envs import all_vocabulary  # lazy: envs is a sibling package

        return tiny_model_path(all_vocabulary(), **kw)
    path = os.path.abspath(os.path.expanduser(spec))
    if not os.path.isdir(path) and is_warmup_path(path):
        raise ModelLoadError(f"the format-warmed model {path!r} is not built yet; IStar.setup "
                             "and rllib train build it (or call rllib_istar.algorithm.warmup."
                             "prepare_policy_model(config) first)")
    if not os.path.isdir(path):
        raise ModelLoadError(f"model_path {path!r} does not exist; set model_path to a "
                             "local Hugging Face folder (config.json + weights) or 'tiny'")
    if not os.path.isfile(os.path.join(path, "config.json")):
        raise ModelLoadError(f"model_path {path!r} has no config.json; set model_path to "
                             "a local Hugging Face folder (config.json + weights) or 'tiny'")
    return path


def to_torch_dtype(dtype):
    """``"float32"|"bfloat16"|"float16"`` (or fp32/bf16/fp16, or a torch.dtype) -> torch.dtype."""
    import torch

    if isinstance(dtype, torch.dtype):
        name = str(dtype).removeprefix("torch.")
    else:
        name = _DTYPE_ALIASES.get(str(dtype).lower(), str(dtype).lower())
    if name not in DTYPES:
        raise ModelLoadError(f"unknown dtype {dtype!r}; valid: {', '.join(DTYPES)}")
    return getattr(torch, name)


def _declared_tokenizer_class(path: str):
    cfg = os.path.join(path, "tokenizer_config.json")
    if not (os.path.isfile(cfg) and os.path.isfile(os.path.join(path, "tokenizer.json"))):
        return None
    try:
        with open(cfg, encoding="utf-8") as f:
            return json.load(f).get("tokenizer_class")
    except (OSError, ValueError):
        return None


def load_tokenizer(path: str, trust_remote_code: bool = False):
    """``AutoTokenizer`` from a local folder; guarantees a pad token (falls back to EOS).

    Padding side is left to callers (generation pads left, training rows pad right).
    """
    from transformers import AutoTokenizer

    cls = AutoTokenizer
    if _declared_tokenizer_class(path) == "TokenizersBackend":
        # transformers 5 overrides the declared class for some model types (qwen2 ->
        # Qwen2Tokenizer, which rebuilds a byte-level pre-tokenizer and breaks the tiny
        # word-level tokenizer). A folder that explicitly declares the generic backend
        # gets exactly its tokenizer.json.
        from transformers import PreTrainedTokenizerFast as cls
    tok = cls.from_pretrained(path, local_files_only=True,
                              trust_remote_code=trust_remote_code)
    if tok.pad_token_id is None:
        if tok.eos_token_id is None:
            raise ModelLoadError(f"tokenizer at {path!r} has neither a pad nor an eos token")
        tok.pad_token = tok.eos_token
    return tok


def load_causal_lm(path: str, dtype="float32", trust_remote_code: bool = False):
    """``AutoModelForCausalLM`` from a local folder in ``dtype`` (train mode off)."""
    from transformers import AutoModelForCausalLM

    quiet_transformers()

    torch_dtype = to_torch_dtype(dtype)
    if not os.path.isfile(os.path.join(path, "config.json")):
        path = resolve_model_path(path)
    model = AutoModelForCausalLM.from_pretrained(
        path, dtype=torch_dtype, local_files_only=True, trust_remote_code=trust_remote_code)
    model.eval()
    return model


def encode_prompt(tokenizer, text: str) -> list[int]:
    """Prompt text -> ids the policy conditions on.

    With a chat template: one user message rendered with ``add_generation_prompt=True``
    (the template inserts its own BOS, so no extra special tokens are added). Without
    one: plain ids, with the tokenizer's BOS prepended if it defines one and the
    tokenizer's own post-processor did not already add it.
    """
    if getattr(tokenizer, "chat_template", None):
        rendered = tokenizer.apply_chat_template(
            [{"role": "user", "content": text}], tokenize=False, add_generation_prompt=True)
        return list(tokenizer.encode(rendered, add_special_tokens=False))
    ids = list(tokenizer.encode(text, add_special_tokens=True))
    bos = tokenizer.bos_token_id
    if bos is not None and (not ids or ids[0] != bos):
        ids.insert(0, bos)
    return ids
