"""The PRM phase of the learner update: train the PRM, then score the batch (ALGORITHM.md §2).

The scoring reference (``prm_reference``) and the DPO loss's (``prm_dpo_reference``)
are pi_old (``rolling``, the paper) or pi_init (``initial``); the PRM trains
``prm_epochs`` times over the replay of recent batches and this one
(``prm_replay.py``, ``prm_replay_batches``).

:class:`PRMPhase` is mixed into :class:`~rllib_istar.learner.learner.IStarTorchLearner`
and uses its helpers (``_plain``, ``_chunked_logp``, ``_slices``, ``_synced_count``,
``_log``, ``timed``). iStar trains the PRM with trajectory DPO, PRIME with
cross-entropy; both with the PRM's own optimizer, ``prm_epochs`` steps, in
micro-batches with exact gradient accumulation.
"""
from __future__ import annotations

from typing import Dict, NamedTuple, Optional

import torch

from rllib_istar import columns as C
from rllib_istar import metrics as M
from rllib_istar.core import prm_losses, step_rewards
from rllib_istar.core.segments import masked_sum
from rllib_istar.rl_modules.specs import PRM_ID

#: ``prm_update`` values: train the PRM "before" scoring (design card) or score first, "after" (REF).
PRM_UPDATE_ORDERS = ("before", "after")
#: ``prm_reference`` values: pi_old ("rolling", the paper) or pi_init ("initial").
PRM_REFERENCES = ("rolling", "initial")


class PRMScores(NamedTuple):
    """What the PRM phase hands on: ``step_rewards (N,)`` r_phi against the scoring
    reference; ``token_rewards (N, L)`` or None; ``cand_prm_logp (K, Lc)`` the scoring
    PRM's log-probs of the same-state candidates, or None without candidates."""

    step_rewards: torch.Tensor
    token_rewards: Optional[torch.Tensor]
    cand_prm_logp: Optional[torch.Tensor]


def candidate_rows(rows: Dict[str, torch.Tensor]) -> Optional[Dict[str, torch.Tensor]]:
    """The same-state candidates as row columns (``input_ids``, ``attention_mask``,
    ``response_mask`` and, for image envs, the source row's image), or None."""
    if C.CAND_INPUT_IDS not in rows:
        return None
    out = {C.INPUT_IDS: rows[C.CAND_INPUT_IDS], C.ATTENTION_MASK: rows[C.CAND_ATTENTION_MASK],
           C.RESPONSE_MASK: rows[C.CAND_RESPONSE_MASK]}
    if C.IMAGES in rows:
        out[C.IMAGES] = rows[C.IMAGES][rows[C.CAND_ROW]]
    return out


