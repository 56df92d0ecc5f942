"""The main job through ``rllib train file`` and Tune (in-process, shared Ray):
progress lines, final line, TensorBoard tags, no clobbering, evaluation."""
import glob
import json
import os
import re

import pytest
from cli_helpers import EXAMPLES, MAIN_JOB, progress_lines, run_cli

#: spawns processes or starts Ray: the integration tier (tests/conftest.py)
pytestmark = pytest.mark.integration

LINE = re.compile(r"^\[toy_istar_cpu\] iter +(\d+) \| steps +\d+ \| success [01]\.\d\d \| "
                  r"return +-?\d+\.\d\d \| dpo \d\.\d{3} \| pair_acc [01]\.\d\d \| \d+\.\ds$")


@pytest.fixture(scope="module")
def main_job(ray_session, tmp_path_factory):
    """Two iterations of the README's main job; returns (storage, stdout)."""
    storage = tmp_path_factory.mktemp("runs")
    code, out, err = run_cli(["train", "file", MAIN_JOB, "--storage-path", storage,
                              "--stop", '{"training_iteration": 2}'])
    assert code == 0, out + err
    return storage, out


def _trial_dir(storage):
    (trial,) = glob.glob(str(storage / "toy_istar_cpu" / "IStar_*"))
    return trial


def test_progress_is_one_line_per_iteration_and_a_final_success_line(main_job):
    _, out = main_job
    lines = progress_lines(out)
    assert [int(LINE.match(ln).group(1)) for ln in lines] == [1, 2], out
    assert out.splitlines()[0].startswith("training toy_istar_cpu: results in ")
    final = [ln for ln in out.splitlines() if ln.startswith("final success_rate=")]
    assert len(final) == 1 and "TERMINATED, 2 iterations" in final[0], out
    assert "checkpoint_000000" in final[0]  # checkpoint_at_end


def test_metrics_reach_tensorboard(main_job):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(_trial_dir(main_job[0]))
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    for tag in ("learners/prm/dpo_loss", "learners/prm/pair_acc", "learners/prm/step_reward_std",
                "learners/default_policy/adv_step_std", "learners/default_policy/adv_episode_std",
                "learners/default_policy/policy_loss", "learners/default_policy/clip_frac",
                "env_runners/success_rate", "env_runners/episode_return_mean",
                "env_runners/invalid_action_rate", "timers/learner_update"):
        assert f"ray/tune/{tag}" in tags, sorted(tags)
    assert [e.step for e in acc.Scalars("ray/tune/env_runners/success_rate")] == [1, 2]


def test_a_second_run_never_touches_the_first_runs_checkpoints(main_job):
    storage, _ = main_job
    files = glob.glob(os.path.join(_trial_dir(storage), "checkpoint_*", "**"), recursive=True)
    before = {f: os.stat(f).st_mtime_ns for f in files}
    code, _, err = run_cli(["train", "file", MAIN_JOB, "--storage-path", storage])
    assert code == 2 and "already holds a run" in err and "--resume" in err
    # resuming a finished run trains nothing more
    code, out, err = run_cli(["train", "file", MAIN_JOB, "--storage-path", storage, "--resume"])
    assert code == 0, out + err
    assert progress_lines(out) == [] and "TERMINATED, 2 iterations" in out, out
    assert {f: os.stat(f).st_mtime_ns for f in files} == before


