"""One frozen base in memory: with LoRA policy and LoRA PRM the PRM's frozen weights are
the policy's tensors, and so are the local env runner's; sharing changes no number.
Checked after real ``train()`` calls."""
import torch
from algo_utils import module_state, tiny_config

from rllib_istar.algorithm import process_sharing
from rllib_istar.learner import learner as learner_module

LORA = dict(policy_mode="lora", prm_mode="lora")


def _frozen(module):
    return {n: p for n, p in module.named_parameters() if not p.requires_grad}


def _modules(algo):
    learner = algo.learner_group._learner
    return (learner, learner.module["default_policy"].unwrapped(),
            learner.module["prm"].unwrapped(), algo.env_runner_group.local_env_runner.module)


def test_policy_prm_and_local_runner_hold_one_base(build):
    algo = build(tiny_config("istar_rloo", **LORA))
    learner, policy, prm, runner = _modules(algo)
    base = {n: p.detach().clone() for n, p in _frozen(policy).items()}
    nbytes = sum(p.numel() * p.element_size() for p in _frozen(policy).values())
    assert learner.shared_weight_bytes == nbytes
    assert algo.shared_weight_bytes == nbytes
    algo.train()
    algo.train()
    for other in (prm, runner):  # same names: the same peft layout over one checkpoint
        for name, p in _frozen(other).items():
            assert p.data_ptr() == _frozen(policy)[name].data_ptr(), name
    # the frozen base never moved; the adapters did, each its own
    assert all(torch.equal(base[n], p) for n, p in _frozen(policy).items())
    adapters = [n for n, p in policy.named_parameters() if p.requires_grad]
    assert adapters and not any(p.data_ptr() == dict(prm.named_parameters())[n].data_ptr()
                                for n, p in policy.named_parameters() if p.requires_grad)


def test_sharing_changes_no_number(build, monkeypatch):
    """Two iterations with and without sharing: identical weights and metrics."""
    runs = {}
    for shared in (True, False):
        if not shared:
            monkeypatch.setattr(learner_module, "share_frozen_weights", lambda *a: 0)
            monkeypatch.setattr(process_sharing, "share_frozen_weights", lambda *a: 0)
        algo = build(tiny_config("istar_rloo", **LORA))
        results = [algo.train() for _ in range(2)]
        runs[shared] = ({m: module_state(algo, m) for m in ("default_policy", "prm")},
                        [r["learners"]["default_policy"]["policy_loss"] for r in results],
                        [r["learners"]["prm"]["dpo_loss"] for r in results],
                        algo.shared_weight_bytes)
        algo.stop()
    (states_a, loss_a, dpo_a, bytes_a), (states_b, loss_b, dpo_b, bytes_b) = runs[True], runs[False]
    assert bytes_a > 0 and bytes_b == 0
    assert loss_a == loss_b and dpo_a == dpo_b
    for m in states_a:
        assert all(torch.equal(states_a[m][k], states_b[m][k]) for k in states_a[m])


def test_a_full_policy_shares_nothing_with_its_lora_prm(build):
    """The policy trains every weight: the PRM's frozen base must stay its own."""
    algo = build(tiny_config("istar_rloo", prm_mode="lora"))
    learner, policy, prm, _ = _modules(algo)
    assert learner.shared_weight_bytes == 0
    algo.train()
    params = dict(policy.named_parameters())
    assert not any(p.data_ptr() == params.get(n, p).data_ptr() for n, p in _frozen(prm).items()
                   if n in params)
