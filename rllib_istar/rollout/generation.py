"""Batched token-in/token-out generation with the sampled tokens' log-probs.

Contract (docs/ARCHITECTURE.md "Generation"): ``generate(prompts, ...)`` takes token
id lists and returns one :class:`GenerationResult` per prompt: the sampled ids (never
re-tokenised) and each one's ``log_softmax(raw_logits / temperature)`` (no top-p
renormalisation), the numerics of ``lm.logprobs.compute_token_logprobs`` on ``prompt ++
response``. Greedy decoding (``temperature == 0``) reports log-probs at temperature 1.

A response ends (:func:`cut_response`, the one rule) at the first EOS (kept) or at the
token completing the first stop string in its decoded text (kept, nothing after),
whichever comes first: finish_reason "stop"; else it is ``max_new_tokens`` long,
"length". Backends may stop early (transformers ``StopStringCriteria``, vLLM ``stop=``),
but the ids are always cut by that rule: padding after a finished row never leaks.

Images (vision-language policies, ``lm.vision``): ``generate(prompts, images=...)``
takes one ``(H, W, 3) uint8`` image per prompt, whose prompt ids already hold its
expanded image-pad tokens (``VisionInputs.encode_prompt``); the ``hf`` backend turns
them into the model's pixel inputs. A vision model never samples its image or vision
tokens (``lm.vision.suppressed_token_ids``; the learner's log-probs use the same
distribution). The ``vllm`` backend takes no images (a one-line error names the fix).
"""
from __future__ import annotations

import contextlib
from typing import Any, Callable, Iterable, Optional, Protocol, Sequence

import torch

from rllib_istar.choices import BACKENDS
from rllib_istar.messages import VLLM_NO_IMAGES
from rllib_istar.lm.vision import forward_inputs, suppressed_token_ids
from rllib_istar.rollout.response_cut import (  # noqa: F401  (part of this module's API)
    GenerationResult,
    check_stop_strings,
    cut_at_eos,
    cut_response,
    text_decoder,
)



class Generator(Protocol):
    def generate(self, prompts: list[list[int]], *, max_new_tokens: int,
                 temperature: float = 1.0, top_p: float = 1.0,
                 seed: Optional[int] = None,
                 images: Optional[list] = None) -> list[GenerationResult]: ...

    def load_weights(self, state_dict: dict) -> None: ...


def _eos_ids(*sources) -> set[int]:
    out: set[int] = set()
    for s in sources:
        if s is None:
            continue
        out.update(int(x) for x in (s if isinstance(s, (list, tuple, set)) else [s]))
    return out


class _SampledLogprobCapture:
    """Logits processor that records each sampled token's log-prob from the raw logits.

    ``generate`` calls processors with the raw float32 next-token logits (B, V) before
    its temperature/top-p warpers; the token sampled from step t is visible as the last
    input id at step t+1, so only one step of scaled logits is held (O(B*V) memory, not
    the O(B*T*V) of ``output_logits=True``). ``finish(sequences)`` handles the last step.
    """

    def __init__(self, temperature: float):
        self.temperature = temperature
        self._prev: Optional[torch.Tensor] = None
        self.steps: list[torch.Tensor] = []  # each (B,) float32

    def _take(self, sampled: torch.Tensor) -> None:
        prev = self._prev
        picked = prev.gather(-1, sampled.view(-1, 1)).squeeze(-1)
        self.steps.append(picked - torch.logsumexp(prev, dim=-1))

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        if self._prev is not None:
            self._take(input_ids[:, -1])
        self._prev = scores.float() / self.temperature  # a new tensor: later warpers can't alias it
        return scores

    def finish(self, sequences: torch.Tensor) -> torch.Tensor:
        """(B, T) float32 log-probs of the T generated tokens."""
        if self._prev is not None:
            self._take(sequences[:, -1])
            self._prev = None
        if not self.steps:
            return torch.zeros((sequences.shape[0], 0))
        return torch.stack(self.steps, dim=1)


