"""The core math runs on CUDA tensors and agrees with the CPU (skipped without CUDA).

The default device stays the CPU, so a core function that builds a tensor
without ``device=`` (a device bug) fails here with a device mismatch.
Imports no Ray.
"""
from __future__ import annotations

import pytest
import torch

from rllib_istar.core import advantages, gigpo, policy_losses, prm_losses, step_rewards

pytestmark = pytest.mark.gpu


def _to(x, device):
    if isinstance(x, torch.Tensor):
        return x.to(device)
    if isinstance(x, tuple):
        return tuple(_to(v, device) for v in x)
    if isinstance(x, dict):
        return {k: _to(v, device) for k, v in x.items()}
    return x


def _same_on_cuda(fn, *args, **kwargs):
    """Run ``fn`` on CPU and CUDA copies of the inputs; outputs must be on CUDA and agree."""
    cpu = fn(*args, **kwargs)
    gpu = fn(*_to(args, "cuda"), **_to(kwargs, "cuda"))
    flat_c = [v for v in (cpu if isinstance(cpu, tuple) else (cpu,)) if isinstance(v, torch.Tensor)]
    flat_g = [v for v in (gpu if isinstance(gpu, tuple) else (gpu,)) if isinstance(v, torch.Tensor)]
    for c, g in zip(flat_c, flat_g):
        assert g.device.type == "cuda"
        torch.testing.assert_close(g.cpu(), c, atol=1e-5, rtol=1e-5)
    return gpu


OUTCOMES = torch.tensor([1.0, 0.0, 0.0, 1.0, 0.5, 0.5, 0.0, 1.0])
TRAJ_GROUP = torch.tensor([0, 0, 0, 0, 1, 1, 2, 2])
STEP_TRAJ = torch.tensor([0, 0, 1, 2, 2, 2, 3, 4, 5, 6, 7, 7])
STEP_GROUP = TRAJ_GROUP[STEP_TRAJ]


def _token_batch(seed=0, n=12, t=6):
    g = torch.Generator().manual_seed(seed)
    mask = torch.zeros(n, t)
    for i in range(n):
        start = int(torch.randint(0, 3, (1,), generator=g))
        mask[i, start:start + 1 + i % 3] = 1
    return (torch.randn(n, t, generator=g) * 0.1 - 1, torch.randn(n, t, generator=g) * 0.1 - 1, mask)


@pytest.mark.parametrize("name", ["grpo", "grpo_mean", "rloo", "reinforce_pp"])
def test_episode_and_step_advantages_on_cuda(name):
    _same_on_cuda(advantages.episode_advantages, name, OUTCOMES, TRAJ_GROUP)
    step_r = torch.linspace(-1, 1, len(STEP_TRAJ))
    _same_on_cuda(advantages.step_advantages, step_r, STEP_GROUP)
    _same_on_cuda(advantages.merged_outcomes, OUTCOMES, step_r, STEP_TRAJ, 0.5)


def test_gigpo_on_cuda():
    rewards = torch.tensor([0.0, 1.0, 0.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 1.0])
    index = torch.tensor([0, 1, 0, 0, 1, 2, 0, 0, 0, 0, 0, 1])
    returns = _same_on_cuda(gigpo.discounted_returns, rewards, STEP_TRAJ, index, 0.9)
    keys = ["a", "b", "a", "a", "b", "c", "a", "a", "x", "x", "x", "y"]
    anchors = gigpo.anchor_ids(STEP_GROUP.cuda(), keys)
    assert anchors.device.type == "cuda"
    _same_on_cuda(gigpo.anchor_step_advantages, returns.cpu(), anchors.cpu(), "std")


def test_prm_losses_on_cuda_and_gradient_stays_on_cuda():
    pairs = _same_on_cuda(prm_losses.preference_pairs, OUTCOMES, TRAJ_GROUP)
    assert prm_losses.groups_without_pairs(OUTCOMES.cuda(), TRAJ_GROUP.cuda()) == \
        prm_losses.groups_without_pairs(OUTCOMES, TRAJ_GROUP)
    s = torch.linspace(-0.3, 0.4, len(STEP_TRAJ), device="cuda", requires_grad=True)
    for agg in ("sum", "mean"):
        out = prm_losses.trajectory_dpo_loss(s, STEP_TRAJ.cuda(), pairs, 0.1, agg=agg, num_trajectories=8)
        ref = prm_losses.trajectory_dpo_loss(s.detach().cpu(), STEP_TRAJ, pairs.cpu(), 0.1, agg=agg,
                                             num_trajectories=8)
        torch.testing.assert_close(out.loss.cpu(), ref.loss)
        (grad,) = torch.autograd.grad(out.loss, s)
        assert grad.device.type == "cuda" and torch.isfinite(grad).all()
    prm_logp, old_logp, mask = _token_batch()
    labels = (torch.arange(12) % 2).float()
    _same_on_cuda(lambda a, b, m, y: prm_losses.prime_ce_loss(a - b, m, y, 0.05).loss,
                  prm_logp, old_logp, mask, labels)


def test_step_rewards_and_policy_losses_on_cuda():
    prm_logp, old_logp, mask = _token_batch(1)
    _same_on_cuda(step_rewards.implicit_step_rewards, prm_logp, old_logp, mask, 0.05)
    _same_on_cuda(step_rewards.token_implicit_rewards, prm_logp, old_logp, mask, 0.05)
    adv = torch.linspace(-1, 1, 12)
    for level in ("step", "step_product", "token"):
        _same_on_cuda(lambda *a: policy_losses.clipped_surrogate(*a, 0.2, 0.28, ratio_level=level).loss,
                      prm_logp, old_logp, mask, adv)
