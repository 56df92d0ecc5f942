"""Shared test fixtures: CPU-only seeding, an isolated model cache, a Ray session.

Tiers: unmarked tests run in CI; ``slow`` (learning runs) with ``pytest -m slow``;
``gpu`` tests are skipped unless CUDA is available.
"""
from __future__ import annotations

import os

import pytest


def pytest_collection_modifyitems(config, items):
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
