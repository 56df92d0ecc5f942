"""policy_microbatch_tokens: token-budget micro-batches of the policy update.

The gradient summed over micro-batches must equal the one-pass minibatch gradient
(surrogate as a unit mean, KL and entropy as token means), measured on a learner
after a real ``train()`` (Adam moments, a moved pi_old), and only the policy's
parameters get gradients.
"""
import pytest
import torch
from algo_utils import tiny_config

from rllib_istar.learner.microbatches import token_budget_slices
from rllib_istar.learner.policy_microbatches import PolicyMicrobatchUpdate


@pytest.mark.parametrize("lengths, budget, expected", [
    ([3, 10, 4, 9], 20, [[1, 3], [2, 0]]),
    ([5, 5, 5, 5], 10, [[0, 1], [2, 3]]),
    ([5, 5, 5, 5], 1000, [[0, 1, 2, 3]]),
    ([30, 2], 10, [[0], [1]]),          # a row over the budget stands alone
    ([], 10, []),
])
def test_token_budget_slices_hand_made(lengths, budget, expected):
    assert token_budget_slices(lengths, budget) == expected


def test_token_budget_slices_cover_every_row_once_within_budget():
    gen = torch.Generator().manual_seed(0)
    for _ in range(50):
        lengths = torch.randint(1, 40, (int(torch.randint(1, 30, (1,), generator=gen)),),
                                generator=gen).tolist()
        budget = int(torch.randint(40, 200, (1,), generator=gen))
        groups = token_budget_slices(lengths, budget)
        assert sorted(i for g in groups for i in g) == list(range(len(lengths)))
        assert all(len(g) * max(lengths[i] for i in g) <= budget for g in groups)


def _grads_of_one_update(learner, batch, budget, monkeypatch):
    """Run ``_uncompiled_update`` on ``batch`` in token-budget micro-batches of ``budget``
    tokens (None: RLlib's one pass); capture the gradients handed to ``apply_gradients``
    instead of stepping."""
    captured = {}
    update = None if budget is None else PolicyMicrobatchUpdate(
        budget=budget, step_units=learner.config.effective_ratio_level != "token",
        loss_fn=learner.policy_loss, microbatcher=learner.microbatcher, log=lambda values: None)
    monkeypatch.setattr(learner, "policy_microbatches", update)
    monkeypatch.setattr(learner, "apply_gradients", lambda grads: captured.update(
        {k: v.detach().clone() for k, v in grads.items() if v is not None}))
    forwards = []
    module = learner.module["default_policy"]
    original = module.forward_train
    monkeypatch.setattr(module, "forward_train",
                        lambda b, **kw: forwards.append(len(b["input_ids"])) or original(b, **kw))
    learner._uncompiled_update(batch)
    monkeypatch.undo()
    return captured, forwards


@pytest.mark.parametrize("knobs", [
    {},                                                     # step ratio, surrogate only
    {"kl_coef": 0.1, "entropy_coef": 0.01},                 # + token-mean terms
    {"ratio_level": "token"},                               # token units
])
def test_microbatched_gradient_equals_the_one_pass_gradient_after_a_train(build, monkeypatch,
                                                                          knobs):
    algo = build(tiny_config("istar_rloo", minibatch_size=None, **knobs))
    learner = algo.learner_group._learner
    seen = {}
    original = learner._possibly_compiled_update  # what RLlib's _update calls
    learner._possibly_compiled_update = lambda batch, **kw: (seen.__setitem__("batch", batch),
                                                             original(batch, **kw))[1]
    algo.train()
    algo.train()  # the batch of a second update: after Adam steps, pi_old moved
    learner._possibly_compiled_update = original
    batch = seen["batch"]
    rows = len(batch["default_policy"]["input_ids"])
    whole, one = _grads_of_one_update(learner, batch, None, monkeypatch)
    split, many = _grads_of_one_update(learner, batch, 40, monkeypatch)
    assert one == [rows] and len(many) > 2 and sum(many) == rows
    policy_ids = {id(p) for p in learner.module["default_policy"].parameters()}
    assert set(split) == set(whole) and all(id(learner._params[k]) in policy_ids for k in split)
    for key in whole:
        torch.testing.assert_close(split[key], whole[key], rtol=1e-4, atol=1e-6)


def test_train_with_a_token_budget_logs_its_microbatches_and_moves_only_the_policy(build):
    from algo_utils import changed, module_state

    algo = build(tiny_config("rloo", minibatch_size=None, policy_microbatch_tokens=64))
    before = module_state(algo, "default_policy")
    result = algo.train()
    stats = result["learners"]["default_policy"]
    assert stats["num_policy_microbatches"] > 1
    assert len(changed(before, module_state(algo, "default_policy"))) == len(before)
