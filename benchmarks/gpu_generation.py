"""GPU check without Ray: generator throughput and rollout/learner log-prob gap on CUDA.

The lent GPU machine has torch and transformers but no Ray, so this script uses
only ``rllib_istar.lm`` and ``rllib_istar.rollout.generation``. For each
model shape and dtype it measures, on the same left-padded prompts and seeds:

* tokens/s of ``HFGenerator.generate`` (the runner's generator: sampled-token
  log-probs captured in the same call) against a bare ``model.generate``;
* the gap between the log-probs recorded while generating (KV cache, left
  padding) and a learner-style full forward (right padding) on the same ids.

Models are random-weight ``build_tiny_model`` shapes (no download): "tiny"
(hidden 64, 2 layers) and "smollm135m_shape" (hidden 576, 30 layers, 9 heads:
the SmolLM2-135M body over a word-level vocabulary).

    python -m benchmarks.gpu_generation --out results.json [--smoke]   # from the repository root
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import torch

from benchmarks.bare import bare_generate  # torch + transformers only, like this script

WORDS = [f"w{i}" for i in range(200)] + ["red", "green", "blue", "forward", "open", "door", "key"]
SHAPES = {"tiny": dict(hidden_size=64, num_layers=2, num_heads=4),
          "smollm135m_shape": dict(hidden_size=576, num_layers=30, num_heads=9)}


def _prompts(tok, n: int, seed: int):
    from rllib_istar.lm import encode_prompt

    rng = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        length = int(torch.randint(40, 120, (1,), generator=rng))
        idx = torch.randint(0, len(WORDS), (length,), generator=rng).tolist()
        out.append(encode_prompt(tok, " ".join(WORDS[i] for i in idx)))
    return out


def _right_pad(rows, device):
    width = max(len(r) for r in rows)
    ids = torch.zeros((len(rows), width), dtype=torch.long)
    mask = torch.zeros_like(ids)
    for i, r in enumerate(rows):
        ids[i, :len(r)] = torch.tensor(r)
        mask[i, :len(r)] = 1
    return ids.to(device), mask.to(device)


def measure(shape: str, dtype: str, n_prompts: int, max_new: int, reps: int) -> dict:
    from rllib_istar.lm import (
        compute_token_logprobs,
        load_causal_lm,
        load_tokenizer,
        tiny_model_path,
    )
    from rllib_istar.rollout.generation import HFGenerator

    path = tiny_model_path(WORDS, arch="qwen2", **SHAPES[shape])
    model = load_causal_lm(path, dtype=dtype).cuda().eval()
    tok = load_tokenizer(path)
    gen = HFGenerator(model, tok)
    prompts = _prompts(tok, n_prompts, 0)
    temp = 1.0
    gen.generate(prompts, max_new_tokens=4, temperature=temp, seed=0)  # warm-up (kernels, allocator)
    plugin, bare = [], []
    for r in range(reps):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        res = gen.generate(prompts, max_new_tokens=max_new, temperature=temp, seed=r)
        torch.cuda.synchronize()
        plugin.append(sum(len(x.response_ids) for x in res) / (time.perf_counter() - t0))
        n, dt = bare_generate(model, prompts, max_new, temp, 1.0, gen.pad_token_id,
                              gen.eos_token_ids, r)
        bare.append(n / dt)
    rows = [p + x.response_ids for p, x in zip(prompts, res)]
    ids, mask = _right_pad(rows, "cuda")
    with torch.no_grad():
        lp = compute_token_logprobs(model, ids, mask, temperature=temp).cpu()
    gaps = []
    for i, (p, x) in enumerate(zip(prompts, res)):
        learner = lp[i, len(p):len(p) + len(x.response_ids)]
        gaps.append((torch.tensor(x.logp) - learner).abs())
    gaps = torch.cat(gaps)
    plugin_tps, bare_tps = statistics.median(plugin), statistics.median(bare)
    out = {"shape": shape, "dtype": dtype, "prompts": n_prompts, "max_new_tokens": max_new,
           "generator_tokens_per_s": plugin_tps, "bare_generate_tokens_per_s": bare_tps,
           "ratio_generator_vs_bare": plugin_tps / bare_tps,
           "logp_gap_mean": float(gaps.mean()), "logp_gap_max": float(gaps.max()),
           "peak_mem_gb": torch.cuda.max_memory_allocated() / 2**30}
    print(json.dumps(out), flush=True)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True)
    p.add_argument("--smoke", action="store_true")
    args = p.parse_args(argv)
    if not torch.cuda.is_available():
        print("gpu_generation: needs CUDA (run it on a GPU machine)", file=sys.stderr)
        return 2
    runs = []
    cases = [("tiny", "float32"), ("tiny", "bfloat16"),
             ("smollm135m_shape", "float32"), ("smollm135m_shape", "bfloat16")]
    for shape, dtype in cases[:1] if args.smoke else cases:
        runs.append(measure(shape, dtype, 8 if args.smoke else 64, 8 if args.smoke else 64,
                            1 if args.smoke else 3))
    meta = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__}
    with open(args.out, "w") as f:
        json.dump({"meta": meta, "runs": runs}, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
