"""Format warm-up: a short supervised pass that teaches a model the action format.

A tiny model that starts from random weights almost never emits a valid action,
so RL has nothing to compare. The warm-up rolls out *uniformly random
admissible actions* in the env, renders the prompts exactly as the env runner
does, and fine-tunes the model to emit those actions (cross-entropy on the
response tokens only). The result knows the format but not the task: it picks
admissible actions at random, so any later gain is RL's doing. Every method in a
comparison starts from the same warmed checkpoint (the reference starts from
an instruct model for the same reason).

The checkpoint is cached under ``$RLLIB_ISTAR_CACHE/warmup/<hash>`` keyed by
everything that defines it, built once (atomically), and loaded like any local
Hugging Face folder. While it trains it prints progress lines
(``progress.py``) and keeps a partial result every few minutes in
``<hash>.partial`` (``partial.py``), so a killed warm-up resumes where it was.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import shutil
import tempfile
import time
from typing import Callable, Optional

import torch

from rllib_istar.envs.parsing import format_response, response_after_prefix
from rllib_istar.lm.cache import WARMUP_DIR, cache_root
from rllib_istar.warmup import partial as warmup_partial
from rllib_istar.warmup.progress import WarmupProgress

__all__ = ["format_response", "response_after_prefix", "warmup_model_path",
           "build_warmup_model", "warmup_path_for", "prepare_policy_model"]


def _prompt_fingerprint(env_id: str, env_config: Optional[dict]) -> list:
    """A few rendered prompts: a change to the env's template invalidates the cache."""
    from rllib_istar.envs import make_text_env

    env = make_text_env(env_id, dict(env_config or {}))
    out = []
    for seed in range(3):
        obs, _ = env.reset(seed=seed)
        out.append(env.render_prompt(obs, [(obs, "x")]) + "|" + " ".join(env.admissible_actions()))
    env.close()
    return out


def warmup_model_path(base_path: str, env_id: str, env_config: Optional[dict], steps: int,
                      seed: int, history_length: int, max_prompt_length: int,
                      response_prefix: Optional[str] = None, lr: float = 3e-3,
                      batch_size: int = 32, autocast_dtype: Optional[str] = None) -> str:
    """Cache folder of the warmed model (deterministic in every argument and in the
    env's rendered prompts)."""
    parts = [os.path.abspath(base_path), env_id, env_config or {}, steps, seed,
             history_length, max_prompt_length, _prompt_fingerprint(env_id, env_config), "v1"]
    defaults = {"response_prefix": None, "lr": 3e-3, "batch_size": 32, "autocast_dtype": None}
    extra = {k: v for k, v in (("response_prefix", response_prefix), ("lr", lr),
                               ("batch_size", batch_size), ("autocast_dtype", autocast_dtype))
             if v != defaults[k]}
    if extra:  # appended only when set: earlier caches keep their names
        parts.append(extra)
    key = json.dumps(parts, sort_keys=True, default=str)
    return os.path.join(cache_root(), WARMUP_DIR, hashlib.sha256(key.encode()).hexdigest()[:16])


def _collect(env, encode, eos_id: Optional[int], n_examples: int, rng: random.Random,
             history_length: int, max_prompt_length: int, action_format: str, tokenizer,
             response_prefix: Optional[str] = None, image_of=None):
    """``(prompt ids, response ids, image or None)`` examples. With ``image_of(env)``
    (image envs and a vision-language model) ``encode`` is ``encode(text, image)`` and
    each example keeps its prompt's image, as the env runner does."""
    from rllib_istar.rollout.prompt_budget import build_prompt

    examples = []
    while len(examples) < n_examples:
        obs, _ = env.reset(seed=rng.randrange(2**31 - 1))
        history, done = [], False
        while not done and len(examples) < n_examples:
            image = image_of(env) if image_of is not None else None
            prompt = build_prompt(env.render_prompt,
                                  encode if image is None else (lambda t: encode(t, image)),
                                  obs, history, history_length, max_prompt_length)
            action = env.format_example_action(rng)
            target = response_after_prefix(format_response(action, action_format),
                                           response_prefix)
            response = tokenizer.encode(target, add_special_tokens=False)
            examples.append((prompt.ids, response + ([eos_id] if eos_id is not None else []),
                             image))
            next_obs, _, terminated, truncated, _ = env.step(format_response(action, action_format))
            history.append((obs, action))
            obs, done = next_obs, terminated or truncated
    return examples


