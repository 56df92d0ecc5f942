"""Resolve, load and prompt Hugging Face causal LMs, strictly offline.

``model_path`` is either ``"tiny"`` / ``"tiny:<arch>:<hidden>:<layers>"`` (a random
tiny model over every registered env's vocabulary, see ``lm.tiny``), ``"tiny-bpe"`` (the
same with a byte-level BPE tokenizer and a chat template, ``lm.tiny_bpe``), ``"tiny-vlm"``
(a tiny Qwen2.5-VL vision-language model, ``lm.tiny_vlm``; ``lm.vision``), the name of a
registered pretrained model once ``rllib fetch-model NAME`` has materialised it (e.g.
``"smollm2-135m-instruct"``, see ``lm.pretrained``), a local Hugging Face folder
(``config.json`` + weights + tokenizer files), or a "GGUF folder": a folder without
``config.json`` holding exactly one ``*.gguf`` file, dequantised on load (needs the
``gguf`` package). Nothing is ever downloaded: every ``from_pretrained`` gets
``local_files_only=True``.
"""
from __future__ import annotations

import json
import os
from typing import Optional

from rllib_istar.choices import DTYPES
from rllib_istar.lm.cache import is_warmup_path, quiet_transformers
from rllib_istar.lm.errors import ModelLoadError
from rllib_istar.lm.pretrained import dequantise_gguf, require_gguf, resolve_alias
from rllib_istar.lm.vision import is_vision_model_path, load_vision_lm
from rllib_istar.tiny_words import tiny_words

_DTYPE_ALIASES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16",
                  "half": "float16", "float": "float32"}


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


def is_tiny_spec(spec) -> bool:
    """Whether ``spec`` names a tiny model built in code: ``tiny``, ``tiny:<arch>:<hidden>:
    <layers>``, ``tiny-bpe`` or ``tiny-vlm[:<arch>]`` (optionally ``+<env id>``, see
    :func:`resolve_model_path`)."""
    if not isinstance(spec, str):
        return False
    base = spec.strip().split("+", 1)[0]
    return (base in ("tiny", "tiny-bpe", "tiny-vlm") or base.startswith("tiny:")
            or base.startswith("tiny-vlm:"))


def _tiny_words(env_id: Optional[str]) -> list:
    try:
        return tiny_words(env_id)
    except KeyError:
        raise ModelLoadError(f"tiny model spec names env {env_id!r}, which is not registered; "
                             "register it (rllib_istar.envs.register_text_env) first") from None


def resolve_model_path(spec: str) -> str:
    """Turn a ``model_path`` setting into an existing local folder (building tiny ones).

    Tiny models cover the words of every env that shares the tiny vocabulary; a
    ``+<env id>`` suffix (``tiny+rllib_istar/WebShop-v0``, what
    ``IStarConfig.base_model_spec`` writes for envs that keep their vocabulary apart)
    adds that env's words.

    Raises:
        ModelLoadError: the path does not exist or has no ``config.json``.
    """
    if not isinstance(spec, (str, os.PathLike)) or not str(spec).strip():
        raise ModelLoadError(f"model_path is empty; {_fix_hint(str(spec))}")
    spec = str(spec).strip()
    if is_tiny_spec(spec):
        spec, _, env_id = spec.partition("+")
        env_id = env_id or None
    if spec == "tiny-vlm" or spec.startswith("tiny-vlm:"):  # a tiny Qwen2(.5)-VL (lm/tiny_vlm.py)
        from rllib_istar.lm.tiny_vlm import parse_tiny_vlm_spec, tiny_vlm_path

        return tiny_vlm_path(_tiny_words(env_id), arch=parse_tiny_vlm_spec(spec))
    if spec == "tiny-bpe":  # the tiny LM with a byte-level BPE + ChatML tokenizer (lm/tiny_bpe.py)
        from rllib_istar.lm.tiny_bpe import tiny_bpe_model_path

        return tiny_bpe_model_path(_tiny_words(env_id))
    if spec == "tiny" or spec.startswith("tiny:"):
        from rllib_istar.lm.tiny import ARCHS, tiny_model_path

        kw = parse_tiny_spec(spec)
        if kw["arch"] not in ARCHS:
            raise ModelLoadError(f"bad tiny model spec {spec!r}: arch must be one of "
                                 f"{', '.join(ARCHS)}")
        return tiny_model_path(_tiny_words(env_id), **kw)
    path = os.path.abspath(os.path.expanduser(spec))
    if not os.path.isdir(path):
        materialised = resolve_alias(spec)  # None unless spec names a registered model
        if materialised is not None:
            return materialised
    if not os.path.isdir(path) and is_warmup_path(path):
        raise ModelLoadError(f"the format-warmed model {path!r} is not built yet; IStar.setup "
                             "and rllib train build it (or call rllib_istar.warmup."
                             "prepare_policy_model(config) first)")
    if not os.path.isdir(path):
        raise ModelLoadError(f"model_path {path!r} does not exist; set model_path to a "
                             "local Hugging Face folder (config.json + weights) or 'tiny'")
    if not os.path.isfile(os.path.join(path, "config.json")) and gguf_file_in(path) is None:
        raise ModelLoadError(f"model_path {path!r} has no config.json; set model_path to "
                             "a local Hugging Face folder (config.json + weights) or 'tiny'")
    return path


