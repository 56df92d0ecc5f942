"""The credit benchmark's tables and plots (CreditChain; no Ray, no torch), from its JSON.

Every method trains from the same warmed checkpoint per seed with the same env-step
budget (``settings.BUDGET["credit"]``); the learner logs, each iteration, how well
each credit signal ranks right decisive steps above wrong ones against the env's
oracle labels (``credit_auc_*``, ``rllib_istar.learner.pooled_credit``). Intervals are
bootstrapped 95% percentile intervals over seeds (:func:`benchmarks.stats.bootstrap_ci`).
"""
from __future__ import annotations

import math
import os
from typing import Any, Dict, List, Optional

from benchmarks.settings import (
    CREDIT_ENV_ARMS,
    CREDIT_SWEEP,
    FINAL_ITERS,
    METHODS,
    NORM_DEFAULT,
    NORMS,
    SMOOTH,
    SOKOBAN_AFTER,
    TOY_AFTER,
)
from benchmarks.stats import bootstrap_ci, curve, first_reach, grid, interp, mean

ENV = "credit"
AUC_KEYS = (("credit_auc_advantage", "A(t)"), ("credit_auc_step_reward", "r_phi"),
            ("credit_auc_step_adv", "A_S"), ("credit_auc_rloo", "RLOO A_E"),
            ("credit_auc_gigpo", "GiGPO step A"))


def _runs(data, variant: str, method: Optional[str] = None, env: str = ENV) -> List[Dict[str, Any]]:
    return [r for r in data["runs"].values() if r["env"] == env and r["variant"] == variant
            and r["history"] and (method is None or r["method"] == method)]


def arms(data, family: str = "binary") -> Dict[str, List[Dict[str, Any]]]:
    """Label -> runs of one family. ``binary`` (the main preset): every main method, each
    normalisation scope on istar_rloo (the default scope's runs are the main istar_rloo
    runs) and each CREDIT_SWEEP knob arm; ``graded`` / ``long``: that preset's methods."""
    if family in TOY_AFTER:  # the toy, re-run after the learner fixes (its key pick is labelled)
        out = {m: _runs(data, family, m, env="toy") for m in METHODS}
    elif family in SOKOBAN_AFTER:  # Sokoban re-run (solver labels: progress vs dead end)
        out = {m: _runs(data, family, m, env="sokoban") for m in METHODS}
    elif family in CREDIT_ENV_ARMS:
        out = {m: _runs(data, family, m) for m in METHODS}
    elif family in ENV_FAMILIES:
        out = {m: _runs(data, "main", m, env=family) for m in METHODS}
    else:
        out = {m: _runs(data, "main", m) for m in METHODS}
        for variant in NORMS:
            runs = _runs(data, variant, "istar_rloo")
            if variant == f"norm_{NORM_DEFAULT}" and not runs:
                runs = out.get("istar_rloo", [])
            out[variant] = runs
        for variant in CREDIT_SWEEP:
            out[variant] = _runs(data, variant, "istar_rloo")
    return {k: v for k, v in out.items() if v}


FAMILIES = {"binary": "CreditChain binary (4 rooms, 2 decisive, chance 1/9)",
            "graded": "CreditChain graded (4 rooms, 2 decisive, outcome = share of doors right, "
                      "`outcome: return`)",
            "long": "CreditChain long (8 rooms, 3 decisive, binary, chance 1/27)",
            "after_issue15": "KeyCorridor toy re-run after the learner fixes (prm_lr 3e-4, "
                             "step_adv_norm group_step; decisive step = the key pick, chance 1/3)",
            "sokoban_after_issue15": "Sokoban 6x6, 1 box, re-run after the learner fixes (prm_lr "
                                     "3e-4; right = a push that shortens the solver's push "
                                     "distance, wrong = one that makes the level unsolvable)",
            "social": "Social-v0: tiny model, scripted partner, rule judge, reward = "
                      "goal / 10 (`outcome: return`); success = goal >= 7; no oracle labels",
            "webshop": "Mini-WebShop: tiny model, 20 products, listed searches, "
                       "success = purchase score 1 (reward 10); right = a step toward a product "
                       "that can score 1, wrong = a wrong click, option or losing search"}
#: Families that are a whole env's main runs (the family name is the env's).
ENV_FAMILIES = ("social", "webshop")


def _final(run, key: str) -> float:
    vals = [h.get(key) for h in run["history"][-FINAL_ITERS:]]
    return mean([v for v in vals if v is not None])


def _ci(xs) -> str:
    xs = [x for x in xs if math.isfinite(x)]
    if not xs:
        return "-"
    lo, hi = bootstrap_ci(xs)
    return f"{mean(xs):.2f} [{lo:.2f}, {hi:.2f}]"


def _mean_curve(runs, n=60):
    g = grid(runs, n)
    curves = [interp(*curve(r["history"])[::2], g) for r in runs]
    return g, [mean(c) for c in zip(*curves)], curves


