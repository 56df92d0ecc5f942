"""IStarTorchLearner: pi_old -> PRM update -> step rewards -> advantages -> PPO.

``update()`` is overridden (notes/RLLIB_2.60.md §2.3) so the strict order of
ALGORITHM.md holds inside one learner call:

1. the learner connector turns episodes into padded step rows (whole groups);
2. pi_old log-probs are recomputed with the learner's numerics (the gap to the
   rollout log-probs is logged);
3. PRM phase (iStar: trajectory DPO, §2; PRIME: cross-entropy): with its own
   optimizer, ``prm_epochs`` steps, in micro-batches with exact gradient
   accumulation; scoring before (``prm_update: after``) or after (``before``);
4. advantages through ``rllib_istar.core`` (§3, §5);
5. the policy's clipped surrogate (§4) through RLlib's stock epoch/minibatch loop.
"""
from __future__ import annotations

import copy
from typing import Any, Dict, List, Optional

import torch
from ray.rllib.core.learner.torch.torch_learner import TorchLearner
from ray.rllib.core.learner.training_data import TrainingData
from ray.rllib.policy.sample_batch import MultiAgentBatch, SampleBatch
from ray.rllib.utils.metrics import TIMERS

from rllib_istar import columns as C
from rllib_istar import metrics as M
from rllib_istar.connectors.compute_advantages import compute_advantages
from rllib_istar.core import policy_losses, prm_losses, step_rewards
from rllib_istar.istar import POLICY_ID, PRM_ID
from rllib_istar.models.logprobs import compute_token_logprobs