class _Suppress:
    """Logits processor setting the given token ids' logits to ``-inf`` (never sampled)."""

    def __init__(self, ids):
        self.ids = torch.as_tensor(ids, dtype=torch.long)

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        return scores.index_fill(-1, self.ids.to(scores.device), float("-inf"))


class _FirstStop:
    """transformers' ``StopStringCriteria`` for one ``generate`` call, recording in
    ``first[i]`` how many tokens row i had generated when it first matched (-1: never);
    ``generate`` pads the row after that."""

    def __init__(self, criteria, prompt_width: int):
        self.criteria, self.prompt_width, self.first = criteria, prompt_width, None

    def __call__(self, input_ids: torch.Tensor, scores, **kwargs) -> torch.Tensor:
        done = self.criteria(input_ids, scores, **kwargs)
        if self.first is None:
            self.first = torch.full((input_ids.shape[0],), -1, dtype=torch.long)
        self.first[done.cpu() & (self.first < 0)] = input_ids.shape[1] - self.prompt_width
        return done


class HFGenerator:
    """``transformers`` ``generate`` backend: one batched call for all prompts.

    Prompts are left-padded with an attention mask (positions follow the mask). The
    checkpoint's own ``generation_config`` sampling defaults (top_k, repetition
    penalty, min length, ...) are ignored on purpose: the sampler must draw from
    exactly ``softmax(logits / temperature)`` (optionally top-p truncated) for the
    recorded log-probs to describe the behaviour policy. Only its EOS ids are kept.
    Seeded calls run under ``torch.random.fork_rng``: reproducible, global RNG untouched.

    ``stop_strings`` end a response besides EOS: rows stop early through transformers'
    ``StopStringCriteria`` where it supports the tokenizer (not the word-level ``tiny``
    one), then each is cut by :func:`cut_response` with :func:`text_decoder`. That
    criterion also sees the prompt: a stop string straddling the prompt's end ends the
    row there ("stop"); :func:`cut_response` searches the response only.
    """

    def __init__(self, model, tokenizer, stop_strings: Optional[Sequence[str]] = None,
                 vision=None):
        self.model = model
        self.tokenizer = tokenizer
        self.vision = vision  # lm.vision.VisionInputs of a vision-language model, or None
        self.suppress_ids = suppressed_token_ids(model)  # a VLM's image/vision tokens
        self.stop_strings = check_stop_strings(stop_strings)
        self.decode = text_decoder(tokenizer)
        self._stop_criteria = None  # transformers' own (what generate(stop_strings=) builds)
        if self.stop_strings:
            from transformers import StopStringCriteria

            with contextlib.suppress(Exception):  # a vocab it cannot clean: no early stop
                self._stop_criteria = StopStringCriteria(tokenizer, list(self.stop_strings))
        gen_cfg = getattr(model, "generation_config", None)
        self.eos_token_ids = _eos_ids(tokenizer.eos_token_id,
                                      getattr(gen_cfg, "eos_token_id", None))
        if not self.eos_token_ids:
            raise ValueError("HFGenerator needs an EOS token id (tokenizer or generation_config)")
        pad = tokenizer.pad_token_id
        self.pad_token_id = int(pad if pad is not None else min(self.eos_token_ids))

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def _left_pad(self, prompts: list[list[int]]):
        if not prompts or any(len(p) == 0 for p in prompts):
            raise ValueError("generate needs at least one prompt and no empty prompts")
        width = max(len(p) for p in prompts)
        ids = torch.full((len(prompts), width), self.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(prompts), width), dtype=torch.long)
        for i, p in enumerate(prompts):
            ids[i, width - len(p):] = torch.as_tensor(p, dtype=torch.long)
            mask[i, width - len(p):] = 1
        return ids.to(self.device), mask.to(self.device)

    def _generate(self, ids, mask, max_new_tokens, temperature, top_p, pixel_inputs=None):
        """(new ids (B, T), their log-probs (B, T), ``_FirstStop.first`` or None)."""
        from transformers import GenerationConfig, LogitsProcessorList

        sample = temperature > 0
        cfg = GenerationConfig(
            max_new_tokens=int(max_new_tokens), do_sample=sample, num_beams=1,
            temperature=float(temperature) if sample else None,
            top_p=float(top_p) if sample else None, top_k=0 if sample else None,
            typical_p=1.0 if sample else None, repetition_penalty=1.0,
            no_repeat_ngram_size=0, min_length=0,
            pad_token_id=self.pad_token_id, eos_token_id=sorted(self.eos_token_ids),
            return_dict_in_generate=True, use_cache=True)
        capture = _SampledLogprobCapture(float(temperature) if sample else 1.0)
        processors = [capture]
        if self.suppress_ids:  # before the capture: the recorded log-probs are of what is sampled
            processors.insert(0, _Suppress(self.suppress_ids))
        watch = self._stop_criteria and _FirstStop(self._stop_criteria, ids.shape[1])
        extra = {} if watch is None else {"stopping_criteria": [watch]}  # merged by generate
        if pixel_inputs:
            extra.update(forward_inputs(self.model, ids, pixel_inputs))
        target = getattr(self.model, "get_base_model", lambda: self.model)()  # peft-safe
        saved_cfg = getattr(target, "generation_config", None)
        target.generation_config = GenerationConfig(pad_token_id=self.pad_token_id,
                                                    eos_token_id=sorted(self.eos_token_ids))
        try:
            out = self.model.generate(input_ids=ids, attention_mask=mask, generation_config=cfg,
                                      logits_processor=LogitsProcessorList(processors), **extra)
        finally:
            target.generation_config = saved_cfg
        new = out.sequences[:, ids.shape[1]:]
        return new, capture.finish(out.sequences), None if watch is None else watch.first

    @torch.no_grad()
    def generate(self, prompts: list[list[int]], *, max_new_tokens: int,
                 temperature: float = 1.0, top_p: float = 1.0,
                 seed: Optional[int] = None,
                 images: Optional[list] = None) -> list[GenerationResult]:
        """Sample continuations for ``prompts`` (lists of token ids), one ``generate`` call;
        each cut by :func:`cut_response` (EOS or stop string). ``images``: one
        ``(H, W, 3) uint8`` per prompt (module docstring), needs ``vision``."""
        if max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
        pixel_inputs = None
        if images is not None:
            if self.vision is None:
                raise ValueError("generate got images, but this generator's model is not a "
                                 "vision-language model; use one (model_path: tiny-vlm or a "
                                 "local Qwen2.5-VL folder)")
            if len(images) != len(prompts):
                raise ValueError(f"{len(images)} images for {len(prompts)} prompts; give "
                                 "one image per prompt")
            pixel_inputs = self.vision.pixel_inputs(images)
        ids, mask = self._left_pad(prompts)
        was_training = self.model.training
        self.model.eval()
        try:
            if seed is None:
                new, logp, hit = self._generate(ids, mask, max_new_tokens, temperature, top_p,
                                                pixel_inputs)
            else:
                devices = (list(range(torch.cuda.device_count()))
                           if self.device.type == "cuda" else [])
                with torch.random.fork_rng(devices=devices):
                    torch.manual_seed(int(seed))
                    new, logp, hit = self._generate(ids, mask, max_new_tokens, temperature,
                                                    top_p, pixel_inputs)
        finally:
            self.model.train(was_training)
        new, logp = new.tolist(), logp.cpu().tolist()
        results = []
        for i, (ids_i, logp_i) in enumerate(zip(new, logp)):
            n = int(hit[i]) if hit is not None and hit[i] > 0 else None  # pads after n
            res = cut_response(ids_i[:n], logp_i[:n], self.eos_token_ids, self.stop_strings,
                               self.decode)
            results.append(res if n is None else res._replace(finish_reason="stop"))
        return results

    def load_weights(self, state_dict: dict) -> None:
        """Load a policy state (``lm.``-prefixed or bare HF names) into the HF model."""
        sd = {k.removeprefix("lm."): torch.as_tensor(v) for k, v in state_dict.items()}
        unexpected = self.model.load_state_dict(sd, strict=False).unexpected_keys
        if unexpected:
            raise KeyError(f"weights not in the model: {unexpected[:5]}")


