"""The benchmark settings read from the tuned YAMLs are the ones the committed results
were produced with (no Ray, no training: milliseconds)."""
from __future__ import annotations

import os

import pytest

from benchmarks import settings as S
from benchmarks.results_io import load_json, result_names
from rllib_istar import IStarConfig
from rllib_istar.core.step_norms import STEP_ADV_NORMS

RESULTS = S.RESULTS_DIR

# The literal settings of the committed results (benchmarks/results/), as the
# benchmark scripts wrote them before they read the tuned YAMLs.
TOY = dict(group_size=8, num_groups=8, max_new_tokens=2, lr=1e-3, num_epochs=3,
           format_warmup_steps=150, prm_lr=1e-3, prm_beta=0.05, step_advantage_weight=0.1)
SOKOBAN = dict(group_size=8, num_groups=4, max_new_tokens=2, lr=1e-3, num_epochs=3,
               format_warmup_steps=150, prm_lr=1e-3, prm_beta=0.05, step_advantage_weight=0.1,
               microbatch_size=32)
CREDIT = dict(group_size=8, num_groups=8, max_new_tokens=2, lr=1e-3, num_epochs=3,
              format_warmup_steps=150, prm_lr=3e-4, prm_epochs=3, step_advantage_weight=1.0)

# Social-v0 and WebShop-v0 (issue 13): first run with these settings.
SOCIAL = dict(outcome="return", pair_margin=0.05, format_warmup_steps=100, max_new_tokens=16,
              history_length=0, group_size=8, num_groups=4, lr=1e-3, prm_lr=3e-4, num_epochs=3,
              step_advantage_weight=0.1)
WEBSHOP = dict(format_warmup_steps=150, response_prefix="<think> </think> <action>",
               stop_strings=["</action>"], max_new_tokens=4, history_length=1, group_size=8,
               num_groups=4, lr=1e-3, prm_lr=3e-4, num_epochs=3, step_advantage_weight=0.1)


def _load(name):
    return load_json(os.path.join(RESULTS, name))


def test_shared_settings_are_the_committed_ones():
    literal = {"toy": TOY, "sokoban": SOKOBAN, "credit": CREDIT, "social": SOCIAL,
               "webshop": WEBSHOP}
    assert S.SHARED == literal
    assert all(type(S.SHARED[env][k]) is type(v) for env, lit in literal.items()
               for k, v in lit.items())  # 1.0e-3 in YAML is a float, 8 an int
    assert S.ENV_IDS == {"toy": "rllib_istar/KeyCorridor-v0", "sokoban": "rllib_istar/Sokoban-v0",
                         "credit": "rllib_istar/CreditChain-v0", "social": "rllib_istar/Social-v0",
                         "webshop": "rllib_istar/WebShop-v0"}
    assert S.ENV_CONFIGS == {
        "toy": {}, "sokoban": {"action_format": "bare"}, "credit": {},
        "social": {"judge": "rule", "reward": "goal", "max_turns": 8, "max_steps": 4,
                   "max_utterance_chars": 120},
        "webshop": {"num_products": 20, "search_mode": "listed", "max_steps": 10,
                    "reward_mode": "success_10"}}


def test_the_norms_default_arm_is_istarconfigs_default():
    assert S.NORM_DEFAULT == IStarConfig().step_adv_norm
    assert f"norm_{S.NORM_DEFAULT}" in S.NORMS
    assert {v["step_adv_norm"] for v in S.NORMS.values()} == set(STEP_ADV_NORMS)


@pytest.mark.parametrize("name", result_names(RESULTS, "learning"))
def test_every_committed_learning_run_has_the_loaded_settings(name):
    runs = _load(name)["runs"]
    assert runs
    for key, run in runs.items():
        shared = S.SHARED[run["env"]]
        shared = {**shared, **S.variant_knobs(run["variant"])}
        assert run["settings"] == S.method_settings(shared, run["method"]), key


def test_committed_cost_runs_have_the_loaded_settings():
    it = _load("cost.json")["iteration"]
    assert {env: d["settings"] for env, d in it.items()} == {
        env: S.SHARED[env] for env in ("toy", "sokoban")}  # the cost benchmark runs these two


def test_credit_env_arms_are_the_envs_presets():
    from rllib_istar.envs import CREDIT_PRESETS

    for name, knobs in S.CREDIT_ENV_ARMS.items():
        assert knobs["env_config"] == CREDIT_PRESETS[name]
    # a graded env reward only reaches the advantages as the trajectory's return
    assert S.CREDIT_ENV_ARMS["graded"]["outcome"] == "return"
    tables = (S.SWEEP, S.NORMS, S.CREDIT_SWEEP, S.CREDIT_ENV_ARMS, S.TOY_AFTER)
    assert len(set().union(*tables)) == sum(map(len, tables))  # variant names are unique
    with pytest.raises(KeyError, match="unknown benchmark variant"):
        S.variant_knobs("nope")


def test_the_toy_after_variant_is_the_tuned_yaml():
    """The re-run toy variant trains with the YAML's prm_lr (OVERRIDES pins the older
    results' 1e-3; the variant puts the YAML's value back)."""
    import yaml

    with open(os.path.join(S.ROOT, "tuned_examples", S.TUNED_YAML["toy"])) as f:
        (experiment,) = yaml.safe_load(f).values()
    (knobs,) = S.TOY_AFTER.values()
    assert knobs == {"prm_lr": experiment["config"]["prm_lr"]}
    assert S.OVERRIDES["toy"]["prm_lr"] == 1e-3


def test_a_method_replaces_only_estimator_and_ablation():
    merged = S.method_settings(S.SHARED["toy"], "merged")
    assert merged == {**TOY, "advantage_estimator": "istar_rloo", "ablation": "merged"}
    assert S.method_settings(S.SHARED["toy"], "rloo") == {**TOY, "advantage_estimator": "rloo"}


def test_a_yaml_naming_another_model_is_refused(monkeypatch, tmp_path):
    (tmp_path / "tuned_examples").mkdir()
    (tmp_path / "tuned_examples" / "toy_istar_cpu.yaml").write_text(
        "x:\n  env: rllib_istar/KeyCorridor-v0\n  config:\n    model_path: /some/model\n")
    monkeypatch.setattr(S, "ROOT", str(tmp_path))
    with pytest.raises(ValueError, match="model_path"):
        S.load_tuned("toy")
