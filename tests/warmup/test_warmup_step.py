"""The config only describes; the format warm-up is one explicit step (prepare_policy_model)."""
import os

import pytest

from rllib_istar import IStarConfig
from rllib_istar.warmup import prepare_policy_model
from rllib_istar.lm.loading import ModelLoadError, resolve_model_path


def _config(steps):
    return (IStarConfig().environment("rllib_istar/KeyCorridor-v0").debugging(seed=123)
            .training(format_warmup_steps=steps, max_new_tokens=2))


def test_getters_name_the_warmed_model_without_building_it():
    config = _config(3)
    path = config.effective_model_path()
    config.module_specs()
    config.get_multi_rl_module_spec()
    assert not os.path.exists(path)
    with pytest.raises(ModelLoadError, match="not built yet.*prepare_policy_model"):
        resolve_model_path(path)


def test_prepare_builds_once_and_announces_once():
    config, notes = _config(3), []
    path = prepare_policy_model(config, announce=notes.append)
    assert path == config.effective_model_path() and os.path.isfile(os.path.join(path, "config.json"))
    announced = [n for n in notes if n.startswith("format warm-up of ")]  # then progress lines
    assert len(announced) == 1 and notes[0] == announced[0]
    built = len(notes)
    assert prepare_policy_model(config, announce=notes.append) == path and len(notes) == built


def test_no_warmup_means_the_model_path_itself():
    config = _config(0)
    assert config.effective_model_path() == "tiny"
    assert prepare_policy_model(config, announce=pytest.fail) == "tiny"
