"""The PRM phase of the learner update: train the PRM, then score the batch (docs/algorithm.md §2).

The scoring reference (``prm_reference``) and the DPO loss's (``prm_dpo_reference``)
are pi_old (``rolling``, the paper) or pi_init (``initial``); the PRM trains
``prm_epochs`` times over the replay of recent batches and this one
(``prm_replay.py``, ``prm_replay_batches``). iStar trains the PRM with trajectory DPO,
PRIME with cross-entropy; both with the PRM's own optimizer, in micro-batches with exact
gradient accumulation.

:class:`PRMPhase` is built by the learner and receives everything it uses: the PRM's
train-mode forward and no-grad log-prob function, its parameters and optimizers, the
gradient post-processing (clipping), the settings, the micro-batcher, the replay, and
where to log and time. It steps only the PRM's optimizers (RLlib's ``apply_gradients``
would step the policy's too).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import (Callable, ContextManager, Dict, List, Mapping, NamedTuple, Optional, Sequence,
                    Tuple)

import torch

from rllib_istar import columns as C
from rllib_istar import metrics as M
from rllib_istar.connectors.step_rows import StepRows
from rllib_istar.core import prm_losses, step_rewards
from rllib_istar.core.segments import masked_sum
from rllib_istar.learner.microbatches import Microbatcher, whole_group_microbatches
from rllib_istar.learner.prm_replay import PRMReplay


#: The row columns the PRM's forward reads.
_FORWARD_COLUMNS = (C.INPUT_IDS, C.ATTENTION_MASK, C.RESPONSE_MASK, C.IMAGES)


class PRMScores(NamedTuple):
    """What the PRM phase hands on: ``step_rewards (N,)`` r_phi against the scoring
    reference; ``token_rewards (N, L)`` or None; ``cand_prm_logp (K, Lc)`` the scoring
    PRM's log-probs of the same-state candidates, or None without candidates."""

    step_rewards: torch.Tensor
    token_rewards: Optional[torch.Tensor]
    cand_prm_logp: Optional[torch.Tensor]


@dataclass(frozen=True)
class PRMSettings:
    """The knobs the PRM phase reads (``IStarConfig`` and the estimator's spec)."""

    loss: str                 # "dpo" (iStar) or "ce" (PRIME)
    trains: bool              # False for frozen_prm: scores, never trains
    token_rewards: bool       # also hand on token-level rewards (token-level estimators)
    beta: float               # prm_beta
    agg: str                  # prm_agg: how step log-ratios make Q(tau)
    pair_margin: float
    nll_coef: float           # prm_nll_coef: DPO + NLL on the winners
    order: str                # prm_update: "before" or "after"
    epochs: int               # prm_epochs
    reference: str            # prm_reference (scoring)
    dpo_reference: str        # effective prm_dpo_reference
    ddp: bool                 # several learners: a rank without pairs still steps

    @classmethod
    def from_config(cls, cfg) -> "PRMSettings":
        spec = cfg.estimator
        return cls(loss=spec.prm_loss, trains=spec.train_prm, token_rewards=spec.token_level,
                   beta=cfg.prm_beta, agg=cfg.prm_agg, pair_margin=cfg.pair_margin,
                   nll_coef=cfg.prm_nll_coef, order=cfg.prm_update, epochs=cfg.prm_epochs,
                   reference=cfg.prm_reference, dpo_reference=cfg.effective_prm_dpo_reference,
                   ddp=cfg.num_learners > 1)


