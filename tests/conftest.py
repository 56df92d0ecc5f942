"""Shared test fixtures: CPU-only seeding, an isolated model cache, a Ray session,
tiny models and modules, built algorithms, the EchoEnv double.

Tiers: the unmarked tests are fast unit tests (``pytest -m "not integration"``);
``integration`` marks tests that build Ray algorithms (they use the ``build`` or
``ray_session`` fixture: marked here) or spawn processes (marked in their files);
``python -m pytest`` (CI) runs both. ``slow`` (learning runs) with ``pytest -m slow``;
``gpu`` tests are skipped unless CUDA is available.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from lmtest_utils import WORDS, text_spaces


#: Fixtures that start Ray: a test using one is in the ``integration`` tier.
RAY_FIXTURES = ("build", "ray_session")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if any(name in getattr(item, "fixturenames", ()) for name in RAY_FIXTURES):
            item.add_marker(pytest.mark.integration)
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except Exception:  # pragma: no cover - torch is a hard dependency
        has_cuda = False
    if has_cuda:
        return
    skip_gpu = pytest.mark.skip(reason="needs CUDA")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip_gpu)


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory):
    """Tiny models are built into a per-session cache, never into the user's."""
    cache = tmp_path_factory.mktemp("rllib_istar_cache")
    old = os.environ.get("RLLIB_ISTAR_CACHE")
    os.environ["RLLIB_ISTAR_CACHE"] = str(cache)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    yield cache
    if old is None:
        os.environ.pop("RLLIB_ISTAR_CACHE", None)
    else:
        os.environ["RLLIB_ISTAR_CACHE"] = old


@pytest.fixture(autouse=True)
def _seed_torch():
    import torch

    torch.manual_seed(0)
    torch.set_num_threads(2)
    yield
    # building a module flushes denormals process-wide (IStarConfig.flush_denormal);
    # later tests (hypothesis' subnormal floats) need IEEE floats back
    torch.set_flush_denormal(False)


@pytest.fixture(scope="session")
def ray_session():
    """One local Ray instance for every test that needs Ray (2 CPUs, no dashboard)."""
    import ray

    if not ray.is_initialized():
        ray.init(num_cpus=4, include_dashboard=False, log_to_driver=False,
                 runtime_env={"env_vars": {"RLLIB_ISTAR_CACHE": os.environ["RLLIB_ISTAR_CACHE"],
                                           "TOKENIZERS_PARALLELISM": "false"}})
    yield ray
    ray.shutdown()


# ---- tiny models over a small word list (lm, rl_modules, rollout tests) ----
@pytest.fixture(scope="session")
def tiny_paths(_isolated_cache):
    """{arch: path} of the cached tiny models (built once per session)."""
    from rllib_istar.lm.tiny import tiny_model_path

    return {arch: tiny_model_path(WORDS, arch=arch) for arch in ("llama", "qwen2")}


@pytest.fixture(scope="session")
def tiny_path(tiny_paths):
    return tiny_paths["llama"]


@pytest.fixture
def build_module():
    """build_module(path, cls=CausalLMRLModule, **model_config) via RLModuleSpec.build()."""
    from ray.rllib.core.rl_module.rl_module import RLModuleSpec

    from rllib_istar.rl_modules import CausalLMRLModule

    def _build(path, cls=CausalLMRLModule, **cfg):
        obs, act = text_spaces()
        spec = RLModuleSpec(module_class=cls, observation_space=obs, action_space=act,
                            model_config={"model_path": path, **cfg})
        return spec.build()

    return _build


# ---- algorithms (algorithm, learner tests) ----
@pytest.fixture
def build(ray_session):
    """Build an algo from a config; stopped at the end of the test."""
    algos = []

    def _build(config):
        algo = config.build_algo()
        algos.append(algo)
        return algo

    yield _build
    for algo in algos:
        algo.stop()


@pytest.fixture
def scratch_ids():
    """Env ids a test registers (append them); removed from every registry afterwards."""
    import gymnasium

    from rllib_istar.envs import registry as reg

    ids: list = []
    yield ids
    for env_id in ids:
        reg._REGISTRY.pop(env_id, None)
        gymnasium.registry.pop(env_id, None)
        reg._RLLIB_REGISTERED.discard(env_id)


# ---- the EchoEnv test double (tests/doubles/echo_env.py) ----
@pytest.fixture(scope="session")
def echo_env_source():
    """EchoEnv's module source, to write into a subprocess's folder (``--import``)."""
    return (Path(__file__).parent / "doubles" / "echo_env.py").read_text()
