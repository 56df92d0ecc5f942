"""Gradient checkpointing recomputes activations in the backward pass and changes no number:
two iterations with and without it end with the same weights and losses (LoRA policy and
PRM, as the real-model YAMLs train), so 'auto' may turn it on for a checkpoint."""
import torch
from algo_utils import module_state, tiny_config


def test_checkpointing_changes_no_number(build):
    runs = {}
    for on in (False, True):
        algo = build(tiny_config("istar_rloo", policy_mode="lora", prm_mode="lora",
                                 gradient_checkpointing=on))
        lm = algo.learner_group._learner.module["default_policy"].unwrapped().lm
        flag = getattr(type(lm), "is_activation_checkpointing", None)  # transformers >= 5.2x
        assert (lm.is_activation_checkpointing if flag else lm.is_gradient_checkpointing) == on
        results = [algo.train() for _ in range(2)]
        runs[on] = ({m: module_state(algo, m) for m in ("default_policy", "prm")},
                    [r["learners"]["default_policy"]["policy_loss"] for r in results],
                    [r["learners"]["prm"]["dpo_loss"] for r in results])
        algo.stop()
    (states_off, loss_off, dpo_off), (states_on, loss_on, dpo_on) = runs[False], runs[True]
    assert loss_off == loss_on and dpo_off == dpo_on
    for m in states_off:
        assert all(torch.equal(states_off[m][k], states_on[m][k]) for k in states_off[m]), m
