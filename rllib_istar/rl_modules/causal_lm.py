"""The policy RLModule: a Hugging Face causal LM behind RLlib's module API.

Actions are generated outside the module (``rllib_istar.rollout.generation``); the
module's job on the Learner is teacher-forced per-token log-probs
(:meth:`CausalLMRLModule.token_logprobs`) and weight (de)serialisation.

``model_config`` keys:
    model_path: "tiny", "tiny:<arch>:<hidden>:<layers>" or a local HF folder (required).
    dtype: "float32" (default) | "bfloat16" | "float16".
    trust_remote_code: bool, default False.
    temperature: the rollout temperature the log-probs are computed at (default 1.0;
        0 = greedy rollouts, then log-probs are at temperature 1).
    gradient_checkpointing: bool, default False.
    policy_mode: "full" (default) or "lora": a peft LoRA adapter (lora_rank, lora_alpha)
        over the frozen base; then ``get_state()`` holds only the adapter tensors (the
        base is rebuilt from ``model_path``), so weight sync and checkpoints are small.
    autocast_dtype: None (default), "auto", "bfloat16" or "float16": every forward pass
        of :meth:`token_logprobs` / ``forward_train`` runs under ``torch.autocast`` (the
        weights stay in ``dtype``, normally float32: fp32 master weights). "auto" is bf16
        where the module's device computes bf16 natively, else no autocast
        (``lm.precision.resolve_autocast_dtype``, decided once per process and device).
    compute_entropy: bool, default False: ``forward_train`` also returns the (N, L)
        predictive entropy (for an entropy bonus).
    role: "policy" (default) or "prm" (read by ``ImplicitPRMRLModule``).
    image_inputs: bool, default True: a vision-language model (``lm.vision``) reads the
        rows' images (``columns.IMAGES``); False feeds it the ids alone, image-pad tokens
        included but no pixels (the reference's image-blind PRM, ``prm_inputs: text``).
        A text-only model always reads the ids alone.

State (``get_state``) is ``{"lm.<hf name>": CPU tensor in the native dtype}``: no
numpy, because RLlib's ``convert_to_numpy`` upcasts to float32 and crashes on bf16.
Tied weights (e.g. ``lm_head.weight`` aliasing the embeddings) appear once.

On CPU, building a module turns on ``torch.set_flush_denormal(True)`` for the
process (``model_config["flush_denormal"]``, default True): denormal floats in the
backward pass of a large-vocabulary softmax made a SmolLM2 training step ~3x slower
(docs/benchmarks/real_model.md).
"""
from __future__ import annotations

import contextlib
import dataclasses
from typing import Any, Collection, Dict, List, Optional, Union

import numpy as np
import torch
from ray.rllib.core.rl_module.apis import InferenceOnlyAPI
from ray.rllib.core.rl_module.torch import TorchRLModule
from ray.rllib.utils.annotations import override

from rllib_istar import columns as C
from rllib_istar.lm.loading import (
    ModelLoadError,
    load_causal_lm,
    resolve_model_path,
)
from rllib_istar.lm.logprobs import compute_token_logprobs
from rllib_istar.lm.precision import autocast_torch_dtype
from rllib_istar.lm.vision import VisionInputs, is_vision_model_path
from rllib_istar.rl_modules.lora import wrap_lora

_NO_GENERATION = ("{cls} does not compute actions: generation goes through "
                  "rllib_istar.rollout.generation (make_generator), driven by the env runner")


def model_config_dict(model_config) -> dict:
    """RLlib may hand a dict or a (Default)ModelConfig dataclass; normalise to a dict."""
    if model_config is None:
        return {}
    if dataclasses.is_dataclass(model_config):
        return dataclasses.asdict(model_config)
    return dict(model_config)


def as_tensor(value) -> torch.Tensor:
    """Tensor or numpy array (or nested list) -> CPU tensor, no dtype change."""
    if isinstance(value, torch.Tensor):
        return value
    return torch.from_numpy(np.ascontiguousarray(value))


def _trim_padding(input_ids: torch.Tensor, attention_mask: torch.Tensor):
    """Drop the columns after the longest right-padded row: ``(ids, mask, full width)``.

    Rows are padded to the longest row of the whole update; a micro- or
    minibatch of shorter rows then runs on its own width only.
    """
    full = input_ids.shape[1]
    width = int(attention_mask.sum(1).max()) if input_ids.shape[0] else full
    return input_ids[:, :max(width, 1)], attention_mask[:, :max(width, 1)], full


