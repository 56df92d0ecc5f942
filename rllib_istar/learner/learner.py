"""IStarTorchLearner: pi_old -> PRM update -> step rewards -> advantages -> PPO.

``update()`` is overridden (docs/rllib_internals.md §2) so the strict order of
docs/algorithm.md holds inside one learner call:

1. the learner connector turns episodes into padded step rows (whole groups);
2. pi_old log-probs are recomputed with the learner's numerics (the gap to the
   rollout log-probs is logged), under the weights that sampled each row
   (``rollout_mode: async``: one version back, ``behaviour_policy.py``);
3. PRM phase (iStar: trajectory DPO, §2; PRIME: cross-entropy): with its own
   optimizer, ``prm_epochs`` steps, in micro-batches with exact gradient
   accumulation; scoring before (``prm_update: after``) or after (``before``)
   (``prm_phase.py``, a composed :class:`PRMPhase`);
4. advantages through the estimator tables (``estimator_tables.py``, math in ``core``; §3, §5),
   and, when the env labels its steps, credit-quality metrics (``pooled_credit.py``);
5. the policy's clipped surrogate (§4) through RLlib's stock epoch/minibatch loop
   (in token-budget micro-batches with ``policy_microbatch_tokens``,
   ``policy_microbatches.py``).

Every override of an RLlib method, public or private, is in this file; why each one
is needed is in docs/rllib_internals.md §2.
"""
from __future__ import annotations

from typing import Any, Dict, Mapping, Optional

import torch
from ray.rllib.core.learner.torch.torch_learner import TorchLearner
from ray.rllib.core.learner.training_data import TrainingData
from ray.rllib.policy.sample_batch import MultiAgentBatch, SampleBatch
from ray.rllib.utils.annotations import override
from ray.rllib.utils.metrics import NUM_ENV_STEPS_SAMPLED_LIFETIME, TIMERS

from rllib_istar import columns as C
from rllib_istar import metrics as M
from rllib_istar.connectors.step_rows import StepRows
from rllib_istar.core import policy_losses, step_rewards
from rllib_istar.learner.behaviour_policy import BehaviourPolicy, policy_lag
from rllib_istar.learner.estimator_tables import (
    compute_advantages,
    normalised_step_rewards,
)
from rllib_istar.learner.initial_policy import InitialPolicy
from rllib_istar.learner.microbatches import Microbatcher
from rllib_istar.learner.policy_microbatches import PolicyMicrobatchUpdate
from rllib_istar.learner.pooled_credit import credit_metrics, step_signals
from rllib_istar.learner.prm_phase import (
    PRMPhase,
    PRMScores,
    PRMSettings,
    candidate_rows,
)
from rllib_istar.learner.prm_replay import PRMReplay
from rllib_istar.learner.same_state_credit import same_state_metrics
from rllib_istar.learner.shuffle_seed import seeded_global_numpy
from rllib_istar.lm.shared_weights import share_frozen_weights
from rllib_istar.rl_modules.specs import POLICY_ID, PRM_ID

#: Key of the PRM replay (``prm_replay.py``) in the learner's state.
PRM_REPLAY_STATE = "prm_replay"


