"""The plain references the cost and GPU benchmarks measure the plugin against.

torch and transformers only, no Ray (``gpu_generation.py`` runs on a machine
without it): a bare left-padded ``model.generate`` and a bare torch training step
(forward + step-level clipped loss + backward + grad clip + AdamW).
"""
from __future__ import annotations

import time


def bare_generate(model, prompts, max_new_tokens, temperature, top_p, pad_id, eos_ids, seed):
    """Plain transformers generate, left-padded; tokens counted up to the first EOS (incl.).

    Returns ``(generated tokens, seconds in generate)``.
    """
    import torch
    from transformers import GenerationConfig

    width = max(len(p) for p in prompts)
    ids = torch.full((len(prompts), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(prompts), width), dtype=torch.long)
    for i, p in enumerate(prompts):
        ids[i, width - len(p):] = torch.tensor(p)
        mask[i, width - len(p):] = 1
    cfg = GenerationConfig(max_new_tokens=max_new_tokens, do_sample=temperature > 0,
                           temperature=temperature if temperature > 0 else None, top_k=0,
                           top_p=top_p, pad_token_id=pad_id, eos_token_id=sorted(eos_ids))
    with torch.no_grad(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        t0 = time.perf_counter()
        out = model.generate(input_ids=ids.to(model.device), attention_mask=mask.to(model.device),
                             generation_config=cfg)
        dt = time.perf_counter() - t0
    n = 0
    for row in out[:, width:].tolist():
        for tok in row:
            n += 1
            if tok in eos_ids:
                break
    return n, dt


def bare_train_step(model, opt, rows, old_logp, adv, temperature, clip, grad_clip):
    """One plain policy step on the learner's padded step rows; returns its seconds."""
    import torch

    from rllib_istar import columns as C

    ids, am, mask = rows[C.INPUT_IDS], rows[C.ATTENTION_MASK], rows[C.RESPONSE_MASK]
    width = int(am.sum(1).max())
    ids, am, mask, old = ids[:, :width], am[:, :width], mask[:, :width], old_logp[:, :width]
    t0 = time.perf_counter()
    logits = model(input_ids=ids, attention_mask=am).logits[:, :-1].float() / temperature
    logp = torch.zeros(ids.shape, dtype=torch.float32)
    logp[:, 1:] = logits.log_softmax(-1).gather(-1, ids[:, 1:, None]).squeeze(-1)
    n_tok = mask.sum(1).clamp(min=1)
    ratio = torch.exp(((logp - old) * mask).sum(1) / n_tok)
    loss = -torch.min(ratio * adv, ratio.clamp(1 - clip, 1 + clip) * adv).mean()
    opt.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    opt.step()
    return time.perf_counter() - t0
