"""Every IStarConfig knob, documented once: default, type, allowed values, source.

``IStarConfig`` builds its attributes, its ``training()`` keywords, its
validation and its docstring from this table, so a knob cannot be set,
checked or documented in two different ways. Sources: "ALG" = ALGORITHM.md
(section), "REF" = the authors' run scripts (notes/PEERS.md §1.8), "OURS" =
this project's choice.
"""
from __future__ import annotations

from typing import Any, NamedTuple, Optional, Tuple

from rllib_istar.estimators import ABLATIONS, ESTIMATORS


class Knob(NamedTuple):
    name: str
    default: Any
    types: Tuple[type, ...]
    doc: str
    choices: Optional[Tuple[Any, ...]] = None
    minimum: Optional[float] = None   # inclusive lower bound for numbers
    section: str = "algorithm"


_NUM = (int, float)
KNOBS = [
    # ---- model ------------------------------------------------------------------
    Knob("model_path", "tiny", (str,), "Policy checkpoint: a local Hugging Face folder, or "
         "'tiny' (a random tiny LM + word-level tokenizer built offline over the registered "
         "envs' vocabulary; 'tiny:<llama|qwen2>:<hidden>:<layers>' picks its size). OURS.",
         section="model"),
    Knob("format_warmup_steps", 0, (int,), "If > 0, first fine-tune model_path for this many "
         "steps on uniformly random admissible actions of the env (teaches the action format, "
         "not the task; rllib_istar/models/warmup.py), cached, and train from that. For tiny "
         "models that start from random weights. OURS.", minimum=0, section="model"),
    Knob("model_dtype", "float32", (str,), "Weights dtype of policy and PRM. OURS.",
         ("float32", "bfloat16", "float16"), section="model"),
    Knob("trust_remote_code", False, (bool,), "Passed to transformers when loading; off "
         "unless you trust the checkpoint's code.", section="model"),
    Knob("prm_init", None, (str, type(None)), "PRM initial weights: null = the policy "
         "checkpoint (ALG 'Models', paper), or a local HF folder.", section="model"),
    Knob("prm_mode", "full", (str,), "'full': the PRM is a separate trainable copy (paper); "
         "'lora': a LoRA adapter over a frozen copy of the base (saves optimizer memory; "
         "needs the 'lora' extra); 'none': no PRM (only valid with an outcome-only estimator).",
         ("full", "lora", "none"), section="model"),
    Knob("lora_rank", 8, (int,), "LoRA rank of the PRM adapter (prm_mode: lora). OURS.",
         minimum=1, section="model"),
    Knob("lora_alpha", 16, (int,), "LoRA alpha of the PRM adapter. OURS.", minimum=1,
         section="model"),
    # ---- rollout ----------------------------------------------------------------
    Knob("group_size", 4, (int,), "Trajectories per task (G). Paper/REF: 8. ALG 'Objects'.",
         minimum=1, section="rollout"),
    Knob("num_groups", 4, (int,), "Tasks per training iteration, split across env runners; "
         "one iteration trains on num_groups x group_size trajectories. REF Sokoban: 32.",
         minimum=1, section="rollout"),
    Knob("history_length", 2, (int,), "Observation/action pairs shown in the prompt (H). "
         "REF: 2.", minimum=0, section="rollout"),
    Knob("max_new_tokens", 8, (int,), "Response token budget per step. REF: 512.", minimum=1,
         section="rollout"),
    Knob("max_prompt_length", 512, (int,), "Prompt token budget; longer prompts drop the "
         "oldest history pairs, then keep the last max_prompt_length tokens (counted in "
         "env_runners/num_history_pairs_dropped and num_prompts_cut). REF Sokoban: 1024.",
         minimum=1, section="rollout"),
    Knob("max_episode_steps", 100, (int,), "Safety cap on steps per episode on top of the "
         "env's own max_steps. OURS.", minimum=1, section="rollout"),
    Knob("temperature", 1.0, _NUM, "Sampling temperature (also divides the logits when the "
         "learner computes log-probs, so both sides agree). REF: 1.0.", minimum=0.0,
         section="rollout"),
    Knob("top_p", 1.0, _NUM, "Nucleus sampling threshold. REF: 1.0.", minimum=0.0,
         section="rollout"),
    Knob("generation_backend", "hf", (str,), "'hf' (transformers generate; CPU or GPU) or "
         "'vllm' (GPU, 'vllm' extra).", ("hf", "vllm"), section="rollout"),
    Knob("vllm_kwargs", None, (dict, type(None)), "Extra keyword arguments for vllm.LLM "
         "(e.g. gpu_memory_utilization). REF: gpu_mem 0.6.", section="rollout"),
    Knob("outcome", "success", (str,), "Trajectory outcome r_o: 'success' = won (1/0) minus "
         "invalid_action_penalty per invalid step; 'return' = sum of the step rewards (the "
         "penalty is inside them). ALG 'Objects'.", ("success", "return"), section="rollout"),
    Knob("invalid_action_penalty", 0.1, _NUM, "Subtracted from the reward of a step whose "
         "response the env's parser rejects (the step is a no-op). ALG/REF: 0.1.",
         minimum=0.0, section="rollout"),
    # ---- advantages -------------------------------------------------------------
    Knob("advantage_estimator", "istar_rloo", (str,), "iStar: istar_rloo | istar_grpo | "
         "istar_reinforce_pp (episode estimator + implicit step rewards); outcome only: rloo | "
         "grpo | reinforce_pp (no PRM is built); gigpo (anchor-state step groups); prime "
         "(token-level implicit PRM trained with cross-entropy). ALG §3, §5.",
         tuple(ESTIMATORS)),
    Knob("ablation", None, (str, type(None)), "iStar ablations (ALG §5): 'merged' (episode "
         "estimator on r_o + alpha * sum_t r_phi), 'token_level_pr' (token-level implicit "
         "rewards), 'gt_step_reward' (the env's own step reward as the step signal).",
         (None,) + ABLATIONS),
    Knob("step_advantage_weight", 1.0, _NUM, "alpha in A = A_E + alpha * A_S. With rloo the "
         "episode term is in outcome units while A_S is a unit z-score. ALG §3; REF: 1.0.",
         minimum=0.0),
    Knob("gigpo_gamma", 0.95, _NUM, "GiGPO discount for step returns. REF: 0.95.",
         minimum=0.0),
    Knob("gigpo_step_norm", "std", (str,), "GiGPO normalisation inside an anchor group: "
         "'std' (mean/std) or 'mean' (mean only, REF).", ("std", "mean")),
    Knob("adv_eps", 1e-6, _NUM, "eps in the std normalisations. ALG §3.", minimum=0.0),
    # ---- PRM --------------------------------------------------------------------
    Knob("prm_beta", 0.05, _NUM, "beta of the implicit reward and of the DPO loss. ALG §1; "
         "REF: 0.05.", minimum=0.0, section="prm"),
    Knob("prm_update", "before", (str,), "'before': update the PRM on the batch, then score "
         "it with the updated PRM (design card); 'after': score first (REF). ALG §2.",
         ("before", "after"), section="prm"),
    Knob("prm_epochs", 1, (int,), "PRM optimizer steps per iteration (each over the whole "
         "batch). REF: 1.", minimum=1, section="prm"),
    Knob("prm_lr", 1e-6, _NUM, "PRM Adam learning rate. REF: 1e-6.", minimum=0.0,
         section="prm"),
    Knob("prm_grad_clip", 10.0, (int, float, type(None)), "PRM gradient-norm clip. REF: 10.",
         section="prm"),
    Knob("prm_agg", "sum", (str,), "Trajectory log-ratio Q(tau) from its steps: 'sum' (the "
         "theorem) or 'mean' (REF code). ALG §2.", ("sum", "mean"), section="prm"),
    Knob("pair_margin", 0.0, _NUM, "Preference pairs need outcome(tau+) - outcome(tau-) > "
         "pair_margin. ALG §2.", minimum=0.0, section="prm"),
    # ---- policy -----------------------------------------------------------------
    Knob("ratio_level", "auto", (str,), "Importance ratio: 'step' (length-normalised, ALG §4 "
         "default), 'step_product', 'token' (standard PPO/GRPO); 'auto' = token for the "
         "token-level estimators (prime, token_level_pr), step otherwise.",
         ("auto", "step", "step_product", "token"), section="policy"),
    Knob("clip_low", 0.2, _NUM, "Lower clip: ratio >= 1 - clip_low. REF: 0.2.", minimum=0.0,
         section="policy"),
    Knob("clip_high", 0.2, _NUM, "Upper clip: ratio <= 1 + clip_high. REF: 0.2.", minimum=0.0,
         section="policy"),
    Knob("kl_coef", 0.0, _NUM, "Weight of a k3 KL penalty to a frozen copy of the initial "
         "policy (off in REF).", minimum=0.0, section="policy"),
    Knob("entropy_coef", 0.0, _NUM, "Entropy bonus weight on response tokens (REF: 0.001; "
         "off by default, ALG §4).", minimum=0.0, section="policy"),
    Knob("recompute_old_logp", True, (bool,), "Recompute pi_old log-probs with the learner "
         "before the update (REF); False trusts the rollout log-probs. The gap is logged "
         "either way.", section="policy"),
    Knob("gradient_checkpointing", False, (bool,), "Recompute activations in the backward "
         "pass of policy and PRM (less memory, more compute). OURS.", section="policy"),
    Knob("microbatch_size", 16, (int,), "Rows per forward pass in the no-grad passes and the "
         "PRM update (bounds memory; gradients are accumulated exactly). OURS.", minimum=1,
         section="policy"),
]

