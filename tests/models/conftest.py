"""Fixtures for model/module/generation tests: tiny models over a small word list."""
from __future__ import annotations

import pytest

from lmtest_utils import WORDS, text_spaces


@pytest.fixture(scope="session")
def tiny_paths(_isolated_cache):
    """{arch: path} of the cached tiny models (built once per session)."""
    from rllib_istar.models.tiny import tiny_model_path

    return {arch: tiny_model_path(WORDS, arch=arch) for arch in ("llama", "qwen2")}


@pytest.fixture(scope="session")
def tiny_path(tiny_paths):
    return tiny_paths["llama"]


@pytest.fixture
def build_module():
    """build_module(path, cls=CausalLMRLModule, **model_config) via RLModuleSpec.build()."""
    from ray.rllib.core.rl_module.rl_module import RLModuleSpec

    from rllib_istar.modules import CausalLMRLModule

    def _build(path, cls=CausalLMRLModule, **cfg):
        obs, act = text_spaces()
        spec = RLModuleSpec(module_class=cls, observation_space=obs, action_space=act,
                            model_config={"model_path": path, **cfg})
        return spec.build()

    return _build
