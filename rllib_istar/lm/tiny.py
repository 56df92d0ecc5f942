"""A random-init tiny causal LM plus a word-level tokenizer, built offline.

Used by tests and smoke runs (``model_path="tiny"``): nothing is downloaded. The
tokenizer is a ``tokenizers`` WordLevel model over ``<pad> <unk> <bos> <eos>`` plus
the given words, split on whitespace; unknown words map to ``<unk>``; decoding joins
tokens with single spaces (the library default when no decoder is set, which
survives ``save_pretrained``/``from_pretrained``). It has **no chat template**:
prompts are plain text and ``models.encode_prompt`` prepends ``<bos>``.

Builds are cached under ``$RLLIB_ISTAR_CACHE`` (default ``~/.cache/rllib_istar``)
in a folder named by a hash of everything that determines the result, and
published atomically (build into a temp dir, then ``os.replace``), so two
processes racing on the same spec both end up with one complete folder.
"""
from __future__ import annotations

import hashlib
import json
import os
from typing import Iterable

from rllib_istar.lm.cache import build_once, cache_root, quiet_transformers

SPECIAL_TOKENS = ("<pad>", "<unk>", "<bos>", "<eos>")
ARCHS = ("llama", "qwen2")
# Bump when the build recipe changes so stale caches are not reused.
FORMAT_VERSION = 1


def normalize_words(words: Iterable[str]) -> list[str]:
    """Whitespace-split every item, drop specials and duplicates, sort (order-free)."""
    out = {w for item in words for w in str(item).split()}
    return sorted(out - set(SPECIAL_TOKENS))


def build_tokenizer(words: Iterable[str]):
    """Word-level ``PreTrainedTokenizerFast``: ids 0..3 are the specials, then words."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {tok: i for i, tok in enumerate(list(SPECIAL_TOKENS) + normalize_words(words))}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    # No decoder: tokenizers then joins decoded tokens with a single space.
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        pad_token="<pad>",
        unk_token="<unk>",
        bos_token="<bos>",
        eos_token="<eos>",
        clean_up_tokenization_spaces=False,
    )


def _model_config(arch: str, vocab_size: int, hidden_size: int, num_layers: int,
                  num_heads: int):
    from transformers import LlamaConfig, Qwen2Config

    if arch not in ARCHS:
        raise ValueError(f"unknown tiny arch {arch!r}; valid: {', '.join(ARCHS)}")
    if hidden_size % num_heads:
        raise ValueError(f"hidden_size {hidden_size} is not divisible by num_heads {num_heads}")
    kv_heads = num_heads // 2 if num_heads % 2 == 0 else num_heads  # exercise GQA
    cls = LlamaConfig if arch == "llama" else Qwen2Config
    return cls(
        vocab_size=vocab_size,
        hidden_size=hidden_size,
        intermediate_size=2 * hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        num_key_value_heads=kv_heads,
        max_position_embeddings=1024,
        tie_word_embeddings=True,
        pad_token_id=SPECIAL_TOKENS.index("<pad>"),
        bos_token_id=SPECIAL_TOKENS.index("<bos>"),
        eos_token_id=SPECIAL_TOKENS.index("<eos>"),
    )


def build_tiny_model(out_dir: str, words: Iterable[str], arch: str = "llama",
                     hidden_size: int = 64, num_layers: int = 2, num_heads: int = 4,
                     seed: int = 0) -> str:
    """Build tokenizer + random causal LM and ``save_pretrained`` both into ``out_dir``.

    Deterministic in (words, arch, sizes, seed): the weights are initialised right
    after ``torch.manual_seed(seed)`` under ``torch.random.fork_rng`` (the caller's
    global RNG state is left untouched). Weights are written as float32 safetensors.
    """
    import torch
    from transformers import AutoModelForCausalLM, GenerationConfig

    quiet_transformers()

    tokenizer = build_tokenizer(words)
    config = _model_config(arch, len(tokenizer), hidden_size, num_layers, num_heads)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.generation_config = GenerationConfig(
        bos_token_id=config.bos_token_id, eos_token_id=config.eos_token_id,
        pad_token_id=config.pad_token_id)
    os.makedirs(out_dir, exist_ok=True)
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    return out_dir


def tiny_model_key(words: Iterable[str], arch: str, hidden_size: int, num_layers: int,
                   num_heads: int, seed: int) -> str:
    """Short hash naming the cache folder of one tiny-model spec."""
    spec = {"format": FORMAT_VERSION, "words": normalize_words(words), "arch": arch,
            "hidden": hidden_size, "layers": num_layers, "heads": num_heads, "seed": seed}
    digest = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]
    return f"tiny-{arch}-h{hidden_size}-l{num_layers}-s{seed}-{digest}"


def tiny_model_path(words: Iterable[str], arch: str = "llama", hidden_size: int = 64,
                    num_layers: int = 2, num_heads: int = 4, seed: int = 0) -> str:
    """Path of the cached tiny model for this spec, building it once if missing.

    Race-safe: each builder writes a private temp dir, then ``os.replace`` publishes
    it; a loser of the race (target already exists) deletes its copy and uses the
    winner's. A folder is only ever visible complete.
    """
    words = normalize_words(words)
    root = cache_root()
    final = os.path.join(root, tiny_model_key(words, arch, hidden_size, num_layers,
                                              num_heads, seed))
    return build_once(final, lambda tmp: build_tiny_model(
        tmp, words, arch=arch, hidden_size=hidden_size, num_layers=num_layers,
        num_heads=num_heads, seed=seed))
