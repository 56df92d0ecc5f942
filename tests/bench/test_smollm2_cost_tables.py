"""``benchmarks.smollm2_cost``'s table from hand-made runs (the real runs need SmolLM2)."""
from benchmarks.smollm2_cost import VARIANTS, tables


def _run(method, iter_s, prm, policy, peak, baseline=1.0, shared=0):
    it = {"iter_s": iter_s, "rollout": 1.0, "old_logp": 1.0, "policy_update": policy}
    if method == "istar":
        it.update(prm_update=prm, prm_scoring=1.0)
    return {"method": method, "iterations": [it, it], "peak_rss_gib": peak,
            "baseline_rss_gib": baseline, "shared_weight_bytes": {"learner": shared, "algorithm": 0}}


def test_ratios_are_istar_over_rloo_and_prm_phase_over_policy_update():
    runs = {"rloo": _run("rloo", 10.0, 0, 4.0, 3.0),
            "istar": _run("istar", 15.0, 3.0, 4.0, 3.5, shared=2**20 * 512)}
    text = tables(runs)
    assert "istar / rloo per iteration: 1.50 (all timed iterations); 1.50 (those" in text
    istar_row = next(line for line in text.splitlines() if line.startswith("| istar |"))
    # (3 + 1) / 4 for the PRM phase; 3.5 - 1.0 above the baseline; 512 MiB held once
    assert "| 1.00 | 1.00 | 3.50 | 2.50 | 512 |" in istar_row


def test_async_ratio_is_per_env_step():
    """Wall per env step, not per iteration: async's iterations sample as many steps."""
    sync, asyn = _run("istar", 10.0, 3.0, 4.0, 3.0), _run("istar", 8.0, 3.0, 4.0, 3.0)
    for run, steps in ((sync, 100.0), (asyn, 50.0)):
        for it in run["iterations"]:
            it["env_steps"] = steps
    text = tables({"istar_remote_sync": sync, "istar_remote_async": asyn})
    assert "async / sync wall per env step (one remote runner): 1.60" in text


def test_an_iteration_without_preference_pairs_is_told_apart():
    """A batch where every trajectory has the same outcome skips the PRM update: the mean
    over all iterations understates what a training iteration costs."""
    rloo = _run("rloo", 10.0, 0, 4.0, 3.0)
    istar = _run("istar", 15.0, 3.0, 4.0, 3.0)
    idle = dict(istar["iterations"][0], iter_s=11.0, prm_update=0.0)
    istar["iterations"] = [istar["iterations"][0], idle]
    text = tables({"rloo": rloo, "istar": istar})
    assert "istar / rloo per iteration: 1.30 (all timed iterations); 1.50 (those" in text
    assert "| istar | 13.0 | 15.0 |" in text


def test_every_variant_is_a_tuned_yaml_method():
    assert {method for method, _ in VARIANTS.values()} == {"istar", "rloo"}
