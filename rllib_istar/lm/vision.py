"""Vision-language models: detection, pixel inputs and multimodal prompts (no Ray).

Supported: the Qwen2-VL family (``qwen2_vl``, ``qwen2_5_vl``: Qwen2-VL, Qwen2.5-VL),
through transformers' image-text-to-text class (``AutoModelForImageTextToText``),
from a local folder (``config.json`` with a ``vision_config``, weights, tokenizer,
``preprocessor_config.json``, a chat template) or the tiny one built in code
(``model_path: tiny-vlm``, :mod:`rllib_istar.lm.tiny_vlm`).

How an image reaches the model (docs/algorithm.md "Objects": the prompt p_t holds the
current observation; here it is a picture):

1. the prompt text holds :data:`~rllib_istar.image_placeholder.IMAGE_PLACEHOLDER` once;
   :meth:`VisionInputs.encode_prompt` renders one user message whose content is
   ``[text before, image, text after]`` with the model's chat template (which writes
   ``<|vision_start|><|image_pad|><|vision_end|>`` for the image), then expands the
   one image-pad token to as many as the image has merged patches
   (``prod(image_grid_thw) / merge_size**2``, the rule of transformers'
   ``Qwen2VLProcessor``; done here so no video processor, hence no torchvision, is
   needed);
2. the rows keep the ``(H, W, 3) uint8`` image once per step, and every forward pass
   turns a batch of them into ``pixel_values (sum of patches, C*T*P*P)`` and
   ``image_grid_thw (n, 3)`` with the model's own image processor
   (:meth:`VisionInputs.pixel_inputs`): one image per row, in row order.

Responses never hold the image or vision tokens (:func:`suppressed_token_ids`).

Positions: these models compute their multimodal rotary positions (M-RoPE: 2-D
positions for the image patches) themselves from ``input_ids``, ``image_grid_thw`` and
the attention mask, so callers pass no ``position_ids`` (:func:`is_vision_model`).
transformers >= 5.2x also wants ``mm_token_type_ids`` (1 on image tokens) and, without
it, silently falls back to 1-D text positions; :func:`forward_inputs` adds it wherever
the model's forward takes it.
"""
from __future__ import annotations

import json
import os
from typing import Any, Optional, Sequence

import numpy as np

from rllib_istar.image_placeholder import split_on_image
from rllib_istar.lm.errors import ModelLoadError
from rllib_istar.lm.model_api import base_model, forward_takes

#: model types whose prompts and pixel inputs :class:`VisionInputs` knows how to build
VISION_MODEL_TYPES = ("qwen2_vl", "qwen2_5_vl")


def config_has_vision(config: Any) -> bool:
    """Whether a transformers config (or its dict) describes a vision-language model."""
    if isinstance(config, dict):
        return config.get("vision_config") is not None
    return getattr(config, "vision_config", None) is not None


def is_vision_model(model: Any) -> bool:
    """Whether a (peft-wrapped) transformers model has a vision tower."""
    base = base_model(model)
    return config_has_vision(getattr(base, "config", None))


def forward_inputs(model: Any, input_ids, pixel_inputs: Optional[dict]) -> dict:
    """The extra forward (or ``generate``) inputs of a vision model for ``input_ids``
    (N, L): ``pixel_inputs`` (:meth:`VisionInputs.pixel_inputs`, on the ids' device)
    plus ``mm_token_type_ids`` (N, L) int (1 on the image tokens) where the model takes
    it. ``{}`` without pixel inputs."""
    if not pixel_inputs:
        return {}
    out = {k: v.to(input_ids.device) for k, v in pixel_inputs.items()}
    if forward_takes(model, "mm_token_type_ids"):
        out["mm_token_type_ids"] = (input_ids == int(base_model(model).config.image_token_id)).int()
    return out


#: config keys of the token ids only the processor may write (never a response token)
VISION_TOKEN_KEYS = ("image_token_id", "video_token_id", "vision_start_token_id",
                     "vision_end_token_id")


