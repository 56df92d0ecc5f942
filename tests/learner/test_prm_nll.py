"""``prm_nll_coef``: DPO + NLL on the winners' responses, with exact micro-batch accumulation,
moving the PRM's weights only; measured after a real ``train()``."""
import pytest
import torch
from algo_utils import changed, module_state, tiny_config

from rllib_istar import columns as C
from rllib_istar.learner import prm_phase as prm_phase_module
from rllib_istar.learner.microbatches import whole_group_microbatches
from rllib_istar.connectors.episodes_to_rows import episodes_to_rows
from rllib_istar.core import prm_losses, step_rewards
from rllib_istar.core.segments import masked_sum


def _rows_with_pairs(algo):
    """A fresh batch with at least one preference pair (re-sampled a few times if needed)."""
    for _ in range(10):
        rows = episodes_to_rows(algo.env_runner_group.local_env_runner.sample())
        if len(prm_losses.preference_pairs(rows[C.TRAJ_OUTCOME], rows[C.TRAJ_GROUP], 0.0)):
            return rows
    raise AssertionError("no batch with a preference pair in 10 samples")


def _captured_grads(learner, rows, ref):
    seen = {}
    phase = learner.prm_phase
    original = phase.step_optimizers

    def capture(params, grads):
        seen.update({pid: g.clone() for pid, g in grads.items()})
        return original(params, grads)

    phase.step_optimizers = capture
    metrics = phase.dpo_step(rows, ref)
    phase.step_optimizers = original
    return seen, metrics


@pytest.mark.parametrize("coef,paths", [(0.0, "two_pass"), (2.0, "two_pass"), (0.0, "one_pass"),
                                        (2.0, "one_pass"), (2.0, "mixed")])
def test_dpo_plus_nll_gradient_equals_one_full_batch_autograd(build, monkeypatch, coef, paths):
    """Every group beyond a micro-batch (two passes each), every group packed in
    micro-batches (one pass), and both in one step."""
    algo = build(tiny_config("istar_rloo", prm_nll_coef=coef, prm_grad_clip=None, lr=1e-3,
                             microbatch_size=3, num_groups=4))
    algo.train()  # a trained state: moved policy, PRM and Adam moments
    learner = algo.learner_group._learner
    rows = _rows_with_pairs(algo)
    largest = int(torch.bincount(rows[C.STEP_GROUP]).max())
    learner.microbatcher.microbatch_size = {"two_pass": 5, "one_pass": 2 * largest,
                                            "mixed": largest}[paths]
    planned = []

    def plan(step_group, size):
        packed, oversized = whole_group_microbatches(step_group, size)
        if paths == "mixed":  # half the groups take the two-pass path
            packed, oversized = packed[: len(packed) // 2], oversized + packed[len(packed) // 2:]
        planned.append((len(packed) > 0, len(oversized) > 0))
        return packed, oversized

    monkeypatch.setattr(prm_phase_module, "whole_group_microbatches", plan)
    ref = learner._old_logp(rows)
    prm = learner.module["prm"]
    pairs = prm_losses.preference_pairs(rows[C.TRAJ_OUTCOME], rows[C.TRAJ_GROUP], 0.0)
    # by hand: one forward with gradients over the whole batch
    for p in prm.parameters():
        p.grad = None
    logp = prm.forward_train({k: rows[k] for k in (C.INPUT_IDS, C.ATTENTION_MASK,
                                                  C.RESPONSE_MASK)})[C.LOGP]
    mask = rows[C.RESPONSE_MASK]
    s = step_rewards.step_logratio(logp, ref, mask)
    loss = prm_losses.trajectory_dpo_loss(s, rows[C.STEP_TRAJ], pairs, algo.config.prm_beta,
                                          num_trajectories=len(rows[C.TRAJ_OUTCOME])).loss
    weights = prm_losses.winner_token_weights(rows[C.STEP_TRAJ], pairs, mask)
    nll = -(weights * masked_sum(logp, mask, dim=-1)).sum()
    (loss + coef * nll).backward()
    want = {id(p): p.grad.clone() for p in prm.parameters() if p.grad is not None}
    by_param = {id(p): pid for pid, p in learner._params.items()}
    got, metrics = _captured_grads(learner, rows, ref)
    assert planned == [{"two_pass": (False, True), "one_pass": (True, False),
                        "mixed": (True, True)}[paths]]
    assert len(got) == len(want)
    for param_id, grad in want.items():
        assert torch.allclose(got[by_param[param_id]], grad, atol=1e-6, rtol=1e-4)
    if coef:
        assert metrics["winner_nll"] == pytest.approx(float(nll), rel=1e-4)
    else:
        assert "winner_nll" not in metrics


def test_nll_term_moves_the_prm_only_and_raises_the_winners_likelihood(build):
    algo = build(tiny_config("istar_rloo", prm_nll_coef=5.0, lr=1e-3, num_groups=4))
    algo.train()
    learner = algo.learner_group._learner
    rows = _rows_with_pairs(algo)
    ref = learner._old_logp(rows)
    prm = learner.module["prm"]
    pairs = prm_losses.preference_pairs(rows[C.TRAJ_OUTCOME], rows[C.TRAJ_GROUP], 0.0)
    winners = prm_losses.winner_token_weights(rows[C.STEP_TRAJ], pairs, rows[C.RESPONSE_MASK]) > 0
    before = masked_sum(learner.microbatcher.chunked_logp(prm.token_logprobs, rows), rows[C.RESPONSE_MASK], -1)
    policy0 = module_state(algo, "default_policy")
    learner.prm_phase.dpo_step(rows, ref)
    after = masked_sum(learner.microbatcher.chunked_logp(prm.token_logprobs, rows), rows[C.RESPONSE_MASK], -1)
    assert changed(policy0, module_state(algo, "default_policy")) == []
    assert float(after[winners].mean()) > float(before[winners].mean())
