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

    python -m benchmarks.cost                     # all parts (~10 min on 2 CPUs)
    python -m benchmarks.cost --parts iteration generation
    python -m benchmarks.report --only cost       # tables from the JSON
    python -m benchmarks.cost --smoke --out-dir /tmp/x   # < 2 min, for the test

Results: ``<out-dir>/cost.json`` (written after every part) and ``cost_tables.md``
(``report.py``). The shared settings are the learning benchmark's (``settings.py``);
raw phase durations come from ``probes.TimingIStar`` / ``probes.TimingLearner``; the
references are in ``bare.py``, the memory part in ``memory.py``.
"""
from __future__ import annotations

import argparse
import copy
import os
import sys
import time
from typing import Any, Dict, List

from benchmarks import common, report, results_io
from benchmarks.bare import bare_generate, bare_train_step
from benchmarks.memory import part_memory
from benchmarks.settings import RESULTS_DIR, SHARED
from benchmarks.stats import median

PARTS = ("iteration", "generation", "learner", "memory", "scaling")


def _settings(env: str, smoke: bool, **over) -> Dict[str, Any]:
    s = dict(SHARED[env])
    if smoke:
        s.update(group_size=4, num_groups=2, format_warmup_steps=10, num_epochs=1)
    s.update(over)
    return s


# ------------------------------------------------------------ 1. iteration
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
        algos = {m: common.build_config(env, _settings(env, args.smoke, advantage_estimator=m), 0,
                                        timing=True).build_algo() for m in ("rloo", "istar_rloo")}
        rec: Dict[str, List[Dict[str, float]]] = {m: [] for m in algos}
        try:
            for m, a in algos.items():  # one warm-up iteration each (not recorded)
                a.train()
                a.pop_timers()
            n = n_iter if isinstance(n_iter, int) else n_iter[env]
            for i in range(n):
                order = list(algos) if i % 2 == 0 else list(algos)[::-1]
                for m in order:
                    t0 = time.perf_counter()
                    res = algos[m].train()
                    wall = time.perf_counter() - t0
                    b = _breakdown(algos[m].pop_timers(), res)
                    b["wall"] = wall
                    rec[m].append(b)
        finally:
            for a in algos.values():
                a.stop()
        med = {m: {k: median([r[k] for r in rs]) for k in rs[0]} for m, rs in rec.items()}
        ratio = med["istar_rloo"]["wall"] / med["rloo"]["wall"]
        per_step = {m: median([r["wall"] / max(r["env_steps"], 1) for r in rs]) for m, rs in rec.items()}
        out[env] = {"settings": _settings(env, args.smoke), "iterations": n, "median": med,
                    "raw": rec, "ratio_wall": ratio,
                    "ratio_wall_per_env_step": per_step["istar_rloo"] / per_step["rloo"],
                    "goal": "<= 1.5", "goal_met": ratio <= 1.5, "load_avg": common.load_avg()}
        print(f"[iteration] {env}: rloo {med['rloo']['wall']:.3f}s istar {med['istar_rloo']['wall']:.3f}s "
              f"ratio {ratio:.2f}", flush=True)
    return out


# ------------------------------------------------------------ 2. generation
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
                    n, dt = bare_generate(model, prompts, kw["max_new_tokens"], kw["temperature"],
                                          kw["top_p"], gen.pad_token_id, gen.eos_token_ids, kw["seed"])
                    bn += n
                    bt += dt
                plugin_tps.append(pn / pt)
                bare_tps.append(bn / bt)
            run_gen = sum(s["tokens"] for s in runner_stats) / sum(s["gen_s"] for s in runner_stats)
            run_e2e = sum(s["tokens"] for s in runner_stats) / sum(s["sample_s"] for s in runner_stats)
            bare = median(bare_tps)
            out[name] = {
                "env": env, "overrides": over, "generate_calls": len(calls),
                "prompts_per_call": median([len(p) for p, _ in calls]),
                "prompt_len_median": median([len(x) for p, _ in calls for x in p]),
                "max_new_tokens": calls[0][1]["max_new_tokens"] if calls else None,
                "bare_tokens_per_s": bare, "plugin_generator_tokens_per_s": median(plugin_tps),
                "runner_generation_tokens_per_s": run_gen, "runner_end_to_end_tokens_per_s": run_e2e,
                "ratio_generator_vs_bare": median(plugin_tps) / bare,
                "ratio_runner_generation_vs_bare": run_gen / bare,
                "ratio_runner_end_to_end_vs_bare": run_e2e / bare,
                "goal": ">= 0.8", "load_avg": common.load_avg()}
            print(f"[generation] {name}: bare {bare:.0f} tok/s, generator {median(plugin_tps):.0f}, "
                  f"runner gen-phase {run_gen:.0f}, runner end-to-end {run_e2e:.0f}", flush=True)
        finally:
            algo.stop()
    return out


# --------------------------------------------------------------- 3. learner
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
        algo = common.build_config(env, s, 0, timing=True).build_algo()
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
            bare_train_step(model, opt, rows, old, adv, module.temperature, 0.2, 1.0)  # warm
            learner_update = lambda: algo.learner_group.update(  # noqa: E731
                episodes=episodes, num_epochs=1, minibatch_size=None,
                timesteps={"num_env_steps_sampled_lifetime": 0})
            learner_update()
            algo.pop_timers()
            for _ in range(reps):
                t0 = time.perf_counter()
                learner_update()
                plugin_full.append(time.perf_counter() - t0)
                plugin_policy.append(algo.pop_timers().get("timers/policy_update", float("nan")))
                bare.append(bare_train_step(model, opt, rows, old, adv, module.temperature, 0.2, 1.0))
        finally:
            algo.stop()
        mp, mf, mb = median(plugin_policy), median(plugin_full), median(bare)
        out[env] = {"rows": len(old), "tokens": tokens, "padded_width": int(rows[C.INPUT_IDS].shape[1]),
                    "bare_tokens_per_s": tokens / mb, "plugin_policy_update_tokens_per_s": tokens / mp,
                    "plugin_full_update_tokens_per_s": tokens / mf,
                    "ratio_policy_update_vs_bare": mb / mp, "ratio_full_update_vs_bare": mb / mf,
                    "bare_s": mb, "plugin_policy_update_s": mp, "plugin_full_update_s": mf,
                    "goal": ">= 0.9", "load_avg": common.load_avg()}
        print(f"[learner] {env}: bare {tokens / mb:.0f} tok/s, policy update {tokens / mp:.0f}, "
              f"full update {tokens / mf:.0f}", flush=True)
    return out


# ---------------------------------------------------------------- 4. memory: memory.py


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
    for name, over in grid:
        row = {"config": name}
        for m in ("rloo", "istar_rloo"):
            algo = common.build_config(env, {**base, **over, "advantage_estimator": m}, 0,
                                       timing=True).build_algo()
            try:
                algo.train()
                algo.pop_timers()
                walls, rec = [], []
                for _ in range(n_iter):
                    t0 = time.perf_counter()
                    res = algo.train()
                    walls.append(time.perf_counter() - t0)
                    rec.append(_breakdown(algo.pop_timers(), res))
            finally:
                algo.stop()
            row[f"{m}_s"] = median(walls)
            row[f"{m}_env_steps"] = median([r["env_steps"] for r in rec])
            row[f"{m}_rollout_s"] = median([r["rollout"] for r in rec])
            row[f"{m}_learner_s"] = median([r["learner_update"] for r in rec])
        row["ratio"] = row["istar_rloo_s"] / row["rloo_s"]
        rows.append(row)
        print(f"[scaling] {name}: rloo {row['rloo_s']:.2f}s istar {row['istar_rloo_s']:.2f}s", flush=True)
    return {"env": env, "base": base, "rows": rows, "iterations": n_iter, "load_avg": common.load_avg()}


PART_FUNCS = {"iteration": part_iteration, "generation": part_generation,
              "learner": part_learner, "memory": part_memory, "scaling": part_scaling}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--parts", nargs="+", default=list(PARTS), choices=PARTS)
    p.add_argument("--out-dir", default=RESULTS_DIR)
    p.add_argument("--smoke", action="store_true")
    p.add_argument("--memory-model", default="tiny:llama:256:4")
    args = p.parse_args(argv)

    os.makedirs(args.out_dir, exist_ok=True)
    path = os.path.join(args.out_dir, "cost.json")
    data: Dict[str, Any] = results_io.load_json(path) if results_io.existing(path) else {}
    common.quiet()
    import torch

    torch.set_num_threads(2)
    common.init_ray(2)
    data.setdefault("meta", {}).update({"machine": common.machine_info(), "git": common.git_rev(),
                                        "smoke": args.smoke})
    for part in args.parts:
        t0 = time.time()
        load0 = common.load_avg()
        data[part] = PART_FUNCS[part](args)
        data["meta"][f"{part}_wall_s"] = time.time() - t0
        data["meta"][f"{part}_load_avg_before"] = load0
        data["meta"][f"{part}_finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
        results_io.dump_json(data, path, indent=1, default=float)
    report.write_cost(args.out_dir, data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