class IStarTorchLearner(TorchLearner):
    """Learner for IStar: one policy module and, for PRM estimators, a PRM module."""

    def build(self) -> None:
        super().build()
        self._ref_lm = None
        if self.config.kl_coef > 0:  # frozen copy of the initial policy for the KL term
            self._ref_lm = copy.deepcopy(self._plain(POLICY_ID).lm).eval().requires_grad_(False)

    def _plain(self, module_id: str):
        return self.module[module_id].unwrapped()

    # ------------------------------------------------------------ optimizers
    def configure_optimizers_for_module(self, module_id, config=None) -> None:
        params = [p for p in self.get_parameters(self.module[module_id]) if p.requires_grad]
        name, lr = ("prm", self.config.prm_lr) if module_id == PRM_ID else ("policy", config.lr)
        self.register_optimizer(module_id=module_id, optimizer_name=name,
                                optimizer=torch.optim.AdamW(params, lr=lr, weight_decay=0.0),
                                params=params, lr_or_lr_schedule=lr)

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

    # ---------------------------------------------------------------- update
    def update(self, *, training_data: Optional[TrainingData] = None, episodes=None,
               timesteps=None, num_epochs: int = 1, minibatch_size=None,
               shuffle_batch_per_epoch: bool = False, num_total_minibatches: int = 0, **kwargs):
        if training_data is None:
            training_data = TrainingData(episodes=episodes, episodes_refs=kwargs.pop("episodes_refs", None))
        training_data.solve_refs()
        rows = self._learner_connector(rl_module=self.module, batch={}, episodes=training_data.episodes,
                                       shared_data={}, metrics=self.metrics)["step_rows"]
        rows = {k: v.to(self._device) for k, v in rows.items()}
        spec = self.config.estimator
        with self.metrics.log_time((TIMERS, M.TIMER_OLD_LOGP)):
            old_logp = self._old_logp(rows)
        step_r, token_r = self._prm_phase(spec, rows, old_logp) if spec.prm_loss else (None, None)
        advantages, adv_metrics = compute_advantages(
            spec, rows, alpha=self.config.step_advantage_weight, step_rewards=step_r,
            token_rewards=token_r, gamma=self.config.gigpo_gamma,
            gigpo_norm=self.config.gigpo_step_norm, eps=self.config.adv_eps)
        self._log(POLICY_ID, {**adv_metrics, M.NUM_STEP_ROWS: len(old_logp),
                              M.NUM_TRAJECTORIES: len(rows[C.TRAJ_OUTCOME])})
        columns = {C.INPUT_IDS: rows[C.INPUT_IDS], C.ATTENTION_MASK: rows[C.ATTENTION_MASK],
                   C.RESPONSE_MASK: rows[C.RESPONSE_MASK], C.OLD_LOGP: old_logp,
                   C.ADVANTAGES: advantages}
        if self._ref_lm is not None:
            columns["ref_logp"] = self._chunked_logp(self._ref_lm_logp, rows)
        batch = MultiAgentBatch({POLICY_ID: SampleBatch(columns)}, env_steps=len(old_logp))
        no_reduce = kwargs.pop("_no_metrics_reduce", False)
        with self.metrics.log_time((TIMERS, M.TIMER_POLICY_UPDATE)):
            super().update(batch=batch, timesteps=timesteps, num_epochs=num_epochs,
                           minibatch_size=minibatch_size,
                           shuffle_batch_per_epoch=shuffle_batch_per_epoch,
                           num_total_minibatches=num_total_minibatches,
                           _no_metrics_reduce=True, **kwargs)
        return None if no_reduce else self.metrics.reduce()

    def score_step_rewards(self, rows: Dict[str, torch.Tensor]) -> torch.Tensor:
        """Implicit step rewards r_phi (ALGORITHM.md §1) under the current PRM, with the
        current policy as pi_old (what ``rllib evaluate`` reports).

        ``rows``: :func:`~rllib_istar.connectors.episodes_to_rows` output (any device),
        ``N`` step rows -> ``(N,)`` float32 on the CPU. Micro-batched, no gradients.
        """
        rows = {k: v.to(self._device) for k, v in rows.items()}
        old_logp = self._chunked_logp(self._plain(POLICY_ID).token_logprobs, rows)
        prm_logp = self._chunked_logp(self._plain(PRM_ID).token_logprobs, rows)
        return step_rewards.implicit_step_rewards(prm_logp, old_logp, rows[C.RESPONSE_MASK],
                                                  self.config.prm_beta).cpu()

    # --------------------------------------------------------------- phases
    def _old_logp(self, rows) -> torch.Tensor:
        mask = rows[C.RESPONSE_MASK]
        rollout = rows["rollout_logp"]
        if not self.config.recompute_old_logp:
            return rollout
        learner = self._chunked_logp(self._plain(POLICY_ID).token_logprobs, rows)
        gap = (learner - rollout).abs()[mask.bool()]
        if gap.numel():
            self._log(POLICY_ID, {M.LOGP_GAP: float(gap.mean()), M.LOGP_GAP_MAX: float(gap.max())})
        return learner

    def _prm_phase(self, spec, rows, old_logp):
        """Train the PRM, score the batch; returns (step rewards (N,), token rewards (N, L))."""
        cfg, mask = self.config, rows[C.RESPONSE_MASK]
        prm_logp_fn = self._plain(PRM_ID).token_logprobs
        scored = None
        if cfg.prm_update == "after":
            with self.metrics.log_time((TIMERS, M.TIMER_SCORING)):
                scored = self._chunked_logp(prm_logp_fn, rows)
        with self.metrics.log_time((TIMERS, M.TIMER_PRM_UPDATE)):
            for _ in range(cfg.prm_epochs):
                if spec.prm_loss == "dpo":
                    self._log(PRM_ID, self._dpo_step(rows, old_logp))
                else:
                    self._log(PRM_ID, self._ce_step(rows, old_logp))
        if scored is None:
            with self.metrics.log_time((TIMERS, M.TIMER_SCORING)):
                scored = self._chunked_logp(prm_logp_fn, rows)
        step_r = step_rewards.implicit_step_rewards(scored, old_logp, mask, cfg.prm_beta)
        self._log(PRM_ID, {M.STEP_REWARD_MEAN: float(step_r.mean()),
                           M.STEP_REWARD_STD: float(step_r.std()) if len(step_r) > 1 else 0.0})
        token_r = None
        if spec.token_level:
            token_r = step_rewards.token_implicit_rewards(scored, old_logp, mask, cfg.prm_beta)
        return step_r, token_r

    def _dpo_step(self, rows, old_logp) -> Dict[str, float]:
        """One trajectory-DPO step (ALGORITHM.md §2) with exact micro-batch accumulation.

        The loss couples all steps of a trajectory, so: (1) a no-grad pass gives
        every step's log-ratio s; (2) autograd gives dL/ds on that leaf; (3) each
        micro-batch re-runs the PRM with grad and back-propagates
        ``sum(dL/ds * s)``, which yields exactly dL/dphi.
        """
        cfg, mask = self.config, rows[C.RESPONSE_MASK]
        pairs = prm_losses.preference_pairs(rows[C.TRAJ_OUTCOME], rows[C.TRAJ_GROUP], cfg.pair_margin)
        s = step_rewards.step_logratio(self._chunked_logp(self._plain(PRM_ID).token_logprobs, rows),
                                       old_logp, mask).detach().requires_grad_(True)
        out = prm_losses.trajectory_dpo_loss(s, rows[C.STEP_TRAJ], pairs, cfg.prm_beta, agg=cfg.prm_agg,
                                             num_trajectories=len(rows[C.TRAJ_OUTCOME]))
        metrics = {k: float(v) for k, v in out.metrics.items()}
        metrics[M.GROUPS_WITHOUT_PAIRS] = prm_losses.groups_without_pairs(
            rows[C.TRAJ_OUTCOME], rows[C.TRAJ_GROUP], cfg.pair_margin)
        if len(pairs) == 0 and cfg.num_learners <= 1:
            return metrics  # cold start: nothing to learn from, no optimizer step
        (grad_s,) = torch.autograd.grad(out.loss, s)
        self._accumulate_prm_grads(rows, lambda logp, sl: (grad_s[sl] * step_rewards.step_logratio(
            logp, old_logp[sl], mask[sl])).sum())
        return metrics

    def _ce_step(self, rows, old_logp) -> Dict[str, float]:
        """One PRIME cross-entropy step: a mean over rows, so micro-batches add up exactly."""
        cfg, mask = self.config, rows[C.RESPONSE_MASK]
        labels = rows[C.TRAJ_WON][rows[C.STEP_TRAJ]].float()
        n, logs = len(labels), []

        def loss_fn(logp, sl):
            out = prm_losses.prime_ce_loss((logp - old_logp[sl]) * mask[sl], mask[sl], labels[sl],
                                           cfg.prm_beta)
            logs.append((out.loss.detach() * len(labels[sl]) / n, out.metrics))
            return out.loss * (len(labels[sl]) / n)

        self._accumulate_prm_grads(rows, loss_fn)
        return {M.PRM_CE_LOSS: float(sum(x for x, _ in logs)),
                "acc": sum(float(m.get("acc", 0.0)) for _, m in logs) / max(len(logs), 1)}

    def _accumulate_prm_grads(self, rows, loss_fn) -> None:
        """Backward ``loss_fn(prm_logp_chunk, rows_slice)`` per micro-batch, then one PRM step."""
        prm = self.module[PRM_ID]
        prm_param_ids = {id(q) for q in self.get_parameters(prm)}
        params = {pid: p for pid, p in self._params.items() if id(p) in prm_param_ids}
        for p in params.values():
            p.grad = None
        slices = self._slices(len(rows[C.INPUT_IDS]))
        for i in range(self._synced_count(len(slices))):
            # ranks with fewer micro-batches run zero-weight ones so DDP's all-reduce lines up
            sl, weight = (slices[i], 1.0) if i < len(slices) else (slices[0], 0.0)
            logp = prm.forward_train({C.INPUT_IDS: rows[C.INPUT_IDS][sl],
                                      C.ATTENTION_MASK: rows[C.ATTENTION_MASK][sl]})["logp"]
            (weight * loss_fn(logp, sl)).backward()
        grads = {pid: p.grad for pid, p in params.items() if p.grad is not None}
        self.apply_gradients(self.postprocess_gradients(grads))

    # -------------------------------------------------------------- helpers
    def _slices(self, n: int) -> List[slice]:
        mb = self.config.microbatch_size
        return [slice(i, min(i + mb, n)) for i in range(0, n, mb)]

    def _synced_count(self, n: int) -> int:
        """Max micro-batch count over DDP ranks (every rank must call backward equally)."""
        if self.config.num_learners > 1 and torch.distributed.is_initialized():
            t = torch.tensor([n], device=self._device)
            torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MAX)
            return int(t.item())
        return n

    def _chunked_logp(self, logp_fn, rows) -> torch.Tensor:
        """No-grad ``logp_fn(ids, mask) -> (n, L)`` over micro-batches, concatenated to (N, L)."""
        ids, am = rows[C.INPUT_IDS], rows[C.ATTENTION_MASK]
        with torch.no_grad():
            outs = [logp_fn(ids[sl], am[sl]).float() for sl in self._slices(len(ids))]
        return torch.cat(outs) if outs else torch.zeros_like(rows[C.RESPONSE_MASK])

    def _ref_lm_logp(self, ids, am):
        """Log-probs of the frozen initial policy (KL term), same numerics as the modules."""
        return compute_token_logprobs(self._ref_lm, ids, am, self._plain(POLICY_ID).temperature)

    def _log(self, module_id: str, values: Dict[str, float]) -> None:
        for key, value in values.items():
            self.metrics.log_value((module_id, key), float(value), window=1)

    # ------------------------------------------------------------------ loss
    def compute_loss_for_module(self, *, module_id, config, batch, fwd_out):
        cfg, mask = self.config, batch[C.RESPONSE_MASK]
        logp = fwd_out["logp"]
        out = policy_losses.clipped_surrogate(logp, batch[C.OLD_LOGP], mask, batch[C.ADVANTAGES],
                                              cfg.clip_low, cfg.clip_high, cfg.effective_ratio_level)
        loss, metrics = out.loss, {k: float(v) for k, v in out.metrics.items()}
        tokens = mask.sum().clamp(min=1.0)
        if self._ref_lm is not None:
            delta = torch.where(mask.bool(), batch["ref_logp"] - logp, torch.zeros_like(logp))
            kl = ((delta.exp() - delta - 1.0) * mask).sum() / tokens  # k3 estimator
            loss = loss + cfg.kl_coef * kl
            metrics[M.KL_REF] = float(kl)
        if cfg.entropy_coef > 0:
            entropy = (fwd_out["entropy"] * mask).sum() / tokens
            loss = loss - cfg.entropy_coef * entropy
            metrics[M.ENTROPY] = float(entropy)
        self._log(module_id, metrics)
        return loss
