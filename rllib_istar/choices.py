"""The values of every choice knob whose options are fixed names, defined once.

``IStarConfig``'s knobs (``algorithm/knobs.py``) read their choices here, and so do the
modules that implement them, so the config layer needs no import of the env runner,
the generator, the model loader or the RL modules to know what is valid. Choices that
are dispatch tables (``advantage_estimator``, ``ablation``, ``step_adv_norm``, ...) are
read from those tables.
"""
from __future__ import annotations

#: ``generation_backend``: transformers' ``generate`` or vLLM (``rollout/generation.py``).
BACKENDS = ("hf", "vllm")
#: ``outcome``: "success" = won minus the invalid penalty per invalid step; "return" = the
#: sum of the (penalised) step rewards (``rollout/env_runner.py``).
OUTCOME_KINDS = ("success", "return")
#: ``model_dtype``: the dtypes a model's weights load in (``lm/loading.py``).
DTYPES = ("float32", "bfloat16", "float16")
#: ``policy_mode`` / ``prm_mode``: a full copy or LoRA adapters (``rl_modules/prm.py``).
PRM_MODES = ("full", "lora")
#: ``prm_update``: train the PRM "before" scoring (design card) or score first, "after" (REF).
PRM_UPDATE_ORDERS = ("before", "after")
#: ``rollout_mode``: sample, then learn ("sync"); or sample the next iteration while the
#: learner trains on this one, one policy version behind ("async", ``algorithm/ahead_sampler.py``).
ROLLOUT_MODES = ("sync", "async")
#: ``prm_reference``: pi_old ("rolling", the paper) or pi_init ("initial").
PRM_REFERENCES = ("rolling", "initial")
