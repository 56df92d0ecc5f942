"""Knobs are declared statically: type hints, docs and choices come from one place."""
import typing

import pytest

from rllib_istar import IStarConfig
from rllib_istar.algorithm.knobs import KNOB_TYPES, KNOBS, KNOBS_BY_NAME, Knob
from rllib_istar.core.gigpo import ANCHOR_NORMS
from rllib_istar.core.policy_losses import RATIO_LEVELS
from rllib_istar.core.prm_losses import TRAJ_AGGREGATIONS
from rllib_istar.learner.estimator_tables import ABLATIONS, ESTIMATORS
from rllib_istar.lm.loading import DTYPES
from rllib_istar.rl_modules.prm import PRM_MODES
from rllib_istar.rollout.generation import BACKENDS


def test_knobs_are_class_attributes_with_type_hints_and_docs():
    hints = typing.get_type_hints(IStarConfig)
    assert hints["prm_beta"] is float and hints["group_size"] is int
    assert hints["prm_init"] == typing.Optional[str]
    for knob in KNOBS:
        assert isinstance(getattr(IStarConfig, knob.name), Knob), knob.name
        assert knob.name in hints and knob.doc and getattr(IStarConfig, knob.name).__doc__ == knob.doc
    assert "prm_beta" in (IStarConfig.__doc__ or "")


def test_instances_hold_plain_values_that_rllib_serialises():
    config = IStarConfig()
    assert config.prm_beta == 0.05 and isinstance(config.prm_beta, float)
    config.prm_beta = 0.2
    assert config.to_dict()["prm_beta"] == 0.2 and IStarConfig().prm_beta == 0.05
    assert IStarConfig.from_dict(config.to_dict()).prm_beta == 0.2
    assert all(k.name in vars(IStarConfig()) for k in KNOBS)


def test_mutable_defaults_are_not_shared():
    a, b = IStarConfig(), IStarConfig()
    a.vllm_kwargs = {"x": 1}
    assert b.vllm_kwargs is None


def test_accepted_types_follow_the_annotation():
    assert KNOB_TYPES["prm_beta"] == (int, float)
    assert KNOB_TYPES["prm_grad_clip"] == (int, float, type(None))
    assert KNOB_TYPES["trust_remote_code"] == (bool,)
    assert KNOB_TYPES["vllm_kwargs"] == (dict, type(None))


def test_choices_come_from_the_registries_that_implement_them():
    assert KNOBS_BY_NAME["advantage_estimator"].choices == tuple(ESTIMATORS)
    assert KNOBS_BY_NAME["ablation"].choices == (None,) + tuple(ABLATIONS)
    assert KNOBS_BY_NAME["ratio_level"].choices == ("auto",) + tuple(RATIO_LEVELS)
    assert KNOBS_BY_NAME["prm_agg"].choices == tuple(TRAJ_AGGREGATIONS)
    assert KNOBS_BY_NAME["gigpo_step_norm"].choices == tuple(ANCHOR_NORMS)
    assert KNOBS_BY_NAME["model_dtype"].choices == DTYPES
    assert KNOBS_BY_NAME["prm_mode"].choices == PRM_MODES + ("none",)
    assert KNOBS_BY_NAME["generation_backend"].choices == BACKENDS


@pytest.mark.parametrize("name,value,message", [
    ("group_size", 1, "group_size=1 must be >= 2; every estimator compares"),
    ("top_p", 0.0, "top_p=0.0 must be in (0, 1]"),
    ("top_p", 1.5, "top_p=1.5 must be in (0, 1]"),
    ("microbatch_size", 0, "microbatch_size=0 must be >= 1"),
])
def test_each_bound_is_stated_once_on_its_knob(name, value, message):
    assert KNOBS_BY_NAME[name].bound_error(value).startswith(message)


def test_bounds_accept_their_edges():
    assert KNOBS_BY_NAME["group_size"].bound_error(2) is None
    assert KNOBS_BY_NAME["top_p"].bound_error(1.0) is None
    assert KNOBS_BY_NAME["prm_beta"].bound_error(1e-9) is None
    assert KNOBS_BY_NAME["clip_low"].bound_error(0.0) is None
    assert KNOBS_BY_NAME["clip_low"].bound_error(0.999) is None
    assert KNOBS_BY_NAME["gigpo_gamma"].bound_error(1.0) is None
    assert KNOBS_BY_NAME["prm_grad_clip"].bound_error(None) is None