def gguf_file_in(path: str) -> Optional[str]:
    """The name of the one ``*.gguf`` file of a GGUF folder (no ``config.json``), else None.

    Raises:
        ModelLoadError: the folder has no ``config.json`` and more than one ``.gguf`` file.
    """
    if os.path.isfile(os.path.join(path, "config.json")):
        return None
    try:
        names = sorted(n for n in os.listdir(path) if n.lower().endswith(".gguf")
                       and os.path.isfile(os.path.join(path, n)))
    except OSError:
        return None
    if len(names) > 1:
        raise ModelLoadError(f"model_path {path!r} holds {len(names)} .gguf files "
                             f"({', '.join(names)}); keep exactly one .gguf file in a GGUF "
                             "folder (or point model_path at a folder with config.json)")
    return names[0] if names else None


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

    cls, gguf_kwargs = AutoTokenizer, {}
    gguf_name = gguf_file_in(path)
    if gguf_name is not None:
        require_gguf(f"the GGUF folder {path!r}")
        gguf_kwargs = {"gguf_file": gguf_name}
    elif _declared_tokenizer_class(path) == "TokenizersBackend":
        # transformers 5 overrides the declared class for some model types (qwen2 ->
        # Qwen2Tokenizer, which rebuilds a byte-level pre-tokenizer and breaks the tiny
        # word-level tokenizer). A folder that explicitly declares the generic backend
        # gets exactly its tokenizer.json.
        from transformers import PreTrainedTokenizerFast as cls
    tok = cls.from_pretrained(path, local_files_only=True,
                              trust_remote_code=trust_remote_code, **gguf_kwargs)
    if tok.pad_token_id is None:
        if tok.eos_token_id is None:
            raise ModelLoadError(f"tokenizer at {path!r} has neither a pad nor an eos token")
        tok.pad_token = tok.eos_token
    return tok


def load_causal_lm(path: str, dtype="float32", trust_remote_code: bool = False):
    """``AutoModelForCausalLM`` from a local folder in ``dtype`` (train mode off); a
    vision-language folder (``config.json`` with a ``vision_config``) loads through
    ``AutoModelForImageTextToText`` instead (``lm.vision``).

    A GGUF folder's file is dequantised into a plain model that trains and saves like
    any other (see :func:`rllib_istar.lm.pretrained.dequantise_gguf`).
    """
    from transformers import AutoModelForCausalLM

    quiet_transformers()

    torch_dtype = to_torch_dtype(dtype)
    if not os.path.isfile(os.path.join(path, "config.json")):
        path = resolve_model_path(path)
    gguf_name = gguf_file_in(path)
    if is_vision_model_path(path):
        return load_vision_lm(path, torch_dtype, trust_remote_code)
    if gguf_name is not None:
        model = dequantise_gguf(path, gguf_name, torch_dtype, trust_remote_code)
    else:
        model = AutoModelForCausalLM.from_pretrained(
            path, dtype=torch_dtype, local_files_only=True, trust_remote_code=trust_remote_code)
    model.eval()
    return model


def encode_prompt(tokenizer, text: str, response_prefix: str | None = None) -> list[int]:
    """Prompt text -> ids the policy conditions on.

    With a chat template: one user message rendered with ``add_generation_prompt=True``
    (the template inserts its own BOS, so no extra special tokens are added). Without
    one: plain ids, with the tokenizer's BOS prepended if it defines one and the
    tokenizer's own post-processor did not already add it. ``response_prefix`` (the
    ``IStarConfig.response_prefix`` knob) is encoded on its own, without special
    tokens, and appended: the model's response continues it, and its tokens stay
    part of the prompt (no log-prob, no gradient).
    """
    if getattr(tokenizer, "chat_template", None):
        rendered = tokenizer.apply_chat_template(
            [{"role": "user", "content": text}], tokenize=False, add_generation_prompt=True)
        ids = list(tokenizer.encode(rendered, add_special_tokens=False))
    else:
        ids = list(tokenizer.encode(text, add_special_tokens=True))
        bos = tokenizer.bos_token_id
        if bos is not None and (not ids or ids[0] != bos):
            ids.insert(0, bos)
    if response_prefix:
        ids.extend(tokenizer.encode(response_prefix, add_special_tokens=False))
    return ids