def suppressed_token_ids(model: Any) -> tuple:
    """The vision model's image / video / vision-start / vision-end token ids, sorted.

    The policy never emits them: a sampled image-pad token would be one image token
    more than the image has features, and the learner's forward would fail. The
    generator sets their logits to ``-inf`` before sampling and the learner's log-probs
    use the same suppressed distribution (``lm.logprobs``), so rollout and learner
    agree. ``()`` for text models."""
    base = base_model(model)
    config = getattr(base, "config", None)
    if not config_has_vision(config):
        return ()
    ids = {getattr(config, k, None) for k in VISION_TOKEN_KEYS}
    return tuple(sorted(int(i) for i in ids if i is not None))


def read_model_config(path: str) -> dict:
    """``config.json`` of a local model folder as a dict (``{}`` if it has none)."""
    file = os.path.join(path, "config.json")
    if not os.path.isfile(file):
        return {}
    with open(file, encoding="utf-8") as f:
        return json.load(f)


def is_vision_model_path(path: str) -> bool:
    """Whether the local model folder ``path`` holds a vision-language model."""
    return config_has_vision(read_model_config(path))


def check_vision_model_type(path: str, config: dict) -> str:
    """The folder's ``model_type`` if :class:`VisionInputs` supports it.

    Raises:
        ModelLoadError: another vision-language family (one-line error with the fix).
    """
    model_type = str(config.get("model_type", ""))
    if model_type not in VISION_MODEL_TYPES:
        raise ModelLoadError(f"the vision-language model at {path!r} is a {model_type!r}; "
                             f"supported: {', '.join(VISION_MODEL_TYPES)} (e.g. a local "
                             "Qwen2.5-VL folder, or model_path: tiny-vlm)")
    return model_type


def load_vision_lm(path: str, torch_dtype, trust_remote_code: bool = False):
    """``AutoModelForImageTextToText`` from a local folder, eval mode."""
    from transformers import AutoModelForImageTextToText

    check_vision_model_type(path, read_model_config(path))
    model = AutoModelForImageTextToText.from_pretrained(
        path, dtype=torch_dtype, local_files_only=True, trust_remote_code=trust_remote_code)
    model.eval()
    return model


#: the files besides weights and tokenizer that make a folder a usable VLM
VISION_FILES = ("preprocessor_config.json", "chat_template.json", "chat_template.jinja",
                "processor_config.json", "video_preprocessor_config.json")


def copy_vision_files(src: str, dst: str) -> None:
    """Copy a VLM folder's processor files (:data:`VISION_FILES`, those it has) into a
    folder holding a trained copy of it (warm-up, export); a no-op for text models."""
    import shutil

    if not is_vision_model_path(src):
        return
    for name in VISION_FILES:
        if os.path.isfile(os.path.join(src, name)) and not os.path.isfile(os.path.join(dst, name)):
            shutil.copyfile(os.path.join(src, name), os.path.join(dst, name))


def _load_image_processor(path: str):
    """The folder's image processor; transformers picks its PIL variant when
    torchvision is missing (same numbers for images that need no resize)."""
    import warnings

    from transformers import AutoImageProcessor

    if not os.path.isfile(os.path.join(path, "preprocessor_config.json")):
        raise ModelLoadError(f"the vision-language model at {path!r} has no "
                             "preprocessor_config.json (its image processor); copy it from "
                             "the model's release into the folder")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return AutoImageProcessor.from_pretrained(path, local_files_only=True)


def _chat_template(path: str, tokenizer) -> str:
    """The tokenizer's chat template, else the processor's ``chat_template.json``
    (where Qwen2-VL releases keep it)."""
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.chat_template
    file = os.path.join(path, "chat_template.json")
    if os.path.isfile(file):
        with open(file, encoding="utf-8") as f:
            template = json.load(f).get("chat_template")
        if template:
            return template
    raise ModelLoadError(f"the vision-language model at {path!r} has no chat template "
                         "(tokenizer_config.json, chat_template.jinja or chat_template.json)")


