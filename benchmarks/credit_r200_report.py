"""Tables and plots of the step-credit benchmark where RLOO learns (the ``credit_r200`` part).

CreditChain (binary, and graded for the arms named so) at about 200 iterations
(``settings.CREDIT_R200_BUDGET`` env steps), one row per arm of ``settings.CREDIT_R200``: seeds, final success (mean of the last
``FINAL_ITERS`` iterations) with a bootstrapped 95% interval over seeds, env steps to a
``SMOOTH``-iteration moving average of 0.3 and 0.5 (seed mean, and how many seeds got
there), the largest and the mean invalid rate, the policy's drift from its initial
weights at the decisive prompts (``credit_state_drift_nats``), and, averaged from
iteration ``CREDIT_FROM_ITER`` on, the same-state credit of each signal
(``learner/same_state_credit.py``) beside the pooled AUC of r_phi. No Ray, no torch.

    python -m benchmarks.credit_r200_report        # benchmarks/results -> markdown, PNG
"""
from __future__ import annotations

import argparse
import math
import os
import sys
from typing import Any, Dict, List, Optional

from benchmarks.settings import CREDIT_R200, FINAL_ITERS, RESULTS_DIR, SMOOTH
from benchmarks.stats import bootstrap_ci, curve, first_reach, load_learning_results, mean

#: Same-state credit is averaged from this iteration on (the goal: >= 0.9 from 30).
CREDIT_FROM_ITER = 30
TARGETS = (0.3, 0.5)
STATE_KEYS = (("credit_state_step_reward", "r_phi"), ("credit_state_prm_progress", "PRM progress"),
              ("credit_state_drift_term", "drift term"), ("credit_state_policy_drift", "policy's own"),
              ("credit_sampled_advantage", "A(t), sampled"))


def r200_runs(data: Dict[str, Any]) -> Dict[str, List[Dict[str, Any]]]:
    """Arm -> its finished runs, in ``CREDIT_R200`` order (arms without runs left out)."""
    out: Dict[str, List[Dict[str, Any]]] = {}
    for variant in CREDIT_R200:
        runs = [r for r in data["runs"].values()
                if r["env"] == "credit" and r["variant"] == variant and r["history"]]
        if runs:
            out[variant] = sorted(runs, key=lambda r: r["seed"])
    return out


def _col(run: Dict[str, Any], key: str, start: int = 0) -> List[float]:
    vals = [rec.get(key) for rec in run["history"][start:]]
    return [v for v in vals if v is not None and not (isinstance(v, float) and math.isnan(v))]


def _steps_to(run: Dict[str, Any], target: float) -> Optional[float]:
    xs, _, sm = curve(run["history"])
    return first_reach(xs, sm, target)


def arm_row(variant: str, runs: List[Dict[str, Any]]) -> Dict[str, Any]:
    """One table row (see the module docstring); values are floats, NaN where absent."""
    finals = [mean([rec["success_rate"] for rec in r["history"][-FINAL_ITERS:]]) for r in runs]
    row: Dict[str, Any] = {"arm": variant, "method": CREDIT_R200[variant][0],
                           "seeds": [r["seed"] for r in runs], "final": mean(finals),
                           "final_ci": bootstrap_ci(finals),
                           "iters": mean([len(r["history"]) for r in runs]),
                           "invalid_max": max(max(_col(r, "invalid_action_rate") or [0.0]) for r in runs),
                           "invalid_mean": mean([mean(_col(r, "invalid_action_rate")) for r in runs])}
    for target in TARGETS:
        reached = [s for s in (_steps_to(r, target) for r in runs) if s is not None]
        row[f"steps_{target}"] = mean(reached) if reached else math.nan
        row[f"reached_{target}"] = len(reached)
    start = CREDIT_FROM_ITER - 1
    for key, _ in STATE_KEYS + (("credit_state_drift_nats", ""), ("credit_auc_step_reward", "")):
        per_seed = [mean(v) for v in (_col(r, key, start) for r in runs) if v]
        row[key] = mean(per_seed) if per_seed else math.nan
    return row


def _f(x: Any, nd: int = 2) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "-"
    return f"{x:.{nd}f}" if isinstance(x, float) else str(x)


