"""Issue 29's command-line items, as a newcomer meets them (fast: no training run).

``rllib evaluate``'s summary (no rank statistic from too few steps or pairs, intervals
inside the possible range and printed as ``[low, high]``, ``95%`` in ``--help``, no
empty folder in ``~/ray_results``), the progress line's ``nopairs``, SIGTERM, ``--version``,
the ``--stop`` error's example and the final line of a resumed run.
"""
from __future__ import annotations

import io
import json
import re
import signal
import subprocess
import sys
from types import SimpleNamespace

import pytest
from cli_helpers import ROOT, one_line_error, run_cli

from rllib_istar.algorithm import evaluation as ev
from rllib_istar.cli import termination
from rllib_istar.cli.evaluate import summary_lines
from rllib_istar.cli.progress import ProgressPrinter, final_lines, format_line
from rllib_istar.cli.train import _exit_code


def _summary(returns, wins=None, extra=None):
    """An EvalSummary as ``evaluate_checkpoint`` builds it from these returns."""
    n = len(returns)
    wins = sum(r > 0 for r in returns) if wins is None else wins
    return ev.EvalSummary(
        checkpoint="/ckpt", env="rllib_istar/KeyCorridor-v0", episodes=n, successes=wins,
        success_rate=wins / n, success_ci=ev.wilson_interval(wins, n),
        return_mean=sum(returns) / n, return_ci=ev.mean_interval(returns), outcome_mean=0.0,
        invalid_action_rate=0.0, out="/eval.jsonl", extra=extra or {},
        return_range=(min(returns), max(returns)))


def _records(right_scores, wrong_scores):
    steps = ([{"prm_step_reward": r, "oracle_label": 1.0} for r in right_scores]
             + [{"prm_step_reward": r, "oracle_label": -1.0} for r in wrong_scores])
    return [{"steps": steps}]


# ------------------------------------------------------------- evaluate: credit
def test_no_credit_auc_from_two_wrong_steps_but_the_counts_are_printed():
    extra = ev.credit_summary(_records([0.5] * 5, [0.1, 0.2]))
    assert "credit_auc_step_reward" not in extra and "step_reward_wrong_mean" not in extra
    lines = summary_lines(_summary([1.0, 0.0], extra=extra))
    (line,) = [ln for ln in lines if ln.startswith("step credit")]
    assert line == ("step credit vs oracle labels: credit AUC not reported (2 wrong steps, "
                    f"5 right; needs >= {ev.MIN_AUC_CLASS_SIZE} of each)")
    assert "AUC(" not in "\n".join(lines)


def test_credit_auc_with_enough_of_each_class_prints_with_its_counts():
    n = ev.MIN_AUC_CLASS_SIZE
    extra = ev.credit_summary(_records([0.5] * n, [0.1] * n))
    assert extra["credit_auc_step_reward"] == 1.0
    (line,) = [ln for ln in summary_lines(_summary([1.0, 0.0], extra=extra))
               if ln.startswith("step credit")]
    assert f"=1.000 over {n} right / {n} wrong decisive steps" in line


def test_same_state_credit_from_too_few_pairs_is_not_reported():
    stats = {"credit_state_pairs": 6.0, "credit_state_prompts": 3.0,
             "credit_state_step_reward": 0.833, "credit_state_policy_drift": 1.0}
    kept = ev.reportable_same_state(stats)
    assert kept == {"credit_state_pairs": 6.0, "credit_state_prompts": 3.0}
    (line,) = [ln for ln in summary_lines(_summary([1.0, 0.0], extra=kept))
               if ln.startswith("same-state")]
    assert line == ("same-state credit: not reported (6 pairs at 3 decisive prompts; "
                    f"needs >= {ev.MIN_SAME_STATE_PAIRS} pairs)")
    enough = dict(stats, credit_state_pairs=float(ev.MIN_SAME_STATE_PAIRS))
    assert ev.reportable_same_state(enough) == enough
    (line,) = [ln for ln in summary_lines(_summary([1.0, 0.0], extra=enough))
               if ln.startswith("same-state")]
    assert "r_phi 0.833" in line and f"{ev.MIN_SAME_STATE_PAIRS} pairs at 3" in line


