"""What the plugin costs, measured side by side in one run, as ratios.

1. ``iteration``: per-iteration wall time of istar_rloo against rloo at the same
   batch (two algorithms in one process, iterations alternated), broken down
   into generation, env, PRM update, PRM scoring, old-logp recompute, policy
   update, weight sync (raw durations of the plugin's own timers; RLlib reports
   them as an EMA). Goal: istar_rloo / rloo <= 1.5.
2. ``generation``: generated tokens/s of the LLMEnvRunner against a bare
   transformers ``model.generate`` (left padding, same prompt ids, same
   max_new_tokens and sampling settings, same model object, same seeds), by
   replaying the exact generate calls the runner made. Goal >= 0.8.
3. ``learner``: learner tokens/s (the policy-update phase) against a bare torch
   loop (forward + step-level clipped loss + backward + grad clip + AdamW) on a
   copy of the same model and the same padded rows. Goal >= 0.9.
4. ``memory``: learner-process RSS growth (peak, ``ru_maxrss``) when building the
   learner and running two updates, in a fresh subprocess per mode: rloo
   (outcome only), istar_rloo with the PRM as a full copy, and as LoRA. Goal:
   LoRA within 1.2x of outcome-only. Analytic parameter/optimizer bytes too.
5. ``scaling``: iteration time against group size, history length and response
   length (Sokoban, a format-free random model so every episode runs its 15 steps
   and every response its full token budget: the work per iteration is fixed).

    python benchmarks/cost.py                     # all parts (~10 min on 2 CPUs)
    python benchmarks/cost.py --parts iteration generation
    python benchmarks/cost.py --report            # tables from the JSON
    python benchmarks/cost.py --smoke --out-dir /tmp/x   # < 2 min, for the test

Results: ``<out-dir>/cost.json`` (written after every part) and ``cost_tables.md``.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from typing import Any, Dict, List

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from learning import SHARED  # noqa: E402  (the learning benchmark's settings)

PARTS = ("iteration", "generation", "learner", "memory", "scaling")


def _median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else float("nan")


def _settings(env: str, smoke: bool, **over) -> Dict[str, Any]:
    s = dict(SHARED[env])
    if smoke:
        s.update(group_size=4, num_groups=2, format_warmup_steps=10, num_epochs=1)
    s.update(over)
    return s


# ------------------------------------------------------------ 1. iteration
BREAKDOWN = ("generation", "env", "rollout_other", "old_logp", "prm_update", "prm_scoring",
             "policy_update", "learner_other", "weight_sync")


def _breakdown(timers: Dict[str, float], result: Dict[str, Any]) -> Dict[str, float]:
    er = result.get("env_runners", {})
    gen, envt = float(er.get("generation_time_s", 0.0)), float(er.get("env_time_s", 0.0))
    rollout = timers.get("timers/rollout", 0.0)
    learner = timers.get("timers/learner_update", 0.0)
    parts = {k: timers.get(f"timers/{k}", 0.0) for k in ("old_logp", "prm_update", "prm_scoring",
                                                          "policy_update")}
    return {"generation": gen, "env": envt, "rollout_other": max(rollout - gen - envt, 0.0),
            **parts, "learner_other": max(learner - sum(parts.values()), 0.0),
            "weight_sync": timers.get("timers/weight_sync", 0.0),
            "rollout": rollout, "learner_update": learner,
            "env_steps": float(er.get("num_env_steps_sampled", 0))}


def part_iteration(args) -> Dict[str, Any]:
    envs = ["toy"] if args.smoke else ["toy", "sokoban"]
    n_iter = 1 if args.smoke else {"toy": 12, "sokoban": 6}
    out = {}
    for env in envs:
        algos = {m: common.build_config(env, _settings(env, args.smoke, advantage_estimator=m), 0)
                 .build_algo() for m in ("rloo", "istar_rloo")}
        probe = common.TimerProbe().install()
        rec: Dict[str, List[Dict[str, float]]] = {m: [] for m in algos}
        try:
            for m, a in algos.items():  # one warm-up iteration each (not recorded)
                a.train()
            probe.pop()
            n = n_iter if isinstance(n_iter, int) else n_iter[env]
            for i in range(n):
                order = list(algos) if i % 2 == 0 else list(algos)[::-1]
                for m in order:
                    t0 = time.perf_counter()
                    res = algos[m].train()
                    wall = time.perf_counter() - t0
                    b = _breakdown(probe.pop(), res)
                    b["wall"] = wall
                    rec[m].append(b)
        finally:
            probe.uninstall()
            for a in algos.values():
                a.stop()
        med = {m: {k: _median([r[k] for r in rs]) for k in rs[0]} for m, rs in rec.items()}
        ratio = med["istar_rloo"]["wall"] / med["rloo"]["wall"]
        per_step = {m: _median([r["wall"] / max(r["env_steps"], 1) for r in rs]) for m, rs in rec.items()}
        out[env] = {"settings": _settings(env, args.smoke), "iterations": n, "median": med,
                    "raw": rec, "ratio_wall": ratio,
                    "ratio_wall_per_env_step": per_step["istar_rloo"] / per_step["rloo"],
                    "goal": "<= 1.5", "goal_met": ratio <= 1.5, "load_avg": common.load_avg()}
        print(f"[iteration] {env}: rloo {med['rloo']['wall']:.3f}s istar {med['istar_rloo']['wall']:.3f}s "
              f"ratio {ratio:.2f}", flush=True)
    return out


# ------------------------------------------------------------ 2. generation
def _bare_generate(model, prompts, max_new_tokens, temperature, top_p, pad_id, eos_ids, seed):
    """Plain transformers generate, left-padded; tokens counted up to the first EOS (incl.)."""
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


def part_generation(args) -> Dict[str, Any]:
    workloads = {"toy": ("toy", {}), "sokoban": ("sokoban", {}),
                 "toy_long": ("toy", {"format_warmup_steps": 0, "max_new_tokens": 32})}
    if args.smoke:
        workloads = {"toy": workloads["toy"]}
    reps = 1 if args.smoke else 5
    out = {}
    for name, (env, over) in workloads.items():
        cfg = common.build_config(env, _settings(env, args.smoke, advantage_estimator="rloo", **over), 0)
        algo = cfg.build_algo()
        try:
            runner = algo.env_runner
            gen = runner.generator
            calls, orig = [], gen.generate

            def capture(prompts, **kw):
                calls.append((prompts, kw))
                return orig(prompts, **kw)

            gen.generate = capture
            runner_stats = []
            for _ in range(1 if args.smoke else 3):
                runner.sample()
                m = runner.get_metrics()
                runner_stats.append({"tokens": float(m["num_generated_tokens"]),
                                     "gen_s": float(m["generation_time_s"]),
                                     "sample_s": float(m["sample_time_s"])})
            gen.generate = orig
            model = runner.module.lm
            # replay every captured call: plugin generator vs bare generate, interleaved
            plugin_tps, bare_tps = [], []
            for _ in range(reps):
                pt = pn = bt = bn = 0.0
                for prompts, kw in calls:
                    t0 = time.perf_counter()
                    res = orig(prompts, **kw)
                    pt += time.perf_counter() - t0
                    pn += sum(len(r.response_ids) for r in res)
                    n, dt = _bare_generate(model, prompts, kw["max_new_tokens"], kw["temperature"],
                                           kw["top_p"], gen.pad_token_id, gen.eos_token_ids, kw["seed"])
                    bn += n
                    bt += dt
                plugin_tps.append(pn / pt)
                bare_tps.append(bn / bt)
            run_gen = sum(s["tokens"] for s in runner_stats) / sum(s["gen_s"] for s in runner_stats)
            run_e2e = sum(s["tokens"] for s in runner_stats) / sum(s["sample_s"] for s in runner_stats)
            bare = _median(bare_tps)
            out[name] = {
                "env": env, "overrides": over, "generate_calls": len(calls),
                "prompts_per_call": _median([len(p) for p, _ in calls]),
                "prompt_len_median": _median([len(x) for p, _ in calls for x in p]),
                "max_new_tokens": calls[0][1]["max_new_tokens"] if calls else None,
                "bare_tokens_per_s": bare, "plugin_generator_tokens_per_s": _median(plugin_tps),
                "runner_generation_tokens_per_s": run_gen, "runner_end_to_end_tokens_per_s": run_e2e,
                "ratio_generator_vs_bare": _median(plugin_tps) / bare,
                "ratio_runner_generation_vs_bare": run_gen / bare,
                "ratio_runner_end_to_end_vs_bare": run_e2e / bare,
                "goal": ">= 0.8", "load_avg": common.load_avg()}
            print(f"[generation] {name}: bare {bare:.0f} tok/s, generator {_median(plugin_tps):.0f}, "
                  f"runner gen-phase {run_gen:.0f}, runner end-to-end {run_e2e:.0f}", flush=True)
        finally:
            algo.stop()
    return out


# --------------------------------------------------------------- 3. learner
def _bare_train_step(model, opt, rows, old_logp, adv, temperature, clip, grad_clip):
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


def part_learner(args) -> Dict[str, Any]:
    import torch

    from rllib_istar import columns as C
    from rllib_istar.connectors.episodes_to_rows import episodes_to_rows

    envs = ["toy"] if args.smoke else ["toy", "sokoban"]
    reps = 1 if args.smoke else 7
    out = {}
    for env in envs:
        # one epoch, whole batch: one optimizer step per update on both sides
        s = _settings(env, args.smoke, advantage_estimator="rloo", num_epochs=1)
        algo = common.build_config(env, s, 0).build_algo()
        probe = common.TimerProbe().install()
        try:
            episodes = algo.env_runner.sample()
            learner = algo.learner_group._learner
            rows = episodes_to_rows(episodes)
            tokens = int(rows[C.ATTENTION_MASK].sum())
            module = learner.module["default_policy"].unwrapped()
            model = copy.deepcopy(module.lm)
            model.train()
            opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad],
                                    lr=s["lr"], weight_decay=0.0)
            with torch.no_grad():
                old = module.token_logprobs(rows[C.INPUT_IDS], rows[C.ATTENTION_MASK]).float()
            adv = torch.randn(len(old)).clamp(-2, 2)
            plugin_policy, plugin_full, bare = [], [], []
            _bare_train_step(model, opt, rows, old, adv, module.temperature, 0.2, 1.0)  # warm
            learner_update = lambda: algo.learner_group.update(  # noqa: E731
                episodes=episodes, num_epochs=1, minibatch_size=None,
                timesteps={"num_env_steps_sampled_lifetime": 0})
            learner_update()
            probe.pop()
            for _ in range(reps):
                t0 = time.perf_counter()
                learner_update()
                plugin_full.append(time.perf_counter() - t0)
                plugin_policy.append(probe.pop().get("timers/policy_update", float("nan")))
                bare.append(_bare_train_step(model, opt, rows, old, adv, module.temperature, 0.2, 1.0))
        finally:
            probe.uninstall()
            algo.stop()
        mp, mf, mb = _median(plugin_policy), _median(plugin_full), _median(bare)
        out[env] = {"rows": len(old), "tokens": tokens, "padded_width": int(rows[C.INPUT_IDS].shape[1]),
                    "bare_tokens_per_s": tokens / mb, "plugin_policy_update_tokens_per_s": tokens / mp,
                    "plugin_full_update_tokens_per_s": tokens / mf,
                    "ratio_policy_update_vs_bare": mb / mp, "ratio_full_update_vs_bare": mb / mf,
                    "bare_s": mb, "plugin_policy_update_s": mp, "plugin_full_update_s": mf,
                    "goal": ">= 0.9", "load_avg": common.load_avg()}
        print(f"[learner] {env}: bare {tokens / mb:.0f} tok/s, policy update {tokens / mp:.0f}, "
              f"full update {tokens / mf:.0f}", flush=True)
    return out


# ---------------------------------------------------------------- 4. memory
def _rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def memory_worker(mode: str, model: str, smoke: bool) -> Dict[str, Any]:
    """In a fresh process: sample episodes, then measure the learner's RSS growth."""
    import gymnasium as gym
    import torch

    torch.set_num_threads(2)
    est, prm_mode = {"rloo": ("rloo", "none"), "full": ("istar_rloo", "full"),
                     "lora": ("istar_rloo", "lora")}[mode]
    s = dict(group_size=4 if smoke else 8, num_groups=2 if smoke else 8, max_new_tokens=8,
             format_warmup_steps=0, model_path=model, advantage_estimator=est, prm_mode=prm_mode,
             lr=1e-4, prm_lr=1e-4, microbatch_size=16)
    cfg = common.build_config("toy", s, 0)
    cfg.validate()
    from rllib_istar.rollout.env_runner import LLMEnvRunner

    runner = LLMEnvRunner(config=cfg)
    episodes = runner.sample()
    del runner
    import gc

    gc.collect()
    base_rss, base_max = _rss_mb(), _maxrss_mb()
    text = gym.spaces.Text(1)
    learner = cfg.build_learner(spaces={"default_policy": (text, text), "prm": (text, text)})
    built_rss = _rss_mb()
    for _ in range(2):
        learner.update(episodes=episodes, num_epochs=1, minibatch_size=None,
                       timesteps={"num_env_steps_sampled_lifetime": 0})
    after_rss, peak = _rss_mb(), _maxrss_mb()
    params = {mid: sum(p.numel() for p in learner.module[mid].parameters())
              for mid in learner.module.keys()}
    trainable = {mid: sum(p.numel() for p in learner.module[mid].parameters() if p.requires_grad)
                 for mid in learner.module.keys()}
    # weights + grads + 2 Adam moments of the trainable part, float32
    analytic = 4 * (sum(params.values()) + 3 * sum(trainable.values())) / 2**20
    return {"mode": mode, "model": model, "rows": sum(len(e) for e in episodes),
            "baseline_rss_mb": base_rss, "baseline_maxrss_mb": base_max,
            "learner_built_delta_mb": built_rss - base_rss,
            "after_update_delta_mb": after_rss - base_rss,
            "peak_delta_mb": peak - base_rss, "params": params, "trainable": trainable,
            "analytic_static_mb": analytic}


