"""Model-aware defaults (algorithm/model_defaults.py): the knobs that default to "auto"
take the tiny model's values on a tiny model and the paper's on a checkpoint, are
announced in one line, and never replace a value the user set."""
import logging

import pytest

from rllib_istar import IStarConfig
from rllib_istar.algorithm.model_defaults import (
    AUTO,
    MODEL_DEFAULTS,
    model_default_values,
    resolve_model_defaults,
)

TOY = "rllib_istar/KeyCorridor-v0"
TINY = {"lr": 1e-3, "prm_lr": 3e-4, "num_epochs": 3, "step_advantage_weight": 0.03,
        "format_warmup_steps": 150, "max_new_tokens": 2, "group_size": 8, "num_groups": 8,
        "gradient_checkpointing": False}
PAPER = {"lr": 1e-6, "prm_lr": 1e-6, "num_epochs": 1, "step_advantage_weight": 1.0,
         "format_warmup_steps": 0, "max_new_tokens": 8, "group_size": 4, "num_groups": 4,
         "gradient_checkpointing": True}


def test_every_model_default_knob_starts_as_auto():
    config = IStarConfig()
    assert {name: getattr(config, name) for name in MODEL_DEFAULTS} == \
        {name: AUTO for name in MODEL_DEFAULTS}


def test_tiny_model_gets_the_tiny_values_on_a_bare_env():
    config = IStarConfig().environment(TOY)
    config.validate()
    assert {name: getattr(config, name) for name in TINY} == TINY


def test_tiny_model_on_a_tags_env_gets_room_for_the_tags():
    values = model_default_values("tiny", TOY, {"action_format": "tags"})
    assert values["max_new_tokens"] == 8 and values["lr"] == 1e-3


def test_a_checkpoint_gets_the_checkpoint_values():
    config = IStarConfig()
    config.model_path = "/models/Qwen2.5-1.5B-Instruct"
    config.env = TOY
    assert resolve_model_defaults(config) == PAPER
    assert {name: getattr(config, name) for name in PAPER} == PAPER


def test_a_value_the_user_set_is_kept_even_when_it_equals_the_papers():
    # a default-comparing rule would turn this explicit 1e-6 into the tiny 1e-3
    config = IStarConfig().environment(TOY).training(lr=1e-6, num_epochs=1)
    config.validate()
    assert config.lr == 1e-6 and config.num_epochs == 1
    assert config.prm_lr == 3e-4  # the knobs left at auto still resolve


def test_resolution_is_announced_in_one_line_naming_the_values(caplog):
    config = IStarConfig().environment(TOY).training(lr=5e-4)
    with caplog.at_level(logging.WARNING, logger="rllib_istar.algorithm.model_defaults"):
        config.validate()
    lines = [r.getMessage() for r in caplog.records
             if r.name == "rllib_istar.algorithm.model_defaults"]
    assert len(lines) == 1 and "\n" not in lines[0]
    assert "tiny model" in lines[0] and "prm_lr 0.0003" in lines[0]
    assert "lr 0.0005" not in lines[0] and "to override" in lines[0]


def test_nothing_is_announced_when_every_knob_is_set(caplog):
    config = IStarConfig().environment(TOY).training(**TINY)
    with caplog.at_level(logging.WARNING, logger="rllib_istar.algorithm.model_defaults"):
        config.validate()
    assert not [r for r in caplog.records if r.name == "rllib_istar.algorithm.model_defaults"]


def test_auto_survives_a_dict_round_trip_as_tune_passes_it():
    """Tune hands a trial ``config.to_dict()``: "auto" must arrive unresolved and resolve
    in the trial's own validate()."""
    as_dict = IStarConfig().environment(TOY).to_dict()
    assert as_dict["lr"] == AUTO
    trial = IStarConfig().update_from_dict(as_dict)
    trial.validate()
    assert trial.lr == 1e-3 and trial.max_new_tokens == 2


def test_a_misspelt_auto_is_refused_with_the_knob_named():
    config = IStarConfig().environment(TOY).training(prm_lr="Auto")
    with pytest.raises(ValueError, match="prm_lr"):
        config.validate()


def test_rllib_train_prints_the_defaults_once_and_not_for_a_tuned_file():
    from rllib_istar.cli.experiments import experiment_from_flags, experiments_from_file
    from rllib_istar.cli.train import model_default_lines

    flags = experiment_from_flags("IStar", TOY, stop={"training_iteration": 1})
    (line,) = model_default_lines(flags)
    assert line.startswith("defaults for the tiny model 'tiny': lr 0.001, prm_lr 0.0003")
    assert model_default_lines(experiments_from_file("tuned_examples/toy_istar_cpu.yaml")) == []


def test_module_specs_read_gradient_checkpointing_as_validate_would():
    """An unresolved "auto" is a non-empty string: read raw it would turn checkpointing on
    for a tiny model too."""
    spec = IStarConfig().environment(TOY).policy_module_spec()
    assert spec.model_config["gradient_checkpointing"] is False
    spec = IStarConfig().environment(TOY).training(gradient_checkpointing=True).policy_module_spec()
    assert spec.model_config["gradient_checkpointing"] is True


def test_parts_built_without_validate_read_auto_as_validate_would():
    """An env runner made by hand, ``effective_model_path`` and ``prepare_policy_model``
    read a config nobody validated: "auto" must mean what validate() makes of it."""
    raw = IStarConfig().environment(TOY)
    validated = IStarConfig().environment(TOY)
    validated.validate()
    assert raw.effective_model_path() == validated.effective_model_path()
    assert "warmup" in raw.effective_model_path()  # the tiny model's 150-step warm-up
    resolved = raw.with_model_defaults()
    assert resolved is not raw and raw.lr == AUTO and resolved.lr == 1e-3
    assert validated.with_model_defaults() is validated  # nothing left to resolve