# ---------------------------------------------------------- evaluate: intervals
def test_the_return_interval_stays_inside_the_returns_and_reads_clearly():
    returns = [1.0] * 99 + [-0.3]  # one failure: a normal interval would end at 1.013
    low, high = ev.mean_interval(returns)
    assert high == 1.0 and low < 1.0
    (line,) = [ln for ln in summary_lines(_summary(returns)) if ln.startswith("return_mean")]
    assert re.match(r"return_mean=0\.987 \(95% CI \[0\.9\d\d, 1\.000\], normal, clipped to the "
                    r"observed range \[-0\.300, 1\.000\]\) invalid_action_rate=0\.000$", line), line
    assert ev.mean_interval([0.0, 1.0, 1.0], bounds=(-1.0, 0.9))[1] == 0.9  # a given range wins


def test_all_equal_returns_print_as_such_not_as_a_dash_range():
    text = "\n".join(summary_lines(_summary([-0.3] * 100, wins=0)))
    assert "return_mean=-0.300 (all 100 returns equal)" in text
    assert "--" not in text and "-0.300-" not in text
    assert "success_rate=0.000 (95% CI [0.000, 0.037], Wilson; 0/100)" in text
    assert "(1 episode: no interval)" in "\n".join(summary_lines(_summary([0.5])))


def test_evaluate_help_shows_95_percent_once_escaped():
    out = io.StringIO()
    from contextlib import redirect_stdout

    from rllib_istar.cli.main import main

    with redirect_stdout(out), pytest.raises(SystemExit) as stop:
        main(["evaluate", "--help"])
    text = " ".join(out.getvalue().split())  # argparse wraps the description
    assert stop.value.code == 0 and "95% intervals" in text and "%%" not in text


# ------------------------------------------------- evaluate: no folder left behind
def test_evaluate_leaves_no_folder_in_the_results_dir(tmp_path, monkeypatch):
    """Ray's Trainable makes a timestamped folder in ~/ray_results (its
    DEFAULT_STORAGE_PATH, pointed at tmp_path here) for every algorithm built outside
    Tune; evaluate builds the algorithm with a real Trainable in that place."""
    from ray.tune import Trainable
    from ray.tune.trainable import trainable

    results = tmp_path / "home" / "ray_results"
    monkeypatch.setattr(trainable, "DEFAULT_STORAGE_PATH", str(results))
    ckpt = tmp_path / "checkpoint_000001"
    ckpt.mkdir()
    (ckpt / ev.CHECKPOINT_MARKER).write_bytes(b"")

    class Stub(Trainable):
        def setup(self, config):
            pass

    def fake_load(checkpoint, env=None, env_config=None):
        t = Stub()  # makes the log folder, as Algorithm.from_checkpoint does
        runner = SimpleNamespace(sample=lambda **kw: [])
        return SimpleNamespace(env_runner_group=SimpleNamespace(local_env_runner=runner),
                               config=SimpleNamespace(uses_prm=False, env="e"), stop=t.stop,
                               logdir=t.logdir)

    monkeypatch.setattr(ev, "load_for_evaluation", fake_load)
    ev.evaluate_checkpoint(str(ckpt), episodes=1)
    assert not results.exists() or not any(results.iterdir()), list(results.iterdir())
    assert trainable.DEFAULT_STORAGE_PATH == str(results)  # put back


# ------------------------------------------------------------------ progress line
RESULT = {"training_iteration": 3, "time_this_iter_s": 0.84,
          "env_runners": {"num_env_steps_sampled_lifetime": 612, "success_rate": 0.40625,
                          "episode_return_mean": -0.125}}


def test_no_pairs_and_no_prm_print_differently():
    no_prm = dict(RESULT, learners={"default_policy": {}})
    no_pairs = dict(RESULT, learners={"prm": {"dpo_loss": 0.0, "pair_acc": 0.0,
                                              "num_pairs": 0.0}})
    assert "dpo - | pair_acc - |" in format_line(no_prm)
    assert "dpo nopairs | pair_acc nopairs |" in format_line(no_pairs)
    readme = (ROOT / "README.md").read_text()
    assert "`-` for methods without a PRM" in readme and "`nopairs` in an iteration" in readme