def rows(data, family: str = "binary") -> List[Dict[str, Any]]:
    table = arms(data, family)
    rloo = table.get("rloo")
    target = mean([_final(r, "success_rate") for r in rloo]) if rloo else float("nan")
    rloo_steps = None
    if rloo:
        g, m, _ = _mean_curve(rloo)
        rloo_steps = first_reach(g, m, target)
    out = []
    for label, runs in table.items():
        g, m, _ = _mean_curve(runs)
        steps = first_reach(g, m, target) if math.isfinite(target) else None
        row = {"label": label, "seeds": sorted(r["seed"] for r in runs),
               "final": [_final(r, "success_rate") for r in runs],
               "start": [mean([h["success_rate"] for h in r["history"][:FINAL_ITERS]]) for r in runs],
               "invalid": [_final(r, "invalid_action_rate") for r in runs],
               "outcome": [_final(r, "outcome_mean") for r in runs],
               "steps": steps, "rloo_steps": rloo_steps, "target": target,
               "budget": max(r["history"][-1]["env_steps"] for r in runs)}
        for key, _ in AUC_KEYS:
            row[key] = [_final(r, key) for r in runs]
        row["abs_decisive"] = [_final(r, "credit_step_adv_abs_decisive") for r in runs]
        row["abs_other"] = [_final(r, "credit_step_adv_abs_other") for r in runs]
        out.append(row)
    return out


def goal_lines(rs: List[Dict[str, Any]], family: str = "binary") -> List[str]:
    by = {r["label"]: r for r in rs}
    if "istar_rloo" not in by or "rloo" not in by:
        return []
    i, r = by["istar_rloo"], by["rloo"]
    fi, fr = mean(i["final"]), mean(r["final"])
    speed = (i["steps"] is not None and r["rloo_steps"] is not None
             and i["steps"] <= 0.5 * r["rloo_steps"])
    ai, ar = mean(i["credit_auc_advantage"]), mean(r["credit_auc_advantage"])
    return [
        f"| goal ({FAMILIES[family].split(' (')[0]}) | measured | met? |", "|---|---|---|",
        f"| iStar reaches RLOO's final success ({fr:.2f}) in <= half RLOO's env steps | iStar "
        f"{'%.0f' % i['steps'] if i['steps'] is not None else 'never'} vs RLOO "
        f"{'%.0f' % r['rloo_steps'] if r['rloo_steps'] is not None else 'never'} (mean curves) | "
        f"{'yes' if speed else '**no**'} |",
        f"| iStar's final success no lower than RLOO's | {fi:.2f} vs {fr:.2f} | "
        f"{'yes' if fi >= fr else '**no**'} |",
        f"| iStar's decisive-step AUC of A(t) > 0.8 | {ai:.2f} | {'yes' if ai > 0.8 else '**no**'} |",
        f"| ... and > RLOO's | {ai:.2f} vs {ar:.2f} | {'yes' if ai > ar else '**no**'} |", ""]


def _family_markdown(data, family: str) -> List[str]:
    rs = rows(data, family)
    if not rs:
        return []
    r0 = rs[0]
    env = ("toy" if family in TOY_AFTER else "sokoban" if family in SOKOBAN_AFTER
           else family if family in ENV_FAMILIES else "credit")
    label = "re-run after the learner fixes" if family in (*TOY_AFTER, *SOKOBAN_AFTER) else family
    title = env if env == family else f"{env}, {label}"
    lines = [f"#### {title}: final success, env steps to RLOO's final success, credit AUC",
             "", f"{FAMILIES[family]}. Budget {r0['budget']:.0f} env steps; target = RLOO's final "
             f"success = {r0['target']:.2f}. Final = mean of the last {FINAL_ITERS} iterations; "
             "[a, b] = bootstrapped 95% interval over seeds. 'Steps': first env step where the "
             f"seed-mean {SMOOTH}-iteration moving average reaches the target. AUC: right vs "
             "wrong decisive steps against the oracle labels (0.5 = no credit), last "
             f"{FINAL_ITERS} iterations; A(t) is the arm's own final advantage; |A_S| dec/other: "
             "mean |A_S| on decisive / non-decisive steps (signal vs noise).", "",
             "| arm | seeds | start | final success | final invalid | steps to target | "
             + " | ".join(f"AUC {name}" for _, name in AUC_KEYS) + " | \\|A_S\\| dec/other |",
             "|---|---|---|---|---|---|" + "---|" * (len(AUC_KEYS) + 1)]
    for r in rs:
        steps = f"{r['steps']:.0f}" if r["steps"] is not None else "not reached"
        dec, other = mean(r["abs_decisive"]), mean(r["abs_other"])
        ratio = f"{dec:.2f}/{other:.2f}" if math.isfinite(dec) else "-"
        lines.append(f"| {r['label']} | {len(r['seeds'])} | {mean(r['start']):.2f} | {_ci(r['final'])} | "
                     f"{mean(r['invalid']):.3f} | {steps} | "
                     + " | ".join(_ci(r[k]) for k, _ in AUC_KEYS) + f" | {ratio} |")
    lines.append("")
    if family in ENV_FAMILIES:  # the step-credit goals are CreditChain's; here: the outcome too
        lines += ["| arm | final outcome (mean reward of an episode, penalties included) |",
                  "|---|---|"]
        lines += [f"| {r['label']} | {_ci(r['outcome'])} |" for r in rs]
        return lines + [""]
    return lines + goal_lines(rs, family)