class VLLMGenerator:
    """Adapter over a ``vllm.LLM`` engine (optional backend).

    Calls ``llm.generate([TokensPrompt(prompt_token_ids=...)], [SamplingParams(...)])``
    with ``logprobs=0`` (the sampled token's log-prob only) and reads
    ``outputs[i].outputs[0].token_ids / .logprobs / .finish_reason``. Each prompt gets
    its own ``SamplingParams`` with seed ``seed + i``: one shared seed would make
    repeated prompts (a task group) sample identical trajectories.

    Numerics: vLLM's returned log-probs are only "log_softmax(logits / temperature)" if
    the engine was built with ``logprobs_mode="processed_logprobs"`` (vLLM >= 0.10.2;
    ``make_generator`` sets it); with the default raw mode they are at temperature 1.
    The learner recomputes pi_old itself, so a mismatch only affects diagnostics.

    Stop strings go in as ``SamplingParams(stop=..., include_stop_str_in_output=True)``
    (vLLM stops after the token completing one); with ``decode`` (:func:`text_decoder`,
    as ``make_generator`` passes) the ids are also cut by :func:`cut_response`. vLLM
    matches text without special tokens: they differ only for stop strings containing
    or straddling a special token's text.

    UNTESTED against a real vLLM in this project (no vLLM where it was written); the
    tests use a fake engine with vLLM's call signatures.
    """

    def __init__(self, llm, *, eos_token_ids: Iterable[int] = (),
                 stop_strings: Optional[Sequence[str]] = None,
                 decode: Optional[Callable[[list[int]], str]] = None,
                 sampling_params_cls: Any = None, tokens_prompt_cls: Any = None):
        self.llm = llm
        self.eos_token_ids = set(int(x) for x in eos_token_ids)
        self.stop_strings, self.decode = check_stop_strings(stop_strings), decode
        self._sp_cls, self._tp_cls = sampling_params_cls, tokens_prompt_cls

    def _classes(self):
        if self._sp_cls is None or self._tp_cls is None:
            try:
                from vllm import SamplingParams, TokensPrompt
            except ImportError as e:
                raise ImportError("the vllm backend needs vLLM: pip install "
                                  "'rllib_istar[vllm]'") from e
            self._sp_cls = self._sp_cls or SamplingParams
            self._tp_cls = self._tp_cls or TokensPrompt
        return self._sp_cls, self._tp_cls

    def generate(self, prompts: list[list[int]], *, max_new_tokens: int,
                 temperature: float = 1.0, top_p: float = 1.0,
                 seed: Optional[int] = None,
                 images: Optional[list] = None) -> list[GenerationResult]:
        if images is not None:
            raise NotImplementedError(VLLM_NO_IMAGES)
        sp_cls, tp_cls = self._classes()
        extra = {"stop_token_ids": sorted(self.eos_token_ids)} if self.eos_token_ids else {}
        if self.stop_strings:
            extra.update(stop=list(self.stop_strings), include_stop_str_in_output=True)
        params = [sp_cls(max_tokens=int(max_new_tokens), temperature=float(temperature),
                         top_p=float(top_p), seed=None if seed is None else int(seed) + i,
                         logprobs=0, **extra) for i in range(len(prompts))]
        inputs = [tp_cls(prompt_token_ids=list(p)) for p in prompts]
        outputs = self.llm.generate(inputs, params, use_tqdm=False)
        results = []
        for out in outputs:
            comp = out.outputs[0]
            ids = list(comp.token_ids)
            logp = [float(step[tok].logprob) for tok, step in zip(ids, comp.logprobs or [])]
            if len(logp) != len(ids):
                raise RuntimeError("vLLM returned no log-probs; SamplingParams(logprobs=0) "
                                   "was not honoured")
            res = cut_response(ids, logp, self.eos_token_ids,
                               self.stop_strings if self.decode else (), self.decode)
            if res.finish_reason == "length" and comp.finish_reason == "stop":
                res = res._replace(finish_reason="stop")  # stopped by a stop id/string
            results.append(res)
        return results

    def load_weights(self, state_dict: dict) -> None:
        """Push policy weights (``lm.``-prefixed or bare HF names) into the engine.

        In-process engines (vLLM V0, or V1 with ``VLLM_ENABLE_V1_MULTIPROCESSING=0``):
        ``llm.llm_engine.model_executor.driver_worker.model_runner.model.load_weights``.
        Otherwise ``llm.collective_rpc`` with a function run on every worker (weights
        are pickled to each worker). Then the prefix cache is reset, since cached KV
        blocks were computed with the old weights. Untested on a real vLLM.
        """
        weights = [(k.removeprefix("lm."), torch.as_tensor(v)) for k, v in state_dict.items()]
        executor = getattr(getattr(self.llm, "llm_engine", None), "model_executor", None)
        worker = getattr(executor, "driver_worker", None)
        runner = getattr(getattr(worker, "worker", worker), "model_runner", None)
        if runner is not None:
            runner.model.load_weights(weights=iter(weights))
        elif hasattr(self.llm, "collective_rpc"):
            self.llm.collective_rpc(_rpc_load_weights, args=(weights,))
        else:
            raise RuntimeError("cannot reach the vLLM model to load weights")
        if hasattr(self.llm, "reset_prefix_cache"):
            self.llm.reset_prefix_cache()


