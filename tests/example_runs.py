"""One training iteration of a tuned example, built exactly as Tune would (the YAML's
config with its first variant), for tests/cli/test_tuned_examples.py,
tests/algorithm/test_real_model_slow.py and tests/envs/test_webshop_train.py."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Tuple

from rllib_istar.cli.experiments import Source, config_variants, experiments_from_file


def train_example_once(path: Path, **overrides) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """``(variant, result)``: ``path``'s YAML (``overrides`` on top) trained one iteration."""
    from rllib_istar import IStarConfig

    spec = experiments_from_file(str(path))[path.stem]
    variant, _, _ = next(config_variants(path.stem, spec["config"], Source(None)))
    variant = dict(variant, **overrides)
    algo = IStarConfig().update_from_dict(dict(variant, env=spec["env"])).build_algo()
    try:
        result = algo.train()
    finally:
        algo.stop()
    assert result["training_iteration"] == 1
    assert result["env_runners"]["num_episodes"] == variant["group_size"] * variant["num_groups"]
    return variant, result
