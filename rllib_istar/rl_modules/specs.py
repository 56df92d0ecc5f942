"""RLModuleSpecs for the policy and (optionally) the PRM."""
from __future__ import annotations

from typing import Dict, Optional

from ray.rllib.core import DEFAULT_MODULE_ID
from ray.rllib.core.rl_module.rl_module import RLModuleSpec

from rllib_istar.rl_modules.causal_lm import CausalLMRLModule
from rllib_istar.rl_modules.prm import PRM_MODES, ImplicitPRMRLModule

POLICY_ID = DEFAULT_MODULE_ID  # "default_policy"
PRM_ID = "prm"


def build_module_specs(model_path: str, dtype: str = "float32", temperature: float = 1.0,
                       prm: bool = True, prm_mode: str = "full",
                       prm_model_path: Optional[str] = None, lora_rank: int = 8,
                       lora_alpha: int = 16, trust_remote_code: bool = False,
                       gradient_checkpointing: bool = False,
                       compute_entropy: bool = False, policy_mode: str = "full",
                       autocast_dtype: Optional[str] = None,
                       flush_denormal: bool = True,
                       prm_inputs: str = "multimodal") -> Dict[str, RLModuleSpec]:
    """``{POLICY_ID: spec}`` plus ``{PRM_ID: learner-only spec}`` when ``prm``.

    The PRM loads ``prm_model_path`` if given, else the policy's ``model_path`` (the
    iStar default: the PRM starts as a copy of the initial policy); ``prm_inputs``
    ("multimodal" | "text") says whether a vision-language PRM reads the rows' images
    (model_config ``image_inputs``). Spaces are left
    unset: RLlib fills them from the env runner's ``get_spaces()``.
    """
    for name, mode in (("prm_mode", prm_mode if prm else "full"), ("policy_mode", policy_mode)):
        if mode not in PRM_MODES:
            raise ValueError(f"unknown {name} {mode!r}; valid: {', '.join(PRM_MODES)}")
    common = {"dtype": dtype, "temperature": float(temperature),
              "trust_remote_code": bool(trust_remote_code),
              "gradient_checkpointing": bool(gradient_checkpointing),
              "autocast_dtype": autocast_dtype, "flush_denormal": bool(flush_denormal),
              "lora_rank": int(lora_rank), "lora_alpha": int(lora_alpha)}
    specs = {POLICY_ID: RLModuleSpec(
        module_class=CausalLMRLModule,
        model_config={"model_path": model_path, "role": "policy", "policy_mode": policy_mode,
                      "compute_entropy": bool(compute_entropy), **common})}
    if prm:
        specs[PRM_ID] = RLModuleSpec(
            module_class=ImplicitPRMRLModule, learner_only=True,
            model_config={"model_path": prm_model_path or model_path, "role": "prm",
                          "prm_mode": prm_mode, "image_inputs": prm_inputs == "multimodal",
                          **common})
    return specs
