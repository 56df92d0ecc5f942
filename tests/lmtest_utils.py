"""Helpers shared by the LM, module and generation tests (tests/lm, tests/rl_modules,
tests/rollout, tests/gpu); a plain module on the path
through tests/conftest.py's folder (tests/ has no packages)."""
from __future__ import annotations

WORDS = ["red", "green", "blue", "forward", "open", "door", "key", "left", "right", "pick"]


def text_spaces():
    import gymnasium as gym

    space = gym.spaces.Text(max_length=4096)
    return space, space


def manual_logprobs(model, ids, mask, temperature=1.0):
    """Reference: plain forward, full log_softmax, gather; (N, L) with out[:, 0] = 0."""
    import torch

    pos = (mask.cumsum(-1) - 1).clamp(min=0)
    logits = model(input_ids=ids, attention_mask=mask, position_ids=pos).logits.float()
    lp = (logits[:, :-1] / temperature).log_softmax(-1).gather(-1, ids[:, 1:, None])[..., 0]
    return torch.cat([torch.zeros_like(lp[:, :1]), lp], dim=1)


def right_pad(rows, pad_id=0):
    """list of id lists -> (ids, mask) right-padded (N, L) long tensors."""
    import torch

    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for i, r in enumerate(rows):
        ids[i, :len(r)] = torch.tensor(r)
        mask[i, :len(r)] = 1
    return ids, mask


def bpe_model_path(**spec):
    """The tiny byte-level BPE model (``lm/tiny_bpe.py``) over every registered env's
    vocabulary, built once per test session (the cache is conftest's per-session one);
    ``spec``: ``tiny_bpe_model_path`` keywords (arch, hidden_size, num_layers, ...)."""
    from rllib_istar.envs import all_vocabulary
    from rllib_istar.lm.tiny_bpe import tiny_bpe_model_path

    return tiny_bpe_model_path(all_vocabulary(), **spec)
