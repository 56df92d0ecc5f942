"""The credit_r200 table's numbers, on hand-made runs where a plausible wrong reading differs."""
import math

import pytest

from benchmarks.credit_r200_report import CREDIT_FROM_ITER, arm_row, r200_markdown


def _run(seed, successes, state=None, invalid=0.0, steps_per_iter=256):
    hist = []
    for i, s in enumerate(successes):
        rec = {"iter": i + 1, "env_steps": float((i + 1) * steps_per_iter), "success_rate": s,
               "invalid_action_rate": invalid if i != 3 else 0.5}
        if state is not None:
            rec["credit_state_step_reward"] = state(i)
        hist.append(rec)
    return {"env": "credit", "variant": "r200_istar_initial", "method": "istar_rloo",
            "seed": seed, "history": hist}


def test_steps_to_target_use_the_moving_average_and_count_seeds_that_reach():
    # seed 0 jumps to 1.0 at iteration 10: its 5-iteration average first reaches 0.5 at
    # iteration 12 (3 of 5 at 1.0), not at iteration 10 where the raw success does
    fast = _run(0, [0.0] * 9 + [1.0] * 31)
    never = _run(1, [0.0] * 40)
    row = arm_row("r200_istar_initial", [fast, never])
    assert row["steps_0.5"] == 12 * 256 and row["reached_0.5"] == 1
    assert row["final"] == pytest.approx(0.5)          # (1.0 + 0.0) / 2 over seeds
    assert row["invalid_max"] == 0.5 and row["invalid_mean"] == pytest.approx(0.5 / 40)


def test_same_state_credit_is_averaged_from_iteration_30_only():
    # 0.0 before iteration 30, 1.0 from it on: an all-iterations mean would read 0.28
    run = _run(0, [0.0] * 40, state=lambda i: 1.0 if i + 1 >= CREDIT_FROM_ITER else 0.0)
    row = arm_row("r200_istar_initial", [run])
    assert row["credit_state_step_reward"] == 1.0
    assert math.isnan(row["credit_state_prm_progress"])


def test_markdown_has_one_row_per_arm_with_runs():
    data = {"runs": {"a": _run(0, [0.1] * 40), "b": {**_run(1, [0.2] * 40), "variant": "r200_rloo"}}}
    md = r200_markdown(data)
    rows = [line for line in md.splitlines() if line.startswith("| r200_")]
    assert [r.split(" | ")[0] for r in rows] == ["| r200_rloo", "| r200_istar_initial"]
    assert r200_markdown({"runs": {}}) == ""
