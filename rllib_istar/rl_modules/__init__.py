"""RLModules: the policy (``CausalLMRLModule``) and the implicit PRM."""
from rllib_istar.rl_modules.causal_lm import CausalLMRLModule
from rllib_istar.rl_modules.lora import lora_target_modules
from rllib_istar.rl_modules.prm import PRM_MODES, ImplicitPRMRLModule
from rllib_istar.rl_modules.specs import POLICY_ID, PRM_ID, build_module_specs

__all__ = [
    "CausalLMRLModule",
    "ImplicitPRMRLModule",
    "POLICY_ID",
    "PRM_ID",
    "PRM_MODES",
    "build_module_specs",
    "lora_target_modules",
]