class VisionInputs:
    """A vision-language model's image processor, image token and chat template.

    Build with :meth:`from_path` (a local folder, already resolved). ``image_token``
    is the pad token the chat template writes for an image (``<|image_pad|>`` in the
    Qwen2-VL family), ``image_token_id`` its id; ``merge_size`` the number of patches
    merged per side into one token.
    """

    def __init__(self, image_processor, image_token_id: int, image_token: str,
                 chat_template: str):
        self.image_processor = image_processor
        self.image_token_id = int(image_token_id)
        self.image_token = image_token
        self.chat_template = chat_template
        self.merge_size = int(getattr(image_processor, "merge_size", 1) or 1)
        self._tokens_by_shape: dict = {}

    @classmethod
    def from_path(cls, path: str, tokenizer) -> "VisionInputs":
        config = read_model_config(path)
        check_vision_model_type(path, config)
        token_id = config.get("image_token_id")
        if token_id is None:
            raise ModelLoadError(f"the vision-language model at {path!r} names no "
                                 "image_token_id in config.json")
        token = tokenizer.convert_ids_to_tokens(int(token_id))
        return cls(_load_image_processor(path), int(token_id), token,
                   _chat_template(path, tokenizer))

    # ------------------------------------------------------------ pixels
    def pixel_inputs(self, images) -> dict:
        """``(n, H, W, 3) uint8`` (tensor, array or a list of arrays) -> the model's
        ``{"pixel_values": (patches, D) float32, "image_grid_thw": (n, 3) long}``, one
        image per row in order. CPU tensors; the caller moves them."""
        import torch

        arrays = [np.asarray(im.cpu() if isinstance(im, torch.Tensor) else im, dtype=np.uint8)
                  for im in images]
        if not arrays:
            raise ValueError("pixel_inputs needs at least one image")
        out = self.image_processor(images=arrays, return_tensors="pt")
        return {"pixel_values": out["pixel_values"].float(),
                "image_grid_thw": out["image_grid_thw"].long()}

    def num_image_tokens(self, image_shape: Sequence[int]) -> int:
        """How many image-pad tokens an ``(H, W, 3)`` image becomes (cached per shape)."""
        shape = tuple(int(s) for s in image_shape)
        if shape not in self._tokens_by_shape:
            grid = self.pixel_inputs([np.zeros(shape, dtype=np.uint8)])["image_grid_thw"][0]
            self._tokens_by_shape[shape] = int(grid.prod()) // self.merge_size ** 2
        return self._tokens_by_shape[shape]

    # ------------------------------------------------------------ prompts
    def encode_prompt(self, tokenizer, text: str, image_shape: Sequence[int],
                      response_prefix: Optional[str] = None) -> list:
        """Prompt text holding the image placeholder once -> prompt ids with the image's
        pad tokens expanded (module docstring); ``response_prefix`` as in
        :func:`rllib_istar.lm.loading.encode_prompt`."""
        before, after = split_on_image(text)
        content = [{"type": "text", "text": before}, {"type": "image"},
                   {"type": "text", "text": after}]
        rendered = tokenizer.apply_chat_template(
            [{"role": "user", "content": content}], chat_template=self.chat_template,
            tokenize=False, add_generation_prompt=True)
        if rendered.count(self.image_token) != 1:
            raise ModelLoadError(f"the chat template wrote the image token {self.image_token!r} "
                                 f"{rendered.count(self.image_token)} times for one image")
        rendered = rendered.replace(self.image_token,
                                    self.image_token * self.num_image_tokens(image_shape))
        ids = list(tokenizer.encode(rendered, add_special_tokens=False))
        if response_prefix:
            ids.extend(tokenizer.encode(response_prefix, add_special_tokens=False))
        return ids

    def count_image_tokens(self, ids: Sequence[int]) -> int:
        """Image-pad tokens in a prompt."""
        return sum(1 for t in ids if int(t) == self.image_token_id)
