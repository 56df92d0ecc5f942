"""Local Hugging Face models for partners and judges, strictly offline.

This package sits below ``rllib_istar.lm`` in the import layers, so it loads with
``transformers`` directly (``local_files_only=True``). A model is given either as a
folder or as an already-built ``(model, tokenizer)`` pair (what tests and an in-process
frozen policy copy pass). Prompts go through the tokenizer's chat template when it
has one (one user message, generation prompt added), else plain text with BOS.
"""
from __future__ import annotations

import json
import os
from typing import Any, Sequence

__all__ = ["LocalLM", "load_local_lm", "prompt_ids", "generate_text", "first_line",
           "candidate_distribution"]

LocalLM = tuple[Any, Any]  # (model, tokenizer)


def load_local_lm(model: str | os.PathLike | LocalLM, dtype: str = "float32") -> LocalLM:
    """``(model, tokenizer)`` from a local HF folder, or the pair passed through."""
    if isinstance(model, tuple):
        return model
    import torch
    from transformers import (
        AutoModelForCausalLM,
        AutoTokenizer,
        PreTrainedTokenizerFast,
    )

    path = os.fspath(model)
    if not os.path.isfile(os.path.join(path, "config.json")):
        raise FileNotFoundError(f"no Hugging Face model at {path!r} (config.json missing); "
                                "pass a local model folder or a (model, tokenizer) pair")
    tok_cls = AutoTokenizer
    cfg = os.path.join(path, "tokenizer_config.json")
    if os.path.isfile(cfg) and os.path.isfile(os.path.join(path, "tokenizer.json")):
        with open(cfg, encoding="utf-8") as f:
            declared = json.load(f).get("tokenizer_class")
        if declared in ("TokenizersBackend", "PreTrainedTokenizerFast"):
            tok_cls = PreTrainedTokenizerFast  # keep the folder's exact tokenizer.json
    tok = tok_cls.from_pretrained(path, local_files_only=True)
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    lm = AutoModelForCausalLM.from_pretrained(path, dtype=getattr(torch, dtype),
                                              local_files_only=True)
    lm.eval()
    return lm, tok


def prompt_ids(tokenizer, text: str) -> list[int]:
    """Chat template (one user message + generation prompt) if any, else BOS + text."""
    if getattr(tokenizer, "chat_template", None):
        rendered = tokenizer.apply_chat_template([{"role": "user", "content": text}],
                                                 tokenize=False, add_generation_prompt=True)
        return list(tokenizer.encode(rendered, add_special_tokens=False))
    ids = list(tokenizer.encode(text, add_special_tokens=False))
    if tokenizer.bos_token_id is not None:
        ids.insert(0, tokenizer.bos_token_id)
    return ids


def generate_text(lm: LocalLM, text: str, max_new_tokens: int = 32, greedy: bool = True,
                  temperature: float = 1.0, seed: int = 0) -> str:
    """The decoded continuation of ``text`` (special tokens skipped). Sampling is
    seeded with ``seed`` under a forked RNG (the caller's RNG state is untouched)."""
    import torch

    model, tok = lm
    ids = torch.tensor([prompt_ids(tok, text)], dtype=torch.long)
    kwargs: dict[str, Any] = {"max_new_tokens": max_new_tokens, "pad_token_id": tok.pad_token_id,
                              "attention_mask": torch.ones_like(ids)}
    if greedy:
        kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
    else:
        kwargs.update(do_sample=True, temperature=temperature, top_k=0, top_p=1.0)
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(seed)
        out = model.generate(ids, **kwargs)
    return tok.decode(out[0, ids.shape[1]:], skip_special_tokens=True)


def first_line(text: str, max_chars: int) -> str:
    """The first non-empty line of ``text``, stripped, cut to ``max_chars`` at a word end."""
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    if len(line) > max_chars:
        cut = line[:max_chars]
        line = cut.rsplit(" ", 1)[0] if " " in cut else cut
    return line


def candidate_distribution(lm: LocalLM, text: str, candidates: Sequence[str]) -> list[float]:
    """P(candidate | prompt) renormalised over ``candidates`` (a list of strings).

    If every candidate is one token: one forward pass, the next-token softmax restricted
    to those ids. Otherwise one batched pass over prompt + candidate rows, summing the
    candidates' token log-probs. Deterministic (no sampling, eval mode).
    """
    import torch

    model, tok = lm
    prompt = prompt_ids(tok, text)
    sep = "" if getattr(tok, "chat_template", None) else " "
    cand_ids = [list(tok.encode(sep + c, add_special_tokens=False)) for c in candidates]
    if any(not c for c in cand_ids):
        raise ValueError(f"a score candidate encodes to no tokens: {list(candidates)}")
    with torch.no_grad():
        if all(len(c) == 1 for c in cand_ids) and len({c[0] for c in cand_ids}) == len(cand_ids):
            ids = torch.tensor([prompt])
            try:  # only the last position's logits (most HF causal LMs accept this)
                logits = model(input_ids=ids, logits_to_keep=1).logits[0, -1].float()
            except TypeError:
                logits = model(input_ids=ids).logits[0, -1].float()
            scores = logits[[c[0] for c in cand_ids]].log_softmax(-1)
        else:
            width = len(prompt) + max(len(c) for c in cand_ids)
            ids = torch.full((len(cand_ids), width), tok.pad_token_id, dtype=torch.long)
            mask = torch.zeros_like(ids)
            for i, c in enumerate(cand_ids):
                row = prompt + c
                ids[i, :len(row)] = torch.tensor(row)
                mask[i, :len(row)] = 1
            logp = model(input_ids=ids, attention_mask=mask).logits.float().log_softmax(-1)
            totals = []
            for i, c in enumerate(cand_ids):
                pos = torch.arange(len(prompt) - 1, len(prompt) - 1 + len(c))
                totals.append(logp[i, pos, torch.tensor(c)].sum())
            scores = torch.stack(totals).log_softmax(-1)
    return scores.exp().tolist()
