"""The learning benchmark's plots (matplotlib; no Ray, no torch), from its JSON data.

``learning_<env>.png``: seed-mean ± std success curves per method;
``learning_toy_diagnostics.png``: does the PRM separate the toy's decisive step?
"""
from __future__ import annotations

import math
import os
from typing import List

from benchmarks.settings import METHODS, SMOOTH
from benchmarks.stats import curve, grid, group_runs, interp, mean, std, table_rows

COLORS = {"istar_rloo": "tab:red", "rloo": "tab:blue", "grpo": "tab:green", "gigpo": "tab:purple",
          "prime": "tab:orange", "merged": "tab:brown", "istar_grpo": "tab:pink",
          "frozen_prm": "tab:gray"}
TITLES = {"toy": "KeyCorridor toy (corridor 2), tiny LM", "sokoban": "Sokoban 6x6, 1 box, tiny LM"}
DIAGNOSTICS = (("prm/pair_acc", "PRM DPO pair accuracy"),
               ("probe/r_phi_key_auc", "r_phi AUC right vs wrong key"),
               ("probe/adv_key_gap", "advantage gap right - wrong key"))


def plot_learning(data, out_dir: str) -> List[str]:
    """Write the PNGs into ``out_dir``; returns their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    for env in ("toy", "sokoban"):
        runs = group_runs(data, env)
        if not runs:
            continue
        fig, ax = plt.subplots(figsize=(7, 4.2))
        for method in METHODS:
            rs = runs.get(method)
            if not rs:
                continue
            g = grid(rs, 60)
            curves = [interp(*curve(r["history"])[::2], g) for r in rs]
            m = [mean(c) for c in zip(*curves)]
            sd = [std(c) for c in zip(*curves)]
            lw = 2.4 if method in ("istar_rloo", "rloo") else 1.4
            ax.plot(g, m, color=COLORS[method], lw=lw, label=f"{method} (n={len(rs)})")
            ax.fill_between(g, [a - s for a, s in zip(m, sd)],
                            [a + s for a, s in zip(m, sd)], color=COLORS[method], alpha=0.12)
        rl = table_rows(data, env, methods=["rloo"])
        if rl and math.isfinite(rl[0]["target"]):
            ax.axhline(rl[0]["target"], color="tab:blue", ls=":", lw=1,
                       label="RLOO final (target)")
        ax.set_xlabel("env steps")
        ax.set_ylabel(f"training success rate ({SMOOTH}-iter moving avg)")
        ax.set_title(f"{TITLES[env]}: mean ± std over seeds")
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="upper left")
        fig.tight_layout()
        path = os.path.join(out_dir, f"learning_{env}.png")
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    runs = group_runs(data, "toy")
    if runs:
        written.append(_plot_toy_diagnostics(plt, runs, out_dir))
    return written


def _plot_toy_diagnostics(plt, runs, out_dir: str) -> str:
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
    for method in ("istar_rloo", "merged", "prime", "rloo", "gigpo", "grpo"):
        for ax, (key, ylabel) in zip(axes, DIAGNOSTICS):
            rs = runs.get(method, [])
            if not rs or not any(key in h for r in rs for h in r["history"]):
                continue
            g = grid(rs, 40)
            curves = []
            for r in rs:
                xs = [h["env_steps"] for h in r["history"] if key in h]
                ys = [h[key] for h in r["history"] if key in h]
                if len(xs) > 1:
                    ys = [mean(ys[max(0, i - SMOOTH + 1): i + 1]) for i in range(len(ys))]
                    curves.append(interp(xs, ys, g))
            if curves:
                ax.plot(g, [mean(c) for c in zip(*curves)], color=COLORS[method], label=method)
            ax.set_title(ylabel, fontsize=9)
            ax.set_xlabel("env steps")
            ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    path = os.path.join(out_dir, "learning_toy_diagnostics.png")
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