def r200_markdown(data: Dict[str, Any]) -> str:
    """The benchmark's markdown table ('' without runs)."""
    arms = r200_runs(data)
    if not arms:
        return ""
    rows = [arm_row(v, runs) for v, runs in arms.items()]
    head = ("| arm | seeds | iters | final success [95% CI] | env steps to 0.3 (seeds) | "
            "env steps to 0.5 (seeds) | invalid max / mean | drift nats | "
            + " | ".join(f"same-state {label}" for _, label in STATE_KEYS)
            + " | pooled AUC r_phi |")
    lines = ["### CreditChain where RLOO learns (about 200 iterations; binary, graded where the "
             "arm says so)", "",
             f"Final = mean success of the last {FINAL_ITERS} iterations; steps = first env step "
             f"where a seed's {SMOOTH}-iteration moving average reaches the target, averaged over "
             "the seeds that reached it (their count in brackets); same-state and pooled "
             f"credit averaged from iteration {CREDIT_FROM_ITER} on; drift = mean |log pi_old - "
             "log pi_init| per token at the decisive prompts.", "", head,
             "|" + "---|" * (9 + len(STATE_KEYS))]
    for r in rows:
        lo, hi = r["final_ci"]
        lines.append(
            f"| {r['arm']} | {len(r['seeds'])} | {_f(r['iters'], 0)} | {_f(r['final'])} "
            f"[{_f(lo)}, {_f(hi)}] | {_f(r['steps_0.3'], 0)} ({r['reached_0.3']}) | "
            f"{_f(r['steps_0.5'], 0)} ({r['reached_0.5']}) | {_f(r['invalid_max'], 3)} / "
            f"{_f(r['invalid_mean'], 3)} | {_f(r['credit_state_drift_nats'])} | "
            + " | ".join(_f(r[k]) for k, _ in STATE_KEYS)
            + f" | {_f(r['credit_auc_step_reward'])} |")
    return "\n".join(lines) + "\n\n"


def plot_r200(data: Dict[str, Any], out_dir: str) -> List[str]:
    """``learning_credit_r200.png``: success and same-state r_phi per arm (seed means)."""
    arms = r200_runs(data)
    if not arms:
        return []
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_s, ax_c) = plt.subplots(1, 2, figsize=(12, 4.2))
    for variant, runs in arms.items():
        n = min(len(r["history"]) for r in runs)
        xs = [mean([r["history"][i]["env_steps"] for r in runs]) for i in range(n)]
        sm = [mean([curve(r["history"])[2][i] for r in runs]) for i in range(n)]
        ax_s.plot(xs, sm, label=f"{variant} ({len(runs)} seeds)")
        for key, style in (("credit_state_step_reward", "-"), ("credit_state_policy_drift", ":")):
            vals = [[v for v in (r["history"][i].get(key) for r in runs) if v is not None]
                    for i in range(n)]
            if any(vals):
                ax_c.plot(xs, [mean(v) if v else math.nan for v in vals], style,
                          label=f"{variant}: {'r_phi' if style == '-' else 'policy own'}")
    ax_s.set(xlabel="env steps", ylabel=f"success ({SMOOTH}-iter moving avg, seed mean)",
             title="CreditChain (binary; graded arms say so)")
    ax_c.axhline(0.5, color="grey", lw=0.8, ls="--")
    ax_c.set(xlabel="env steps", ylabel="same-state accuracy (seed mean)",
             title="step credit at the same prompt", ylim=(0, 1))
    ax_s.legend(fontsize=7)
    ax_c.legend(fontsize=7)
    fig.tight_layout()
    path = os.path.join(out_dir, "learning_credit_r200.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return [path]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out-dir", default=RESULTS_DIR, help="where learning*.json are")
    p.add_argument("--plot-dir", default=None, help="PNG folder (default: out-dir/..)")
    args = p.parse_args(argv)
    data = load_learning_results(args.out_dir)
    md = r200_markdown(data)
    print(md or "no credit_r200 runs in " + args.out_dir)
    for path in plot_r200(data, args.plot_dir or os.path.dirname(os.path.abspath(args.out_dir))):
        print("wrote", path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
