"""CausalLMRLModule / ImplicitPRMRLModule: log-prob numerics, state, PRM modes, specs."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from lmtest_utils import manual_logprobs, right_pad, text_spaces

from rllib_istar.rl_modules import (
    POLICY_ID,
    PRM_ID,
    CausalLMRLModule,
    ImplicitPRMRLModule,
    build_module_specs,
)

ROWS = [[2, 4, 5, 6, 7, 8, 9], [2, 10, 3], [2, 6, 6, 6, 12, 13], [2, 1, 11]]


def test_token_logprobs_match_manual_forward_with_padding(tiny_paths, build_module):
    for path in tiny_paths.values():
        mod = build_module(path)
        ids, mask = right_pad(ROWS)
        with torch.no_grad():
            got = mod.token_logprobs(ids, mask)
            ref = manual_logprobs(mod.lm, ids, mask) * torch.cat(
                [mask[:, :1], mask[:, 1:]], 1)
        assert got.dtype == torch.float32 and got.shape == ids.shape
        assert torch.all(got[:, 0] == 0) and torch.all(got[mask == 0] == 0)
        torch.testing.assert_close(got, ref, atol=1e-5, rtol=0)
        # Each padded row equals the row computed alone (padding is ignored).
        for i, row in enumerate(ROWS):
            alone = mod.token_logprobs(torch.tensor([row]), torch.ones(1, len(row)))
            torch.testing.assert_close(got[i, :len(row)], alone[0].detach(), atol=1e-5, rtol=0)


def test_temperature_is_honoured(tiny_path, build_module):
    mod = build_module(tiny_path, temperature=0.5)
    ids, mask = right_pad(ROWS)
    with torch.no_grad():
        got = mod.token_logprobs(ids, mask)
        ref = manual_logprobs(mod.lm, ids, mask, temperature=0.5) * mask
        plain = mod.token_logprobs(ids, mask, temperature=1.0)
    torch.testing.assert_close(got, ref, atol=1e-5, rtol=0)
    assert (got - plain).abs().max() > 1e-3


def test_forward_train_is_differentiable(tiny_path, build_module):
    mod = build_module(tiny_path, gradient_checkpointing=True)
    flag = getattr(mod.lm, "is_activation_checkpointing", None)
    assert flag if flag is not None else mod.lm.is_gradient_checkpointing
    ids, mask = right_pad(ROWS)
    out = mod.forward_train({"input_ids": ids, "attention_mask": mask})
    out["logp"].sum().backward()
    grads = [p.grad for p in mod.parameters() if p.requires_grad]
    assert all(g is not None for g in grads) and any(g.abs().sum() > 0 for g in grads)


def test_inference_forwards_point_to_generation(tiny_path, build_module):
    mod = build_module(tiny_path)
    for fn in (mod.forward_inference, mod.forward_exploration):
        with pytest.raises(NotImplementedError, match="rllib_istar.rollout.generation"):
            fn({})


def test_bf16_state_round_trip_without_convert_to_numpy(tiny_path, build_module, monkeypatch):
    import ray.rllib.core.rl_module.torch.torch_rl_module as trm
    import ray.rllib.utils.numpy as rnp

    def forbidden(*a, **k):
        raise AssertionError("convert_to_numpy must not be used")

    monkeypatch.setattr(rnp, "convert_to_numpy", forbidden)
    monkeypatch.setattr(trm, "convert_to_numpy", forbidden)
    src = build_module(tiny_path, dtype="bfloat16")
    with torch.no_grad():
        for p in src.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    state = src.get_state()
    assert state and all(isinstance(v, torch.Tensor) and v.device.type == "cpu"
                         and v.dtype == torch.bfloat16 for v in state.values())
    assert "lm.lm_head.weight" not in state  # tied alias stored once
    dst = build_module(tiny_path, dtype="bfloat16")
    dst.set_state(state)
    for (k, a), b in zip(src.state_dict().items(), dst.state_dict().values()):
        assert torch.equal(a, b), k
    # Returned tensors are copies, not views of the live parameters.
    next(iter(state.values())).zero_()
    assert not torch.equal(next(iter(src.state_dict().values())), next(iter(state.values())))


def test_set_state_accepts_numpy_and_checks_keys(tiny_path, build_module):
    f32 = build_module(tiny_path)
    bf16 = build_module(tiny_path, dtype="bfloat16")
    bf16.set_state({k: v.numpy() for k, v in f32.get_state().items()})
    for a, b in zip(f32.parameters(), bf16.parameters()):
        assert b.dtype == torch.bfloat16 and torch.equal(a.to(torch.bfloat16), b)
    state = f32.get_state()
    with pytest.raises(KeyError, match="unknown keys"):
        f32.set_state({**state, "lm.nope": np.zeros(1)})
    state.pop(next(iter(state)))
    with pytest.raises(KeyError, match="missing"):
        f32.set_state(state)


def test_prm_inference_only_state_is_empty(tiny_path, build_module):
    policy = build_module(tiny_path)
    prm = build_module(tiny_path, cls=ImplicitPRMRLModule, role="prm")
    assert prm.get_non_inference_attributes() == ["lm"] and prm.learner_only
    assert policy.get_non_inference_attributes() == []
    assert prm.get_state(inference_only=True) == {}
    assert len(policy.get_state(inference_only=True)) == len(policy.get_state()) > 0
    assert prm.get_state().keys() == policy.get_state().keys()


def test_multi_module_weight_sync_skips_prm(tiny_path):
    from ray.rllib.core.rl_module.multi_rl_module import MultiRLModuleSpec

    specs = build_module_specs(tiny_path, prm=True)
    obs, act = text_spaces()
    for s in specs.values():
        s.observation_space, s.action_space = obs, act
    multi = MultiRLModuleSpec(rl_module_specs=specs).build()
    state = multi.get_state(inference_only=True)
    assert state[PRM_ID] == {} and len(state[POLICY_ID]) > 0


def test_full_prm_starts_identical_to_policy(tiny_path, build_module):
    policy = build_module(tiny_path)
    prm = build_module(tiny_path, cls=ImplicitPRMRLModule, prm_mode="full")
    for (k, a), b in zip(policy.state_dict().items(), prm.state_dict().values()):
        assert torch.equal(a, b), k
    assert all(p.requires_grad for p in prm.parameters())


def test_lora_prm_trains_adapter_only(tiny_path, build_module):
    pytest.importorskip("peft")
    prm = build_module(tiny_path, cls=ImplicitPRMRLModule, prm_mode="lora", lora_rank=4)
    trainable = dict((n, p) for n, p in prm.named_parameters() if p.requires_grad)
    frozen = {n: p.detach().clone() for n, p in prm.named_parameters() if not p.requires_grad}
    assert trainable and all("lora_" in n for n in trainable)
    targets = {n.split(".")[-4] for n in trainable}
    assert targets == {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj",
                       "down_proj"}
    start = {n: p.detach().clone() for n, p in trainable.items()}
    ids, mask = right_pad(ROWS)
    with torch.no_grad(), prm.lm.disable_adapter():  # the base model, adapter off
        ref_before = prm.token_logprobs(ids, mask)
    opt = torch.optim.Adam(trainable.values(), lr=1e-2)
    for _ in range(2):  # LoRA B starts at 0, so A only moves from the second step on
        opt.zero_grad()
        (-prm.forward_train({"input_ids": ids, "attention_mask": mask})["logp"].sum()).backward()
        opt.step()
    changed = [n for n, p in trainable.items() if not torch.equal(p, start[n])]
    assert sorted(changed) == sorted(trainable)
    for n, p in prm.named_parameters():
        if n in frozen:
            assert torch.equal(p, frozen[n]), n
    # The adapter-disabled reference is the untouched base model.
    with torch.no_grad():
        with prm.lm.disable_adapter():
            torch.testing.assert_close(prm.token_logprobs(ids, mask), ref_before)
        assert (prm.token_logprobs(ids, mask) - ref_before).abs().max() > 1e-4
    # State = adapter tensors only; round trip into a fresh LoRA PRM.
    state = prm.get_state()
    assert set(state) == set(trainable)
    assert prm.get_state(inference_only=True) == {}
    fresh = build_module(tiny_path, cls=ImplicitPRMRLModule, prm_mode="lora", lora_rank=4)
    fresh.set_state(state)
    with torch.no_grad():
        torch.testing.assert_close(fresh.token_logprobs(ids, mask), prm.token_logprobs(ids, mask))
    base_key = next(iter(frozen))
    with pytest.raises(KeyError):
        fresh.set_state({**state, base_key: frozen[base_key]})


def test_unknown_prm_mode(tiny_path, build_module):
    with pytest.raises(ValueError, match="full, lora"):
        build_module(tiny_path, cls=ImplicitPRMRLModule, prm_mode="qlora")
    with pytest.raises(ValueError, match="full, lora"):
        build_module_specs(tiny_path, prm_mode="qlora")


def test_build_module_specs():
    specs = build_module_specs("/m", dtype="bfloat16", temperature=0.7, prm=True,
                               prm_mode="lora", prm_model_path="/prm", lora_rank=4)
    assert list(specs) == [POLICY_ID, PRM_ID] and POLICY_ID == "default_policy"
    pol, prm = specs[POLICY_ID], specs[PRM_ID]
    assert pol.module_class is CausalLMRLModule and not pol.learner_only
    assert prm.module_class is ImplicitPRMRLModule and prm.learner_only
    assert pol.model_config["model_path"] == "/m" and prm.model_config["model_path"] == "/prm"
    assert prm.model_config["role"] == "prm" and prm.model_config["lora_rank"] == 4
    assert pol.model_config["temperature"] == 0.7 and pol.model_config["dtype"] == "bfloat16"
    assert build_module_specs("/m", prm=False).keys() == {POLICY_ID}
    assert build_module_specs("/m")[PRM_ID].model_config["model_path"] == "/m"


def test_checkpoint_round_trip_bf16(tiny_path, build_module, tmp_path):
    src = build_module(tiny_path, dtype="bfloat16")
    with torch.no_grad():
        for p in src.parameters():
            p.mul_(1.5)
    src.save_to_path(str(tmp_path / "ckpt"))
    dst = build_module(tiny_path, dtype="bfloat16")
    dst.restore_from_path(str(tmp_path / "ckpt"))
    for a, b in zip(src.parameters(), dst.parameters()):
        assert torch.equal(a, b)


def test_inference_only_policy_loads_learner_state(tiny_path, build_module):
    """What an EnvRunner builds: the policy keeps its LM and takes the Learner's state."""
    from ray.rllib.core.rl_module.rl_module import RLModuleSpec

    learner = build_module(tiny_path)
    with torch.no_grad():
        for p in learner.parameters():
            p.mul_(0.5)
    obs, act = text_spaces()
    runner = RLModuleSpec(module_class=CausalLMRLModule, observation_space=obs,
                          action_space=act, inference_only=True,
                          model_config={"model_path": tiny_path}).build()
    runner.set_state(learner.get_state(inference_only=True))
    runner.set_state({})  # an empty state (e.g. the PRM's inference-only one) is a no-op
    for a, b in zip(learner.parameters(), runner.parameters()):
        assert torch.equal(a, b)
    with pytest.raises(RuntimeError):
        runner.forward_train({})
