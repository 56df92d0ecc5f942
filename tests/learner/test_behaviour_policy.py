"""``BehaviourPolicy`` (``rollout_mode: async``): log-probs under the weights of one update
back, computed by swapping the kept tensors into the live module. Each test trains first,
so the kept and the live weights really differ."""
import copy

import pytest
import torch
from algo_utils import tiny_config

from rllib_istar import columns as C
from rllib_istar.learner.behaviour_policy import BehaviourPolicy, policy_lag


def _rows(algo):
    from rllib_istar.connectors.episodes_to_rows import episodes_to_rows

    return episodes_to_rows(algo.env_runner_group.local_env_runner.sample())


@pytest.mark.parametrize("mode", ["full", "lora"])
def test_kept_version_scores_like_a_copy_of_the_earlier_module(build, mode):
    algo = build(tiny_config("rloo", policy_mode=mode))
    algo.train()
    learner = algo.learner_group._learner
    policy = learner.module["default_policy"].unwrapped()
    earlier = copy.deepcopy(policy)
    behaviour = BehaviourPolicy(policy)
    behaviour.remember(7)
    algo.train()  # the live policy moves on
    live_state = {k: v.clone() for k, v in policy.state_dict().items()}
    rows = _rows(algo)
    chunked = learner.microbatcher.chunked_logp
    mask = rows[C.RESPONSE_MASK].bool()
    expected = chunked(earlier.token_logprobs, rows)
    live = chunked(policy.token_logprobs, rows)
    assert not torch.allclose(expected[mask], live[mask], atol=1e-4), "the policy should move"

    versions = torch.full((len(mask),), 7)
    assert torch.equal(behaviour.logp(chunked, policy.token_logprobs, rows, versions, 8), expected)
    # rows of the learner's own version use the live weights
    assert torch.equal(behaviour.logp(chunked, policy.token_logprobs, rows, versions + 1, 8), live)
    # a batch mixing both versions: each row under its own policy
    mixed = torch.tensor([7, 8] * len(mask))[: len(mask)]
    out = behaviour.logp(chunked, policy.token_logprobs, rows, mixed, 8)
    old = mixed == 7
    assert torch.allclose(out[old], expected[old], atol=1e-6)
    assert torch.allclose(out[~old], live[~old], atol=1e-6)
    # the live weights are back, values and parameter objects alike
    assert all(torch.equal(live_state[k], v) for k, v in policy.state_dict().items())
    assert torch.equal(chunked(policy.token_logprobs, rows), live)
    # only the trainable parameters are kept (LoRA: the adapters)
    trainable = {n for n, p in policy.named_parameters() if p.requires_grad}
    assert set(behaviour._saved) == trainable
    if mode == "lora":
        assert len(trainable) < len(dict(policy.named_parameters()))


def test_a_version_neither_kept_nor_live_is_refused(build):
    algo = build(tiny_config("rloo"))
    learner = algo.learner_group._learner
    policy = learner.module["default_policy"].unwrapped()
    behaviour = BehaviourPolicy(policy)
    behaviour.remember(3)
    rows = _rows(algo)
    n = len(rows[C.RESPONSE_MASK])
    with pytest.raises(RuntimeError, match=r"version\(s\) \[1\].*holds versions \[3, 4\]"):
        behaviour.logp(learner.microbatcher.chunked_logp, policy.token_logprobs, rows,
                       torch.ones(n, dtype=torch.long), 4)


def test_policy_lag_counts_updates_behind_the_learner():
    rows = {C.STEP_POLICY_VERSION: torch.tensor([4, 4, 3])}
    assert policy_lag(rows, 4).tolist() == [0, 0, 1]
    assert policy_lag({}, 4) is None


def test_every_sampled_row_records_the_runners_weights_version(build):
    algo = build(tiny_config("rloo"))
    rows = _rows(algo)
    assert set(rows[C.STEP_POLICY_VERSION].tolist()) == {0}
    algo.train()
    algo.train()  # each train() ends with a sync: the runner holds the learner's version
    assert set(_rows(algo)[C.STEP_POLICY_VERSION].tolist()) == {2}