class IStarTorchLearner(TorchLearner):
    """Learner for IStar: one policy module and, for PRM estimators, a PRM module.

    Hooks for subclasses (``IStarConfig().training(learner_class=...)``):
    :meth:`timed` (every phase timer) and :meth:`on_advantages` (the step rows,
    step rewards and advantages of each update); ``benchmarks/probes.py`` uses both.
    """

    @override(TorchLearner)
    def build(self) -> None:
        super().build()
        cfg = self.config
        self.microbatcher = Microbatcher(cfg.microbatch_size, self._device, cfg.num_learners > 1)
        self._prm_replay = PRMReplay(cfg.prm_replay_batches)
        self.prm_phase = self._build_prm_phase() if PRM_ID in self.module else None
        self.policy_microbatches = None
        if cfg.policy_microbatch_tokens:
            self.policy_microbatches = PolicyMicrobatchUpdate(
                budget=cfg.policy_microbatch_tokens,
                step_units=cfg.effective_ratio_level != "token", loss_fn=self.policy_loss,
                microbatcher=self.microbatcher, log=lambda values: self._log(POLICY_ID, values))
        # pi_init: the KL reference, the 'initial' PRM reference, and the split of r_phi into
        # its two terms in the same-state credit metrics (envs that label their actions)
        self._initial = None
        if cfg.kl_coef > 0 or cfg.uses_initial_reference or cfg.env_labels_actions:
            prm = self._plain(PRM_ID) if PRM_ID in self.module else None
            self._initial = InitialPolicy(self._plain(POLICY_ID), prm,
                                          prm_shares_init=cfg.prm_init is None)
        # LoRA policy and PRM over one checkpoint: its frozen base held once
        self.shared_weight_bytes = (share_frozen_weights(self._plain(PRM_ID), self._plain(POLICY_ID))
                                    if PRM_ID in self.module else 0)
        # async rollouts: the weights the next batch is sampled with, kept for its pi_old
        self._behaviour = (BehaviourPolicy(self._plain(POLICY_ID))
                           if cfg.rollout_mode == "async" else None)

    def _plain(self, module_id: str):
        return self.module[module_id].unwrapped()

    def _build_prm_phase(self) -> PRMPhase:
        """The PRM phase with what it uses handed over explicitly."""
        def parameters():
            ids = {id(q) for q in self.get_parameters(self.module[PRM_ID])}
            return {pid: p for pid, p in self._params.items() if id(p) in ids}

        return PRMPhase(
            forward_train=lambda batch: self.module[PRM_ID].forward_train(batch),
            token_logprobs=lambda *a, **k: self._plain(PRM_ID).token_logprobs(*a, **k),
            parameters=parameters,
            optimizers=lambda: [self.get_optimizer(PRM_ID, name)
                                for name in self._module_optimizers[PRM_ID]],
            postprocess_gradients=self.postprocess_gradients,
            settings=PRMSettings.from_config(self.config), microbatcher=self.microbatcher,
            replay=self._prm_replay, log=lambda values: self._log(PRM_ID, values),
            timed=self.timed)

    # ------------------------------------------------------------ optimizers
    @override(TorchLearner)
    def configure_optimizers_for_module(self, module_id, config=None) -> None:
        params = [p for p in self.get_parameters(self.module[module_id]) if p.requires_grad]
        name, lr = ("prm", self.config.prm_lr) if module_id == PRM_ID else ("policy", config.lr)
        self.register_optimizer(module_id=module_id, optimizer_name=name,
                                optimizer=torch.optim.AdamW(params, lr=lr, weight_decay=0.0),
                                params=params, lr_or_lr_schedule=lr)

    @override(TorchLearner)
    def postprocess_gradients_for_module(self, *, module_id, config=None, module_gradients_dict):
        if module_id != PRM_ID:
            return super().postprocess_gradients_for_module(
                module_id=module_id, config=config, module_gradients_dict=module_gradients_dict)
        if self.config.prm_grad_clip and module_gradients_dict:
            norm = self._get_clip_function()(module_gradients_dict,
                                             grad_clip=self.config.prm_grad_clip,
                                             grad_clip_by="global_norm")
            self.metrics.log_value((PRM_ID, "gradients_global_norm"), float(norm), window=1)
        return module_gradients_dict

    @override(TorchLearner)
    def _get_optimizer_state(self) -> Dict[str, Any]:
        """Optimizer state as native-dtype CPU tensors (RLlib's numpy path breaks bf16)."""
        def to_cpu(x):
            if isinstance(x, torch.Tensor):
                return x.detach().cpu().clone()
            if isinstance(x, dict):
                return {k: to_cpu(v) for k, v in x.items()}
            if isinstance(x, (list, tuple)):
                return type(x)(to_cpu(v) for v in x)
            return x
        return {name: {"module_id": self._optimizer_name_to_module[name],
                       "state": to_cpu(opt.state_dict())}
                for name, opt in self._named_optimizers.items()}

    @override(TorchLearner)
    def get_state(self, components=None, *, not_components=None, **kwargs) -> Dict[str, Any]:
        """RLlib's learner state plus the PRM's replay of recent batches (exact resume)."""
        state = super().get_state(components, not_components=not_components, **kwargs)
        if len(self._prm_replay) and self._check_component(PRM_REPLAY_STATE, components,
                                                           not_components):
            state[PRM_REPLAY_STATE] = self._prm_replay.get_state()
        return state

    @override(TorchLearner)
    def set_state(self, state: Dict[str, Any]) -> None:
        super().set_state(state)
        if PRM_REPLAY_STATE in state:
            self._prm_replay.set_state(state[PRM_REPLAY_STATE])

    # ---------------------------------------------------------------- update
    @override(TorchLearner)
    def update(self, *, training_data: Optional[TrainingData] = None, episodes=None,
               timesteps=None, num_epochs: int = 1, minibatch_size=None,
               shuffle_batch_per_epoch: bool = False, num_total_minibatches: int = 0, **kwargs):
        if training_data is None:
            training_data = TrainingData(episodes=episodes, episodes_refs=kwargs.pop("episodes_refs", None))
        training_data.solve_refs()
        rows = self._learner_connector(rl_module=self.module, batch={}, episodes=training_data.episodes,
                                       shared_data={}, metrics=self.metrics)[C.STEP_ROWS]
        rows = StepRows.from_columns(rows).to(self._device)
        cfg, spec = self.config, self.config.estimator
        with self.timed(M.TIMER_OLD_LOGP):
            old_logp = self._old_logp(rows)
            init_logp = (self.microbatcher.chunked_logp(self._initial.token_logprobs, rows)
                         if cfg.kl_coef > 0 or cfg.uses_initial_reference else None)
        scores = self.prm_phase.run(rows, old_logp, init_logp) if spec.prm_loss else None
        step_r = scores.step_rewards if scores is not None else None
        labels = rows[C.STEP_ORACLE]
        labelled = bool(((labels == 1) | (labels == -1)).any())  # decisive steps to compare
        step_adv = None  # A_S of r_phi, computed once for the advantages and the credit metrics
        if step_r is not None and (spec.step_signal == "implicit" or labelled):
            step_adv = normalised_step_rewards(step_r, rows, cfg.step_adv_norm, cfg.adv_eps)
        advantages, adv_metrics = compute_advantages(
            spec, rows, alpha=cfg.step_advantage_weight, step_rewards=step_r,
            token_rewards=scores.token_rewards if scores is not None else None,
            gamma=cfg.gigpo_gamma, gigpo_norm=cfg.gigpo_step_norm, step_norm=cfg.step_adv_norm,
            eps=cfg.adv_eps, step_adv=step_adv)
        credit = self._credit_metrics(rows, advantages, scores, step_adv) if labelled else {}
        self._log(POLICY_ID, {**adv_metrics, **credit, M.NUM_STEP_ROWS: len(old_logp),
                              M.NUM_TRAJECTORIES: len(rows[C.TRAJ_OUTCOME])})
        self.on_advantages(rows, step_r, advantages)
        columns = {C.INPUT_IDS: rows[C.INPUT_IDS], C.ATTENTION_MASK: rows[C.ATTENTION_MASK],
                   C.RESPONSE_MASK: rows[C.RESPONSE_MASK], C.OLD_LOGP: old_logp,
                   C.ADVANTAGES: advantages}
        if C.IMAGES in rows:  # image envs: each row's prompt image rides along (uint8)
            columns[C.IMAGES] = rows[C.IMAGES]
        if cfg.kl_coef > 0:
            columns[C.REF_LOGP] = init_logp
        batch = MultiAgentBatch({POLICY_ID: SampleBatch(columns)}, env_steps=len(old_logp))
        if self._behaviour is not None:  # the runners sample the next batch with these weights
            self._behaviour.remember(self._weights_seq_no)
        no_reduce = kwargs.pop("_no_metrics_reduce", False)
        lifetime = (timesteps or {}).get(NUM_ENV_STEPS_SAMPLED_LIFETIME)
        with self.timed(M.TIMER_POLICY_UPDATE), seeded_global_numpy(self.config.seed, lifetime):
            super().update(batch=batch, timesteps=timesteps, num_epochs=num_epochs,
                           minibatch_size=minibatch_size,
                           shuffle_batch_per_epoch=shuffle_batch_per_epoch,
                           num_total_minibatches=num_total_minibatches,
                           _no_metrics_reduce=True, **kwargs)
        return None if no_reduce else self.metrics.reduce()

    def score_step_rewards(self, rows: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Implicit step rewards r_phi (docs/algorithm.md §1) under the current PRM, against the
        current policy as pi_old (``prm_reference: rolling``) or pi_init (``initial``):
        what ``rllib evaluate`` reports.

        ``rows``: :func:`~rllib_istar.connectors.episodes_to_rows` output (any device),
        ``N`` step rows -> ``(N,)`` float32 on the CPU. Micro-batched, no gradients.
        """
        rows = StepRows.from_columns(rows).to(self._device)
        if self.config.prm_reference == "initial":
            ref_logp = self.microbatcher.chunked_logp(self._initial.token_logprobs, rows)
        else:
            ref_logp = self.microbatcher.chunked_logp(self._plain(POLICY_ID).token_logprobs, rows)
        prm_logp = self.microbatcher.chunked_logp(self._plain(PRM_ID).token_logprobs, rows)
        return step_rewards.implicit_step_rewards(prm_logp, ref_logp, rows[C.RESPONSE_MASK],
                                                  self.config.prm_beta).cpu()

    def score_same_state(self, rows: Mapping[str, torch.Tensor]) -> Dict[str, float]:
        """Same-state credit (``same_state_credit.py``) of the current PRM's r_phi, its two
        terms and the policy's drift, over ``rows``' candidates (``{}`` without candidates
        or without pi_init): what ``rllib evaluate`` reports. The current policy is pi_old."""
        rows = StepRows.from_columns(rows).to(self._device)
        cands = candidate_rows(rows)
        if cands is None or self._initial is None:
            return {}
        cfg = self.config
        prm = self._plain(PRM_ID) if PRM_ID in self.module else None
        chunked = self.microbatcher.chunked_logp
        return same_state_metrics(
            rows, cand_old_logp=chunked(self._plain(POLICY_ID).token_logprobs, cands),
            cand_init_logp=chunked(self._initial.token_logprobs, cands),
            cand_prm_logp=None if prm is None else chunked(prm.token_logprobs, cands),
            prm_reference=cfg.prm_reference, beta=cfg.prm_beta, step_rewards=None,
            advantages=None, sampled_signals={}, step_norm=cfg.step_adv_norm, eps=cfg.adv_eps)

    # ----------------------------------------------------------------- hooks
    def timed(self, name: str):
        """Context manager that times one phase into ``timers/<name>`` (RLlib's
        smoothed timer). Override to also observe each raw duration."""
        return self.metrics.log_time((TIMERS, name))

    def on_advantages(self, rows: Mapping[str, torch.Tensor], step_rewards: Optional[torch.Tensor],
                      advantages: torch.Tensor) -> None:
        """Called once per update, after the advantages and before the policy update.

        ``rows``: the step rows (N rows); ``step_rewards``: ``(N,)`` r_phi or None
        (no PRM); ``advantages``: ``(N,)`` or ``(N, L)``. Log diagnostics with
        ``self.metrics.log_value``; the default does nothing.
        """

    # --------------------------------------------------------------- phases
    def _old_logp(self, rows) -> torch.Tensor:
        """pi_old ``(N, L)``: the rollout log-probs, or (``recompute_old_logp``) the
        learner's recomputation under the weights that sampled each row; logs the gap and,
        with ``rollout_mode: async``, the rows' policy lag."""
        mask = rows[C.RESPONSE_MASK]
        rollout = rows[C.ROLLOUT_LOGP]
        if self._behaviour is not None:
            self._log_policy_lag(rows)
        if not self.config.recompute_old_logp:
            return rollout
        learner = self._behaviour_logp(rows, rows)
        gap = (learner - rollout).abs()[mask.bool()]
        if gap.numel():
            self._log(POLICY_ID, {M.LOGP_GAP: float(gap.mean()), M.LOGP_GAP_MAX: float(gap.max())})
        return learner

    def _behaviour_logp(self, rows, scored) -> torch.Tensor:
        """No-grad log-probs of ``scored`` (rows of ``rows``, or its candidates) under the
        policy that sampled them: the live policy, or with ``rollout_mode: async`` the kept
        weights of the version each row records."""
        logp_fn = self._plain(POLICY_ID).token_logprobs
        if self._behaviour is None:
            return self.microbatcher.chunked_logp(logp_fn, scored)
        versions = rows[C.STEP_POLICY_VERSION]
        if scored is not rows:  # candidates: the version of the step row they share a prompt with
            versions = versions[rows[C.CAND_ROW]]
        return self._behaviour.logp(self.microbatcher.chunked_logp, logp_fn, scored, versions,
                                    self._weights_seq_no)

    def _log_policy_lag(self, rows) -> None:
        lag = policy_lag(rows, self._weights_seq_no)
        if lag is None:
            raise RuntimeError(
                "rollout_mode 'async' needs the weights version of every episode "
                f"(custom_data[{C.POLICY_VERSION!r}], which LLMEnvRunner records); a custom "
                "env runner must record it too, or use rollout_mode: sync")
        if len(lag):
            self._log(POLICY_ID, {M.POLICY_LAG: float(lag.float().mean()),
                                  M.POLICY_LAG_MAX: float(lag.max())})

    # -------------------------------------------------------------- helpers
    def _credit_metrics(self, rows, advantages, scores: Optional[PRMScores],
                        step_adv: Optional[torch.Tensor]) -> Dict[str, float]:
        """Pooled (``pooled_credit.py``) and same-state (``same_state_credit.py``) credit
        metrics of a batch with labelled decisive steps; ``step_adv``: the update's ``A_S``
        (None without a PRM)."""
        cfg = self.config
        step_r = scores.step_rewards if scores is not None else None
        signals = step_signals(rows, step_adv, gamma=cfg.gigpo_gamma,
                               gigpo_norm=cfg.gigpo_step_norm, eps=cfg.adv_eps)
        out = credit_metrics(rows, advantages, step_r, signals, pair_margin=cfg.pair_margin)
        cands = candidate_rows(rows)
        if cands is None:
            return out
        sampled = {M.CREDIT_SAMPLED_RLOO: signals["rloo"], M.CREDIT_SAMPLED_GIGPO: signals["gigpo"]}
        if "step_adv" in signals:
            sampled[M.CREDIT_SAMPLED_STEP_ADV] = signals["step_adv"]
        chunked = self.microbatcher.chunked_logp
        out.update(same_state_metrics(
            rows, cand_old_logp=self._behaviour_logp(rows, cands),
            cand_init_logp=(None if self._initial is None
                            else chunked(self._initial.token_logprobs, cands)),
            cand_prm_logp=scores.cand_prm_logp if scores is not None else None,
            prm_reference=cfg.prm_reference, beta=cfg.prm_beta, step_rewards=step_r,
            advantages=advantages, sampled_signals=sampled, step_norm=cfg.step_adv_norm,
            eps=cfg.adv_eps))
        return out

    def _log(self, module_id: str, values: Dict[str, float]) -> None:
        for key, value in values.items():
            self.metrics.log_value((module_id, key), float(value), window=1)

    # ------------------------------------------------------------------ loss
    @override(TorchLearner)
    def _uncompiled_update(self, batch: Dict, **kwargs):
        """RLlib's forward/backward/apply over one minibatch, in token-budget micro-batches
        when ``policy_microbatch_tokens`` is set (``policy_microbatches.py``)."""
        if self.policy_microbatches is None or set(batch) != {POLICY_ID}:
            return super()._uncompiled_update(batch, **kwargs)
        for optim in self._optimizer_parameters:
            optim.zero_grad(set_to_none=True)
        loss_sum = self.policy_microbatches.run(self.module[POLICY_ID], batch[POLICY_ID])
        grads = {pid: p.grad for pid, p in self._params.items() if p.grad is not None}
        self.apply_gradients(self.postprocess_gradients(grads))
        return {}, {POLICY_ID: loss_sum}, {}

    @override(TorchLearner)
    def compute_loss_for_module(self, *, module_id, config, batch, fwd_out):
        loss, metrics = self.policy_loss(batch, fwd_out)
        self._log(module_id, {k: float(v) for k, v in metrics.items()})
        return loss

    def policy_loss(self, batch, fwd_out, unit_share: float = 1.0, token_share: float = 1.0):
        """``(loss, metrics)`` of the clipped surrogate plus the KL and entropy terms.

        ``unit_share`` / ``token_share`` scale the surrogate (a mean over ratio units)
        and the token-mean terms, so that micro-batch losses sum to the minibatch's
        loss exactly (``policy_microbatches.py``); metrics are left unscaled
        (0-dim tensors).
        """
        cfg, mask = self.config, batch[C.RESPONSE_MASK]
        logp = fwd_out[C.LOGP]
        out = policy_losses.clipped_surrogate(logp, batch[C.OLD_LOGP], mask, batch[C.ADVANTAGES],
                                              cfg.clip_low, cfg.clip_high, cfg.effective_ratio_level)
        loss, metrics = out.loss * unit_share, dict(out.metrics)
        tokens = mask.sum().clamp(min=1.0)
        if C.REF_LOGP in batch:
            delta = torch.where(mask.bool(), batch[C.REF_LOGP] - logp, torch.zeros_like(logp))
            kl = ((delta.exp() - delta - 1.0) * mask).sum() / tokens  # k3 estimator
            loss = loss + cfg.kl_coef * kl * token_share
            metrics[M.KL_REF] = kl.detach()
        if cfg.entropy_coef > 0:
            entropy = (fwd_out[C.ENTROPY] * mask).sum() / tokens
            loss = loss - cfg.entropy_coef * entropy * token_share
            metrics[M.ENTROPY] = entropy.detach()
        return loss, metrics
