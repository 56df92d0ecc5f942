"""CPU speed and memory of the policy module's options on a real vocabulary (SmolLM2).

    rllib fetch-model smollm2-135m-instruct        # once
    python -m benchmarks.real_model --model smollm2-135m-instruct --threads 2

Each mode runs in a fresh subprocess (``--one MODE``) so its peak RSS
(``getrusage(RUSAGE_SELF).ru_maxrss``) is its own. "today" is the module as it was
before these options: fp32 weights, logits over the full sequence, flush-denormal
off, full fine-tune, one forward/backward per batch. The training modes add one
option at a time (``MODES``); each times 1 warm-up + 3 training steps on 8 rows x 256
tokens (``forward_train`` -> masked mean of ``-logp`` over the last 16 tokens ->
backward -> AdamW at lr 1e-6) and 1 + 3 no-grad log-prob passes over 16 rows x 158
tokens. Two modes time a policy-update-sized batch (48 x 158) in one pass vs
token-budget micro-batches with gradient accumulation; two time ``HFGenerator``
(8 new tokens for 64 chat-templated prompts) in fp32 and under bf16 autocast.
Rows are right-padded random token ids from the tokenizer's vocabulary (fixed seed).

Writes ``real_model_speed.json`` and ``real_model_speed.md`` to ``--out-dir``.
``--model tiny --quick`` (tiny sizes, 1 timed step) is the CI smoke path
(``tests/bench/test_real_model_bench.py``).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any, Callable, Dict, List, Optional

from benchmarks import common
from benchmarks.settings import RESULTS_DIR, ROOT

RESULT_PREFIX = "REAL_MODEL_RESULT "
FETCH_HINT = "rllib fetch-model smollm2-135m-instruct"
LR = 1e-6

# every training mode: flush denormals, response-only logits, extra model_config
_FP32 = {"flush": True, "response_logits": True, "cfg": {}}
_AUTOCAST = {"autocast_dtype": "bfloat16"}
_LORA = {"policy_mode": "lora", "lora_rank": 8, "lora_alpha": 16, **_AUTOCAST}
MODES: Dict[str, Dict[str, Any]] = {
    "today": {"kind": "train", "flush": False, "response_logits": False, "cfg": {}},
    "flush_denormal": {"kind": "train", "flush": True, "response_logits": False, "cfg": {}},
    "response_logits": {"kind": "train", **_FP32},
    "bf16_autocast": {"kind": "train", **_FP32, "cfg": dict(_AUTOCAST)},
    "bf16_weights": {"kind": "train", **_FP32, "cfg": {"dtype": "bfloat16"}},
    "lora": {"kind": "train", **_FP32, "cfg": dict(_LORA)},
    "lora_ckpt": {"kind": "train", **_FP32, "cfg": {**_LORA, "gradient_checkpointing": True}},
    "full_ckpt": {"kind": "train", **_FP32,
                  "cfg": {**_AUTOCAST, "gradient_checkpointing": True}},
    "policy_update_one_pass": {"kind": "update", **_FP32, "budget": None},
    "policy_update_token_budget": {"kind": "update", **_FP32, "budget": "budget"},
    "generate_fp32": {"kind": "generate", **_FP32, "autocast": False},
    "generate_bf16_autocast": {"kind": "generate", **_FP32, "autocast": True},
}
DESCRIPTIONS = {
    "today": "fp32, full-sequence logits, flush-denormal off, full fine-tune",
    "flush_denormal": "today + flush denormals",
    "response_logits": "+ response-only logits",
    "bf16_autocast": "+ bf16 autocast, fp32 master weights",
    "bf16_weights": "response_logits with bf16 weights (no autocast)",
    "lora": "LoRA r8 + bf16 autocast + response logits",
    "lora_ckpt": "lora + gradient checkpointing",
    "full_ckpt": "full + bf16 autocast + response logits + gradient checkpointing",
    "policy_update_one_pass": "48 rows, one forward/backward (fp32, response logits)",
    "policy_update_token_budget": "48 rows, token-budget micro-batches + grad accumulation",
    "generate_fp32": "HFGenerator, fp32",
    "generate_bf16_autocast": "HFGenerator under torch.autocast bf16",
}

# (rows, width, prompt min, prompt max, response tokens) per batch; timed repeats
SIZES = {
    "full": {"train": (8, 256, 200, 240, 16), "nograd": (16, 158, 120, 142, 16),
             "update": (48, 158, 120, 142, 16), "budget": 2048, "steps": 3,
             "gen_prompts": 64, "gen_content": (90, 140), "gen_new": 8},
    "quick": {"train": (4, 40, 24, 32, 8), "nograd": (4, 32, 16, 24, 8),
              "update": (12, 32, 16, 24, 8), "budget": 128, "steps": 1,
              "gen_prompts": 4, "gen_content": (8, 16), "gen_new": 4},
}


# ------------------------------------------------------------------ measuring
def peak_rss_gib() -> float:
    """This process's peak resident set so far (ru_maxrss is KiB on Linux)."""
    return common.peak_rss_mb() / 1024