def build_warmup_model(out_dir: str, base_path: str, env_id: str, env_config: Optional[dict],
                       steps: int = 200, seed: int = 0, history_length: int = 2,
                       max_prompt_length: int = 512, batch_size: int = 32, lr: float = 3e-3,
                       response_prefix: Optional[str] = None,
                       autocast_dtype: Optional[str] = None, flush_denormal: bool = True,
                       say: Optional[Callable[[str], None]] = None,
                       partial_every_s: Optional[float] = None) -> str:
    """Fine-tune ``base_path`` on random admissible actions of ``env_id``; save to ``out_dir``.

    With ``response_prefix`` the prompts end with the prefix's tokens (as in the env
    runner) and the targets are the rest of the formatted response. The loss is the
    mean cross-entropy over response tokens, with the LM head run on the response
    positions only; ``autocast_dtype`` runs the passes under ``torch.autocast`` (float32
    weights), as the learner does (``auto`` resolved by ``lm.precision`` for this CPU; the
    cache key holds the requested value, so every process names the same folder).
    ``flush_denormal`` sets the process's float mode as
    the modules do (``IStarConfig.flush_denormal``), so the cached result does not depend
    on what ran before in the process.

    ``say`` gets the progress lines (``progress.py``: step k/N, loss, time left)
    and the partial-result notices. Every ``partial_every_s`` seconds (default
    ``warmup_partial.PARTIAL_EVERY_S``, 5 minutes) the training state is saved beside
    ``out_dir`` (``partial.py``); a later call for the same folder resumes from it
    ("resuming format warm-up at step k/N") and ends with the same weights as an
    uninterrupted run. Saving reads the state and changes nothing, so an uninterrupted
    run's data order and weights do not depend on it."""
    from rllib_istar.envs import make_text_env
    from rllib_istar.envs.images import gives_images
    from rllib_istar.lm.loading import encode_prompt, load_causal_lm, load_tokenizer
    from rllib_istar.lm.logprobs import compute_token_logprobs
    from rllib_istar.lm.precision import autocast_torch_dtype
    from rllib_istar.lm.vision import (
        VisionInputs,
        copy_vision_files,
        is_vision_model_path,
    )

    tokenizer = load_tokenizer(base_path)
    vision = VisionInputs.from_path(base_path, tokenizer) if is_vision_model_path(base_path) else None
    torch.set_flush_denormal(bool(flush_denormal))
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = load_causal_lm(base_path, dtype="float32")
        env = make_text_env(env_id, dict(env_config or {}))
        action_format = getattr(env, "action_format", "bare")
        rng = random.Random(seed)
        if vision is not None and gives_images(env):  # the picture prompts the runner builds
            encode = lambda t, im: vision.encode_prompt(tokenizer, t, im.shape, response_prefix)  # noqa: E731
            image_of = lambda e: e.observation_image()  # noqa: E731
        else:
            encode, image_of = (lambda t: encode_prompt(tokenizer, t, response_prefix)), None
        collect_t0 = time.monotonic()
        data = _collect(env, encode, tokenizer.eos_token_id, steps * batch_size // 4 + batch_size,
                        rng, history_length, max_prompt_length, action_format, tokenizer,
                        response_prefix, image_of=image_of)
        collect_s = time.monotonic() - collect_t0
        optim = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
        cast = autocast_torch_dtype(autocast_dtype, "cpu")
        autocast = torch.autocast("cpu", dtype=cast) if cast else contextlib.nullcontext()
        fingerprint = warmup_partial.data_fingerprint(data)
        start, loss = 0, None
        state = warmup_partial.load_partial(out_dir, steps, fingerprint, say)
        if state is not None:  # model, optimizer and both RNGs as they were after step k
            start = warmup_partial.restore(state, model, optim, rng)
            loss = state["loss"]
            if say is not None:
                say(f"resuming format warm-up at step {start}/{steps} "
                    f"(partial result in {warmup_partial.partial_dir(out_dir)})")
            del state
        progress = WarmupProgress(steps, say, start_step=start)
        progress.started(len(data), collect_s, min(batch_size, len(data)))
        saver = warmup_partial.PartialSaver(out_dir, say, partial_every_s)
        model.train()
        for step in range(start, steps):
            batch = rng.sample(data, min(batch_size, len(data)))
            length = max(len(p) + len(r) for p, r, _ in batch)
            ids = torch.zeros((len(batch), length), dtype=torch.long)
            labels = torch.full((len(batch), length), -100, dtype=torch.long)
            mask = torch.zeros((len(batch), length), dtype=torch.long)
            for i, (p, r, _) in enumerate(batch):
                ids[i, : len(p) + len(r)] = torch.tensor(p + r)
                labels[i, len(p): len(p) + len(r)] = torch.tensor(r)
                mask[i, : len(p) + len(r)] = 1
            target = (labels >= 0).float()
            pixels = (vision.pixel_inputs([im for _, _, im in batch])
                      if image_of is not None else None)
            with autocast:
                logp = compute_token_logprobs(model, ids, mask, target_mask=target,
                                              model_inputs=pixels)
            loss = -(logp * target).sum() / target.sum()
            optim.zero_grad()
            loss.backward()
            optim.step()
            progress.step(step + 1, loss)
            if step + 1 < steps and saver.due():  # none after the last step: the final entry
                saver.save(warmup_partial.training_state(step + 1, steps, loss, model, optim,
                                                         rng, fingerprint))
        env.close()
    os.makedirs(os.path.dirname(out_dir), exist_ok=True)
    tmp = tempfile.mkdtemp(dir=os.path.dirname(out_dir), prefix=".warmup-")
    model.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    copy_vision_files(base_path, tmp)
    with open(os.path.join(tmp, "warmup.json"), "w") as f:
        json.dump({"base": base_path, "env": env_id, "steps": steps, "seed": seed,
                   "autocast_dtype": str(cast).removeprefix("torch.") if cast else None,
                   "final_loss": float(loss.detach()) if torch.is_tensor(loss) else loss}, f)
    try:
        os.replace(tmp, out_dir)
    except OSError:  # another process published it first
        shutil.rmtree(tmp, ignore_errors=True)
    warmup_partial.remove_partial(out_dir)  # the final entry replaces it
    return out_dir


