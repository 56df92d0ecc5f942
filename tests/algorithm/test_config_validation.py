"""IStarConfig.validate(): typos, wrong types and impossible settings give one-line errors."""
import pytest

from rllib_istar import IStarConfig
from rllib_istar.algorithm.knobs import KNOBS


def _config(**settings):
    return IStarConfig().environment("rllib_istar/KeyCorridor-v0").update_from_dict(settings)


def _error(config) -> str:
    with pytest.raises(ValueError) as info:
        config.validate()
    return str(info.value).splitlines()[0]


def test_defaults_validate():
    _config().validate()


@pytest.mark.parametrize("typo,nearest", [("group_sise", "group_size"), ("prm_betta", "prm_beta"),
                                          ("advantage_estimater", "advantage_estimator")])
def test_unknown_key_names_the_nearest_valid_key(typo, nearest):
    msg = _error(_config(**{typo: 3}))
    assert typo in msg and f"did you mean '{nearest}'" in msg


def test_training_setter_rejects_unknown_keyword_with_hint():
    with pytest.raises(TypeError, match="did you mean 'group_size'"):
        IStarConfig().training(group_sizee=4)


@pytest.mark.parametrize("key,value,expected", [
    ("group_size", "eight", "group_size must be int"),
    ("prm_beta", -0.1, "prm_beta=-0.1 must be > 0"),
    ("step_advantage_weight", -1.0, "step_advantage_weight=-1.0 must be >= 0"),
    ("advantage_estimator", "grpoo", "choose one of"),
    ("prm_update", "later", "prm_update='later' is not valid"),
    ("trust_remote_code", "yes", "trust_remote_code must be bool"),
    ("group_size", True, "group_size must be int"),
])
def test_wrong_types_and_values(key, value, expected):
    assert expected in _error(_config(**{key: value}))


def test_impossible_settings_have_one_line_fixes():
    assert "set group_size >= 2" in _error(_config(group_size=1))
    assert "set prm_mode: full" in _error(_config(prm_mode="none"))
    _config(prm_mode="none", advantage_estimator="rloo").validate()
    assert "set ratio_level: token" in _error(_config(advantage_estimator="prime", ratio_level="step"))
    assert "set advantage_estimator to istar_rloo" in _error(
        _config(advantage_estimator="rloo", ablation="merged"))
    assert "top_p=0 must be in (0, 1]" in _error(_config(top_p=0))
    assert "each learner needs whole groups" in _error(
        _config(num_groups=1).learners(num_learners=2))


def test_real_model_knobs_fail_with_one_line_fixes():
    assert "list of non-empty strings" in _error(_config(stop_strings=["</action>", ""]))
    assert "list of non-empty strings" in _error(_config(stop_strings=[]))
    assert "set null for none" in _error(_config(response_prefix=""))
    assert "set model_dtype: float32" in _error(
        _config(autocast_dtype="bfloat16", model_dtype="bfloat16"))
    assert "use policy_mode: full or backend 'hf'" in _error(
        _config(policy_mode="lora", generation_backend="vllm"))
    assert "policy_microbatch_tokens=0 must be >= 1" in _error(_config(policy_microbatch_tokens=0))
    _config(stop_strings=["</action>"], response_prefix="<action>", autocast_dtype="bfloat16",
            policy_mode="lora", policy_microbatch_tokens=512).validate()


def test_unknown_env_lists_registered_ids():
    msg = _error(IStarConfig().environment("rllib_istar/KeyCoridor-v0"))
    assert "registered:" in msg and "rllib_istar/KeyCorridor-v0" in msg and "did you mean" in msg
    assert "no env set" in _error(IStarConfig())


def test_every_knob_is_documented_in_the_docstring():
    doc = IStarConfig.__doc__
    for knob in KNOBS:
        assert f"{knob.name} (default" in doc
    assert len({k.name for k in KNOBS}) == len(KNOBS)


def test_effective_ratio_level():
    assert _config().effective_ratio_level == "step"
    assert _config(advantage_estimator="prime").effective_ratio_level == "token"
    assert _config(ablation="token_level_pr").effective_ratio_level == "token"
    assert _config(ratio_level="step_product").effective_ratio_level == "step_product"
