"""Checkpoints restore both modules, both optimizers and the iteration exactly;
export writes Hugging Face folders transformers can load."""
import os

import torch
from algo_utils import changed, module_state, tiny_config


def _optimizer_states(algo):
    learner = algo.learner_group._learner
    return {name: opt.state_dict() for name, opt in learner._named_optimizers.items()}


def _assert_same_optimizer_state(a, b):
    assert a.keys() == b.keys()
    for name in a:
        sa, sb = a[name]["state"], b[name]["state"]
        assert sa.keys() == sb.keys() and len(sa) > 0, name
        for pid in sa:
            for key, value in sa[pid].items():
                assert torch.equal(torch.as_tensor(value), torch.as_tensor(sb[pid][key])), (name, key)


def test_checkpoint_round_trip_is_exact_and_training_continues(build, tmp_path):
    from ray.rllib.algorithms.algorithm import Algorithm

    algo = build(tiny_config("istar_rloo"))
    algo.train()
    path = algo.save_to_path(str(tmp_path / "ckpt"))
    saved = {m: module_state(algo, m) for m in ("default_policy", "prm")}
    saved_optim = _optimizer_states(algo)

    restored = Algorithm.from_checkpoint(path)
    try:
        assert restored.iteration == algo.iteration == 1
        for m, state in saved.items():
            assert changed(state, module_state(restored, m)) == [], m
        _assert_same_optimizer_state(saved_optim, _optimizer_states(restored))
        # the env runner got the restored policy weights
        runner = restored.env_runner_group.local_env_runner
        runner_state = runner.module.get_state()
        assert all(torch.equal(runner_state[k], saved["default_policy"][k]) for k in runner_state)
        result = restored.train()
        assert restored.iteration == 2 and result["training_iteration"] == 2
        assert changed(saved["default_policy"], module_state(restored, "default_policy"))
        # the restored PRM optimizer steps whenever the batch has preference pairs
        prm_moved = bool(changed(saved["prm"], module_state(restored, "prm")))
        assert prm_moved == (result["learners"]["prm"]["num_pairs"] > 0)
    finally:
        restored.stop()


def test_bf16_lora_run_trains_and_checkpoints(build, tmp_path):
    """bf16 weights and optimizer state survive RLlib's checkpointing (no numpy path)."""
    from ray.rllib.algorithms.algorithm import Algorithm

    algo = build(tiny_config("istar_rloo", model_dtype="bfloat16", prm_mode="lora",
                             format_warmup_steps=0))
    prm0 = module_state(algo, "prm")
    assert all(v.dtype == torch.bfloat16 for v in module_state(algo, "default_policy").values())
    algo.train()
    assert changed(prm0, module_state(algo, "prm")), "the LoRA adapter must train"
    path = algo.save_to_path(str(tmp_path / "ckpt"))
    restored = Algorithm.from_checkpoint(path)
    try:
        assert changed(module_state(algo, "prm"), module_state(restored, "prm")) == []
        restored.train()
    finally:
        restored.stop()


def test_export_writes_loadable_hf_folders(build, tmp_path):
    from transformers import AutoModelForCausalLM

    from rllib_istar.lm import load_tokenizer

    algo = build(tiny_config("istar_rloo"))
    algo.train()
    written = algo.export_hf(str(tmp_path / "export"))
    assert set(written) == {"default_policy", "prm"}
    for module_id, folder in written.items():
        assert os.path.exists(os.path.join(folder, "model.safetensors"))
        model = AutoModelForCausalLM.from_pretrained(folder, local_files_only=True)
        state = module_state(algo, module_id)
        for name, tensor in model.state_dict().items():
            key = "lm." + name
            if key in state:
                assert torch.equal(tensor, state[key]), key
        load_tokenizer(folder)
    try:
        algo.export_hf(str(tmp_path / "export"))
        raise AssertionError("export into a non-empty folder must refuse")
    except FileExistsError as e:
        assert "not empty" in str(e)