KNOBS_BY_NAME = {k.name: k for k in KNOBS}

# RLlib's own attributes whose defaults IStarConfig changes (documented here too).
RLLIB_DEFAULTS = {
    "lr": (1e-6, "Policy Adam learning rate. REF: 1e-6 baselines, 5e-7 iStar."),
    "grad_clip": (1.0, "Policy gradient-norm clip. REF: 1.0."),
    "num_epochs": (1, "Passes over the batch in the policy update. REF: 1."),
    "minibatch_size": (None, "Step rows per policy minibatch (None: the whole batch). REF: 64."),
}


def render_knob_docs() -> str:
    """The knob table as text, appended to IStarConfig's docstring."""
    lines = []
    for section in ("model", "rollout", "algorithm", "prm", "policy"):
        lines.append(f"\n    {section.upper()}")
        for k in (k for k in KNOBS if k.section == section):
            choice = f" One of {k.choices}." if k.choices else ""
            lines.append(f"      {k.name} (default {k.default!r}): {k.doc}{choice}")
    lines.append("\n    RLLIB KNOBS WITH CHANGED DEFAULTS")
    for name, (default, doc) in RLLIB_DEFAULTS.items():
        lines.append(f"      {name} (default {default!r}): {doc}")
    return "\n".join(lines)
