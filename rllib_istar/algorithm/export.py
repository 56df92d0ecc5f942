"""Export trained modules as Hugging Face folders (safetensors), loadable by
transformers (``AutoModelForCausalLM.from_pretrained``) or vLLM.

The weights come from the learner group (works with local and remote learners),
are loaded into freshly built modules of the same spec, and written with
``save_pretrained(safe_serialization=True)`` together with the tokenizer. A
LoRA PRM is written as a peft adapter folder (``adapter_config.json`` +
``adapter_model.safetensors``) over the base checkpoint it names; a LoRA policy
is merged into its base first, so the policy folder is always a plain model.
"""
from __future__ import annotations

import os
from typing import Dict

from rllib_istar.rl_modules.specs import POLICY_ID, PRM_ID


def export_hf(algo, out_dir: str, include_prm: bool = True) -> Dict[str, str]:
    """Write ``out_dir/policy`` (and ``out_dir/prm`` when the run has a PRM).

    Returns ``{module_id: folder}``. Refuses to write into a non-empty folder
    (never overwrite an earlier export silently).
    """
    from rllib_istar.lm import load_tokenizer, resolve_model_path
    from rllib_istar.lm.vision import copy_vision_files

    config = algo.config
    if os.path.isdir(out_dir) and os.listdir(out_dir):
        raise FileExistsError(f"export folder {out_dir!r} is not empty; pick a new folder")
    specs = config.module_specs()
    wanted = [POLICY_ID] + ([PRM_ID] if include_prm and PRM_ID in specs else [])
    tokenizer = load_tokenizer(resolve_model_path(config.effective_model_path()))
    written = {}
    import gymnasium as gym

    for module_id in wanted:
        specs[module_id].observation_space = specs[module_id].action_space = gym.spaces.Text(1)
        state = algo.learner_group.get_state(
            components=f"learner/rl_module/{module_id}")["learner"]["rl_module"][module_id]
        module = specs[module_id].build()
        module.set_state(state)
        folder = os.path.join(out_dir, "policy" if module_id == POLICY_ID else "prm")
        lm = module.lm
        if module_id == POLICY_ID and hasattr(lm, "merge_and_unload"):  # policy_mode: lora
            lm = lm.merge_and_unload()
        lm.save_pretrained(folder, safe_serialization=True)
        tokenizer.save_pretrained(folder)
        copy_vision_files(module.model_path, folder)  # a VLM's image processor and template
        written[module_id] = folder
    return written