def timed(fn: Callable[[], Any], repeats: int) -> List[float]:
    """One untimed warm-up call of ``fn``, then ``repeats`` timed calls (seconds)."""
    fn()
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


# ---------------------------------------------------------------- synthetic data
def usable_token_ids(tokenizer, model_vocab: int) -> List[int]:
    """Token ids to draw rows from: the tokenizer's vocabulary minus special tokens."""
    special = set(tokenizer.all_special_ids)
    return [i for i in range(min(len(tokenizer), model_vocab)) if i not in special]


def synthetic_batch(vocab: List[int], pad_id: int, shape, seed: int) -> Dict[str, Any]:
    """Right-padded rows: random prompt (prompt_min..prompt_max tokens, the first row
    the longest, so the batch is ``width`` wide) + ``response`` tokens each.

    Returns ``{"input_ids", "attention_mask", "response_mask"}`` as (rows, width) tensors.
    """
    import torch

    rows, width, p_min, p_max, response = shape
    gen = torch.Generator().manual_seed(seed)
    pool = torch.as_tensor(vocab, dtype=torch.long)
    ids = torch.full((rows, width), int(pad_id), dtype=torch.long)
    mask = torch.zeros((rows, width), dtype=torch.long)
    rmask = torch.zeros((rows, width), dtype=torch.float32)
    for r in range(rows):
        prompt = p_max if r == 0 else int(torch.randint(p_min, p_max + 1, (1,), generator=gen))
        length = min(prompt + response, width)
        ids[r, :length] = pool[torch.randint(len(pool), (length,), generator=gen)]
        mask[r, :length] = 1
        rmask[r, length - response:length] = 1.0
    return {"input_ids": ids, "attention_mask": mask, "response_mask": rmask}


def model_batch(batch: Dict[str, Any], mode: Dict[str, Any], rows=None) -> Dict[str, Any]:
    """What ``forward_train`` sees: the response mask only with response-only logits."""
    keys = ("input_ids", "attention_mask") + (("response_mask",) if mode["response_logits"]
                                              else ())
    return {k: batch[k] if rows is None else batch[k][rows] for k in keys}


# ---------------------------------------------------------------- the module
def build_policy(model_path: str, mode: Dict[str, Any]):
    """The CausalLMRLModule for ``mode`` (built as RLlib does: RLModuleSpec.build())."""
    import gymnasium
    import torch
    from ray.rllib.core.rl_module.rl_module import RLModuleSpec

    from rllib_istar.rl_modules import CausalLMRLModule

    space = gymnasium.spaces.Text(4096)
    spec = RLModuleSpec(module_class=CausalLMRLModule, observation_space=space,
                        action_space=space, model_config={"model_path": model_path,
                                                          **mode["cfg"]})
    module = spec.build()
    torch.set_flush_denormal(bool(mode["flush"]))  # "today" had it off
    return module


def trainable_params(module) -> list:
    return [p for p in module.parameters() if p.requires_grad]


def response_nll(module, batch: Dict[str, Any], mode: Dict[str, Any], weight: float = 1.0):
    """``weight`` x the masked mean of ``-logp`` over ``batch``'s response tokens."""
    logp = module.forward_train(model_batch(batch, mode))["logp"]
    rmask = batch["response_mask"]
    return -weight * (logp * rmask).sum() / rmask.sum().clamp(min=1.0)


def changed_fraction(module, step: Callable[[], None]) -> float:
    """Fraction of the trainable weights' elements that one call of ``step`` changes
    (bitwise, in the weights' own dtype)."""
    params = trainable_params(module)
    before = [p.detach().clone() for p in params]
    step()
    changed = sum(int((p.detach() != b).sum()) for p, b in zip(params, before))
    return changed / max(1, sum(b.numel() for b in before))