def part_memory(args) -> Dict[str, Any]:
    model = "tiny" if args.smoke else args.memory_model
    reps = 1 if args.smoke else 2
    res: Dict[str, List[Dict]] = {}
    modes = ("rloo", "full", "lora")
    for _ in range(reps):
        # one fresh process per mode (RSS is per process); sequential for the real run,
        # concurrent in --smoke (only the mechanics are checked there)
        batches = [modes] if args.smoke else [(m,) for m in modes]
        for batch in batches:
            procs = {mode: subprocess.Popen(
                [sys.executable, os.path.abspath(__file__), "--memory-worker", mode,
                 "--memory-model", model] + (["--smoke"] if args.smoke else []),
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for mode in batch}
            for mode, proc in procs.items():
                stdout, stderr = proc.communicate(timeout=600)
                line = [l for l in stdout.splitlines() if l.startswith("MEMORY_RESULT ")]
                if proc.returncode or not line:
                    raise RuntimeError(f"memory worker {mode} failed:\n{stderr[-3000:]}")
                res.setdefault(mode, []).append(json.loads(line[-1][len("MEMORY_RESULT "):]))
    med = {m: {k: _median([r[k] for r in rs]) for k in ("peak_delta_mb", "after_update_delta_mb",
                                                        "learner_built_delta_mb", "analytic_static_mb")}
           for m, rs in res.items()}
    ratio = {m: med[m]["peak_delta_mb"] / med["rloo"]["peak_delta_mb"] for m in med}
    static = {m: med[m]["analytic_static_mb"] / med["rloo"]["analytic_static_mb"] for m in med}
    out = {"model": model, "runs": res, "median": med, "ratio_peak_vs_rloo": ratio,
           "ratio_analytic_static_vs_rloo": static, "goal": "lora <= 1.2x rloo",
           "goal_met": ratio["lora"] <= 1.2, "load_avg": common.load_avg()}
    print("[memory] peak delta MB:", {m: round(v["peak_delta_mb"], 1) for m, v in med.items()},
          "ratios:", {m: round(v, 2) for m, v in ratio.items()}, flush=True)
    return out


# --------------------------------------------------------------- 5. scaling
def part_scaling(args) -> Dict[str, Any]:
    base = dict(group_size=8, num_groups=2, history_length=2, max_new_tokens=8,
                format_warmup_steps=0, lr=1e-4, prm_lr=1e-4, num_epochs=1, microbatch_size=32)
    grid = [("base", {})]
    grid += [(f"group_size={g}", {"group_size": g}) for g in (4, 16)]
    grid += [(f"history_length={h}", {"history_length": h}) for h in (0, 4)]
    grid += [(f"max_new_tokens={t}", {"max_new_tokens": t}) for t in (2, 32)]
    env = "sokoban"
    n_iter = 2
    if args.smoke:
        base.update(group_size=2, num_groups=1, max_new_tokens=2)
        grid = grid[:1]
        env = "toy"
        n_iter = 1
    rows = []
    probe = common.TimerProbe().install()
    try:
        for name, over in grid:
            row = {"config": name}
            for m in ("rloo", "istar_rloo"):
                algo = common.build_config(env, {**base, **over, "advantage_estimator": m}, 0).build_algo()
                try:
                    algo.train()
                    probe.pop()
                    walls, rec = [], []
                    for _ in range(n_iter):
                        t0 = time.perf_counter()
                        res = algo.train()
                        walls.append(time.perf_counter() - t0)
                        rec.append(_breakdown(probe.pop(), res))
                finally:
                    algo.stop()
                row[f"{m}_s"] = _median(walls)
                row[f"{m}_env_steps"] = _median([r["env_steps"] for r in rec])
                row[f"{m}_rollout_s"] = _median([r["rollout"] for r in rec])
                row[f"{m}_learner_s"] = _median([r["learner_update"] for r in rec])
            row["ratio"] = row["istar_rloo_s"] / row["rloo_s"]
            rows.append(row)
            print(f"[scaling] {name}: rloo {row['rloo_s']:.2f}s istar {row['istar_rloo_s']:.2f}s", flush=True)
    finally:
        probe.uninstall()
    return {"env": env, "base": base, "rows": rows, "iterations": n_iter, "load_avg": common.load_avg()}


# ---------------------------------------------------------------- report
def _f(x, nd=2):
    return "-" if x is None or (isinstance(x, float) and x != x) else f"{x:.{nd}f}"


def markdown(data: Dict[str, Any]) -> str:
    L = []
    it = data.get("iteration")
    if it:
        L += ["### Per-iteration wall time: istar_rloo vs rloo (median seconds per iteration)", "",
              "| env | phase | rloo | istar_rloo |", "|---|---|---|---|"]
        for env, d in it.items():
            for k in BREAKDOWN + ("wall",):
                L.append(f"| {env} | {k} | {_f(d['median']['rloo'][k], 3)} | "
                         f"{_f(d['median']['istar_rloo'][k], 3)} |")
            L.append(f"| {env} | **ratio istar/rloo** | | **{_f(d['ratio_wall'])}x** "
                     f"(per env step {_f(d['ratio_wall_per_env_step'])}x; goal <= 1.5: "
                     f"{'met' if d['goal_met'] else 'NOT met'}) |")
        L.append("")
    g = data.get("generation")
    if g:
        L += ["### Generation throughput (generated tokens/s)", "",
              "| workload | prompts/call | prompt len | max_new_tokens | bare generate | plugin "
              "generator | runner, generate phase | runner, end to end | ratios (gen / phase / e2e) |",
              "|---|---|---|---|---|---|---|---|---|"]
        for name, d in g.items():
            L.append(f"| {name} | {_f(d['prompts_per_call'], 0)} | {_f(d['prompt_len_median'], 0)} | "
                     f"{d['max_new_tokens']} | {_f(d['bare_tokens_per_s'], 0)} | "
                     f"{_f(d['plugin_generator_tokens_per_s'], 0)} | "
                     f"{_f(d['runner_generation_tokens_per_s'], 0)} | "
                     f"{_f(d['runner_end_to_end_tokens_per_s'], 0)} | "
                     f"{_f(d['ratio_generator_vs_bare'])} / {_f(d['ratio_runner_generation_vs_bare'])} / "
                     f"{_f(d['ratio_runner_end_to_end_vs_bare'])} |")
        L.append("")
    le = data.get("learner")
    if le:
        L += ["### Learner throughput (tokens/s; one optimizer step on the whole batch)", "",
              "| env | rows | tokens | bare loop | plugin policy update | plugin full update "
              "(+ rows, old logp, advantages) | ratio policy / full |", "|---|---|---|---|---|---|---|"]
        for env, d in le.items():
            L.append(f"| {env} | {d['rows']} | {d['tokens']} | {_f(d['bare_tokens_per_s'], 0)} | "
                     f"{_f(d['plugin_policy_update_tokens_per_s'], 0)} | "
                     f"{_f(d['plugin_full_update_tokens_per_s'], 0)} | "
                     f"{_f(d['ratio_policy_update_vs_bare'])} / {_f(d['ratio_full_update_vs_bare'])} |")
        L.append("")
    me = data.get("memory")
    if me:
        L += [f"### Learner memory ({me['model']}; RSS growth over the process baseline, median)", "",
              "| mode | peak delta MB | after 2 updates MB | built MB | analytic weights+grads+Adam MB | "
              "peak ratio vs rloo | analytic ratio |", "|---|---|---|---|---|---|---|"]
        for m, d in me["median"].items():
            L.append(f"| {m} | {_f(d['peak_delta_mb'], 1)} | {_f(d['after_update_delta_mb'], 1)} | "
                     f"{_f(d['learner_built_delta_mb'], 1)} | {_f(d['analytic_static_mb'], 1)} | "
                     f"{_f(me['ratio_peak_vs_rloo'][m])} | {_f(me['ratio_analytic_static_vs_rloo'][m])} |")
        L.append("")
    sc = data.get("scaling")
    if sc:
        L += [f"### Iteration time scaling ({sc['env']}, random-init model; base {sc['base']})", "",
              "| config | env steps/iter | rloo s/iter | istar_rloo s/iter | ratio | istar rollout s | "
              "istar learner s |", "|---|---|---|---|---|---|---|"]
        for r in sc["rows"]:
            L.append(f"| {r['config']} | {_f(r['istar_rloo_env_steps'], 0)} | {_f(r['rloo_s'])} | "
                     f"{_f(r['istar_rloo_s'])} | {_f(r['ratio'])} | {_f(r['istar_rloo_rollout_s'])} | "
                     f"{_f(r['istar_rloo_learner_s'])} |")
        L.append("")
    return "\n".join(L)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--parts", nargs="+", default=list(PARTS), choices=PARTS)
    p.add_argument("--out-dir", default=os.path.join(common.ROOT, "docs", "benchmark_results"))
    p.add_argument("--smoke", action="store_true")
    p.add_argument("--report", action="store_true")
    p.add_argument("--memory-model", default="tiny:llama:256:4")
    p.add_argument("--memory-worker", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    if args.memory_worker:
        common.quiet()
        print("MEMORY_RESULT " + json.dumps(memory_worker(args.memory_worker, args.memory_model,
                                                          args.smoke)), flush=True)
        return 0
    os.makedirs(args.out_dir, exist_ok=True)
    path = os.path.join(args.out_dir, "cost.json")
    data: Dict[str, Any] = {}
    if os.path.exists(path):
        with open(path) as f:
            data = json.load(f)
    if not args.report:
        common.quiet()
        import torch

        torch.set_num_threads(2)
        common.init_ray(2)
        data.setdefault("meta", {}).update({"machine": common.machine_info(), "git": common.git_rev(),
                                            "smoke": args.smoke})
        for part in args.parts:
            t0 = time.time()
            load0 = common.load_avg()
            data[part] = globals()[f"part_{part}"](args)
            data["meta"][f"{part}_wall_s"] = time.time() - t0
            data["meta"][f"{part}_load_avg_before"] = load0
            data["meta"][f"{part}_finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
            tmp = path + ".tmp"
            with open(tmp, "w") as f:
                json.dump(data, f, indent=1, default=float)
            os.replace(tmp, path)
    md = markdown(data)
    with open(os.path.join(args.out_dir, "cost_tables.md"), "w") as f:
        f.write(md + "\n")
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
