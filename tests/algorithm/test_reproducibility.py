"""Same seed, same machine: identical per-iteration metrics, from a fresh build and
across a checkpoint (stop after iteration k, restore, go on to n).

Every metric of every iteration is compared exactly, except wall-clock readings
(``timers/``, throughput, ``time_*``, host and date fields), which no seed fixes, and
the ``*_since_restore`` counters, which restart with a restore by definition.
"""
import math

import pytest
from algo_utils import tiny_config

_CLOCK_SECTIONS = ("timers", "perf", "fault_tolerance", "env_runner_group", "config")
_CLOCK_WORDS = ("time", "throughput", "per_s", "_s_", "date", "hostname", "node_ip", "pid",
                "timestamp", "timer", "since_restore")  # *_since_restore restart by definition


def _flat(d, prefix=""):
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            yield from _flat(v, key + "/")
        else:
            yield key, v


def seeded_metrics(result):
    """``{metric path: value}`` of one ``train()`` result, without wall-clock readings."""
    out = {}
    for key, value in _flat(result):
        parts = key.split("/")
        if parts[0] in _CLOCK_SECTIONS or any(w in f"_{p}_" for p in parts for w in _CLOCK_WORDS):
            continue
        if isinstance(value, (bool, int, float)) and not isinstance(value, bool):
            out[key] = float(value)
    return out


def assert_same(a, b, label):
    assert a.keys() == b.keys(), (label, sorted(a.keys() ^ b.keys()))
    diff = {k: (a[k], b[k]) for k in a
            if not (a[k] == b[k] or (math.isnan(a[k]) and math.isnan(b[k])))}
    assert not diff, (label, diff)


def _config(estimator):
    # two env-runner-free iterations' worth of PRM and policy steps, with minibatches
    # (shuffled per epoch) so the sampler and shuffle RNGs are both exercised
    return tiny_config(estimator, num_epochs=2, minibatch_size=8)


def _run(build, config, n):
    algo = build(config)
    return algo, [seeded_metrics(algo.train()) for _ in range(n)]


def test_seeded_metrics_keeps_learning_numbers_and_drops_clocks():
    result = {"env_runners": {"success_rate": 0.5, "sample_time_s": 1.0},
              "learners": {"default_policy": {"policy_loss": 0.1}},
              "timers": {"learner": 2.0}, "time_this_iter_s": 3.0, "training_iteration": 1}
    assert seeded_metrics(result) == {"env_runners/success_rate": 0.5,
                                      "learners/default_policy/policy_loss": 0.1,
                                      "training_iteration": 1.0}


@pytest.mark.parametrize("estimator", ["istar_rloo", "rloo"])
def test_two_runs_with_one_seed_give_identical_metrics(build, estimator):
    _, first = _run(build, _config(estimator), 3)
    _, second = _run(build, _config(estimator), 3)
    assert len(first[0]) > 20  # the comparison covers the learner and runner metrics
    for i, (a, b) in enumerate(zip(first, second), start=1):
        assert_same(a, b, f"iteration {i}")


def test_another_seed_gives_other_metrics(build):
    _, a = _run(build, _config("rloo"), 1)
    _, b = _run(build, _config("rloo").debugging(seed=1), 1)
    assert a[0] != b[0]


@pytest.mark.parametrize("estimator", ["istar_rloo", "rloo"])
def test_resume_after_k_iterations_continues_exactly(build, tmp_path, estimator):
    """k = 2, n = 4: a run stopped after iteration 2 and restored from its checkpoint
    gives iterations 3 and 4 exactly as the uninterrupted run (task seeds, sampler RNG,
    both optimizers' moments, counters)."""
    from ray.rllib.algorithms.algorithm import Algorithm

    _, straight = _run(build, _config(estimator), 4)
    algo, first = _run(build, _config(estimator), 2)
    for i in range(2):
        assert_same(first[i], straight[i], f"iteration {i + 1}")
    path = algo.save_to_path(str(tmp_path / "ckpt"))
    algo.stop()
    restored = Algorithm.from_checkpoint(path)
    try:
        assert restored.iteration == 2
        resumed = [seeded_metrics(restored.train()) for _ in range(2)]
    finally:
        restored.stop()
    for i, (a, b) in enumerate(zip(straight[2:], resumed), start=3):
        assert_same(a, b, f"iteration {i}")