def is_bf16_mode(mode: Dict[str, Any]) -> bool:
    return "bfloat16" in (mode["cfg"].get("dtype"), mode["cfg"].get("autocast_dtype"))


# ---------------------------------------------------------------- the modes
def run_train(module, mode, sizes, vocab, pad_id) -> Dict[str, Any]:
    """Training steps on the train batch, no-grad passes, changed-weight fraction."""
    import torch

    train = synthetic_batch(vocab, pad_id, sizes["train"], seed=0)
    nograd = synthetic_batch(vocab, pad_id, sizes["nograd"], seed=1)
    optim = torch.optim.AdamW(trainable_params(module), lr=LR)

    def step() -> None:
        optim.zero_grad(set_to_none=True)
        response_nll(module, train, mode).backward()
        optim.step()

    def logprob_pass() -> None:
        with torch.no_grad():
            rmask = nograd["response_mask"] if mode["response_logits"] else None
            module.token_logprobs(nograd["input_ids"], nograd["attention_mask"],
                                  response_mask=rmask)

    step_s = timed(step, sizes["steps"])
    nograd_s = timed(logprob_pass, sizes["steps"])
    out = {"train_step_s": statistics.median(step_s), "train_step_all_s": step_s,
           "nograd_pass_s": statistics.median(nograd_s), "nograd_pass_all_s": nograd_s,
           "peak_rss_gib": peak_rss_gib()}
    if is_bf16_mode(mode):  # after the peak is read: the clone would add to it
        out["changed_fraction"] = changed_fraction(module, step)
    return out


def run_update(module, mode, sizes, vocab, pad_id) -> Dict[str, Any]:
    """A policy-update-sized batch: one pass, or token-budget micro-batches."""
    import torch

    from rllib_istar.learner.microbatches import token_budget_slices

    batch = synthetic_batch(vocab, pad_id, sizes["update"], seed=2)
    optim = torch.optim.AdamW(trainable_params(module), lr=LR)
    if mode["budget"]:
        lengths = batch["attention_mask"].sum(-1).tolist()
        groups = token_budget_slices(lengths, sizes["budget"])
    else:
        groups = [list(range(batch["input_ids"].shape[0]))]
    total = float(batch["response_mask"].sum())

    def step() -> None:
        optim.zero_grad(set_to_none=True)
        for rows in groups:
            sub = {k: v[torch.as_tensor(rows)] for k, v in batch.items()}
            share = float(sub["response_mask"].sum()) / total
            response_nll(module, sub, mode, weight=share).backward()
        optim.step()

    step_s = timed(step, sizes["steps"])
    return {"update_s": statistics.median(step_s), "update_all_s": step_s,
            "microbatches": len(groups), "token_budget": sizes["budget"] if mode["budget"]
            else None, "peak_rss_gib": peak_rss_gib()}


def chat_prompts(tokenizer, vocab: List[int], sizes, seed: int = 3) -> List[List[int]]:
    """Chat-templated prompts whose user text decodes random vocabulary tokens."""
    import torch

    from rllib_istar.lm.loading import encode_prompt

    gen = torch.Generator().manual_seed(seed)
    lo, hi = sizes["gen_content"]
    prompts = []
    for _ in range(sizes["gen_prompts"]):
        n = int(torch.randint(lo, hi + 1, (1,), generator=gen))
        content = [vocab[int(i)] for i in torch.randint(len(vocab), (n,), generator=gen)]
        prompts.append(encode_prompt(tokenizer, tokenizer.decode(content)))
    return prompts


def run_generate(module, mode, sizes, vocab, tokenizer) -> Dict[str, Any]:
    """HFGenerator tokens/s on the chat prompts, fp32 or under bf16 autocast."""
    import contextlib

    import torch

    from rllib_istar.rollout.generation import make_generator

    generator = make_generator("hf", model=module.lm, tokenizer=tokenizer)
    prompts = chat_prompts(tokenizer, vocab, sizes)
    counts: List[int] = []

    def generate() -> None:
        ctx = (torch.autocast("cpu", dtype=torch.bfloat16) if mode["autocast"]
               else contextlib.nullcontext())
        with ctx:
            res = generator.generate(prompts, max_new_tokens=sizes["gen_new"], temperature=1.0,
                                     seed=0)
        counts.append(sum(len(r.response_ids) for r in res))

    gen_s = timed(generate, sizes["steps"])
    tokens = statistics.median(counts[1:])
    lengths = [len(p) for p in prompts]
    return {"generate_s": statistics.median(gen_s), "generate_all_s": gen_s,
            "new_tokens": tokens, "tokens_per_s": tokens / statistics.median(gen_s),
            "prompt_tokens_min": min(lengths), "prompt_tokens_max": max(lengths),
            "prompt_tokens_mean": sum(lengths) / len(lengths), "peak_rss_gib": peak_rss_gib()}


