"""Every IStarConfig knob, declared once: annotated type, default, bounds, choices, doc, source.

The knobs are class attributes of :class:`IStarKnobs` (a base class of
``IStarConfig``), so ``help()``, IDEs and type checkers follow
``config.prm_beta`` to its declaration. Each declaration is a :class:`Knob`
descriptor: the annotation is the accepted type, ``choices`` come from the
registry that implements them (never typed twice), and each bound is stated
here only. ``IStarConfig`` derives its ``training()`` keywords, its validation
(``validation.py``) and its docstring from :func:`knobs`.

Sources: "ALG" = docs/algorithm.md (section), "REF" = the authors' run scripts
(docs/algorithm.md §6), "OURS" = this project's choice.
"""
from __future__ import annotations

import copy
import typing
from typing import Any, Dict, List, Optional, Tuple

from rllib_istar.algorithm.model_defaults import AUTO
from rllib_istar.core.gigpo import ANCHOR_NORMS
from rllib_istar.core.policy_losses import RATIO_LEVELS
from rllib_istar.core.prm_losses import TRAJ_AGGREGATIONS
from rllib_istar.core.step_norms import STEP_ADV_NORMS
from rllib_istar.choices import (BACKENDS, DTYPES, OUTCOME_KINDS, PRM_MODES, PRM_REFERENCES,
                                 PRM_UPDATE_ORDERS, ROLLOUT_MODES)
from rllib_istar.learner.estimator_tables import ABLATIONS, ESTIMATORS

SECTIONS = ("model", "rollout", "algorithm", "prm", "policy")


class Knob:
    """A documented config attribute (a data descriptor; the value lives in the
    instance ``__dict__``, so RLlib's ``to_dict()``/``vars()`` see it).

    ``minimum``/``maximum`` are inclusive unless ``exclusive_minimum`` /
    ``exclusive_maximum``; ``hint`` is appended to a bound violation (how to fix it);
    ``aliases`` are the names users bring from other libraries (RLlib's old stack, TRL,
    verl, CleanRL, papers), which an unknown key's hint maps back to this knob.
    """

    def __init__(self, default: Any, doc: str, *, choices: Optional[Tuple[Any, ...]] = None,
                 minimum: Optional[float] = None, maximum: Optional[float] = None,
                 exclusive_minimum: bool = False, exclusive_maximum: bool = False,
                 hint: str = "", section: str = "algorithm", name: str = "", valid: str = "",
                 aliases: Tuple[str, ...] = ()):
        if section not in SECTIONS:
            raise ValueError(f"unknown knob section {section!r}; valid: {', '.join(SECTIONS)}")
        self.default, self.doc, self.choices = default, doc, choices
        self.minimum, self.maximum, self.exclusive_minimum = minimum, maximum, exclusive_minimum
        self.exclusive_maximum = exclusive_maximum
        self.hint, self.section = hint, section
        self.name = name
        self.valid = valid  # what a value must be, where no bound or choice says it
        self.aliases = tuple(aliases)  # names other libraries give it (did-you-mean hints)
        self.changes_default = True  # RLlib's own knobs (RLLIB_KNOBS) may keep RLlib's
        self.__doc__ = doc

    def __repr__(self) -> str:
        return f"Knob({self.name}, default={self.default!r}, section={self.section!r})"

    def __set_name__(self, owner, name: str) -> None:
        self.name = name

    def __get__(self, obj, objtype=None):
        if obj is None:
            return self
        return obj.__dict__.get(self.name, self.default)

    def __set__(self, obj, value) -> None:
        obj.__dict__[self.name] = value

    def fresh_default(self) -> Any:
        return copy.deepcopy(self.default)

    def valid_range(self) -> str:
        """The bounds as text: ``[0, 1)``, ``>= 1``, ``> 0``; ``""`` without bounds."""
        lo, hi = self.minimum, self.maximum
        if lo is not None and hi is not None:
            return (f"{'(' if self.exclusive_minimum else '['}{lo:g}, {hi:g}"
                    f"{')' if self.exclusive_maximum else ']'}")
        if lo is not None:
            return f"{'>' if self.exclusive_minimum else '>='} {lo:g}"
        if hi is not None:
            return f"{'<' if self.exclusive_maximum else '<='} {hi:g}"
        return ""

    def bound_error(self, value: Any) -> Optional[str]:
        """The one-line message if ``value`` breaks a bound, else None."""
        if value is None or (self.minimum is None and self.maximum is None):
            return None
        low_ok = (self.minimum is None or
                  (value > self.minimum if self.exclusive_minimum else value >= self.minimum))
        high_ok = (self.maximum is None or
                   (value < self.maximum if self.exclusive_maximum else value <= self.maximum))
        if low_ok and high_ok:
            return None
        both = self.minimum is not None and self.maximum is not None
        rule = f"must be {'in ' if both else ''}{self.valid_range()}"
        return f"{self.name}={value!r} {rule}" + (f"; {self.hint}" if self.hint else "")