def test_evaluate_reports_intervals_and_writes_trajectories(main_job, tmp_path, monkeypatch):
    from ray.tune.trainable import trainable

    storage, _ = main_job
    out_file = tmp_path / "eval.jsonl"
    home_results = tmp_path / "home" / "ray_results"  # where Ray's Trainable puts log folders
    monkeypatch.setattr(trainable, "DEFAULT_STORAGE_PATH", str(home_results))
    code, out, err = run_cli(["evaluate", storage / "toy_istar_cpu", "--episodes", "12",
                              "--out", out_file])
    assert code == 0, out + err
    assert not home_results.exists() or not any(home_results.iterdir())  # nothing left behind
    assert re.search(r"success_rate=\d\.\d{3} \(95% CI \[\d\.\d{3}, \d\.\d{3}\], Wilson; "
                     r"\d+/12\)", out), out
    assert re.search(r"return_mean=-?\d\.\d{3} \((95% CI \[-?\d\.\d{3}, -?\d\.\d{3}\], normal"
                     r"[^)]*|all 12 returns equal)\)", out), out
    records = [json.loads(line) for line in out_file.read_text().splitlines()]
    assert len(records) == 12
    assert len({r["task_seed"] for r in records}) == 12
    steps = [s for r in records for s in r["steps"]]
    assert all(isinstance(s["prm_step_reward"], float) for s in steps)
    assert all(s["prompt"] and isinstance(s["env_reward"], float) for s in steps)
    # the restored policy acts in the trained format (a random tiny LM would not)
    assert sum(s["action_valid"] for s in steps) / len(steps) > 0.5
    assert sum(r["won"] for r in records) == int(re.search(r"; (\d+)/12", out).group(1))
    # the toy labels its key pick (+1 right, -1 wrong key, 0 any other step): a credit line
    # with the counts, and an AUC only from 10 or more of each
    labels = [s["oracle_label"] for s in steps]
    assert set(labels) <= {1.0, -1.0, 0.0} and {1.0, -1.0} & set(labels), labels
    right, wrong = labels.count(1.0), labels.count(-1.0)
    if min(right, wrong) >= 10:
        assert re.search(r"step credit vs oracle labels: AUC\(r_phi, right vs wrong decisive "
                         rf"steps\)=\d\.\d{{3}} over {right} right / {wrong} wrong", out), out
    else:
        assert (f"step credit vs oracle labels: credit AUC not reported ({wrong} wrong steps, "
                f"{right} right; needs >= 10 of each)") in out, out
    # every key scored at the same prompt: one door colour per distinct first prompt (at
    # most 3), 1 right x 2 wrong keys each: at most 6 pairs, too few to report a rate
    found = re.search(r"same-state credit: not reported \((\d+) pairs at (\d+) decisive "
                      r"prompts; needs >= 10 pairs\)", out)
    assert found, out
    pairs, prompts = int(found.group(1)), int(found.group(2))
    assert 1 <= prompts <= 3 and pairs == 2 * prompts


def test_a_trials_result_log_holds_every_iterations_success_rate(main_job):
    """What the final line of a resumed run reads for the iterations before the resume."""
    from rllib_istar.cli.progress import earlier_success

    rates = earlier_success(_trial_dir(main_job[0]), before=3)
    assert len(rates) == 2 and all(0.0 <= r <= 1.0 for r in rates)


def test_search_example_runs_every_grid_point(ray_session, tmp_path):
    code, out, err = run_cli(["train", "file", EXAMPLES / "toy_istar_search_cpu.yaml",
                              "--storage-path", tmp_path, "--stop", '{"training_iteration": 1}'])
    assert code == 0, out + err
    finals = [ln for ln in out.splitlines() if ln.startswith("final success_rate=")]
    assert len(finals) == 4 and all("TERMINATED, 1 iterations" in ln for ln in finals), out
    assert {ln.split("]")[0] for ln in progress_lines(out)} == {
        f"[toy_istar_search_cpu #{i}" for i in range(4)}
    starts = [ln for ln in out.splitlines() if re.search(r"\] trial \w+: ", ln)]
    assert len(starts) == 4 and all("step_advantage_weight=" in ln for ln in starts), out


def test_resume_keeps_checkpoints_the_saved_state_does_not_know(main_job, tmp_path):
    """A run killed between writing a checkpoint and saving its state: resuming would
    write its next checkpoint under the same name, so the newer one is kept aside."""
    import shutil

    from rllib_istar.cli.resume import protect_unrecorded_checkpoints

    exp_dir = tmp_path / "toy_istar_cpu"
    shutil.copytree(main_job[0] / "toy_istar_cpu", exp_dir)
    trial = _trial_dir(tmp_path)
    shutil.copytree(os.path.join(trial, "checkpoint_000000"), os.path.join(trial, "checkpoint_000001"))
    lines = protect_unrecorded_checkpoints(str(exp_dir))
    assert lines[0].startswith("kept checkpoint_000001 of IStar_") and "kept_checkpoint_000001" in lines[0]
    assert lines[1].endswith("already finished; nothing to resume")
    assert os.path.isfile(os.path.join(trial, "kept_checkpoint_000001", "algorithm_state.pkl"))
    assert os.path.isdir(os.path.join(trial, "checkpoint_000000"))