def run_one(name: str, model: str, threads: int, quick: bool) -> Dict[str, Any]:
    """Measure one mode in this process (the ``--one`` child)."""
    import torch

    from rllib_istar.lm.loading import load_tokenizer, resolve_model_path

    torch.set_num_threads(threads)
    mode, sizes = MODES[name], SIZES["quick" if quick else "full"]
    path = resolve_model_path(model)
    rss_imports = peak_rss_gib()
    t0 = time.perf_counter()
    module = build_policy(path, mode)
    build_s = time.perf_counter() - t0
    tokenizer = load_tokenizer(path)
    vocab = usable_token_ids(tokenizer, module.lm.get_input_embeddings().num_embeddings)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else vocab[0]
    head = {"mode": name, "description": DESCRIPTIONS[name], "model_config": mode["cfg"],
            "flush_denormal": mode["flush"], "response_logits": mode["response_logits"],
            "threads": threads, "build_s": build_s, "peak_rss_after_imports_gib": rss_imports,
            "peak_rss_after_build_gib": peak_rss_gib(), "vocab_size": len(vocab),
            "trainable_params": sum(p.numel() for p in trainable_params(module)),
            "total_params": sum(p.numel() for p in module.parameters())}
    if mode["kind"] == "train":
        return {**head, **run_train(module, mode, sizes, vocab, pad_id)}
    if mode["kind"] == "update":
        return {**head, **run_update(module, mode, sizes, vocab, pad_id)}
    return {**head, **run_generate(module, mode, sizes, vocab, tokenizer)}


# ---------------------------------------------------------------- the parent
def child_command(name: str, args) -> List[str]:
    cmd = [sys.executable, "-m", "benchmarks.real_model", "--one", name, "--model", args.model,
           "--threads", str(args.threads)]
    return cmd + (["--quick"] if args.quick else [])


def run_child(name: str, args) -> Dict[str, Any]:
    """Run one mode in a fresh subprocess; its result, or ``{"error": ...}``."""
    env = dict(os.environ, TOKENIZERS_PARALLELISM="false", PYTHONWARNINGS="ignore")
    t0 = time.perf_counter()
    proc = subprocess.run(child_command(name, args), cwd=ROOT, env=env, capture_output=True,
                          text=True)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(RESULT_PREFIX)]
    if proc.returncode != 0 or not lines:
        return {"mode": name, "error": (proc.stdout[-2000:] + proc.stderr[-4000:]).strip()}
    result = json.loads(lines[-1][len(RESULT_PREFIX):])
    result["child_wall_s"] = time.perf_counter() - t0
    return result


def model_available(model: str) -> Optional[str]:
    """The resolved folder (building a tiny model once, before the children), or None
    after printing how to create it."""
    from rllib_istar.lm.errors import ModelLoadError
    from rllib_istar.lm.loading import resolve_model_path

    try:
        return resolve_model_path(model)
    except ModelLoadError:
        print(f"model {model!r} is not available locally; create it with `{FETCH_HINT}` "
              "(or pass --model tiny)", file=sys.stderr)
        return None


def library_versions() -> Dict[str, str]:
    import importlib.metadata as md

    out = {}
    for name in ("torch", "transformers", "peft", "ray"):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            out[name] = "absent"
    return out


def _fmt(value, spec: str = ".2f") -> str:
    return "-" if value is None else format(value, spec)


def _ratio(value, base) -> Optional[float]:
    return value / base if value is not None and base else None


