"""A random-init tiny causal LM with a real-style byte-level BPE tokenizer, built offline.

The word-level ``tiny`` model (``lm/tiny.py``) maps every word to one token and has no
chat template, so it cannot exercise what a real checkpoint does: multi-token
actions, merges that depend on the neighbouring bytes (decode -> encode is not the
identity on sampled ids), non-ASCII text, a ChatML prompt with special tokens. This
module builds such a model without downloading anything:

* tokenizer: a ``tokenizers`` BPE model with a ``ByteLevel`` pre-tokenizer
  (``add_prefix_space=False``) and decoder, the 256-symbol ByteLevel alphabet as
  initial alphabet (every byte string is encodable, no unknown token), trained in
  code on text made from the given vocabulary words, the tag strings the envs use
  (``<think> ... </think> <action> ... </action>``) and the chat boilerplate. With
  the default ``vocab_size=512`` only ~250 merges exist, so tags and many words stay
  multi-token. Special tokens are SmolLM2's, at SmolLM2's ids:
  ``<|endoftext|>`` = 0 (pad and unk), ``<|im_start|>`` = 1 (bos), ``<|im_end|>`` = 2
  (eos). Real SmolLM2-Instruct pads with ``<|im_end|>``; here pad is distinct from
  EOS so tests can tell padding from a sampled EOS.
* chat template: SmolLM2-Instruct's ChatML (:data:`CHAT_TEMPLATE`), a default
  system message when the conversation has none, and
  ``<|im_start|>assistant\\n`` as the generation prompt. The template writes the
  leading ``<|im_start|>`` itself and the tokenizer has no post-processor, so
  ``encode_prompt`` yields exactly one BOS.
* model: the same random llama / qwen2 configs as ``lm/tiny.py`` (4 heads, GQA,
  tied embeddings), float32 safetensors; ``config`` and ``generation_config`` carry
  eos 2, bos 1, pad 0.

Deterministic: the BPE trainer is deterministic for a fixed corpus (checked across
processes) and the weights are initialised under ``torch.manual_seed(seed)``. Builds
are cached under ``<cache_root()>/tiny_bpe/<key>``, the key hashing everything that
determines the result (including the ``tokenizers`` version that trained the merges),
and published atomically like ``lm/tiny.py`` does.
"""
from __future__ import annotations

import hashlib
import json
import os
from typing import Iterable

from rllib_istar.lm.cache import build_once, cache_root, quiet_transformers
from rllib_istar.lm.tiny import ARCHS, _model_config, normalize_words

ENDOFTEXT, IM_START, IM_END = "<|endoftext|>", "<|im_start|>", "<|im_end|>"
#: in id order: 0, 1, 2 (as in SmolLM2)
SPECIAL_TOKENS = (ENDOFTEXT, IM_START, IM_END)
DEFAULT_SYSTEM = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"
#: SmolLM2-Instruct's template: ChatML, a default system message, no BOS of its own.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\n" + DEFAULT_SYSTEM + "<|im_end|>\n' }}"
    "{% endif %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
SUBDIR = "tiny_bpe"
_NUM_HEADS = 4
_MIN_VOCAB = len(SPECIAL_TOKENS) + 256  # specials + the ByteLevel alphabet
# Bump when the build recipe changes so stale caches are not reused.
FORMAT_VERSION = 1


def training_corpus(words: Iterable[str]) -> list[str]:
    """The BPE training text (deterministic order): the words in running text, each
    word inside the env's tags, and the chat template's fixed strings."""
    words = normalize_words(words)
    lines = [" ".join(words), DEFAULT_SYSTEM, "system\n", "user\n", "assistant\n"]
    for w in words:
        lines += [f"<action>{w}</action>", f"<think> {w} </think> <action> {w} </action>"]
    return lines


def build_bpe_tokenizer(words: Iterable[str], vocab_size: int = 512):
    """Train the byte-level BPE tokenizer and wrap it as a ``PreTrainedTokenizerFast``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    if vocab_size <= _MIN_VOCAB:
        raise ValueError(f"vocab_size must be > {_MIN_VOCAB} (3 specials + 256 bytes), "
                         f"got {vocab_size}")
    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, min_frequency=1, show_progress=False,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    backend.train_from_iterator(training_corpus(words), trainer=trainer)
    tok = PreTrainedTokenizerFast(
        tokenizer_object=backend, bos_token=IM_START, eos_token=IM_END,
        pad_token=ENDOFTEXT, unk_token=ENDOFTEXT, clean_up_tokenization_spaces=False)
    tok.chat_template = CHAT_TEMPLATE
    ids = tok.convert_tokens_to_ids(list(SPECIAL_TOKENS))
    if ids != [0, 1, 2]:
        raise RuntimeError(f"special tokens got ids {ids}, expected [0, 1, 2]")
    return tok


def build_tiny_bpe_model(out_dir: str, words: Iterable[str], arch: str = "llama",
                         hidden_size: int = 64, num_layers: int = 2, vocab_size: int = 512,
                         seed: int = 0) -> str:
    """Build tokenizer + random causal LM and ``save_pretrained`` both into ``out_dir``.

    The model's vocabulary is the tokenizer's actual size (at most ``vocab_size``).
    Weights are initialised under ``torch.random.fork_rng`` (caller's RNG untouched).
    """
    import torch
    from transformers import AutoModelForCausalLM, GenerationConfig

    quiet_transformers()
    tokenizer = build_bpe_tokenizer(words, vocab_size)
    config = _model_config(arch, len(tokenizer), hidden_size, num_layers, _NUM_HEADS)
    config.pad_token_id, config.bos_token_id, config.eos_token_id = 0, 1, 2
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.generation_config = GenerationConfig(bos_token_id=1, eos_token_id=2, pad_token_id=0)
    os.makedirs(out_dir, exist_ok=True)
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    return out_dir


def tiny_bpe_model_key(words: Iterable[str], arch: str, hidden_size: int, num_layers: int,
                       vocab_size: int, seed: int) -> str:
    """Short hash naming the cache folder of one tiny-BPE spec."""
    import tokenizers

    spec = {"format": FORMAT_VERSION, "words": normalize_words(words), "arch": arch,
            "hidden": hidden_size, "layers": num_layers, "vocab": vocab_size, "seed": seed,
            "tokenizers": tokenizers.__version__}
    digest = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]
    return f"bpe-{arch}-h{hidden_size}-l{num_layers}-v{vocab_size}-s{seed}-{digest}"


def tiny_bpe_model_path(vocabulary_words: Iterable[str], arch: str = "llama",
                        hidden_size: int = 64, num_layers: int = 2, vocab_size: int = 512,
                        seed: int = 0) -> str:
    """Path of the cached tiny BPE model for this spec, building it once if missing.

    A local Hugging Face folder usable as ``model_path`` (``load_tokenizer``,
    ``load_causal_lm``). Race-safe like ``lm.tiny.tiny_model_path``: built in a
    private temp dir, published with ``os.replace``; a loser of the race uses the
    winner's folder.
    """
    if arch not in ARCHS:
        raise ValueError(f"unknown tiny arch {arch!r}; valid: {', '.join(ARCHS)}")
    words = normalize_words(vocabulary_words)
    root = os.path.join(cache_root(), SUBDIR)
    final = os.path.join(root, tiny_bpe_model_key(words, arch, hidden_size, num_layers,
                                                  vocab_size, seed))
    return build_once(final, lambda tmp: build_tiny_bpe_model(
        tmp, words, arch=arch, hidden_size=hidden_size, num_layers=num_layers,
        vocab_size=vocab_size, seed=seed))