def candidate_rows(rows: Mapping[str, torch.Tensor]) -> Optional[Dict[str, torch.Tensor]]:
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
    """PRM training and scoring on the learner's step rows (``N`` rows of ``L`` tokens).

    Args:
        forward_train: the PRM module's ``forward_train(batch) -> {logp: (n, L)}``, with
            gradients (DDP-wrapped where the learner wraps it).
        token_logprobs: the PRM's no-grad ``token_logprobs(ids, mask, ...)``.
        parameters: ``() -> {param id: parameter}``, the PRM's parameters by the
            learner's parameter ids (read at each step: a restore may replace them).
        optimizers: ``() -> [optimizer]``, the PRM's optimizers, and only them.
        postprocess_gradients: ``{param id: grad} -> {param id: grad}`` (the learner's
            clipping and its metrics).
        settings, microbatcher, replay: see :class:`PRMSettings`, ``microbatches.py``,
            ``prm_replay.py``.
        log: ``log(metrics)`` under the PRM's module id.
        timed: ``timed(name)``, a context manager timing a phase.
    """

    def __init__(self, *, forward_train: Callable, token_logprobs: Callable,
                 parameters: Callable[[], Dict],
                 optimizers: Callable[[], List[torch.optim.Optimizer]],
                 postprocess_gradients: Callable[[Dict], Dict], settings: PRMSettings,
                 microbatcher: Microbatcher, replay: PRMReplay,
                 log: Callable[[Dict[str, float]], None],
                 timed: Callable[[str], ContextManager]):
        self.forward_train = forward_train
        self.token_logprobs = token_logprobs
        self.parameters = parameters
        self.optimizers = optimizers
        self.postprocess_gradients = postprocess_gradients
        self.settings = settings
        self.microbatcher = microbatcher
        self.replay = replay
        self.log = log
        self.timed = timed

    def run(self, rows, old_logp, init_logp) -> PRMScores:
        """Train the PRM (on the replay and this batch), score the batch (§2, §2a).

        ``old_logp``, ``init_logp``: (N, L) pi_old and pi_init log-probs (``init_logp``
        None when no reference reads it). The scoring reference is ``prm_reference``'s,
        the DPO loss's ``prm_dpo_reference``'s (default: the same). With ``prm_update:
        after`` and no replayed batch, the first PRM step's forward pass (before the
        step) gives the scores: no separate scoring pass.
        """
        cfg, mask = self.settings, rows[C.RESPONSE_MASK]
        score_ref = init_logp if cfg.reference == "initial" else old_logp
        dpo_ref = init_logp if cfg.dpo_reference == "initial" else old_logp
        cands = candidate_rows(rows)
        step = self.dpo_pass if cfg.loss == "dpo" else self.ce_pass
        chunked = self.microbatcher.chunked_logp
        scored = cand_scored = None
        batches = self.replay.batches_with(rows, dpo_ref) if cfg.trains else []
        fused = cfg.order == "after" and len(batches) == 1  # this batch is the first trained
        if cfg.order == "after":
            with self.timed(M.TIMER_SCORING):
                cand_scored = None if cands is None else chunked(self.token_logprobs, cands)
                if not fused:
                    scored = chunked(self.token_logprobs, rows)
        with self.timed(M.TIMER_PRM_UPDATE):  # frozen_prm (never trains): no batches
            for _ in range(cfg.epochs):
                for batch_rows, batch_ref in batches:  # oldest first, this batch last
                    metrics, logp_before = step(batch_rows, batch_ref)
                    self.log(metrics)
                    if fused and scored is None:
                        scored = logp_before  # None at a cold start: no step was taken
        rows_left, cands_left = scored is None, cands is not None and cand_scored is None
        if rows_left or cands_left:  # scoring after the update (or after a cold start)
            with self.timed(M.TIMER_SCORING):
                if rows_left:
                    scored = chunked(self.token_logprobs, rows)
                if cands_left:
                    cand_scored = chunked(self.token_logprobs, cands)
        step_r = step_rewards.implicit_step_rewards(scored, score_ref, mask, cfg.beta)
        self.log({M.STEP_REWARD_MEAN: float(step_r.mean()),
                  M.STEP_REWARD_STD: float(step_r.std()) if len(step_r) > 1 else 0.0,
                  M.PRM_REPLAY_BATCHES: float(max(len(batches) - 1, 0))})
        token_r = None
        if cfg.token_rewards:
            token_r = step_rewards.token_implicit_rewards(scored, score_ref, mask, cfg.beta)
        return PRMScores(step_r, token_r, cand_scored)

    def dpo_step(self, rows, ref_logp) -> Dict[str, float]:
        """One trajectory-DPO step (docs/algorithm.md §2) against the reference log-probs
        ``ref_logp`` (N, L); its metrics (:meth:`dpo_pass`)."""
        return self.dpo_pass(rows, ref_logp)[0]

    def dpo_pass(self, rows, ref_logp) -> Tuple[Dict[str, float], Optional[torch.Tensor]]:
        """One trajectory-DPO step in one forward-backward over the batch, with exact
        micro-batch accumulation: ``(metrics, the PRM's (N, L) log-probs before the
        step)``, the log-probs None at a cold start (no pair: no step).

        The loss couples the steps of a trajectory and pairs stay inside a group, so a
        micro-batch of whole groups back-propagates its own share of the loss
        (:func:`~rllib_istar.core.prm_losses.trajectory_dpo_loss_share`) and the shares
        add up to the batch's gradient. Groups larger than ``microbatch_size`` rows take
        two passes, together: a no-grad pass gives their steps' log-ratios s and
        autograd dL/ds; each of their micro-batches then re-runs the PRM with grad and
        back-propagates ``sum(dL/ds * s)``, which yields exactly their dL/dphi (where no
        group fits, this is the whole batch in the same micro-batches as one pass would
        use, with the same numbers).
        """
        cfg = self.settings
        rows = StepRows.from_columns(rows)
        mask, traj = rows[C.RESPONSE_MASK], rows[C.STEP_TRAJ]
        outcome, group = rows[C.TRAJ_OUTCOME], rows[C.TRAJ_GROUP]
        pairs = prm_losses.preference_pairs(outcome, group, cfg.pair_margin)
        num_traj = rows.num_trajectories

        def metrics_at(s: torch.Tensor) -> Dict[str, float]:
            out = prm_losses.trajectory_dpo_loss(s, traj, pairs, cfg.beta, agg=cfg.agg,
                                                 num_trajectories=num_traj)
            metrics = {k: float(v) for k, v in out.metrics.items()}
            metrics[M.GROUPS_WITHOUT_PAIRS] = prm_losses.groups_without_pairs(
                outcome, group, cfg.pair_margin)
            return metrics

        if len(pairs) == 0 and not cfg.ddp:  # cold start: nothing to learn, no optimizer step
            return metrics_at(torch.zeros(rows.num_steps, device=mask.device)), None
        weights = (prm_losses.winner_token_weights(traj, pairs, mask) if cfg.nll_coef
                   else None)
        logp_before = torch.zeros_like(mask, dtype=torch.float32)

        def share(s, idx):
            return prm_losses.trajectory_dpo_loss_share(s, traj[idx], pairs, cfg.beta, cfg.agg,
                                                        num_traj, len(pairs))

        # each step's group from its trajectory's (replayed batches keep no step_group column)
        packed, oversized = whole_group_microbatches(group[traj], self.microbatcher.microbatch_size)
        parts: List[Tuple[torch.Tensor, Optional[torch.Tensor]]] = [(i, None) for i in packed]
        if oversized:  # groups beyond one micro-batch, together: dL/ds first, no grad
            idx = torch.sort(torch.cat(oversized)).values
            logp_before[idx] = self.microbatcher.chunked_logp(
                self.token_logprobs, rows.slice(idx, _FORWARD_COLUMNS))
            s = step_rewards.step_logratio(logp_before[idx], ref_logp[idx], mask[idx])
            s.requires_grad_(True)
            (grad_s,) = torch.autograd.grad(share(s, idx), s)
            parts += [(idx[sl], grad_s[sl]) for sl in self.microbatcher.slices(len(idx))]

        def backward(part, weight):
            idx, grad_s = part
            logp = self.forward_train(rows.slice(idx, _FORWARD_COLUMNS))[C.LOGP]
            s = step_rewards.step_logratio(logp, ref_logp[idx], mask[idx])
            if grad_s is None:
                logp_before[idx] = logp.detach().float()
                loss = share(s, idx)
            else:
                loss = (grad_s * s).sum()
            if cfg.nll_coef:  # DPO + NLL on the winners: keeps the PRM's mass on them
                nll = (weights[idx] * masked_sum(logp, mask[idx], dim=-1)).sum()
                loss = loss - cfg.nll_coef * nll
            (weight * loss).backward()

        self.accumulate_and_step(parts, backward)
        s_before = step_rewards.step_logratio(logp_before, ref_logp, mask)
        metrics = metrics_at(s_before)
        if cfg.nll_coef:  # log pi_phi summed per row = s + the reference's sum
            prm_sum = s_before + masked_sum(ref_logp, mask, dim=-1)
            metrics[M.PRM_WINNER_NLL] = float(-(weights * prm_sum).sum())
        return metrics, logp_before

    def ce_step(self, rows, ref_logp) -> Dict[str, float]:
        """One PRIME cross-entropy step against ``ref_logp`` (N, L); its metrics."""
        return self.ce_pass(rows, ref_logp)[0]

    def ce_pass(self, rows, ref_logp) -> Tuple[Dict[str, float], torch.Tensor]:
        """One PRIME cross-entropy step, a mean over rows, so micro-batches add up exactly:
        ``(metrics, the PRM's (N, L) log-probs before the step)``."""
        cfg = self.settings
        rows = StepRows.from_columns(rows)
        mask = rows[C.RESPONSE_MASK]
        labels = rows[C.TRAJ_WON][rows[C.STEP_TRAJ]].float()
        n, logs = len(labels), []
        logp_before = torch.zeros_like(mask, dtype=torch.float32)

        def backward(sl, weight):
            logp = self.forward_train(rows.slice(sl, _FORWARD_COLUMNS))[C.LOGP]
            logp_before[sl] = logp.detach().float()
            out = prm_losses.prime_ce_loss((logp - ref_logp[sl]) * mask[sl], mask[sl], labels[sl],
                                           cfg.beta)
            if weight:
                logs.append((out.loss.detach() * len(labels[sl]) / n, out.metrics))
            (weight * out.loss * (len(labels[sl]) / n)).backward()

        self.accumulate_and_step(self.microbatcher.slices(n), backward)
        return ({M.PRM_CE_LOSS: float(sum(x for x, _ in logs)),
                 M.PRM_CE_ACC: sum(float(m.get(M.PRM_CE_ACC, 0.0)) for _, m in logs)
                 / max(len(logs), 1)}, logp_before)

    def accumulate_and_step(self, parts: Sequence, backward: Callable) -> None:
        """``backward(part, weight)`` (a forward and a backward) for every part, padded for
        DDP (``Microbatcher.padded``: zero-weight repeats), then one step of the PRM's
        optimizers on the accumulated gradients."""
        params = self.parameters()
        for p in params.values():
            p.grad = None
        for part, weight in self.microbatcher.padded(parts):
            backward(part, weight)
        grads = {pid: p.grad for pid, p in params.items() if p.grad is not None}
        self.step_optimizers(params, self.postprocess_gradients(grads))

    def step_optimizers(self, params: Dict, grads: Dict) -> None:
        """Set the PRM's gradients and step the PRM's optimizers, and only them.

        RLlib's ``apply_gradients`` steps *every* registered optimizer, so the policy
        would re-apply whatever gradient its parameters still hold (the previous
        update's last minibatch) after pi_old was computed. Non-finite gradients are
        zeroed, as ``apply_gradients`` does.
        """
        for pid, grad in grads.items():
            params[pid].grad = grad if bool(torch.isfinite(grad).all()) else torch.nan_to_num(grad)
        for optimizer in self.optimizers():
            optimizer.step()