def markdown_table(data: Dict[str, Any]) -> str:
    """Markdown tables: training modes vs today, the policy update, generation."""
    modes = data["modes"]
    today = modes.get("today", {})
    rows = ["| mode | what | train step s | x today | no-grad pass s | x today | "
            "peak RSS GiB | vs today GiB | trainable params | changed by one AdamW step |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    for name, spec in MODES.items():
        r = modes.get(name, {})
        if spec["kind"] != "train" or "error" in r or not r:
            continue
        rss_delta = (r["peak_rss_gib"] - today["peak_rss_gib"]) if "peak_rss_gib" in today \
            else None
        rows.append(f"| {name} | {r['description']} | {_fmt(r['train_step_s'])} | "
                    f"{_fmt(_ratio(r['train_step_s'], today.get('train_step_s')))} | "
                    f"{_fmt(r['nograd_pass_s'])} | "
                    f"{_fmt(_ratio(r['nograd_pass_s'], today.get('nograd_pass_s')))} | "
                    f"{_fmt(r['peak_rss_gib'])} | {_fmt(rss_delta, '+.2f')} | "
                    f"{r['trainable_params']:,} | {_fmt(r.get('changed_fraction'), '.4f')} |")
    rows += ["", "| policy update (fp32, response logits) | micro-batches | s per update | "
             "peak RSS GiB |", "|---|---|---|---|"]
    for name in ("policy_update_one_pass", "policy_update_token_budget"):
        r = modes.get(name, {})
        if r and "error" not in r:
            rows.append(f"| {name} | {r['microbatches']} | {_fmt(r['update_s'])} | "
                        f"{_fmt(r['peak_rss_gib'])} |")
    rows += ["", "| generation | prompt tokens (min-max) | new tokens | s | tokens/s | "
             "peak RSS GiB |", "|---|---|---|---|---|---|"]
    for name in ("generate_fp32", "generate_bf16_autocast"):
        r = modes.get(name, {})
        if r and "error" not in r:
            rows.append(f"| {name} | {r['prompt_tokens_min']}-{r['prompt_tokens_max']} | "
                        f"{r['new_tokens']:.0f} | {_fmt(r['generate_s'])} | "
                        f"{_fmt(r['tokens_per_s'], '.1f')} | {_fmt(r['peak_rss_gib'])} |")
    failed = [n for n, r in modes.items() if "error" in r]
    if failed:
        rows += ["", "failed: " + ", ".join(failed)]
    return "\n".join(rows) + "\n"


def write_outputs(data: Dict[str, Any], out_dir: str) -> None:
    os.makedirs(out_dir, exist_ok=True)
    tmp = os.path.join(out_dir, "real_model_speed.json.tmp")
    with open(tmp, "w") as f:
        json.dump(data, f, indent=1)
    os.replace(tmp, os.path.join(out_dir, "real_model_speed.json"))
    with open(os.path.join(out_dir, "real_model_speed.md"), "w") as f:
        f.write(markdown_table(data))


def run_all(args) -> int:
    """Every mode (``--modes``) in its own subprocess; JSON + markdown after each."""
    if model_available(args.model) is None:
        return 2
    data = {"meta": {"machine": common.machine_info(), "git": common.git_rev(),
                     "versions": library_versions(), "model": args.model,
                     "threads": args.threads, "quick": args.quick, "lr": LR,
                     "sizes": SIZES["quick" if args.quick else "full"],
                     "command": " ".join(["python", "-m", "benchmarks.real_model"]
                                         + sys.argv[1:]),
                     "started": time.strftime("%Y-%m-%d %H:%M:%S"),
                     "load_avg_start": common.load_avg()}, "modes": {}}
    for name in args.modes:
        result = run_child(name, args)
        data["modes"][name] = result
        data["meta"]["load_avg_end"] = common.load_avg()
        write_outputs(data, args.out_dir)
        print(f"[{name}] " + ("FAILED: " + result["error"][-500:] if "error" in result else
                              ", ".join(f"{k} {v:.3g}" for k, v in result.items()
                                        if k.endswith(("_s", "_gib", "fraction", "per_s"))
                                        and isinstance(v, float))), flush=True)
    data["meta"]["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
    write_outputs(data, args.out_dir)
    print(markdown_table(data))
    return 1 if any("error" in r for r in data["modes"].values()) else 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="smollm2-135m-instruct",
                   help="model_path: a registered name, a local HF folder, or 'tiny'")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out-dir", default=RESULTS_DIR)
    p.add_argument("--quick", action="store_true", help="tiny sizes, 1 timed step (CI)")
    p.add_argument("--modes", nargs="+", default=list(MODES), choices=list(MODES))
    p.add_argument("--one", choices=list(MODES), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    common.quiet()
    if args.one:
        print(RESULT_PREFIX + json.dumps(run_one(args.one, args.model, args.threads,
                                                 args.quick)), flush=True)
        return 0
    return run_all(args)


if __name__ == "__main__":
    sys.exit(main())
