"""policy_mode: lora and autocast_dtype on the policy module, then in a real train().

LoRA: only adapter tensors train, are in the state, sync to the env runner and
round-trip a checkpoint; the export merges them into a plain model. Autocast:
float32 master weights, bf16 compute, gradients in float32.
"""
import pytest
import torch
from algo_utils import changed, module_state, tiny_config
from lmtest_utils import right_pad

pytest.importorskip("peft")


def test_lora_policy_state_is_the_adapter_and_only_it_trains(build_module, tiny_path):
    mod = build_module(tiny_path, policy_mode="lora", lora_rank=4, lora_alpha=8)
    state = mod.get_state()
    assert state and all("lora_" in k for k in state)
    assert state.keys() == mod.get_state(inference_only=True).keys()  # the runner's copy
    trainable = {n for n, p in mod.named_parameters() if p.requires_grad}
    assert trainable == set(state)
    ids, mask = right_pad([[1, 5, 6, 7], [1, 4, 4]])
    mod.token_logprobs(ids, mask).sum().backward()
    assert all(p.grad is None for n, p in mod.named_parameters() if n not in trainable)
    with pytest.raises(KeyError, match="unknown keys"):
        mod.set_state({"lm.base_model.model.lm_head.weight": torch.zeros(1)})


def test_autocast_keeps_fp32_weights_and_stays_close(build_module, tiny_path):
    plain = build_module(tiny_path)
    cast = build_module(tiny_path, autocast_dtype="bfloat16")
    ids, mask = right_pad([[1, 5, 6, 7, 8], [1, 4, 4]])
    lp_plain, lp_cast = plain.token_logprobs(ids, mask), cast.token_logprobs(ids, mask)
    assert lp_cast.dtype == torch.float32
    assert 0 < float((lp_plain - lp_cast).abs().max()) < 0.1  # bf16 rounding, not a bug
    lp_cast.sum().backward()
    assert all(p.dtype == torch.float32 and p.grad.dtype == torch.float32
               for p in cast.lm.parameters())


def test_lora_policy_trains_syncs_and_checkpoints(build, tmp_path):
    from rllib_istar.algorithm.export import export_hf

    algo = build(tiny_config("istar_rloo", policy_mode="lora", prm_mode="lora", lora_rank=4,
                             autocast_dtype="bfloat16", policy_microbatch_tokens=64))
    before = module_state(algo, "default_policy")
    assert before and all("lora_" in k for k in before)
    algo.train()
    after = module_state(algo, "default_policy")
    assert changed(before, after), "the adapter should move"
    runner = algo.env_runner_group.local_env_runner or algo.env_runner
    runner_state = runner.module.get_state()
    assert runner_state.keys() == after.keys()
    for key in after:  # the runner holds the synced weights in the autocast dtype
        assert runner_state[key].dtype == torch.bfloat16
        torch.testing.assert_close(runner_state[key], after[key].to(torch.bfloat16))
    ckpt = algo.save_to_path(str(tmp_path / "ckpt"))
    restored = type(algo).from_checkpoint(ckpt)
    try:
        again = module_state(restored, "default_policy")
        assert not changed(after, again)
    finally:
        restored.stop()
    folders = export_hf(algo, str(tmp_path / "export"))
    from transformers import AutoModelForCausalLM

    merged = AutoModelForCausalLM.from_pretrained(folders["default_policy"])
    assert not any("lora" in n for n, _ in merged.named_parameters())


def test_flush_denormal_is_set_by_default_and_can_be_left_alone(build_module, tiny_path):
    tiny = torch.tensor([1e-40], dtype=torch.float32)  # a float32 denormal
    supported = torch.set_flush_denormal(True)  # whether this CPU can flush at all
    torch.set_flush_denormal(False)
    build_module(tiny_path, flush_denormal=False)
    assert float(tiny * 1.0) != 0.0
    build_module(tiny_path)  # the default turns flushing on; the test does not
    assert (float(tiny * 1.0) == 0.0) == supported
