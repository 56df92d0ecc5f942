"""tuned_examples/: every YAML loads and validates, comparisons are like for like,
every value is annotated, and every CPU YAML runs one training iteration."""
import importlib.util
import re

import pytest
from cli_helpers import EXAMPLES
from example_runs import train_example_once

from rllib_istar.cli.common import load_yaml_file
from rllib_istar.cli.experiments import experiments_from_file

ALL = sorted(EXAMPLES.glob("*.yaml"))
CPU = [p for p in ALL if p.stem.endswith("_cpu")]
GPU = [p for p in ALL if p.stem.endswith("_gpu")]
# real pretrained models (a local folder made by `rllib fetch-model`): one iteration of
# each runs in tests/algorithm/test_real_model_slow.py when the folder exists
REAL = [p for p in CPU if "smollm2" in p.stem]
ESTIMATOR_KEYS = {"advantage_estimator", "lr", "gigpo_gamma", "gigpo_step_norm"}


def test_every_example_is_cpu_or_gpu_and_both_kinds_exist():
    assert set(ALL) == set(CPU) | set(GPU)
    assert len(CPU) >= 13 and len(GPU) >= 4


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_example_loads_and_validates(path):
    overrides = {}
    if path in GPU:  # no vLLM nor the local Qwen checkpoint on a CPU test machine
        overrides = {"generation_backend": "hf"} if importlib.util.find_spec("vllm") is None else {}
    experiments = experiments_from_file(str(path), config=overrides or None,
                                        check_paths=path in CPU and path not in REAL)
    assert list(experiments) == [path.stem], "the experiment is named like its file"
    spec = experiments[path.stem]
    assert spec["run"] == "IStar" and spec["stop"] and spec["checkpoint_config"]


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_every_config_value_cites_its_source(path):
    """Each line under ``config:`` that sets a value carries a comment."""
    lines = path.read_text().splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.strip() == "config:")
    for line in lines[start + 1:]:
        if re.match(r"^\s+[\w/]+:\s*\S", line) and "grid_search" not in line:
            assert "#" in line, f"{path.name}: no source comment on {line.strip()!r}"


@pytest.mark.parametrize("prefix,kind,minimum", [
    ("toy_", "_cpu", 4), ("sokoban_", "_cpu", 4), ("sokoban_", "_gpu", 4),
    ("toy_", "_smollm2_cpu", 2), ("sokoban_", "_smollm2_cpu", 2),
    ("visual_sokoban_", "_cpu", 3), ("visual_sokoban_", "_gpu", 3),
    ("social_", "_cpu", 3), ("social_", "_gpu", 2), ("webshop_", "_cpu", 3), ("webshop_", "_gpu", 2)])
def test_methods_compare_like_for_like(prefix, kind, minimum):
    """Same budget, seed and settings; only the estimator (and the authors' lr) differ."""
    real = "smollm2" in kind
    files = [p for p in ALL if p.stem.startswith(prefix) and p.stem.endswith(kind)
             and "search" not in p.stem and (p in REAL) == real]
    assert len(files) >= minimum
    shapes = {}
    for path in files:
        data, _ = load_yaml_file(str(path))
        spec = dict(next(iter(data.values())))
        config = {k: v for k, v in spec.pop("config").items() if k not in ESTIMATOR_KEYS}
        if kind == "_cpu":
            config["lr"] = next(iter(data.values()))["config"]["lr"]  # CPU: one lr for all
        shapes[path.name] = (spec, config)
    first = next(iter(shapes.values()))
    for name, shape in shapes.items():
        assert shape == first, f"{name} differs from {files[0].name}"


def test_examples_leave_bf16_to_the_hardware():
    """Every example that autocasts says ``auto`` (bf16 only where the CPU or GPU computes
    it natively, rllib_istar/lm/precision.py): an explicit bfloat16 is several times
    slower on a CPU that emulates it. The real-model examples all autocast."""
    cast = {}
    for path in ALL:
        data, _ = load_yaml_file(str(path))
        config = next(iter(data.values()))["config"]
        if config.get("autocast_dtype") is not None:
            cast[path.name] = config["autocast_dtype"]
    assert {p.name for p in REAL} <= set(cast), "the SmolLM2 examples autocast"
    assert set(cast.values()) == {"auto"}, cast


def test_search_example_grids_alpha_and_beta():
    data, _ = load_yaml_file(str(EXAMPLES / "toy_istar_search_cpu.yaml"))
    config = data["toy_istar_search_cpu"]["config"]
    assert len(config["step_advantage_weight"]["grid_search"]) >= 2
    assert len(config["prm_beta"]["grid_search"]) >= 2


def test_paper_scale_examples_use_the_authors_values():
    data, _ = load_yaml_file(str(EXAMPLES / "sokoban_istar_gpu.yaml"))
    spec = data["sokoban_istar_gpu"]
    c = spec["config"]
    assert (c["group_size"], c["num_groups"], c["prm_beta"], c["step_advantage_weight"],
            c["invalid_action_penalty"], c["history_length"], c["env_config"]["max_steps"],
            c["lr"], c["prm_lr"]) == (8, 32, 0.05, 1.0, 0.1, 2, 15, 5e-7, 1e-6)
    assert "Qwen2.5" in c["model_path"] and spec["stop"]["training_iteration"] == 200


# The main job runs through Tune in test_train_and_evaluate.py; the others build the
# algorithm from exactly the config Tune would pass and train one iteration.
# WebShop's YAMLs start with a 150-step format warm-up on ~200-word prompts (about 5 min
# on 2 cores, once per cache): slow-marked; tests/envs/test_webshop_train.py trains the
# same YAML for one iteration at a tiny budget in the unmarked tier.
ONE_ITERATION = [pytest.param(p, id=p.name, marks=[pytest.mark.slow] if "webshop" in p.stem else [])
                 for p in CPU if p.name != "toy_istar_cpu.yaml" and p not in REAL]


@pytest.mark.parametrize("path", ONE_ITERATION)
def test_cpu_example_trains_one_iteration(path, ray_session):
    _, result = train_example_once(path)
    runners = result["env_runners"]
    assert 0.0 <= runners["success_rate"] <= 1.0
    assert runners["invalid_action_rate"] < 0.5, "the format warm-up teaches the action format"


def test_visual_paper_scale_examples_use_the_authors_values():
    """VisualSokoban at the authors' scale: a local Qwen2.5-VL, their batch, lrs and the
    96x96 sprite image; the hf backend (vLLM takes no image prompts here)."""
    for method, lr in (("istar", 5e-7), ("rloo", 1e-6), ("gigpo", 1e-6)):
        data, _ = load_yaml_file(str(EXAMPLES / f"visual_sokoban_{method}_gpu.yaml"))
        c = data[f"visual_sokoban_{method}_gpu"]["config"]
        assert "Qwen2.5-VL" in c["model_path"] and c["generation_backend"] == "hf"
        assert (c["group_size"], c["num_groups"], c["lr"], c["prm_lr"], c["env_config"]["tiles"],
                c["env_config"]["tile_px"], c["env_config"]["max_steps"]) == \
            (8, 32, lr, 1e-6, "sprites", 16, 15)
