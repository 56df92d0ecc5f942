"""What trajectory DPO does to the tiny LM's PRM on one CreditChain batch (seconds per seed).

The tabular simulation (``credit_sim.py``) gives each state its own logits, so a DPO step
can only reorder the actions of the states it saw. An LM shares its weights across
prompts and spreads probability over its whole vocabulary. This probe measures what that
changes: it samples one batch (8 groups x 8 trajectories) from the format-warmed tiny
policy, then trains only the PRM with the learner's own DPO step
(``PRMPhase.dpo_step``, against pi_init, Adam) for ``--steps`` steps on that
fixed batch, and records every ``--every`` steps:

* the DPO loss and pair accuracy on the batch;
* the same-state accuracy of ``log pi_phi/pi_init`` over the batch's decisive prompts
  (every door colour scored at the same prompt, ``core.credit_metrics.same_state_accuracy``);
* the mean ``log pi_phi/pi_init`` of the *sampled* right-door, wrong-door and hall
  responses (summed over a response's tokens);
* the PRM's probability mass on the admissible colours at the first response token of
  the decisive prompts, against pi_init's (mass that leaves them goes to responses the
  env rejects as invalid).

Variants: ``pair_margin`` 0 (two failures with different invalid-action penalties form a
pair) or 0.5 (success differences only), ``prm_agg`` sum or mean, and ``prm_nll_coef`` 1
(DPO + NLL on the winners' responses).

    python -m benchmarks.prm_displacement --seeds 0 1 2 --out benchmarks/results/prm_displacement.json
    python -m benchmarks.prm_displacement --smoke
    python -m benchmarks.prm_displacement --tables benchmarks/results/prm_displacement.json
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any, Dict, List

from benchmarks import common
from benchmarks.settings import RESULTS_DIR, SHARED

VARIANTS: Dict[str, Dict[str, Any]] = {
    "margin0_sum": {"pair_margin": 0.0, "prm_agg": "sum"},
    "margin0.5_sum": {"pair_margin": 0.5, "prm_agg": "sum"},
    "margin0_mean": {"pair_margin": 0.0, "prm_agg": "mean"},
    "margin0.5_mean": {"pair_margin": 0.5, "prm_agg": "mean"},
    "margin0_sum_nll1": {"pair_margin": 0.0, "prm_agg": "sum", "prm_nll_coef": 1.0},
    "margin0.5_sum_nll1": {"pair_margin": 0.5, "prm_agg": "sum", "prm_nll_coef": 1.0},
}


def probe(seed: int, knobs: Dict[str, Any], steps: int, every: int, prm_lr: float,
          smoke: bool = False) -> List[Dict[str, float]]:
    """One seed and variant: the records above, one per ``every`` DPO steps (step 0 first)."""
    import torch

    from rllib_istar import columns as C
    from rllib_istar.connectors.episodes_to_rows import episodes_to_rows
    from rllib_istar.core.credit_metrics import same_state_accuracy
    from rllib_istar.core.segments import masked_sum
    from rllib_istar.learner.prm_phase import candidate_rows

    settings = {**SHARED["credit"], "advantage_estimator": "istar_rloo", "prm_lr": prm_lr,
                "prm_reference": "initial", "kl_coef": 0.2, **knobs}
    if smoke:
        settings.update(num_groups=2, format_warmup_steps=10)
    algo = common.build_config("credit", settings, seed).build_algo()
    try:
        learner = algo.learner_group._learner
        rows = episodes_to_rows(algo.env_runner_group.local_env_runner.sample())
        cands = candidate_rows(rows)
        init = learner.microbatcher.chunked_logp(learner._initial.token_logprobs, rows)
        cand_init = learner.microbatcher.chunked_logp(learner._initial.token_logprobs, cands)
        prm = learner.module["prm"]
        labels, mask = rows[C.STEP_ORACLE], rows[C.RESPONSE_MASK]
        first = cands[C.RESPONSE_MASK].cumsum(-1) == 1  # each candidate's first response token
        first &= cands[C.RESPONSE_MASK].bool()
        per_state = rows[C.CAND_STATE]
        num_states = int(per_state.max()) + 1

        def admissible_mass(cand_logp):
            p = torch.zeros(num_states, dtype=torch.float64)
            p.index_add_(0, per_state, cand_logp[first].double().exp())
            return float(p.mean())

        out, metrics = [], {}
        for step in range(steps + 1):
            if step % every == 0:
                cand = learner.microbatcher.chunked_logp(prm.token_logprobs, cands)
                progress = masked_sum(cand - cand_init, cands[C.RESPONSE_MASK], -1)
                sampled = masked_sum(learner.microbatcher.chunked_logp(prm.token_logprobs, rows) - init, mask, -1)
                acc, pairs = same_state_accuracy(progress, rows[C.CAND_LABEL], per_state)
                out.append({"step": step, "dpo_loss": metrics.get("dpo_loss", float("nan")),
                            "pair_acc": metrics.get("pair_acc", float("nan")),
                            "same_state_prm_progress": acc, "pairs": pairs,
                            "sampled_right": float(sampled[labels == 1].mean()),
                            "sampled_wrong": float(sampled[labels == -1].mean()),
                            "sampled_hall": float(sampled[labels == 0].mean()),
                            "admissible_mass_prm": admissible_mass(cand),
                            "admissible_mass_init": admissible_mass(cand_init),
                            "wins": float(rows[C.TRAJ_WON].sum()),
                            "trajectories": float(len(rows[C.TRAJ_WON]))})
            if step < steps:
                metrics = learner.prm_phase.dpo_step(rows, init)
        return out
    finally:
        algo.stop()


def tables(doc: Dict[str, Any]) -> str:
    """Markdown: per variant, the seed means at the last recorded step (and the range of
    the admissible mass over seeds)."""
    lines = ["| variant | seeds | DPO steps | DPO loss | same-state log pi_phi/pi_init | "
             "sampled right / wrong / hall log-ratio | PRM mass on admissible actions "
             "(min-max over seeds) | pi_init's |", "|---|---|---|---|---|---|---|---|"]
    by_variant: Dict[str, List[Dict[str, float]]] = {}
    for run in doc["runs"].values():
        by_variant.setdefault(run["variant"], []).append(run["records"][-1])
    for variant, last in by_variant.items():
        def m(key, recs=last):
            return sum(r[key] for r in recs) / len(recs)
        mass = [r["admissible_mass_prm"] for r in last]
        lines.append(f"| {variant} | {len(last)} | {last[0]['step']} | {m('dpo_loss'):.3f} | "
                     f"{m('same_state_prm_progress'):.2f} | {m('sampled_right'):.2f} / "
                     f"{m('sampled_wrong'):.2f} / {m('sampled_hall'):.2f} | {m('admissible_mass_prm'):.3f} "
                     f"({min(mass):.3f}-{max(mass):.3f}) | {m('admissible_mass_init'):.3f} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--every", type=int, default=10)
    p.add_argument("--prm-lr", type=float, default=1e-3)
    p.add_argument("--out", default=os.path.join(RESULTS_DIR, "prm_displacement.json"))
    p.add_argument("--smoke", action="store_true", help="1 seed, 1 variant, 2 steps, tiny batch")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--tables", metavar="JSON", help="print the table of a saved JSON and exit")
    args = p.parse_args(argv)
    if args.tables:
        with open(args.tables) as f:
            print(tables(json.load(f)), end="")
        return 0
    if args.smoke:
        args.seeds, args.variants, args.steps, args.every = [0], args.variants[:1], 2, 1
    common.quiet()
    import torch

    torch.set_num_threads(args.threads)
    common.init_ray(args.threads)
    doc = {"meta": {"machine": common.machine_info(), "git": common.git_rev(),
                    "started": time.strftime("%Y-%m-%d %H:%M:%S"), "steps": args.steps,
                    "prm_lr": args.prm_lr, "smoke": args.smoke}, "runs": {}}
    for variant in args.variants:
        for seed in args.seeds:
            recs = probe(seed, VARIANTS[variant], args.steps, args.every, args.prm_lr, args.smoke)
            doc["runs"][f"{variant}/seed{seed}"] = {"variant": variant, "seed": seed,
                                                     "knobs": VARIANTS[variant], "records": recs}
            last = recs[-1]
            print(f"{variant} seed {seed}: step {last['step']} dpo {last['dpo_loss']:.3f} "
                  f"same-state {last['same_state_prm_progress']:.2f} ({last['pairs']} pairs) "
                  f"sampled right/wrong/hall {last['sampled_right']:.2f}/"
                  f"{last['sampled_wrong']:.2f}/{last['sampled_hall']:.2f} admissible mass "
                  f"{last['admissible_mass_prm']:.3f} (init {last['admissible_mass_init']:.3f})",
                  flush=True)
            os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
            with open(args.out, "w") as f:
                json.dump(doc, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