def credit_markdown(data) -> str:
    """Markdown tables of every credit family that has runs (``""`` when none)."""
    lines = [line for family in FAMILIES for line in _family_markdown(data, family)]
    return "\n".join(lines) + "\n" if lines else ""


def _panel(label: str) -> int:
    return 1 if label.startswith("norm_") else 2 if label in CREDIT_SWEEP else 0


def _success_axes(ax, table, colors, title):
    for label, runs in table.items():
        g, m, curves = _mean_curve(runs)
        band = [bootstrap_ci([c for c in col if math.isfinite(c)]) for col in zip(*curves)]
        lw = 2.4 if label in ("istar_rloo", "rloo") else 1.3
        ax.plot(g, m, color=colors[label], lw=lw, label=f"{label} (n={len(runs)})")
        ax.fill_between(g, [b[0] for b in band], [b[1] for b in band], color=colors[label], alpha=0.1)
    ax.set_xlabel("env steps")
    ax.set_ylabel(f"training success ({SMOOTH}-iter moving avg)")
    ax.set_title(f"{title}, mean and 95% bootstrap band", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left")


def _auc_axes(ax, table, colors, title):
    for label, runs in table.items():
        n = min(len(r["history"]) for r in runs)
        ys = [mean([r["history"][i].get("credit_auc_advantage") for r in runs
                    if r["history"][i].get("credit_auc_advantage") is not None]) for i in range(n)]
        sm = [mean(ys[max(0, i - SMOOTH + 1): i + 1]) for i in range(n)]
        ax.plot(range(1, n + 1), sm, color=colors[label], label=label)
    ax.axhline(0.5, color="grey", ls=":", lw=1)
    ax.set_xlabel("iteration")
    ax.set_ylabel("AUC of A(t), right vs wrong decisive steps")
    ax.set_title(f"{title} ({SMOOTH}-iter moving avg, seed mean)", fontsize=9)
    ax.set_ylim(0.3, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)


def _success_and_auc_figure(families, colors, path: str) -> str:
    """One column per family (success on top, A(t)'s AUC below), saved to ``path``."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, len(families), figsize=(6.5 * len(families), 8.4), squeeze=False)
    for j, (family, fam) in enumerate(families.items()):
        if fam:
            _success_axes(axes[0][j], fam, colors, family)
            _auc_axes(axes[1][j], fam, colors, family)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_credit(data, out_dir: str) -> List[str]:
    """``learning_credit.png`` (success vs env steps with a 95% bootstrap band: methods,
    normalisation scopes, iStar knobs), ``learning_credit_auc.png`` (A(t) AUC vs iteration
    for the same arms) and ``learning_credit_presets.png`` (graded and long presets)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = arms(data)
    if not table:
        return []
    cmap = plt.get_cmap("tab20")
    colors = {label: cmap(i % 20) for i, label in enumerate(table)}
    titles = ("binary: methods", "binary: step_adv_norm on istar_rloo", "binary: iStar knobs")
    paths = []
    for name, draw in (("learning_credit.png", _success_axes), ("learning_credit_auc.png", _auc_axes)):
        fig, axes = plt.subplots(1, 3, figsize=(18, 4.6))
        for k, (ax, title) in enumerate(zip(axes, titles)):
            part = {lab: runs for lab, runs in table.items() if _panel(lab) == k}
            if k and "istar_rloo" in table:  # the reference arm in every panel
                part = {"istar_rloo": table["istar_rloo"], **part}
            if part:
                draw(ax, part, colors, title)
        fig.tight_layout()
        paths.append(os.path.join(out_dir, name))
        fig.savefig(paths[-1], dpi=100)
        plt.close(fig)
    presets = {f: arms(data, f) for f in (*CREDIT_ENV_ARMS, *TOY_AFTER, *SOKOBAN_AFTER)}
    # the presets, then Mini-WebShop and Social (success with a 95% band, A(t)'s AUC where labelled)
    for name, families in (("learning_credit_presets.png", presets),
                           ("learning_new_envs.png", {f: arms(data, f) for f in ENV_FAMILIES})):
        if any(families.values()):
            paths.append(_success_and_auc_figure(families, colors, os.path.join(out_dir, name)))
    return paths
