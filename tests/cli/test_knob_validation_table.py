"""Every knob, walked with a bad value: ``rllib train --dry-run`` exits 2 before Ray starts
with one line naming the knob and what it must be (its range, choices or type).

The bad values are derived from the declarations (``knobs.py``), so a new knob is walked
without editing this file; ``test_every_knob_is_walked`` fails if one is skipped.
"""
import json

import pytest
from cli_helpers import one_line_error, run_cli, write_yaml

from rllib_istar.algorithm.knobs import KNOB_TYPES, KNOBS
from rllib_istar.algorithm.rllib_knobs import RLLIB_KNOBS, RLLIB_UNUSED
from rllib_istar.algorithm.validation import KNOB_ALIASES, knob_aliases

GOOD = """\
exp:
  run: IStar
  env: rllib_istar/KeyCorridor-v0
  stop: {training_iteration: 1}
  config: {max_new_tokens: 2, lr: 1.0e-4}
"""


def _below(knob, types):
    """A value just outside the lower bound (the bound itself when it is exclusive)."""
    if knob.exclusive_minimum:
        return knob.minimum
    return knob.minimum - 1 if float not in types else knob.minimum - 0.5


def _above(knob, types):
    if knob.exclusive_maximum:
        return knob.maximum
    return knob.maximum + 1 if float not in types else knob.maximum + 0.5


def _cases():
    """(knob name, bad value, text the message must hold)."""
    rows = [(k, KNOB_TYPES[k.name]) for k in KNOBS] + list(RLLIB_KNOBS.values())
    out = []
    for knob, types in rows:
        name = knob.name
        wrong_type = 123 if str in types else {"a": 1} if dict not in types else "x"
        out.append((name, wrong_type, "must be "))
        if knob.choices is not None:
            out.append((name, "no_such_choice", "choose one of"))
        if knob.minimum is not None:
            out.append((name, _below(knob, types), knob.valid_range()))
        if knob.maximum is not None:
            out.append((name, _above(knob, types), knob.valid_range()))
    for name in RLLIB_UNUSED:
        out.append((name, 7, "IStar does not use"))
    return out


CASES = _cases()


def _dry_run(tmp_path, overrides):
    path = write_yaml(tmp_path / "exp.yaml", GOOD)
    return run_cli(["train", "file", path, "--storage-path", tmp_path / "res", "--dry-run",
                    "--config", json.dumps(overrides)])


def _one_line(code, err):
    return one_line_error(code, err, prefix="rllib: error: --config: ")


def test_every_knob_is_walked():
    walked = {name for name, _, _ in CASES}
    assert walked == {k.name for k in KNOBS} | set(RLLIB_KNOBS) | set(RLLIB_UNUSED)
    # every bound and every choice list is walked, not only the types
    assert sum(1 for _, _, text in CASES if text == "choose one of") == sum(
        1 for k in KNOBS if k.choices is not None)


@pytest.mark.parametrize("name,value,expected", CASES,
                         ids=[f"{n}={v!r}" for n, v, _ in CASES])
def test_a_bad_value_exits_2_naming_the_knob_and_its_range(tmp_path, name, value, expected):
    line = _one_line(*_dry_run(tmp_path, {name: value})[::2])
    assert name in line and expected in line, line


@pytest.mark.parametrize("overrides,needles", [
    ({"num_env_runners": 5, "num_groups": 4}, ["num_env_runners=5 > num_groups=4"]),
    ({"num_learners": 3, "num_groups": 2}, ["num_groups=2 < num_learners=3"]),
    ({"history_length": 7}, ["history_length=7", "set history_length <= 6"]),
    ({"history_length": 4, "max_episode_steps": 3}, ["history_length=4", "<= 3"]),
    ({"minibatch_size": 97, "group_size": 4, "num_groups": 4},
     ["minibatch_size=97", "= 96 step rows"]),
    ({"lr": [[0, 1e-3], [100, 0.0]]}, ["lr schedule must be"]),
    ({"lr": [[5, 1e-3]]}, ["lr schedule must be"]),
])
def test_settings_impossible_together(tmp_path, overrides, needles):
    line = _one_line(*_dry_run(tmp_path, overrides)[::2])
    assert all(n in line for n in needles), line


def test_edges_of_the_cross_checks_are_accepted(tmp_path):
    ok = {"history_length": 6, "minibatch_size": 96, "num_env_runners": 0, "group_size": 4,
          "num_groups": 4,
          "lr": [[0, 1e-3], [1000, 1e-4]]}
    code, out, err = _dry_run(tmp_path, ok)
    assert code == 0 and out.startswith("ok: exp"), err


@pytest.mark.parametrize("typo,meant", [
    ("lr_rate", "lr"), ("learning_rate", "lr"), ("batch_size", "num_groups"),
    ("n_epochs", "num_epochs"), ("kl", "kl_coef"), ("temp", "temperature"),
    ("rollout_n", "group_size"), ("num_generations", "group_size"),
    ("max_grad_norm", "grad_clip"), ("entropy_coeff", "entropy_coef"),
    ("temperatur", "temperature"),   # no alias: spelling still works
])
def test_unknown_keys_hint_the_meant_knob(tmp_path, typo, meant):
    line = _one_line(*_dry_run(tmp_path, {typo: 1})[::2])
    assert f"unknown config key {typo!r}; did you mean {meant!r}?" in line, line


def test_every_alias_points_at_a_real_knob():
    from rllib_istar import IStarConfig

    known = set(IStarConfig()._known_keys())
    assert {t for t in KNOB_ALIASES.values()} <= known
    assert not set(KNOB_ALIASES) & {k.name for k in KNOBS}   # an alias never hides a knob
    assert KNOB_ALIASES["learning_rate"] == "lr" and KNOB_ALIASES["beta"] == "prm_beta"


def test_an_alias_that_hides_a_knob_or_is_claimed_twice_is_refused(monkeypatch):
    from rllib_istar.algorithm.knobs import KNOBS_BY_NAME

    monkeypatch.setattr(KNOBS_BY_NAME["prm_beta"], "aliases", ("beta", "prm_lr"))
    with pytest.raises(ValueError, match="alias 'prm_lr' of prm_beta is already a knob"):
        knob_aliases()
    monkeypatch.setattr(KNOBS_BY_NAME["prm_beta"], "aliases", ("beta", "kl"))
    with pytest.raises(ValueError, match=r"alias 'kl' of (prm_beta|kl_coef) is already an alias of (kl_coef|prm_beta)"):
        knob_aliases()
