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
                       compute_entropy: bool = False) -> Dict[str, RLModuleSpec]:
    """``{POLICY_ID: spec}`` plus ``{PRM_ID: learner-only spec}`` when ``prm``.

    The PRM loads ``prm_model_path`` if given, else the policy's ``model_path`` (the
    iStar default: the PRM starts as a copy of the initial policy). Spaces are left
    unset: RLlib fills them from the env runner's ``get_spaces()``.
    """
    if prm and prm_mode not in PRM_MODES:
        raise ValueError(f"unknown prm_mode {prm_mode!r}; valid: {', '.join(PRM_MODES)}")
    common = {"dtype": dtype, "temperature": float(temperature),
              "trust_remote_code": bool(trust_remote_code),
              "gradient_checkpointing": bool(gradient_checkpointing)}
    specs = {POLICY_ID: RLModuleSpec(
        module_class=CausalLMRLModule,
        model_config={"model_path": model_path, "role": "policy",
                      "compute_entropy": bool(compute_entropy), **common})}
    if prm:
        specs[PRM_ID] = RLModuleSpec(
            module_class=ImplicitPRMRLModule, learner_only=True,
            model_config={"model_path": prm_model_path or model_path, "role": "prm",
                          "prm_mode": prm_mode, "lora_rank": int(lora_rank),
                          "lora_alpha": int(lora_alpha), **common})
    return specs