class CausalLMRLModule(TorchRLModule, InferenceOnlyAPI):
    """Policy module; ``self.lm`` is the HF ``*ForCausalLM`` (trainable, all params)."""

    def setup(self):
        cfg = model_config_dict(self.model_config)
        self._cfg = cfg
        spec = cfg.get("model_path")
        if not spec:
            raise ModelLoadError("model_config has no 'model_path'; set it to a local "
                                 "Hugging Face folder (config.json + weights) or 'tiny'")
        self.model_path = resolve_model_path(spec)
        self.role = cfg.get("role", "policy")
        temperature = float(cfg.get("temperature", 1.0))
        self.temperature = temperature if temperature > 0 else 1.0
        if cfg.get("flush_denormal", True):
            torch.set_flush_denormal(True)  # no-op where unsupported; see the module docstring
        self._autocast_request = cfg.get("autocast_dtype")  # resolved per device: autocast()
        self.lm = self._build_lm(cfg)
        self.vision: Optional[VisionInputs] = None  # a VLM's image processor and prompts
        if is_vision_model_path(self.model_path):
            from rllib_istar.lm.loading import load_tokenizer

            self.vision = VisionInputs.from_path(self.model_path, load_tokenizer(self.model_path))
        self.reads_images = self.vision is not None and bool(cfg.get("image_inputs", True))
        # LoRA: the state is the trainable adapter tensors only (names fixed at setup).
        self._adapter_keys = ({n for n, p in self.named_parameters() if p.requires_grad}
                              if self._uses_lora(cfg) else None)
        if cfg.get("gradient_checkpointing"):
            # transformers >= 5.2x renamed it; older versions only have the old name.
            kwargs = {"use_reentrant": False}
            if hasattr(self.lm, "activation_checkpointing_enable"):
                self.lm.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
            else:
                self.lm.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)

    def _uses_lora(self, cfg: dict) -> bool:
        return cfg.get("policy_mode", "full") == "lora"

    def _build_lm(self, cfg: dict) -> torch.nn.Module:
        base = load_causal_lm(self.model_path, dtype=cfg.get("dtype", "float32"),
                              trust_remote_code=bool(cfg.get("trust_remote_code", False)))
        if not self._uses_lora(cfg):
            return base
        return wrap_lora(base, cfg.get("lora_rank", 8), cfg.get("lora_alpha", 16), self.role)

    def autocast(self):
        """``torch.autocast`` in ``autocast_dtype`` (``auto`` resolved for the model's
        device: ``lm.precision``) on that device, or a no-op."""
        dtype = autocast_torch_dtype(self._autocast_request, self.device.type)
        if dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=dtype)

    # ------------------------------------------------------------------ compute
    def token_logprobs(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                       temperature: Optional[float] = None,
                       response_mask: Optional[torch.Tensor] = None,
                       images: Optional[torch.Tensor] = None) -> torch.Tensor:
        """(N, L) ids + (N, L) mask (right-padded) -> (N, L) float32 log-probs.

        ``out[:, j] = log p(ids[:, j] | ids[:, :j])`` under ``logits / temperature``
        (default: the module's temperature); ``out[:, 0] = 0`` and padding is 0.
        With ``response_mask`` (N, L), only the response positions are computed (the LM
        head runs on their hidden states only: a 49k-vocab head over a 150-token prompt
        is most of a step; ``lm.logprobs.compute_token_logprobs``'s ``target_mask``);
        every other position is 0.
        ``images`` (N, H, W, 3) uint8, one per row (``columns.IMAGES``), reach a
        vision-language model that reads images (:meth:`image_inputs`); others ignore them.
        Inputs are moved to the model's device.
        """
        return self._logprobs(input_ids, attention_mask, response_mask, temperature,
                              images=images)[0]

    def image_inputs(self, images: Optional[torch.Tensor]) -> Optional[dict]:
        """The forward inputs (``pixel_values``, ``image_grid_thw``) for ``images``
        (N, H, W, 3) uint8, or None when there are none or this module reads no images."""
        if images is None or not self.reads_images:
            return None
        return self.vision.pixel_inputs(images)

    def _logprobs(self, input_ids, attention_mask, response_mask=None, temperature=None,
                  entropy: bool = False, images=None):
        """``(logp (N, L), entropy (N, L) or None)``; see :meth:`token_logprobs`."""
        dev = self.device
        ids, mask, full = _trim_padding(torch.as_tensor(input_ids).to(dev).long(),
                                        torch.as_tensor(attention_mask).to(dev).long())
        target = None if response_mask is None else torch.as_tensor(response_mask)[:, :ids.shape[1]]
        ent: Optional[list] = [] if entropy else None
        with self.autocast():
            logp = compute_token_logprobs(self.lm, ids, mask,
                                          self.temperature if temperature is None else temperature,
                                          entropy_out=ent, target_mask=target,
                                          model_inputs=self.image_inputs(images))
        pad = (0, full - logp.shape[1])
        return (torch.nn.functional.pad(logp, pad),
                torch.nn.functional.pad(ent[0], pad) if entropy else None)

    @property
    def device(self) -> torch.device:
        return next(self.lm.parameters()).device

    @override(TorchRLModule)
    def _forward_train(self, batch: Dict[str, Any], **kwargs) -> Dict[str, Any]:
        """``{"logp": (N, L) float32}`` from ``batch["input_ids"]``/``["attention_mask"]``
        (plus ``"entropy": (N, L)`` when ``compute_entropy`` is set); a
        ``batch["response_mask"]`` limits the LM head to the response positions and
        ``batch["images"]`` (N, H, W, 3) uint8 carries a vision model's images."""
        logp, ent = self._logprobs(batch[C.INPUT_IDS], batch[C.ATTENTION_MASK],
                                   batch.get(C.RESPONSE_MASK),
                                   entropy=bool(self._cfg.get("compute_entropy")),
                                   images=batch.get(C.IMAGES))
        return {C.LOGP: logp} if ent is None else {C.LOGP: logp, C.ENTROPY: ent}

    @override(TorchRLModule)
    def _forward_inference(self, batch: Dict[str, Any], **kwargs) -> Dict[str, Any]:
        raise NotImplementedError(_NO_GENERATION.format(cls=type(self).__name__))

    @override(TorchRLModule)
    def _forward_exploration(self, batch: Dict[str, Any], **kwargs) -> Dict[str, Any]:
        raise NotImplementedError(_NO_GENERATION.format(cls=type(self).__name__))

    @override(InferenceOnlyAPI)
    def get_non_inference_attributes(self) -> List[str]:
        return []

    # -------------------------------------------------------------------- state
    def _tied_aliases(self, state: Dict[str, torch.Tensor]) -> set:
        """Keys whose tensor shares storage with an earlier key (tied weights)."""
        seen, aliases = set(), set()
        for k, v in state.items():
            ident = (v.device, v.untyped_storage().data_ptr(), v.storage_offset(),
                     tuple(v.shape), v.dtype)
            if ident in seen:
                aliases.add(k)
            seen.add(ident)
        return aliases

    def _state_keys_filter(self, key: str) -> bool:
        """Which params belong to the state: all, or the adapter tensors under LoRA."""
        return self._adapter_keys is None or key in self._adapter_keys

    @override(TorchRLModule)
    def get_state(self, components: Optional[Union[str, Collection[str]]] = None, *,
                  not_components: Optional[Union[str, Collection[str]]] = None,
                  inference_only: bool = False, **kwargs) -> Dict[str, torch.Tensor]:
        """``{param name: detached CPU tensor copy, native dtype}``.

        ``inference_only=True`` drops the attributes in ``get_non_inference_attributes``
        (all of them for the PRM, so its inference-only state is ``{}``).
        """
        state = self.state_dict()
        excluded = (self.get_non_inference_attributes()
                    if inference_only and not self.inference_only else [])
        aliases = self._tied_aliases(state)
        out = {}
        for k, v in state.items():
            if k in aliases or not self._state_keys_filter(k):
                continue
            if any(k == a or k.startswith(a + ".") for a in excluded):
                continue
            out[k] = v.detach().to("cpu", copy=True)
        return out

    def _check_missing(self, missing: set) -> None:
        if missing:
            raise KeyError(f"{type(self).__name__}.set_state: state is missing "
                           f"{len(missing)} keys, e.g. {sorted(missing)[:5]}")

    @override(TorchRLModule)
    def set_state(self, state: Dict[str, Any]) -> None:
        """Load tensors or numpy arrays, cast to each parameter's dtype and device.

        An empty state is a no-op. Otherwise every given key must be part of the
        module's state (``get_state()`` keys; tied aliases also accepted) and every
        state key (except tied aliases) must be given.
        """
        if not state:  # e.g. the PRM's (empty) inference-only state: nothing to load
            return
        own = self.state_dict()
        unexpected = [k for k in state if k not in own or not self._state_keys_filter(k)]
        if unexpected:
            raise KeyError(f"{type(self).__name__}.set_state: unknown keys "
                           f"{unexpected[:5]} ({len(unexpected)} in all)")
        tensors = {k: as_tensor(v).to(dtype=own[k].dtype) for k, v in state.items()}
        aliases = self._tied_aliases(own)
        wanted = {k for k in own if k not in aliases and self._state_keys_filter(k)}
        self._check_missing(wanted - set(tensors))
        self.load_state_dict(tensors, strict=False)