def _rpc_load_weights(worker, weights):  # runs inside each vLLM worker
    worker.model_runner.model.load_weights(weights=iter(weights))


def make_generator(backend: str, *, model=None, tokenizer=None, model_path: Optional[str] = None,
                   dtype: str = "bfloat16", llm=None,
                   stop_strings: Optional[Sequence[str]] = None, vision=None,
                   **engine_kwargs) -> Generator:
    """Build a generator. ``hf``: give ``model`` + ``tokenizer`` (or ``model_path``), and
    ``vision`` (``lm.vision.VisionInputs``) for image prompts.
    ``vllm``: give ``llm`` or ``model_path`` (+ ``engine_kwargs`` for ``vllm.LLM``).
    ``stop_strings`` end a response besides EOS (module docstring; ``None``: EOS only)."""
    from rllib_istar.lm import load_causal_lm, load_tokenizer

    if backend == "hf":
        if model is None:
            if model_path is None:
                raise ValueError("make_generator('hf') needs model= or model_path=")
            model = load_causal_lm(model_path, dtype=dtype)
        tokenizer = tokenizer or load_tokenizer(model_path or model.name_or_path)
        return HFGenerator(model, tokenizer, stop_strings=stop_strings, vision=vision)
    if backend == "vllm":
        if tokenizer is None and model_path is not None:
            tokenizer = load_tokenizer(model_path)
        if llm is None:
            if model_path is None:
                raise ValueError("make_generator('vllm') needs llm= or model_path=")
            try:
                import vllm
            except ImportError as e:
                raise ImportError("the vllm backend needs vLLM: pip install "
                                  "'rllib_istar[vllm]'") from e
            engine_kwargs.setdefault("logprobs_mode", "processed_logprobs")
            llm = vllm.LLM(model=model_path, dtype=dtype, **engine_kwargs)
        eos = _eos_ids(getattr(tokenizer, "eos_token_id", None))
        return VLLMGenerator(llm, eos_token_ids=eos, stop_strings=stop_strings,
                             decode=text_decoder(tokenizer) if tokenizer is not None else None)
    raise ValueError(f"unknown generation backend {backend!r}; valid: {', '.join(BACKENDS)}")
