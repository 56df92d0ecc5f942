"""benchmarks/smollm2_demo.py's table and plot on a hand-made result (the real run needs
the SmolLM2 folder and hours; its numbers are in docs/benchmarks/real_model.md)."""
from benchmarks.smollm2_demo import PHASES, summary_table


def _history(success):
    return [{"env_steps": 64.0 * (i + 1), "success_rate": s, "invalid_action_rate": 0.0,
             "iter_s": 50.0, "peak_rss_gib": 3.0 + i, **{f"s/{p}": 1.0 for p in PHASES}}
            for i, s in enumerate(success)]


def test_summary_table_reports_first_and_last_three_and_the_peak(tmp_path):
    data = {"runs": {"toy/istar/seed0": {"method": "istar", "seed": 0,
                                         "history": _history([0.0, 0.3, 0.6, 0.7, 0.8, 0.9])}}}
    table = summary_table(data)
    row = table.splitlines()[2]
    assert "| toy/istar/seed0 | 6 | 384 | 0.30 -> 0.80 | 0.00 | 50 |" in row
    assert row.rstrip().endswith("| 8.00 |")
    from benchmarks.smollm2_demo import plot

    plot(data, str(tmp_path / "demo.png"))
    assert (tmp_path / "demo.png").stat().st_size > 1000