class PRMPhase:
    """PRM training and scoring, on the learner's rows (``N`` step rows, ``L`` tokens)."""

    def _prm_phase(self, spec, rows, old_logp, init_logp) -> PRMScores:
        """Train the PRM (on the replay and this batch), score the batch (§2, §2a).

        ``old_logp``, ``init_logp``: (N, L) pi_old and pi_init log-probs (``init_logp``
        None when no reference reads it). The scoring reference is ``prm_reference``'s,
        the DPO loss's ``prm_dpo_reference``'s (default: the same).
        """
        cfg, mask = self.config, rows[C.RESPONSE_MASK]
        score_ref = init_logp if cfg.prm_reference == "initial" else old_logp
        dpo_ref = init_logp if cfg.effective_prm_dpo_reference == "initial" else old_logp
        prm_logp_fn = self._plain(PRM_ID).token_logprobs
        cands = candidate_rows(rows)
        step = self._dpo_step if spec.prm_loss == "dpo" else self._ce_step
        scored = cand_scored = None

        def score():
            with self.timed(M.TIMER_SCORING):
                return (self._chunked_logp(prm_logp_fn, rows),
                        None if cands is None else self._chunked_logp(prm_logp_fn, cands))

        if cfg.prm_update == "after":
            scored, cand_scored = score()
        num_past = 0
        with self.timed(M.TIMER_PRM_UPDATE):
            if spec.train_prm:  # frozen_prm: never trains
                batches = self._prm_replay.batches_with(rows, dpo_ref)
                num_past = len(batches) - 1
                for _ in range(cfg.prm_epochs):
                    for batch_rows, batch_ref in batches:  # oldest first, this batch last
                        self._log(PRM_ID, step(batch_rows, batch_ref))
        if scored is None:
            scored, cand_scored = score()
        step_r = step_rewards.implicit_step_rewards(scored, score_ref, mask, cfg.prm_beta)
        self._log(PRM_ID, {M.STEP_REWARD_MEAN: float(step_r.mean()),
                           M.STEP_REWARD_STD: float(step_r.std()) if len(step_r) > 1 else 0.0,
                           M.PRM_REPLAY_BATCHES: float(num_past)})
        token_r = None
        if spec.token_level:
            token_r = step_rewards.token_implicit_rewards(scored, score_ref, mask, cfg.prm_beta)
        return PRMScores(step_r, token_r, cand_scored)

    def _dpo_step(self, rows, ref_logp) -> Dict[str, float]:
        """One trajectory-DPO step (ALGORITHM.md §2) with exact micro-batch accumulation,
        against the reference log-probs ``ref_logp`` (N, L).

        The loss couples all steps of a trajectory, so: (1) a no-grad pass gives
        every step's log-ratio s; (2) autograd gives dL/ds on that leaf; (3) each
        micro-batch re-runs the PRM with grad and back-propagates
        ``sum(dL/ds * s)``, which yields exactly dL/dphi.
        """
        cfg, mask = self.config, rows[C.RESPONSE_MASK]
        pairs = prm_losses.preference_pairs(rows[C.TRAJ_OUTCOME], rows[C.TRAJ_GROUP], cfg.pair_margin)
        s = step_rewards.step_logratio(self._chunked_logp(self._plain(PRM_ID).token_logprobs, rows),
                                       ref_logp, mask).detach().requires_grad_(True)
        out = prm_losses.trajectory_dpo_loss(s, rows[C.STEP_TRAJ], pairs, cfg.prm_beta, agg=cfg.prm_agg,
                                             num_trajectories=len(rows[C.TRAJ_OUTCOME]))
        metrics = {k: float(v) for k, v in out.metrics.items()}
        metrics[M.GROUPS_WITHOUT_PAIRS] = prm_losses.groups_without_pairs(
            rows[C.TRAJ_OUTCOME], rows[C.TRAJ_GROUP], cfg.pair_margin)
        if len(pairs) == 0 and cfg.num_learners <= 1:
            return metrics  # cold start: nothing to learn from, no optimizer step
        (grad_s,) = torch.autograd.grad(out.loss, s)
        weights = (prm_losses.winner_token_weights(rows[C.STEP_TRAJ], pairs, mask)
                   if cfg.prm_nll_coef else None)
        if cfg.prm_nll_coef:  # log pi_phi summed per row = s + the reference's sum
            prm_sum = s.detach() + masked_sum(ref_logp, mask, dim=-1)
            metrics[M.PRM_WINNER_NLL] = float(-(weights * prm_sum).sum())

        def loss_fn(logp, sl):
            dpo = (grad_s[sl] * step_rewards.step_logratio(logp, ref_logp[sl], mask[sl])).sum()
            if not cfg.prm_nll_coef:
                return dpo
            # DPO + NLL on the winners' responses: keeps the PRM's mass on what it prefers
            return dpo - cfg.prm_nll_coef * (weights[sl] * masked_sum(logp, mask[sl], dim=-1)).sum()

        self._accumulate_prm_grads(rows, loss_fn)
        return metrics

    def _ce_step(self, rows, ref_logp) -> Dict[str, float]:
        """One PRIME cross-entropy step against ``ref_logp`` (N, L): a mean over rows, so
        micro-batches add up exactly."""
        cfg, mask = self.config, rows[C.RESPONSE_MASK]
        labels = rows[C.TRAJ_WON][rows[C.STEP_TRAJ]].float()
        n, logs = len(labels), []

        def loss_fn(logp, sl):
            out = prm_losses.prime_ce_loss((logp - ref_logp[sl]) * mask[sl], mask[sl], labels[sl],
                                           cfg.prm_beta)
            logs.append((out.loss.detach() * len(labels[sl]) / n, out.metrics))
            return out.loss * (len(labels[sl]) / n)

        self._accumulate_prm_grads(rows, loss_fn)
        return {M.PRM_CE_LOSS: float(sum(x for x, _ in logs)),
                M.PRM_CE_ACC: sum(float(m.get(M.PRM_CE_ACC, 0.0)) for _, m in logs) / max(len(logs), 1)}

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
            columns = (C.INPUT_IDS, C.ATTENTION_MASK, C.RESPONSE_MASK, C.IMAGES)
            logp = prm.forward_train({k: rows[k][sl] for k in columns if k in rows})[C.LOGP]
            (weight * loss_fn(logp, sl)).backward()
        grads = {pid: p.grad for pid, p in params.items() if p.grad is not None}
        self._step_prm_optimizer(self.postprocess_gradients(grads))

    def _step_prm_optimizer(self, grads) -> None:
        """Set the PRM's gradients and step the PRM's optimizer, and only it.

        RLlib's ``apply_gradients`` steps *every* registered optimizer, so the policy
        would re-apply whatever gradient its parameters still hold (the previous
        update's last minibatch) after pi_old was computed. Non-finite gradients are
        zeroed, as ``apply_gradients`` does.
        """
        for pid, grad in grads.items():
            self._params[pid].grad = grad if bool(torch.isfinite(grad).all()) else torch.nan_to_num(grad)
        for name in self._module_optimizers[PRM_ID]:
            self.get_optimizer(PRM_ID, name).step()