def warmup_path_for(config) -> str:
    """Cache folder of ``config``'s format-warmed policy (``IStarConfig``); names it,
    trains nothing."""
    from rllib_istar.lm.loading import resolve_model_path

    return warmup_model_path(resolve_model_path(config.base_model_spec()), config.env, config.env_config,
                             config.format_warmup_steps, int(config.seed or 0),
                             config.history_length, config.max_prompt_length,
                             config.response_prefix, config.format_warmup_lr,
                             config.format_warmup_batch_size, config.autocast_dtype)


def prepare_policy_model(config, announce: Optional[Callable[[str], None]] = None) -> str:
    """The explicit build step before training: make ``config.effective_model_path()``
    exist (the format warm-up, when ``format_warmup_steps > 0`` and not cached yet)
    and return it. ``IStar.setup`` and ``rllib train`` call it; ``announce`` gets a
    one-line notice before a build starts, then the build's progress lines (and, for a
    build resumed from a partial result, "resuming format warm-up at step k/N")."""
    config = config.with_model_defaults()  # "auto" knobs as validate() would set them
    path = config.effective_model_path()
    if not config.format_warmup_steps or os.path.isdir(path):
        return path
    if announce is not None:
        announce(f"format warm-up of {config.model_path!r} on {config.env}: "
                 f"{config.format_warmup_steps} steps on random admissible actions (teaches the "
                 "format, not the task; cached)")
    from rllib_istar.lm.loading import resolve_model_path

    return build_warmup_model(path, resolve_model_path(config.base_model_spec()), config.env,
                              config.env_config, config.format_warmup_steps, int(config.seed or 0),
                              config.history_length, config.max_prompt_length,
                              batch_size=config.format_warmup_batch_size,
                              lr=config.format_warmup_lr, response_prefix=config.response_prefix,
                              autocast_dtype=config.autocast_dtype,
                              flush_denormal=config.flush_denormal, say=announce)
