"""Progress lines, final lines and exit codes (no Ray: fake trials)."""
import io
from types import SimpleNamespace

from rllib_istar.algorithm.evaluation import mean_interval, wilson_interval
from rllib_istar.cli.progress import ProgressPrinter, final_lines, format_line
from rllib_istar.cli.train import _exit_code

RESULT = {"training_iteration": 3, "time_this_iter_s": 0.84,
          "env_runners": {"num_env_steps_sampled_lifetime": 612, "success_rate": 0.40625,
                          "episode_return_mean": -0.125},
          "learners": {"prm": {"dpo_loss": 0.6931, "pair_acc": 0.5}}}


def _trial(status="TERMINATED", done=True, tid="abc_00000"):
    return SimpleNamespace(trial_id=tid, status=status, experiment_dir_name="exp",
                           last_result={"training_iteration": 3, "done": done},
                           checkpoint=None, evaluated_params={},
                           storage=SimpleNamespace(trial_dir_name=f"IStar_{tid}"))


def test_progress_line_has_every_column_and_dashes_without_a_prm():
    assert format_line(RESULT, "[exp] ") == ("[exp] iter    3 | steps     612 | success 0.41 | "
                                             "return -0.12 | dpo 0.693 | pair_acc 0.50 | 0.8s")
    no_prm = dict(RESULT, learners={"default_policy": {}})
    assert "dpo - | pair_acc -" in format_line(no_prm)


def test_an_iteration_without_pairs_prints_nopairs_not_zeros():
    no_pairs = dict(RESULT, learners={"prm": {"dpo_loss": 0.0, "pair_acc": 0.0, "num_pairs": 0.0}})
    assert "dpo nopairs | pair_acc nopairs" in format_line(no_pairs)
    some = dict(RESULT, learners={"prm": {"dpo_loss": 0.5, "pair_acc": 1.0, "num_pairs": 3.0}})
    assert "dpo 0.500 | pair_acc 1.00" in format_line(some)


def test_printer_prefixes_trials_by_index_when_there_are_several():
    out = io.StringIO()
    printer = ProgressPrinter(out)
    a, b = _trial(tid="a"), _trial(tid="b")
    printer.on_trial_result(0, [a, b], b, dict(RESULT, training_iteration=1))
    assert out.getvalue().startswith("[exp #1] iter    1 |")
    (line,) = final_lines([b], printer)
    assert line.startswith("final success_rate=0.406 (mean of the last 1: 0.406) return=-0.125 (trial b, ")


def test_final_line_averages_the_last_ten_iterations():
    out = io.StringIO()
    printer = ProgressPrinter(out)
    trial = _trial(tid="t")
    rates = [0.0] * 5 + [0.5] * 9 + [1.0]   # 15 iterations: the last 10 are 9 x 0.5 and 1.0
    for rate in rates:
        result = dict(RESULT, env_runners=dict(RESULT["env_runners"], success_rate=rate))
        printer.on_trial_result(0, [trial], trial, result)
    (line,) = final_lines([trial], printer)
    assert line.startswith("final success_rate=1.000 (mean of the last 10: 0.550) ")


def test_exit_codes_done_failed_and_interrupted():
    out = io.StringIO()
    dirs = {"exp": "/nonexistent/exp"}
    assert _exit_code([_trial()], out, "", dirs) == 0
    assert _exit_code([_trial(), _trial("ERROR", False)], out, "rllib train file x.yaml --resume",
                      dirs) == 1
    text = out.getvalue()
    assert "trial abc_00000 failed: no error.txt ... see the trial folder (traceback: " \
           "/nonexistent/exp/IStar_abc_00000/error.txt)" in text
    assert "retry from the last checkpoint with: rllib train file x.yaml --resume" in text
    out = io.StringIO()
    # Tune reports TERMINATED after Ctrl+C too; without "done" the run is unfinished
    assert _exit_code([_trial(done=False)], out, "rllib train file x.yaml --resume", dirs) == 130
    assert out.getvalue().strip().endswith("continue with: rllib train file x.yaml --resume")


def test_confidence_intervals():
    low, high = wilson_interval(0, 20)
    assert low == 0.0 and 0.1 < high < 0.2
    assert wilson_interval(20, 20)[1] == 1.0
    assert mean_interval([1.0, 1.0, 1.0]) == (1.0, 1.0)
    low, high = mean_interval([0.0, 1.0] * 50)
    assert abs((low + high) / 2 - 0.5) < 1e-9 and 0.09 < high - low < 0.21
