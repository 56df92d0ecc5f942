"""The PRM phase at one forward-backward per step: PRIME's cross-entropy gradient equals
one full-batch autograd, and with ``prm_update: after`` the first step's forward is the
scoring pass (the same scores as a separate pass, and no second pass over the rows).
Each test runs a real ``train()`` first (moved policy, PRM and Adam moments)."""
import pytest
import torch
from algo_utils import tiny_config

from rllib_istar import columns as C
from rllib_istar import metrics as M
from rllib_istar.connectors.episodes_to_rows import episodes_to_rows
from rllib_istar.core import prm_losses, step_rewards


def _rows(algo, with_pairs=False):
    """A fresh batch on the learner's device; ``with_pairs``: one with a preference pair."""
    device = algo.learner_group._learner._device
    for _ in range(10):
        rows = episodes_to_rows(algo.env_runner_group.local_env_runner.sample()).to(device)
        if not with_pairs or len(prm_losses.preference_pairs(rows[C.TRAJ_OUTCOME],
                                                             rows[C.TRAJ_GROUP], 0.0)):
            return rows
    raise AssertionError("no batch with a preference pair in 10 samples")


def _capture_step(phase):
    """Record the PRM gradients the next optimizer step receives."""
    seen = {}
    original = phase.step_optimizers

    def capture(params, grads):
        seen.update({pid: g.clone() for pid, g in grads.items()})
        return original(params, grads)

    phase.step_optimizers = capture
    return seen


def test_prime_ce_gradient_equals_one_full_batch_autograd(build):
    algo = build(tiny_config("prime", prm_grad_clip=None, lr=1e-3, microbatch_size=5,
                             num_groups=4))
    algo.train()
    learner = algo.learner_group._learner
    rows = _rows(algo)
    ref = learner._old_logp(rows)
    prm = learner.module["prm"]
    for p in prm.parameters():
        p.grad = None
    logp = prm.forward_train({k: rows[k] for k in (C.INPUT_IDS, C.ATTENTION_MASK,
                                                  C.RESPONSE_MASK)})[C.LOGP]
    mask = rows[C.RESPONSE_MASK]
    labels = rows[C.TRAJ_WON][rows[C.STEP_TRAJ]]
    whole = prm_losses.prime_ce_loss((logp - ref) * mask, mask, labels, algo.config.prm_beta)
    whole.loss.backward()
    want = {id(p): p.grad.clone() for p in prm.parameters() if p.grad is not None}
    by_param = {id(p): pid for pid, p in learner._params.items()}
    seen = _capture_step(learner.prm_phase)
    metrics = learner.prm_phase.ce_step(rows, ref)
    assert len(rows[C.INPUT_IDS]) > 5 and len(seen) == len(want)  # several micro-batches
    for param_id, grad in want.items():
        assert torch.allclose(seen[by_param[param_id]], grad, atol=1e-6, rtol=1e-4)
    assert metrics[M.PRM_CE_LOSS] == pytest.approx(float(whole.loss), rel=1e-5)


def _count_rows(phase):
    """Rows through the PRM's train-mode forward and its no-grad scoring, per call."""
    counts = {"train": 0, "no_grad": 0}
    forward_train, token_logprobs = phase.forward_train, phase.token_logprobs

    def train(batch):
        counts["train"] += len(batch[C.INPUT_IDS])
        return forward_train(batch)

    def no_grad(ids, *args, **kwargs):
        counts["no_grad"] += len(ids)
        return token_logprobs(ids, *args, **kwargs)

    phase.forward_train, phase.token_logprobs = train, no_grad
    return counts


@pytest.mark.parametrize("loss", ["istar_rloo", "prime"])
def test_scoring_after_reuses_the_first_steps_forward(build, loss):
    algo = build(tiny_config(loss, prm_update="after", microbatch_size=64, num_groups=4,
                             same_state_credit=False))
    algo.train()
    learner = algo.learner_group._learner
    phase = learner.prm_phase
    rows = _rows(algo, with_pairs=loss == "istar_rloo")  # DPO steps only with a pair
    old = learner._old_logp(rows)
    before = learner.microbatcher.chunked_logp(phase.token_logprobs, rows)  # a separate pass
    counts = _count_rows(phase)
    scores = phase.run(rows, old, None)
    n = len(rows[C.INPUT_IDS])
    assert counts == {"train": n, "no_grad": 0}  # one pass over the rows, with gradients
    expected = step_rewards.implicit_step_rewards(before, old, rows[C.RESPONSE_MASK],
                                                  algo.config.prm_beta)
    assert torch.allclose(scores.step_rewards, expected, atol=1e-6)
    after = learner.microbatcher.chunked_logp(phase.token_logprobs, rows)
    assert not torch.allclose(after, before)  # the step moved the PRM: scores predate it


def test_scoring_before_the_update_still_scores_after_it(build):
    algo = build(tiny_config("istar_rloo", prm_update="before", microbatch_size=64, num_groups=4,
                             same_state_credit=False))
    algo.train()
    learner = algo.learner_group._learner
    phase = learner.prm_phase
    rows = _rows(algo, with_pairs=True)
    old = learner._old_logp(rows)
    counts = _count_rows(phase)
    scores = phase.run(rows, old, None)
    n = len(rows[C.INPUT_IDS])
    assert counts == {"train": n, "no_grad": n}  # the update, then the scoring pass
    after = learner.microbatcher.chunked_logp(phase.token_logprobs, rows)
    expected = step_rewards.implicit_step_rewards(after, old, rows[C.RESPONSE_MASK],
                                                  algo.config.prm_beta)
    assert torch.allclose(scores.step_rewards, expected, atol=1e-6)
