"""The benchmark settings read from the tuned YAMLs are the ones the committed results
were produced with (no Ray, no training: milliseconds)."""
from __future__ import annotations

import json
import os

import pytest

from benchmarks import settings as S

RESULTS = os.path.join(S.ROOT, "docs", "benchmark_results")

# The literal settings of the committed results (docs/benchmark_results/*.json), as the
# benchmark scripts wrote them before they read the tuned YAMLs.
TOY = dict(group_size=8, num_groups=8, max_new_tokens=2, lr=1e-3, num_epochs=3,
           format_warmup_steps=150, prm_lr=1e-3, prm_beta=0.05, step_advantage_weight=0.1)
SOKOBAN = dict(group_size=8, num_groups=4, max_new_tokens=2, lr=1e-3, num_epochs=3,
               format_warmup_steps=150, prm_lr=1e-3, prm_beta=0.05, step_advantage_weight=0.1,
               microbatch_size=32)


def _load(name):
    with open(os.path.join(RESULTS, name)) as f:
        return json.load(f)


def test_shared_settings_are_the_committed_ones():
    assert S.SHARED == {"toy": TOY, "sokoban": SOKOBAN}
    assert all(type(S.SHARED[env][k]) is type(v) for env, lit in (("toy", TOY), ("sokoban", SOKOBAN))
               for k, v in lit.items())  # 1.0e-3 in YAML is a float, 8 an int
    assert S.ENV_IDS == {"toy": "rllib_istar/KeyCorridor-v0", "sokoban": "rllib_istar/Sokoban-v0"}
    assert S.ENV_CONFIGS == {"toy": {}, "sokoban": {"action_format": "bare"}}


@pytest.mark.parametrize("name", sorted(n for n in os.listdir(RESULTS)
                                        if n.startswith("learning") and n.endswith(".json")))
def test_every_committed_learning_run_has_the_loaded_settings(name):
    runs = _load(name)["runs"]
    assert runs
    for key, run in runs.items():
        shared = S.SHARED[run["env"]]
        if run["variant"] != "main":
            shared = {**shared, **S.SWEEP[run["variant"]]}
        assert run["settings"] == S.method_settings(shared, run["method"]), key


def test_committed_cost_runs_have_the_loaded_settings():
    it = _load("cost.json")["iteration"]
    assert {env: d["settings"] for env, d in it.items()} == S.SHARED


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