def _accepted(annotation) -> Tuple[type, ...]:
    """``float`` -> (int, float); ``Optional[str]`` -> (str, NoneType); ``bool`` -> (bool,)."""
    args = typing.get_args(annotation) if typing.get_origin(annotation) is typing.Union else (annotation,)
    out: List[type] = []
    for a in args:
        a = typing.get_origin(a) or a
        out.extend((int, float) if a is float else (a,))
    return tuple(dict.fromkeys(out))


class IStarKnobs:
    """The iStar knobs (declarations only; ``IStarConfig`` adds RLlib's machinery)."""

    # ---- model ------------------------------------------------------------------
    model_path: str = Knob(
        "tiny", "Policy checkpoint: a local Hugging Face folder (or one holding a single "
        ".gguf), a named pretrained model made by `rllib fetch-model` (smollm2-135m-instruct), "
        "'tiny' (a random tiny LM + word-level tokenizer built offline over the registered "
        "envs' vocabulary; 'tiny:<llama|qwen2>:<hidden>:<layers>' picks its size) or "
        "'tiny-bpe' (a tiny LM with a byte-level BPE tokenizer and a chat template). OURS.",
        section="model", valid="'tiny', 'tiny:<arch>:<hidden>:<layers>', 'tiny-bpe', a "
        "fetched model name or an existing local folder",
        aliases=("model", "model_name", "model_name_or_path"))
    format_warmup_steps: int = Knob(
        AUTO, "If > 0, first fine-tune model_path this many steps on random admissible actions "
        "(teaches the action format, not the task; warmup/finetune.py), cached, and train "
        "from that. 'auto': 150 for a tiny model (random weights), else 0. OURS.", minimum=0,
        section="model", aliases=("warmup_steps",))
    format_warmup_lr: float = Knob(
        3e-3, "AdamW learning rate of the format warm-up (full fine-tune). 3e-3 suits the tiny "
        "random models; a pretrained model needs far less (1e-4 for SmolLM2-135M). OURS.",
        minimum=0.0, exclusive_minimum=True, section="model")
    format_warmup_batch_size: int = Knob(
        32, "Examples per format warm-up step. OURS.", minimum=1, section="model")
    model_dtype: str = Knob("float32", "Weights dtype of policy and PRM. OURS.",
                            choices=DTYPES, section="model")
    trust_remote_code: bool = Knob(False, "Passed to transformers when loading; off unless "
                                   "you trust the checkpoint's code.", section="model")
    prm_init: Optional[str] = Knob(None, "PRM initial weights: null = the policy checkpoint "
                                   "(ALG 'Models', paper), or a local HF folder.", section="model",
                                   valid="null or an existing local folder")
    policy_mode: str = Knob(
        "full", "'full': every policy weight trains; 'lora': a LoRA adapter over the frozen "
        "base (lora_rank, lora_alpha; needs the 'lora' extra): weight sync and checkpoints "
        "carry only the adapter, the export merges it. OURS.", choices=PRM_MODES,
        section="model")
    autocast_dtype: Optional[str] = Knob(
        None, "Mixed precision for every forward pass of policy and PRM (rollout and learner): "
        "'bfloat16' or 'float16' under torch.autocast with float32 master weights and "
        "optimizer state (set model_dtype float32). null = none. 'auto' = bfloat16 where the "
        "device computes bf16 natively (GPU: torch.cuda.is_bf16_supported(); CPU: a timed "
        "probe, once per process, rllib_istar/lm/precision.py), else none; one line says what "
        "was chosen and why. On a CPU with native bf16 (AVX512-BF16, AMX) bfloat16 roughly "
        "halves the step time; without it torch emulates bf16, several times slower (an "
        "explicit 'bfloat16' then warns with the measured factor). The rollout/learner "
        "log-prob gap grows from ~1e-6 to ~1e-2 under bf16. Pure bf16 weights (model_dtype "
        "bfloat16) lose most small updates to rounding. OURS.",
        choices=(None, "auto", "bfloat16", "float16"), section="model")
    flush_denormal: bool = Knob(
        True, "On CPU, building a policy or PRM module calls torch.set_flush_denormal(True) "
        "for its process (denormal floats count as 0): the backward pass of a 49k-vocabulary "
        "softmax was once measured ~3x slower without it (SmolLM2; the committed "
        "benchmark saw no difference, docs/benchmarks/real_model.md). It is process-wide "
        "(it also affects other float code in that process); false leaves the float mode "
        "alone. OURS.", section="model")
    prm_mode: str = Knob(
        "full", "'full': the PRM is a separate trainable copy (paper); 'lora': a LoRA adapter "
        "over a frozen copy of the base (saves optimizer memory; needs the 'lora' extra); "
        "'none': no PRM (only valid with an outcome-only estimator).",
        choices=PRM_MODES + ("none",), section="model")
    prm_inputs: str = Knob(
        "multimodal", "What the PRM reads on envs that observe images: 'multimodal' the "
        "policy's input, image pixels included (OURS: a PRM that sees the board); 'text' the "
        "same token ids without the pixels (the reference's image-blind PRM, for comparison). "
        "Text envs are unaffected.", choices=("multimodal", "text"), section="model")
    lora_rank: int = Knob(8, "LoRA rank of the adapters (policy_mode / prm_mode lora). OURS.",
                          minimum=1, section="model")
    lora_alpha: int = Knob(16, "LoRA alpha of the adapters. OURS.", minimum=1,
                           section="model")
    # ---- rollout ----------------------------------------------------------------
    group_size: int = Knob(
        AUTO, "Trajectories per task (G). 'auto': 8 for a tiny model, else 4. REF: 8. ALG "
        "'Objects'.", minimum=2, section="rollout",
        hint="every estimator compares trajectories inside a group; set group_size >= 2",
        aliases=("group", "n_samples", "num_generations", "num_trajectories", "rollout_n"))
    num_groups: int = Knob(
        AUTO, "Tasks per iteration (split across env runners; num_groups x group_size "
        "trajectories). 'auto': 8 for a tiny model, else 4. REF Sokoban: 32.", minimum=1,
        section="rollout", aliases=("batch_size", "n_tasks", "train_batch_size"))
    history_length: int = Knob(2, "Observation/action pairs shown in the prompt (H). REF: 2.",
                               minimum=0, section="rollout", aliases=("history",))
    max_new_tokens: int = Knob(AUTO, "Response token budget per step. 'auto': 2 for a tiny model "
                               "on a 'bare' env, else 8. REF: 512.", minimum=1, section="rollout",
                               aliases=("max_completion_length", "max_response_length",
                                        "max_tokens", "response_length"))
    response_prefix: Optional[str] = Knob(
        None, "Text appended to every prompt after the chat template's assistant header, e.g. "
        "'<action>': the model continues it, and the env parses prefix + response. Its tokens "
        "belong to the prompt, not the response: they get no log-prob, no ratio and no "
        "gradient, and every log-prob is conditioned on them. Helps small real models emit "
        "the action format. OURS.", section="rollout")
    stop_strings: Optional[list] = Knob(
        None, "Strings that end a response (the token completing one is kept, nothing after), "
        "besides EOS, e.g. ['</action>']. OURS.", section="rollout",
        valid="null or a list of non-empty strings")
    max_prompt_length: int = Knob(
        512, "Prompt token budget; longer prompts drop the oldest history pairs, then keep the "
        "last max_prompt_length tokens (counted in env_runners/num_history_pairs_dropped and "
        "num_prompts_cut). REF Sokoban: 1024.", minimum=1, section="rollout",
        aliases=("max_length", "prompt_length"))
    rollout_mode: str = Knob(
        "sync", "'sync': sample, then learn. 'async': the env runners sample the next "
        "iteration with the weights this update starts from while the learner trains on "
        "this one's groups (one version stale; pi_old, the PRM's rolling reference and the "
        "step rewards use the policy that sampled each row; needs num_env_runners >= 1). "
        "OURS; ALG §4.", choices=ROLLOUT_MODES, section="rollout")
    max_episode_steps: int = Knob(100, "Safety cap on steps per episode on top of the env's "
                                  "own max_steps. OURS.", minimum=1, section="rollout",
                                  aliases=("max_steps",))
    temperature: float = Knob(
        1.0, "Sampling temperature (also divides the logits when the learner computes "
        "log-probs, so both sides agree). REF: 1.0.", minimum=0.0, exclusive_minimum=True,
        hint="the learner divides the logits by it; use a small value such as 0.1 for "
        "near-greedy sampling", section="rollout", aliases=("sampling_temperature", "temp"))
    top_p: float = Knob(1.0, "Nucleus sampling threshold. REF: 1.0.", minimum=0.0, maximum=1.0,
                        exclusive_minimum=True, section="rollout")
    generation_backend: str = Knob("hf", "'hf' (transformers generate; CPU or GPU) or 'vllm' "
                                   "(GPU, 'vllm' extra).", choices=BACKENDS, section="rollout")
    vllm_kwargs: Optional[dict] = Knob(None, "Extra keyword arguments for vllm.LLM (e.g. "
                                       "gpu_memory_utilization). REF: gpu_mem 0.6.",
                                       section="rollout")
    outcome: str = Knob(
        "success", "Trajectory outcome r_o: 'success' = won (1/0) minus invalid_action_penalty "
        "per invalid step; 'return' = sum of the step rewards (the penalty is inside them). "
        "ALG 'Objects'.", choices=OUTCOME_KINDS, section="rollout")
    invalid_action_penalty: float = Knob(
        0.1, "Subtracted from the reward of a step whose response the env's parser rejects "
        "(the step is a no-op). ALG/REF: 0.1.", minimum=0.0, section="rollout",
        aliases=("invalid_penalty",))
    # ---- advantages -------------------------------------------------------------
    advantage_estimator: str = Knob(
        "istar_rloo", "iStar: istar_rloo | istar_grpo | istar_reinforce_pp (episode estimator "
        "+ implicit step rewards); outcome only: rloo | grpo | reinforce_pp (no PRM is built); "
        "gigpo (anchor-state step groups); prime (token-level implicit PRM trained with "
        "cross-entropy). ALG §3, §5.", choices=tuple(ESTIMATORS),
        aliases=("adv_estimator", "estimator"))
    ablation: Optional[str] = Knob(
        None, "iStar ablations (ALG §5): 'merged' (episode estimator on r_o + alpha * "
        "sum_t r_phi), 'token_level_pr' (token-level implicit rewards), 'gt_step_reward' (the "
        "env's own step reward as the step signal), 'frozen_prm' (the PRM never trains: r_phi = "
        "beta * sum(log pi_init - log pi_old), what the authors' released code computes).", choices=(None,) + tuple(ABLATIONS))
    step_advantage_weight: float = Knob(
        AUTO, "alpha in A = A_E + alpha * A_S (A_E in outcome units with rloo, A_S a unit "
        "z-score). 'auto': 0.03 for a tiny model, else 1.0. ALG §3; REF: 1.0.",
        minimum=0.0, aliases=("alpha", "step_weight"))
    step_adv_norm: str = Knob(
        "group_step", "Scope of the step advantage's normalisation (ALG §3): 'group' (z-score "
        "over all steps of the group), 'group_step' (within group and step index), 'anchor' "
        "(within identical observations of a group, GiGPO's anchors; singletons fall back to "
        "group_step), 'batch_max_abs' (r / max|r| over the batch, no centring: REF code), "
        "'group_step_center' (centred within group and step index, scaled by the batch std). "
        "Also used for gt_step_reward. Default chosen by benchmark (docs/DECISIONS.md).",
        choices=tuple(STEP_ADV_NORMS))
    gigpo_gamma: float = Knob(0.95, "GiGPO discount for step returns. REF: 0.95.", minimum=0.0,
                              maximum=1.0, aliases=("discount", "gamma"))
    gigpo_step_norm: str = Knob("std", "GiGPO normalisation inside an anchor group: 'std' "
                                "(mean/std) or 'mean' (mean only, REF).",
                                choices=tuple(ANCHOR_NORMS))
    adv_eps: float = Knob(1e-6, "eps in the std normalisations. ALG §3.", minimum=0.0)
    # ---- PRM --------------------------------------------------------------------
    prm_beta: float = Knob(0.05, "beta of the implicit reward and of the DPO loss. ALG §1; "
                           "REF: 0.05.", minimum=0.0, exclusive_minimum=True,
                           hint="beta 0 makes every implicit reward 0", section="prm",
                           aliases=("beta", "dpo_beta", "reward_beta"))
    prm_update: str = Knob(
        "before", "'before': update the PRM on the batch, then score it with the updated PRM "
        "(design card); 'after': score first (REF), from the first PRM step's own forward "
        "pass when no replayed batch comes first (one pass fewer). ALG §2.",
        choices=PRM_UPDATE_ORDERS,
        section="prm")
    prm_epochs: int = Knob(1, "PRM optimizer steps per iteration (each over the whole batch). "
                           "REF: 1.", minimum=1, section="prm")
    prm_lr: float = Knob(
        AUTO, "PRM Adam learning rate. 'auto': 3e-4 for a tiny model, else 1e-6. REF: 1e-6 "
        "(2x the policy's 5e-7, one step each), for 1.5-7B models. Rule (measured on the tiny model): one PRM step per "
        "iteration (prm_epochs 1) at about 0.3x the policy's lr, i.e. prm_lr 3e-4 at lr 1e-3 "
        "(toy: last-10 success 0.96 on seed 0); prm_lr 1e-3 or 3 PRM steps drove the policy "
        "into invalid actions, 1e-6 does not move the tiny PRM. docs/DECISIONS.md.",
        minimum=0.0, section="prm", aliases=("prm_learning_rate", "reward_lr", "rm_lr"))
    prm_grad_clip: Optional[float] = Knob(10.0, "PRM gradient-norm clip (null: none). REF: 10.",
                                          minimum=0.0, exclusive_minimum=True,
                                          hint="null turns the clip off", section="prm")
    prm_agg: str = Knob("sum", "Trajectory log-ratio Q(tau) from its steps: 'sum' (the theorem) "
                        "or 'mean' (REF code). ALG §2.", choices=tuple(TRAJ_AGGREGATIONS),
                        section="prm")
    pair_margin: float = Knob(0.0, "Preference pairs need outcome(tau+) - outcome(tau-) > "
                              "pair_margin. ALG §2.", minimum=0.0, section="prm")
    prm_reference: str = Knob(
        "rolling", "Reference of the step reward r_phi = beta*log(pi_phi/ref): 'rolling' = "
        "pi_old, the policy that sampled the batch (paper); r_phi is then the PRM's progress "
        "minus the policy's own drift from its initial weights. 'initial' = the frozen "
        "initial policy (PRIME's default): r_phi is what the PRM learned. 'initial' needs "
        "kl_coef > 0 (the rolling reference's drift penalty was the policy's only pull "
        "toward its start). ALG §2a; docs/STEP_REWARDS.md.", choices=PRM_REFERENCES,
        section="prm")
    prm_dpo_reference: Optional[str] = Knob(
        None, "Reference of the PRM's DPO loss: null = prm_reference's, or 'rolling' / "
        "'initial'. At small beta it hardly changes the gradient. ALG §2a.",
        choices=(None,) + PRM_REFERENCES, section="prm")
    prm_replay_batches: int = Knob(
        1, "The PRM trains on this many batches per PRM epoch: the current one and the "
        "last prm_replay_batches - 1 (DPO needs pairs, not on-policy samples), one optimizer "
        "step each. 1 = the current batch only (paper). ALG §2a.", minimum=1, section="prm")
    prm_nll_coef: float = Knob(
        0.0, "Weight of a negative log-likelihood term on the response tokens of each pair's "
        "winner (DPO + NLL, as RPO): keeps the PRM's probability on the responses it prefers. "
        "Trajectory DPO alone pushes every sampled response down on an LM and moves the mass "
        "to responses the env rejects (benchmarks/prm_displacement.py). 0 = DPO only (paper). "
        "OURS.", minimum=0.0, section="prm")
    same_state_credit: bool = Knob(
        True, "On envs that label their admissible actions (oracle_action_labels: the toy, "
        "CreditChain, Sokoban), score every labelled action at each decisive prompt with each "
        "credit signal and log credit_state_* / credit_sampled_* (learner/same_state_credit.py); "
        "costs no-grad passes over a few candidate rows and a frozen copy of the initial "
        "policy unless one is already held. OURS.", section="prm")
    # ---- policy -----------------------------------------------------------------
    ratio_level: str = Knob(
        "auto", "Importance ratio: 'step' (length-normalised, ALG §4 default), 'step_product', "
        "'token' (standard PPO/GRPO); 'auto' = token for the token-level estimators (prime, "
        "token_level_pr), step otherwise.", choices=("auto",) + tuple(RATIO_LEVELS),
        section="policy")
    clip_low: float = Knob(0.2, "Lower clip: ratio >= 1 - clip_low. REF: 0.2.", minimum=0.0,
                           maximum=1.0, exclusive_maximum=True,
                           hint="the ratio's lower clip 1 - clip_low must stay above 0",
                           section="policy",
                           aliases=("clip", "clip_param", "clip_range", "clip_ratio",
                                    "clip_ratio_low", "cliprange", "epsilon"))
    clip_high: float = Knob(0.2, "Upper clip: ratio <= 1 + clip_high. REF: 0.2.", minimum=0.0,
                            section="policy", aliases=("clip_ratio_high",))
    kl_coef: float = Knob(0.0, "Weight of a k3 KL penalty to a frozen copy of the initial "
                          "policy (off in REF).", minimum=0.0, section="policy",
                          aliases=("beta_kl", "kl", "kl_coeff", "kl_loss_coef"))
    entropy_coef: float = Knob(0.0, "Entropy bonus weight on response tokens (REF: 0.001; off "
                               "by default, ALG §4).", minimum=0.0, section="policy",
                               aliases=("ent_coef", "entropy_coeff"))
    recompute_old_logp: bool = Knob(
        True, "Recompute pi_old log-probs with the learner before the update (REF); False "
        "trusts the rollout log-probs. The gap is logged either way.", section="policy")
    gradient_checkpointing: bool = Knob(
        AUTO, "Recompute activations in the backward pass of policy and PRM (less memory, "
        "more compute; the same numbers). 'auto': off for a tiny model, on for a checkpoint "
        "(SmolLM2-135M on 2 cores: peak RSS 8.1 -> 3.8 GiB, +12% time per iStar iteration). "
        "OURS.", section="policy")
    policy_microbatch_tokens: Optional[int] = Knob(
        None, "Token budget (rows x padded width) of one forward/backward pass of the policy "
        "update: each minibatch is split into micro-batches of at most this many tokens, "
        "with exact gradient accumulation (one optimizer step per minibatch, as without it). "
        "null = the whole minibatch in one pass. OURS.", minimum=1, section="policy")
    microbatch_size: int = Knob(
        16, "Rows per forward pass in the no-grad passes and the PRM update (bounds memory; "
        "gradients are accumulated exactly). A DPO step runs in one forward-backward where "
        "whole groups fit (at least group_size x steps per episode rows); larger groups "
        "take an extra no-grad pass. OURS.", minimum=1, section="policy",
        aliases=("micro_batch_size",))


def knobs() -> List[Knob]:
    """Every knob, in declaration order."""
    return [v for v in vars(IStarKnobs).values() if isinstance(v, Knob)]


KNOBS: List[Knob] = knobs()
KNOBS_BY_NAME: Dict[str, Knob] = {k.name: k for k in KNOBS}
_HINTS = typing.get_type_hints(IStarKnobs)
KNOB_TYPES: Dict[str, Tuple[type, ...]] = {k.name: _accepted(_HINTS[k.name]) for k in KNOBS}