# ---------------------------------------------------------------------- SIGTERM
def test_sigterm_while_tune_runs_asks_tune_to_stop_gracefully(monkeypatch):
    calls = []

    def tune_stop(sig, frame):  # stands in for Tune's SIGINT handler during tune.run
        calls.append(sig)

    tune_stop.__module__ = "ray.tune.tune"
    previous = termination.install_sigterm_handler()
    old_int = signal.signal(signal.SIGINT, tune_stop)
    try:
        termination.on_sigterm()
        assert calls == [signal.SIGINT] and termination.received()
        with pytest.raises(termination.Terminated):  # a second SIGTERM: stop now
            termination.on_sigterm()
    finally:
        signal.signal(signal.SIGINT, old_int)
        termination.restore_sigterm_handler(previous)
    assert not termination.received()
    # outside Tune (an earlier in-process Tune run may have left its SIGINT handler set)
    old_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(termination.Terminated):  # straight out, one line
            termination.on_sigterm()
    finally:
        signal.signal(signal.SIGINT, old_int)
        termination.restore_sigterm_handler(None)


def test_a_run_stopped_by_sigterm_says_where_and_how_to_resume_and_exits_143():
    trial = SimpleNamespace(trial_id="t", status="TERMINATED", last_result={"done": False},
                            experiment_dir_name="exp", storage=None, checkpoint=None)
    out = io.StringIO()
    code = _exit_code([trial], out, "rllib train file x.yaml --resume", {"exp": "/r/exp"},
                      terminated=True)
    assert code == 143 == 128 + signal.SIGTERM
    assert out.getvalue().splitlines() == [
        "rllib: terminated (SIGTERM); results and checkpoints so far are in /r/exp; "
        "continue with: rllib train file x.yaml --resume"]


PROBE = """
import sys, time
import rllib_istar.cli
m = sys.modules["rllib_istar.cli.main"]
def slow(args):
    print("ready", flush=True)
    for _ in range(600):
        time.sleep(0.1)
    return 0
m.cmd_fetch_model = slow
sys.exit(m.main(["fetch-model", "--list"]))
"""


def test_sigterm_ends_the_command_with_one_line_and_code_143():
    proc = subprocess.Popen([sys.executable, "-c", PROBE], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stdout.readline().strip() == "ready"
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, err
    assert err.splitlines() == ["rllib: terminated (SIGTERM)"], err


# ------------------------------------------------------------- --version, --stop
def test_version_names_the_package_ray_and_torch(capsys):
    from importlib import metadata

    from rllib_istar.cli.main import main

    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out.strip() == (
        f"rllib_istar {metadata.version('rllib_istar')} (ray {metadata.version('ray')}, "
        f"torch {metadata.version('torch')})")


def test_the_stop_errors_example_is_a_stop_key(tmp_path):
    for bad in ("[1]", "{a: [}"):
        line = one_line_error(*run_cli(["train", "--env", "rllib_istar/KeyCorridor-v0",
                                        "--stop", bad, "--dry-run"])[::2])
        assert "--stop '{\"training_iteration\": 10}'" in line and '"lr"' not in line, line


# ------------------------------------------------------------ resumed final line
def test_a_resumed_runs_final_line_averages_the_whole_runs_last_ten(tmp_path):
    """Iterations 1-8 ran, the kill came after 8, the checkpoint was at 4: the resumed
    process redoes 5-8 and runs to 10. The window is iterations 1-10, 5-8 as redone."""
    folder = tmp_path / "IStar_t"
    folder.mkdir()
    with open(folder / "result.json", "w") as f:
        for i in range(1, 9):
            f.write(json.dumps({"training_iteration": i,
                                "env_runners": {"success_rate": 0.0 if i <= 4 else 0.9}}) + "\n")
        f.write('{"training_iteration": 9, "env_ru')  # a line cut short by the kill
    printer = ProgressPrinter(io.StringIO())
    trial = SimpleNamespace(trial_id="t", status="TERMINATED", experiment_dir_name="exp",
                            last_result={}, checkpoint=None, evaluated_params={})
    for i in range(5, 11):
        printer.on_trial_result(0, [trial], trial, dict(
            RESULT, training_iteration=i, env_runners={"success_rate": 1.0}))
    (line,) = final_lines([trial], printer, {"t": str(folder)})
    assert "(mean of the last 10: 0.600)" in line, line  # 4 x 0.0 and 6 x 1.0
    # without the earlier iterations' log the line says what the mean covers
    (line,) = final_lines([trial], printer, {"t": str(tmp_path / "gone")})
    assert "(mean of the last 6, the resumed part: 1.000)" in line, line
