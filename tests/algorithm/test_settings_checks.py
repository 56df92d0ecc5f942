"""The cross-knob rules as a list of named checks (algorithm/settings_checks.py)."""
import inspect

import pytest
from algo_utils import tiny_config

from rllib_istar.algorithm import settings_checks
from rllib_istar.algorithm.settings_checks import SETTINGS_CHECKS, check_settings


def test_every_check_function_is_listed_once_under_its_own_name():
    listed = [c.check for c in SETTINGS_CHECKS]
    assert len(set(listed)) == len(listed)
    assert [c.name for c in SETTINGS_CHECKS] == [f.__name__ for f in listed]
    public = {name for name, f in inspect.getmembers(settings_checks, inspect.isfunction)
              if f.__module__ == settings_checks.__name__ and not name.startswith("_")}
    assert public - {"check_settings"} == {c.name for c in SETTINGS_CHECKS}
    assert all(c.rule.endswith(".") for c in SETTINGS_CHECKS)


def _messages(config):
    seen = []
    check_settings(config, seen.append)   # a fail that only records (validate_config off)
    return seen


def test_checks_run_in_order_and_each_names_its_fix():
    config = tiny_config("istar_rloo", prm_mode="none", prm_reference="initial")
    config.num_env_runners = 5          # > num_groups = 2
    seen = _messages(config)
    assert len(seen) == 3
    assert "needs the PRM but prm_mode is 'none'" in seen[0]
    assert "num_env_runners=5 > num_groups=2" in seen[1]
    assert "set kl_coef > 0" in seen[2]


def test_an_unknown_estimator_stops_the_checks_that_read_it():
    config = tiny_config("istar_rloo")
    config.ablation = "no_such_ablation"
    seen = _messages(config)
    assert len(seen) == 1 and "no_such_ablation" in seen[0]


def test_validate_raises_the_first_failing_check():
    with pytest.raises(ValueError, match="num_groups=1 < num_learners=2"):
        tiny_config("rloo", num_groups=1).learners(num_learners=2).validate()
