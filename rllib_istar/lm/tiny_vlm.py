"""A random-init tiny vision-language model (Qwen2.5-VL or Qwen2-VL), built offline.

``model_path: tiny-vlm`` (Qwen2.5-VL, the paper's family) or ``tiny-vlm:qwen2_vl``:
what the tiny LM (``lm/tiny.py``) is for text, for image observations. Nothing is
downloaded; the build is cached under ``<cache_root()>/tiny_vlm/<key>`` (the key
hashes everything that determines it) and published atomically (``cache.build_once``).

* tokenizer: word-level over the given words plus the chat words, split on
  whitespace, with the Qwen2-VL special tokens as added tokens (matched inside words,
  so ``<|vision_start|><|image_pad|><|vision_end|>`` needs no spaces): ``<pad>`` 0,
  ``<unk>`` 1, ``<|im_start|>`` 2, ``<|im_end|>`` 3 (EOS), ``<|vision_start|>``,
  ``<|vision_end|>``, ``<|image_pad|>``, ``<|video_pad|>``; a ChatML chat template
  whose user content may be a list of ``{"type": "text"}`` / ``{"type": "image"}``
  parts (Qwen2-VL's own template does the same);
* image processor: transformers' ``Qwen2VLImageProcessor`` with 4-px patches, 2x2
  merging and 2 temporal patches, so a 48x48 image is 12x12 patches = 36 image tokens
  (no resize for sides that are multiples of 8, between 8 and 128 px);
* model: ``Qwen2_5_VLForConditionalGeneration`` (or ``Qwen2VLForConditionalGeneration``)
  with a 2-block, 32-wide vision tower and a 2-layer, 64-wide text model (GQA, tied
  embeddings), float32 safetensors; ~0.13 M parameters with the Sokoban vocabulary.
"""
from __future__ import annotations

import hashlib
import json
import os
from typing import Iterable

from rllib_istar.lm.cache import build_once, cache_root, quiet_transformers
from rllib_istar.lm.tiny import normalize_words

PAD, UNK, IM_START, IM_END = "<pad>", "<unk>", "<|im_start|>", "<|im_end|>"
VISION_START, VISION_END, IMAGE_PAD, VIDEO_PAD = ("<|vision_start|>", "<|vision_end|>",
                                                  "<|image_pad|>", "<|video_pad|>")
#: in id order
SPECIAL_TOKENS = (PAD, UNK, IM_START, IM_END, VISION_START, VISION_END, IMAGE_PAD, VIDEO_PAD)
CHAT_WORDS = ("system", "user", "assistant")
#: ChatML; a user message's content is a string or a list of text / image parts
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' }}"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'image' %}{{ ' <|vision_start|><|image_pad|><|vision_end|> ' }}"
    "{% else %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}"
    "{{ '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
ARCHS = ("qwen2_5_vl", "qwen2_vl")
SUBDIR = "tiny_vlm"
PATCH, MERGE, TEMPORAL = 4, 2, 2
# Bump when the build recipe changes so stale caches are not reused.
FORMAT_VERSION = 1


def parse_tiny_vlm_spec(spec: str) -> str:
    """``"tiny-vlm"`` -> ``"qwen2_5_vl"``; ``"tiny-vlm:<arch>"`` -> that arch."""
    from rllib_istar.lm.errors import ModelLoadError

    _, _, arch = spec.partition(":")
    arch = arch or ARCHS[0]
    if arch not in ARCHS:
        raise ModelLoadError(f"bad tiny VLM spec {spec!r}; use 'tiny-vlm' or "
                             f"'tiny-vlm:<arch>' with arch one of {', '.join(ARCHS)}")
    return arch


