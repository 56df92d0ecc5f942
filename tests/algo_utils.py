"""Tiny IStar configs and state helpers shared by the algorithm and learner tests
(a plain module on the path through tests/conftest.py's folder)."""
import torch


def tiny_config(estimator="istar_rloo", **overrides):
    from rllib_istar import IStarConfig

    knobs = dict(advantage_estimator=estimator, group_size=4, num_groups=2, max_new_tokens=2,
                 lr=1e-2, prm_lr=1e-2, format_warmup_steps=20, microbatch_size=8,
                 num_epochs=1, step_advantage_weight=1.0)
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
