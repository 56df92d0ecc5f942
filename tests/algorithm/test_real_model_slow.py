"""One training iteration of every tuned SmolLM2 YAML, on the real model (slow tier).

Runs when ``rllib fetch-model smollm2-135m-instruct`` has materialised the folder;
skips with a one-line reason otherwise (CI has no weights and downloads nothing).
"""
from pathlib import Path

import pytest
from example_runs import train_example_once

EXAMPLES = Path(__file__).resolve().parents[2] / "tuned_examples"
REAL = sorted(EXAMPLES.glob("*_smollm2_cpu.yaml"))


def _real_model_or_skip():
    from rllib_istar.lm.loading import ModelLoadError, resolve_model_path

    try:
        return resolve_model_path("smollm2-135m-instruct")
    except ModelLoadError as e:
        pytest.skip(f"SmolLM2 folder absent: {str(e).splitlines()[0]}")


@pytest.fixture
def real_model_cache(monkeypatch):
    """The user's model cache (conftest isolates the cache per session; the real
    folder lives in the user's), with tiny/warm-up builds kept out of it."""
    import os

    monkeypatch.delenv("RLLIB_ISTAR_CACHE", raising=False)
    path = _real_model_or_skip()
    assert os.path.isfile(os.path.join(path, "config.json"))
    return path


def test_there_are_real_model_examples_for_istar_and_rloo():
    names = {p.stem for p in REAL}
    assert {"toy_istar_smollm2_cpu", "toy_rloo_smollm2_cpu", "sokoban_istar_smollm2_cpu",
            "sokoban_rloo_smollm2_cpu"} <= names


@pytest.mark.slow
@pytest.mark.parametrize("path", REAL, ids=lambda p: p.name)
def test_real_model_example_trains_one_iteration(path, real_model_cache, ray_session):
    variant, result = train_example_once(path)
    runners = result["env_runners"]
    assert runners["invalid_action_rate"] < 0.5, "the response prefix gives the format"
    policy = result["learners"]["default_policy"]
    assert policy["num_policy_microbatches"] >= 1
    assert policy["rollout_learner_logp_gap"] < 0.1  # bf16 autocast: ~1e-2, fp32: ~1e-6
