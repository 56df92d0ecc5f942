"""Tiny IStar configs and helpers shared by the algorithm tests."""
import pytest
import torch


def tiny_config(estimator="istar_rloo", **overrides):
    from rllib_istar import IStarConfig

    knobs = dict(advantage_estimator=estimator, group_size=4, num_groups=2, max_new_tokens=2,
                 lr=1e-2, prm_lr=1e-2, format_warmup_steps=20, microbatch_size=8)
    knobs.update(overrides)
    return (IStarConfig().environment("rllib_istar/KeyCorridor-v0").debugging(seed=0)
            .training(**knobs))


def module_state(algo, module_id):
    state = algo.learner_group.get_state(
        components=f"learner/rl_module/{module_id}")["learner"]["rl_module"][module_id]
    return {k: v.clone() for k, v in state.items()}


def changed(before, after):
    """Names of tensors that differ."""
    return [k for k in before if not torch.equal(before[k], after[k])]


@pytest.fixture
def build(ray_session):
    """Build an algo from a config; stopped at the end of the test."""
    algos = []

    def _build(config):
        algo = config.build_algo()
        algos.append(algo)
        return algo

    yield _build
    for algo in algos:
        algo.stop()