def build_vlm_tokenizer(words: Iterable[str]):
    """Word-level ``PreTrainedTokenizerFast`` with the specials above and the template."""
    from tokenizers import AddedToken, Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = [w for w in normalize_words([*words, *CHAT_WORDS]) if w not in SPECIAL_TOKENS]
    vocab = {tok: i for i, tok in enumerate([*SPECIAL_TOKENS, *words])}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    backend.add_special_tokens([AddedToken(t, special=True, normalized=False)
                                for t in SPECIAL_TOKENS])
    tok = PreTrainedTokenizerFast(tokenizer_object=backend, pad_token=PAD, unk_token=UNK,
                                  eos_token=IM_END, clean_up_tokenization_spaces=False)
    tok.chat_template = CHAT_TEMPLATE
    return tok


def _image_processor():
    import warnings

    with warnings.catch_warnings():  # the PIL variant, when torchvision is missing
        warnings.simplefilter("ignore")
        from transformers import Qwen2VLImageProcessor

        return Qwen2VLImageProcessor(patch_size=PATCH, merge_size=MERGE,
                                     temporal_patch_size=TEMPORAL,
                                     min_pixels=8 * 8, max_pixels=128 * 128)


def _model_config(arch: str, tokenizer):
    from transformers import Qwen2_5_VLConfig, Qwen2VLConfig

    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
    text = dict(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128,
                num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                max_position_embeddings=4096, tie_word_embeddings=True,
                rope_parameters={"rope_type": "default", "mrope_section": [2, 3, 3],
                                 "rope_theta": 10000.0},
                pad_token_id=ids[PAD], bos_token_id=ids[IM_START], eos_token_id=ids[IM_END])
    common = dict(patch_size=PATCH, spatial_merge_size=MERGE, temporal_patch_size=TEMPORAL,
                  depth=2, num_heads=2)
    if arch == "qwen2_5_vl":
        vision, cls = dict(common, hidden_size=32, intermediate_size=64, out_hidden_size=64,
                           window_size=16, fullatt_block_indexes=[1]), Qwen2_5_VLConfig
    else:
        vision, cls = dict(common, embed_dim=32, hidden_size=64, mlp_ratio=2), Qwen2VLConfig
    return cls(text_config=text, vision_config=vision, tie_word_embeddings=True,
               image_token_id=ids[IMAGE_PAD], video_token_id=ids[VIDEO_PAD],
               vision_start_token_id=ids[VISION_START], vision_end_token_id=ids[VISION_END])


def build_tiny_vlm(out_dir: str, words: Iterable[str], arch: str = "qwen2_5_vl",
                   seed: int = 0) -> str:
    """Build tokenizer, image processor and random VLM; ``save_pretrained`` all into
    ``out_dir``. Deterministic in (words, arch, seed); the caller's RNG is untouched."""
    import torch
    from transformers import AutoModelForImageTextToText, GenerationConfig

    quiet_transformers()
    tokenizer = build_vlm_tokenizer(words)
    config = _model_config(arch, tokenizer)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = AutoModelForImageTextToText.from_config(config, dtype=torch.float32)
    text = config.text_config
    model.generation_config = GenerationConfig(bos_token_id=text.bos_token_id,
                                               eos_token_id=text.eos_token_id,
                                               pad_token_id=text.pad_token_id)
    os.makedirs(out_dir, exist_ok=True)
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    _image_processor().save_pretrained(out_dir)
    return out_dir


def tiny_vlm_key(words: Iterable[str], arch: str, seed: int) -> str:
    """Short hash naming the cache folder of one tiny-VLM spec."""
    import tokenizers
    import transformers

    spec = {"format": FORMAT_VERSION, "words": normalize_words(words), "arch": arch,
            "seed": seed, "transformers": transformers.__version__.split(".")[0],
            "tokenizers": tokenizers.__version__}
    digest = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]
    return f"{arch}-s{seed}-{digest}"


def tiny_vlm_path(words: Iterable[str], arch: str = "qwen2_5_vl", seed: int = 0) -> str:
    """Path of the cached tiny VLM for this spec, building it once if missing."""
    words = normalize_words(words)
    final = os.path.join(cache_root(), SUBDIR, tiny_vlm_key(words, arch, seed))
    return build_once(final, lambda tmp: build_tiny_vlm(tmp, words, arch=arch, seed=seed))
