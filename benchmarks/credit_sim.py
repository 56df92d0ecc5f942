"""A seconds-long tabular simulation of the iStar loop on CreditChain (no Ray; torch, numpy).

What it models. ``CreditChainEnv``'s ``binary`` preset (``rllib_istar/envs/credit_chain.py``):
a chain of ``R = 4`` rooms, ``D = 2`` of them doors with one of ``C = 3`` colours; a
task (door positions and colours) is drawn per group; the outcome is 1 iff every door
was answered with its colour (hall rooms accept anything). Prompts are memoryless, so
a state is ``(room, door colour | hall)``: ``X = R * (C + 1) = 16`` states, state id
``room * (C + 1) + kind`` with ``kind`` the colour or ``C`` for a hall. The policy
``pi_theta`` and the implicit PRM ``pi_phi`` are tables of logits ``(X, C)``; both
start from the same ``pi_init`` (zeros, or ``init_scale`` x normal noise). One action
is one "token": every per-step tensor goes to the core functions as ``(N, 1)`` with a
``(N, 1)`` response mask of ones, so the project's real math runs unchanged.

One iteration (mirrors ``IStarTorchLearner``: PRM phase, advantages, policy update):

1. Roll out ``tasks_per_iter`` tasks x ``group_size`` trajectories with ``pi_old`` (the
   current policy); outcomes; ``pi_old`` and ``pi_init`` log-probs of the sampled actions.
2. PRM (method ``istar``): ``prm_steps`` passes over the replay of the last ``replay``
   batches (oldest first, one optimizer step per batch, as ``learner/prm_update.py``;
   a batch without pairs makes no step), each a trajectory-DPO step
   (:func:`~rllib_istar.core.prm_losses.trajectory_dpo_loss`, agg ``sum``, pairs from
   :func:`~rllib_istar.core.prm_losses.preference_pairs`) on
   :func:`~rllib_istar.core.step_rewards.step_logratio` against the batch's own DPO
   reference log-probs: ``pi_old`` at collection (``rolling``, the paper) or ``pi_init``
   (``initial``). Then score the batch:
   ``r_phi = implicit_step_rewards(log pi_phi, log ref, mask, beta)`` with the scoring
   reference ``pi_old`` (rolling) or ``pi_init`` (initial). ``frozen_prm``: the PRM never
   trains and the reference rolls, so ``r = beta * log(pi_init / pi_old)``.
3. ``A(t) = A_E + alpha * A_S``: ``A_E`` = RLOO
   (:func:`~rllib_istar.core.advantages.episode_advantages`, broadcast to steps),
   ``A_S = normalised_step_advantages(step_norm, ...)`` of ``r_phi`` (``istar``,
   ``frozen_prm``) or of the oracle labels +1/-1/0 (``oracle``); ``rloo`` has no ``A_S``.
4. ``policy_epochs`` full-batch steps of
   :func:`~rllib_istar.core.policy_losses.clipped_surrogate` (step ratio, clip 0.2/0.2)
   plus ``kl_coef`` x the learner's k3 KL to ``pi_init``; optimizer ``adam`` or ``sgd``.

Metrics per iteration and seed: the batch's success rate; the **same-state accuracy**
of four signals, computed exactly from the tables at every door state of the
iteration's tasks (the fraction of (right, wrong) action pairs at one state where the
signal ranks right above wrong, ties 1/2; :func:`same_state_accuracy`):
``r_phi`` (against the scoring reference), ``prm_progress = log pi_phi/pi_init``,
``drift = log pi_init/pi_old`` and ``policy_own = log pi_old/pi_init`` (so
``drift = 1 - policy_own``); the pooled AUC of ``r_phi`` over the sampled decisive steps
of all states (:func:`~rllib_istar.core.credit_metrics.decisive_auc`, what the learner's probe
logs); the DPO loss of the new batch before this iteration's PRM update (ln 2 = 0.693:
the PRM does not separate winners from losers; near it the loss is linear).

Seeds are stacked: every table is ``(S, X, C)`` and one batch holds all seeds'
trajectories (groups never cross seeds). Per-seed exactness: losses that average over
all seeds' units are scaled back to per-seed means (x ``S`` for the policy, x
``P / P_s`` on each seed's DPO gradient), batch-wide step-norm scopes run per seed, and
:class:`TableOptimizer` keeps a separate Adam step count per seed, so a seed's curve
does not depend on which other seeds run beside it. All randomness (tasks, action
uniforms, ``pi_init``) is drawn per seed up front, so arms share tasks and action draws
(common random numbers).

Shapes: ``S`` seeds, ``T`` tasks per iteration, ``G`` group size, ``R`` rooms;
``M = S T G`` trajectories, ``N = M R`` steps; tables ``(S, X, C)``; step tensors
``(N,)``, log-probs ``(N, 1)``; curves ``(iters, S)``.

Run from the repository root::

    python -m benchmarks.credit_sim --seeds 20 --iters 150 --out benchmarks/results/credit_sim.json
    python -m benchmarks.credit_sim --smoke            # 2 seeds x 5 iterations, every arm
    python -m benchmarks.credit_sim --list             # the arms and their knobs
    python -m benchmarks.credit_sim --arms rloo oracle istar_rolling --seeds 5
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections import deque
from dataclasses import asdict, dataclass, replace
from typing import Dict, List, NamedTuple, Optional, Sequence

import numpy as np
import torch

from benchmarks.stats import bootstrap_ci
from rllib_istar.core.advantages import broadcast_to_steps, episode_advantages, mix_advantages
from rllib_istar.core.credit_metrics import decisive_auc
from rllib_istar.core.policy_losses import clipped_surrogate
from rllib_istar.core.prm_losses import preference_pairs, trajectory_dpo_loss
from rllib_istar.core.step_norms import normalised_step_advantages
from rllib_istar.core.step_rewards import implicit_step_rewards, step_logratio

__all__ = ["SimConfig", "TableOptimizer", "same_state_accuracy", "run_arm", "default_arms",
           "summarize", "main"]

DTYPE = torch.float64
METHODS = ("rloo", "oracle", "istar", "frozen_prm")
REFERENCES = ("rolling", "initial")
OPTIMIZERS = ("adam", "sgd")
#: Step-norm scopes whose statistics stay inside a group: one call covers every seed.
GROUP_LOCAL_NORMS = ("group", "group_step", "anchor")
#: The four same-state signals (module docstring).
SIGNALS = ("r_phi", "prm_progress", "drift", "policy_own")
#: Per-iteration curves stored for every seed.
CURVES = ("success", *(f"acc_{s}" for s in SIGNALS), "auc_r_phi", "dpo_loss")
SMOOTH = 5          # moving-average window of the iterations-to-success targets
TARGETS = (0.5, 0.8)
FINAL_ITERS = 10    # final success = mean over the last FINAL_ITERS iterations
LATE_FROM = 30      # "late" accuracies: iterations >= LATE_FROM (or the last half)
EARLY_ITERS = 10    # "early" accuracies: the first EARLY_ITERS iterations

#: Policy learning rates of the arms (Adam; SGD needs a larger step on these tables).
LR_ADAM = 0.01
LR_SGD = 2.0


@dataclass(frozen=True)
class SimConfig:
    """One arm. Learner config names in brackets.

    ``method``: rloo | oracle | istar | frozen_prm. ``reference``: the scoring reference
    (``prm_reference``), ``dpo_reference``: the DPO loss's (``prm_dpo_reference``; None =
    ``reference``). ``prm_lr`` (PRM optimizer ``prm_opt``), ``prm_steps`` (``prm_epochs``),
    ``replay`` (``prm_replay_batches``, 1 = this batch only), ``beta`` (``prm_beta``),
    ``alpha`` (``step_advantage_weight``), ``step_norm`` (``step_adv_norm``).
    """

    name: str
    method: str = "istar"
    lr: float = LR_ADAM
    policy_opt: str = "adam"
    policy_epochs: int = 3
    kl_coef: float = 0.0
    clip: float = 0.2
    alpha: float = 1.0
    step_norm: str = "group_step"
    beta: float = 0.05
    prm_lr: float = LR_ADAM / 3
    prm_opt: str = "adam"
    prm_steps: int = 1
    replay: int = 1
    reference: str = "rolling"
    dpo_reference: Optional[str] = None
    tasks_per_iter: int = 4
    group_size: int = 8
    init_scale: float = 0.0
    rooms: int = 4
    doors: int = 2
    choices: int = 3

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"unknown method {self.method!r}; valid: {', '.join(METHODS)}")
        for key, valid in (("reference", REFERENCES), ("policy_opt", OPTIMIZERS),
                           ("prm_opt", OPTIMIZERS)):
            if getattr(self, key) not in valid:
                raise ValueError(f"{key} must be one of {valid}, got {getattr(self, key)!r}")
        if self.method == "frozen_prm" and self.reference != "rolling":
            raise ValueError("frozen_prm scores against pi_old: reference must be 'rolling'")
        if self.dpo_reference not in (None, *REFERENCES):
            raise ValueError(f"dpo_reference must be None or one of {REFERENCES}")
        if self.prm_steps < 1 or self.replay < 1 or self.policy_epochs < 1:
            raise ValueError("prm_steps, replay and policy_epochs must be >= 1")
        if not 1 <= self.doors <= self.rooms or self.choices < 2:
            raise ValueError("need 1 <= doors <= rooms and choices >= 2")

    @property
    def dpo_ref(self) -> str:
        return self.dpo_reference or self.reference

    @property
    def trains_prm(self) -> bool:
        return self.method == "istar"

    @property
    def has_prm(self) -> bool:
        return self.method in ("istar", "frozen_prm")

    @property
    def num_states(self) -> int:
        return self.rooms * (self.choices + 1)


# ------------------------------------------------------------------- optimizer
class TableOptimizer:
    """Adam or SGD on a stacked ``(S, ...)`` table, one optimizer per seed.

    Elementwise like ``torch.optim.Adam`` / ``SGD`` (same formulas, defaults betas
    (0.9, 0.999), eps 1e-8), but with a step count per seed and an ``active (S,)`` mask:
    an inactive seed's parameters, moments and step count stay as they are (the learner
    makes no PRM step on a batch without pairs).
    """

    def __init__(self, param: torch.Tensor, kind: str, lr: float,
                 betas: tuple = (0.9, 0.999), eps: float = 1e-8):
        if kind not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {kind!r}")
        self.param, self.kind, self.lr, self.betas, self.eps = param, kind, lr, betas, eps
        self.m = torch.zeros_like(param)
        self.v = torch.zeros_like(param)
        self.t = torch.zeros(param.shape[0], dtype=param.dtype)

    @torch.no_grad()
    def step(self, grad: torch.Tensor, active: Optional[torch.Tensor] = None) -> None:
        """Apply ``grad`` (shape of the table) to the seeds where ``active`` (all if None)."""
        shape = (-1,) + (1,) * (grad.dim() - 1)
        act = (torch.ones(grad.shape[0], dtype=torch.bool) if active is None else active)
        a = act.view(shape)
        if self.kind == "sgd":
            update = self.lr * grad
        else:
            b1, b2 = self.betas
            self.m = torch.where(a, b1 * self.m + (1 - b1) * grad, self.m)
            self.v = torch.where(a, b2 * self.v + (1 - b2) * grad * grad, self.v)
            self.t = self.t + act.to(self.t.dtype)
            t = self.t.clamp(min=1).view(shape)
            denom = self.v.sqrt() / (1 - b2 ** t).sqrt() + self.eps
            update = (self.lr / (1 - b1 ** t)) * (self.m / denom)
        self.param.sub_(torch.where(a, update, torch.zeros_like(update)))


# ------------------------------------------------------------------ the chain
class SeedDraws(NamedTuple):
    """All randomness of a run, per seed: ``kinds (S, iters, T, R)`` long (door colour or
    ``C`` for a hall), ``uniforms (S, iters, T, G, R)`` float (action draws), ``init
    (S, X, C)`` float (pi_init logits)."""

    kinds: torch.Tensor
    uniforms: torch.Tensor
    init: torch.Tensor


def draw_seeds(cfg: SimConfig, seeds: Sequence[int], iters: int) -> SeedDraws:
    """Tasks, action uniforms and pi_init of each seed, each from its own numpy stream
    (independent of the arm's other knobs and of the other seeds)."""
    T, G, R, D, C = cfg.tasks_per_iter, cfg.group_size, cfg.rooms, cfg.doors, cfg.choices
    kinds, uniforms, inits = [], [], []
    for seed in seeds:
        task_rng = np.random.default_rng([seed, 0])
        # D distinct door rooms per task (the first D of a random permutation), then colours
        pos = np.argsort(task_rng.random((iters, T, R)), axis=-1)[..., :D]
        k = np.full((iters, T, R), C, dtype=np.int64)
        np.put_along_axis(k, pos, task_rng.integers(0, C, size=(iters, T, D)), axis=-1)
        kinds.append(k)
        uniforms.append(np.random.default_rng([seed, 1]).random((iters, T, G, R)))
        inits.append(np.random.default_rng([seed, 2]).normal(size=(cfg.num_states, C))
                     * cfg.init_scale)
    return SeedDraws(torch.as_tensor(np.stack(kinds)), torch.as_tensor(np.stack(uniforms)),
                     torch.as_tensor(np.stack(inits), dtype=DTYPE))


def door_right_actions(cfg: SimConfig) -> torch.Tensor:
    """``(X,)`` long: the right action of each door state, -1 for a hall state."""
    kinds = torch.arange(cfg.num_states) % (cfg.choices + 1)
    return torch.where(kinds < cfg.choices, kinds, torch.full_like(kinds, -1))


class Batch(NamedTuple):
    """One iteration's rollout of all seeds, flattened seed-major.

    Steps ``(N,)``: ``seed``, ``state``, ``action``, ``room``, ``label`` (+1/-1/0, float),
    ``traj`` (0..M-1), ``group`` (0..S*T-1); ``mask (N, 1)`` ones. Trajectories ``(M,)``:
    ``outcome`` float, ``traj_group``, ``traj_seed``. ``pairs (P, 2)`` (winner, loser);
    ``pair_scale (S,)`` = ``P / P_s`` (0 where ``P_s = 0``); ``has_pairs (S,)`` bool;
    ``present (S, X)`` bool, the door states of the iteration's tasks; ``dpo_ref (N, 1)``
    the DPO reference log-probs this batch keeps in the replay.
    """

    seed: torch.Tensor
    state: torch.Tensor
    action: torch.Tensor
    room: torch.Tensor
    label: torch.Tensor
    traj: torch.Tensor
    group: torch.Tensor
    mask: torch.Tensor
    outcome: torch.Tensor
    traj_group: torch.Tensor
    traj_seed: torch.Tensor
    pairs: torch.Tensor
    pair_scale: torch.Tensor
    has_pairs: torch.Tensor
    present: torch.Tensor
    dpo_ref: Optional[torch.Tensor] = None


def rollout(cfg: SimConfig, old_table: torch.Tensor, kinds: torch.Tensor,
            uniforms: torch.Tensor) -> Batch:
    """Sample every seed's groups with ``pi_old``.

    ``old_table (S, X, C)`` log-probs; ``kinds (S, T, R)``; ``uniforms (S, T, G, R)``.
    Actions by inverse CDF of ``pi_old(. | state)`` at the given uniforms.
    """
    S, T, G, R = uniforms.shape
    C = cfg.choices
    room = torch.arange(R)
    state = (room * (C + 1) + kinds)[:, :, None, :].expand(S, T, G, R)   # (S, T, G, R)
    seed = torch.arange(S).view(S, 1, 1, 1).expand(S, T, G, R)
    cdf = old_table.exp()[seed, state].cumsum(-1)                       # (S, T, G, R, C)
    action = (uniforms[..., None] > cdf[..., :-1]).sum(-1)              # (S, T, G, R)
    door = (kinds < C)[:, :, None, :].expand(S, T, G, R)
    right = action == kinds[:, :, None, :]
    label = torch.where(door, torch.where(right, 1.0, -1.0), 0.0).to(DTYPE)
    outcome = (~door | right).all(-1).to(DTYPE).reshape(-1)              # (M,)
    M = S * T * G
    traj_group = torch.arange(S * T).repeat_interleave(G)
    traj_seed = torch.arange(S).repeat_interleave(T * G)
    pairs = preference_pairs(outcome, traj_group)
    per_seed = torch.bincount(traj_seed[pairs[:, 0]], minlength=S).to(DTYPE)
    has_pairs = per_seed > 0
    scale = torch.where(has_pairs, pairs.shape[0] / per_seed.clamp(min=1), torch.zeros_like(per_seed))
    present = torch.zeros(S, cfg.num_states, dtype=torch.bool)
    door_states = torch.where(kinds < C, room * (C + 1) + kinds, torch.full_like(kinds, -1))
    rows, cols = torch.nonzero(door_states.view(S, -1) >= 0, as_tuple=True)
    present[rows, door_states.view(S, -1)[rows, cols]] = True
    return Batch(seed=seed.reshape(-1), state=state.reshape(-1), action=action.reshape(-1),
                 room=room.expand(S, T, G, R).reshape(-1), label=label.reshape(-1),
                 traj=torch.arange(M).repeat_interleave(R),
                 group=traj_group.repeat_interleave(R),
                 mask=torch.ones(M * R, 1, dtype=DTYPE), outcome=outcome,
                 traj_group=traj_group, traj_seed=traj_seed, pairs=pairs, pair_scale=scale,
                 has_pairs=has_pairs, present=present)


def step_logp(table: torch.Tensor, batch: Batch) -> torch.Tensor:
    """``(N, 1)`` log-probs of the batch's actions under a logit table ``(S, X, C)``."""
    return torch.log_softmax(table, -1)[batch.seed, batch.state, batch.action][:, None]


# -------------------------------------------------------------------- metrics
def same_state_accuracy(signal: torch.Tensor, present: torch.Tensor,
                        right: torch.Tensor) -> torch.Tensor:
    """Same-state credit accuracy of a signal table, exactly, per seed.

    Shapes: ``signal (S, X, C)`` float, a score per (state, action); ``present (S, X)``
    bool, the door states to evaluate; ``right (X,)`` long, the right action of each
    door state (-1 for a hall, never evaluated) -> ``(S,)`` float64: the fraction of
    (right, wrong) action pairs at one evaluated state with ``signal(right) >
    signal(wrong)``, ties 1/2; NaN for a seed with no evaluated door state. Unlike a
    pooled AUC, a right action at one state is never compared with a wrong one at
    another, so per-state offsets (``log pi_old``'s normaliser, what the policy already
    prefers elsewhere) cannot score.

    >>> sig = torch.tensor([[[5., 6., 6.], [-6., -5., -7.]]])   # right = action 0 at both
    >>> same_state_accuracy(sig, torch.tensor([[True, True]]), torch.tensor([0, 0])).tolist()
    [0.25]
    """
    S, X, C = signal.shape
    door = right >= 0
    r_idx = right.clamp(min=0)
    right_val = signal.gather(-1, r_idx.expand(S, X)[..., None])        # (S, X, 1)
    diff = right_val - signal                                           # (S, X, C)
    score = (diff > 0).to(DTYPE) + 0.5 * (diff == 0).to(DTYPE)
    wrong = torch.ones(X, C, dtype=torch.bool)
    wrong[torch.arange(X), r_idx] = False
    cells = present[..., None] & (wrong & door[:, None])[None]           # (S, X, C)
    count = cells.sum((1, 2)).to(DTYPE)
    acc = (score * cells).sum((1, 2)) / count.clamp(min=1)
    return torch.where(count > 0, acc, torch.full_like(acc, math.nan))


def per_seed_dpo_loss(q: torch.Tensor, batch: Batch, beta: float, num_seeds: int) -> torch.Tensor:
    """``(S,)`` trajectory-DPO loss of each seed's pairs from ``Q (M,)`` (the
    ``traj_logratio`` of :func:`trajectory_dpo_loss`); NaN for a seed without pairs."""
    w, lo = batch.pairs[:, 0], batch.pairs[:, 1]
    per_pair = -torch.nn.functional.logsigmoid(beta * (q[w] - q[lo]))
    pair_seed = batch.traj_seed[w]
    total = torch.zeros(num_seeds, dtype=DTYPE).index_add(0, pair_seed, per_pair)
    count = torch.bincount(pair_seed, minlength=num_seeds).to(DTYPE)
    return torch.where(count > 0, total / count.clamp(min=1), torch.full_like(total, math.nan))


# -------------------------------------------------------------------- phases
def dpo_step(cfg: SimConfig, phi: torch.Tensor, opt: TableOptimizer, batch: Batch) -> None:
    """One trajectory-DPO step of every seed's PRM on one batch (no step for a seed
    without pairs). The loss is a mean over all seeds' pairs; each seed's gradient is
    rescaled by ``P / P_s`` to the gradient of its own mean."""
    if batch.pairs.shape[0] == 0:
        return
    prm = phi.detach().requires_grad_(True)
    s = step_logratio(step_logp(prm, batch), batch.dpo_ref, batch.mask)            # (N,)
    out = trajectory_dpo_loss(s, batch.traj, batch.pairs, cfg.beta, agg="sum",
                              num_trajectories=batch.outcome.shape[0])
    (grad,) = torch.autograd.grad(out.loss, prm)
    opt.step(grad * batch.pair_scale.view(-1, 1, 1), active=batch.has_pairs)


def step_advantages_scoped(norm: str, signal: torch.Tensor, batch: Batch, num_seeds: int,
                           num_states: int) -> torch.Tensor:
    """``A_S (N,)`` = :func:`normalised_step_advantages` of ``signal (N,)`` with the
    batch's groups, rooms as step index and per-group anchors (group x state); a scope
    with batch-wide statistics runs per seed (each seed is its own batch)."""
    anchor = batch.group * num_states + batch.state
    if norm in GROUP_LOCAL_NORMS:
        return normalised_step_advantages(norm, signal, batch.group, batch.room, anchor)
    n = signal.shape[0] // num_seeds
    return torch.cat([normalised_step_advantages(norm, signal[sl], batch.group[sl],
                                                 batch.room[sl], anchor[sl])
                      for sl in (slice(i * n, (i + 1) * n) for i in range(num_seeds))])


def policy_update(cfg: SimConfig, theta: torch.Tensor, opt: TableOptimizer, batch: Batch,
                  old_logp: torch.Tensor, init_logp: torch.Tensor, adv: torch.Tensor,
                  num_seeds: int) -> None:
    """``policy_epochs`` full-batch steps: clipped surrogate (step ratio) + kl_coef x k3
    KL to pi_init (the learner's), both x ``S`` so each seed gets its own mean's gradient."""
    for _ in range(cfg.policy_epochs):
        pol = theta.detach().requires_grad_(True)
        logp = step_logp(pol, batch)
        loss = clipped_surrogate(logp, old_logp, batch.mask, adv, cfg.clip, cfg.clip, "step").loss
        if cfg.kl_coef > 0:
            delta = init_logp - logp
            kl = ((delta.exp() - delta - 1.0) * batch.mask).sum() / batch.mask.sum()
            loss = loss + cfg.kl_coef * kl
        (grad,) = torch.autograd.grad(loss * num_seeds, pol)
        opt.step(grad)


# ------------------------------------------------------------------------ run
def run_arm(cfg: SimConfig, seeds: Sequence[int], iters: int,
            keep_tables: bool = False) -> Dict[str, object]:
    """Run one arm on every seed at once.

    Returns ``{"curves": {name: (iters, S) float64 ndarray for name in CURVES},
    "r_phi_check": max |r - beta log(pi_init/pi_old)| over the run (frozen_prm only)}``
    and, with ``keep_tables``, the final ``theta``, ``phi``, ``init`` tables ``(S, X, C)``.
    """
    S = len(seeds)
    draws = draw_seeds(cfg, seeds, iters)
    right = door_right_actions(cfg)
    init = draws.init
    init_table = torch.log_softmax(init, -1)
    theta, phi = init.clone(), init.clone()
    pol_opt = TableOptimizer(theta, cfg.policy_opt, cfg.lr)
    prm_opt = TableOptimizer(phi, cfg.prm_opt, cfg.prm_lr)
    replay: deque = deque(maxlen=cfg.replay)
    curves = {name: np.full((iters, S), np.nan) for name in CURVES}
    frozen_gap = 0.0
    for it in range(iters):
        old_table = torch.log_softmax(theta, -1)
        batch = rollout(cfg, old_table, draws.kinds[:, it], draws.uniforms[:, it])
        old_logp, init_logp = step_logp(theta, batch), step_logp(init, batch)
        r = None
        if cfg.has_prm:
            batch = batch._replace(dpo_ref=init_logp if cfg.dpo_ref == "initial" else old_logp)
            with torch.no_grad():  # DPO loss of the new batch before this iteration's update
                q = trajectory_dpo_loss(step_logratio(step_logp(phi, batch), batch.dpo_ref, batch.mask),
                                        batch.traj, batch.pairs, cfg.beta, "sum",
                                        batch.outcome.shape[0]).traj_logratio
            curves["dpo_loss"][it] = per_seed_dpo_loss(q, batch, cfg.beta, S).numpy()
            if cfg.trains_prm:
                replay.append(batch)
                for _ in range(cfg.prm_steps):
                    for past in replay:  # oldest first, this batch last
                        dpo_step(cfg, phi, prm_opt, past)
            score_ref = init_logp if cfg.reference == "initial" else old_logp
            r = implicit_step_rewards(step_logp(phi, batch), score_ref, batch.mask, cfg.beta)
            if cfg.method == "frozen_prm":
                exact = cfg.beta * (init_logp - old_logp)[:, 0]
                frozen_gap = max(frozen_gap, float((r - exact).abs().max()))
        # ---- advantages: RLOO A_E (+ alpha * A_S)
        a_e = broadcast_to_steps(episode_advantages("rloo", batch.outcome, batch.traj_group),
                                 batch.traj)
        if cfg.method == "rloo":
            adv = a_e
        else:
            signal = batch.label if cfg.method == "oracle" else r
            a_s = step_advantages_scoped(cfg.step_norm, signal, batch, S, cfg.num_states)
            adv = mix_advantages(a_e, a_s, cfg.alpha)
        # ---- metrics at scoring time (pi_old, pi_init, the PRM after its update)
        curves["success"][it] = batch.outcome.view(S, -1).mean(1).numpy()
        own = old_table - init_table
        curves["acc_policy_own"][it] = same_state_accuracy(own, batch.present, right).numpy()
        curves["acc_drift"][it] = same_state_accuracy(-own, batch.present, right).numpy()
        if cfg.has_prm:
            prm_table = torch.log_softmax(phi, -1)
            ref_table = init_table if cfg.reference == "initial" else old_table
            curves["acc_r_phi"][it] = same_state_accuracy(
                cfg.beta * (prm_table - ref_table), batch.present, right).numpy()
            curves["acc_prm_progress"][it] = same_state_accuracy(
                prm_table - init_table, batch.present, right).numpy()
            n = r.shape[0] // S
            curves["auc_r_phi"][it] = [decisive_auc(r[i * n:(i + 1) * n], batch.label[i * n:(i + 1) * n])
                                       for i in range(S)]
        # ---- policy update
        policy_update(cfg, theta, pol_opt, batch, old_logp, init_logp, adv, S)
    out: Dict[str, object] = {"curves": curves, "r_phi_check": frozen_gap}
    if keep_tables:
        out.update(theta=theta.clone(), phi=phi.clone(), init=init.clone())
    return out


# ------------------------------------------------------------------ summaries
def iters_to(success: Sequence[float], target: float, window: int = SMOOTH) -> Optional[int]:
    """Iterations done when the ``window``-iteration moving average of success first
    reaches ``target`` (full windows only), or None.

    >>> iters_to([0, 1, 1, 0, 1, 1, 1], 0.8, window=2)
    3
    """
    s = np.asarray(success, dtype=float)
    for i in range(window - 1, len(s)):
        if s[i - window + 1: i + 1].mean() >= target - 1e-9:
            return i + 1
    return None


def _stat(values: Sequence[float], boot: int = 2000) -> Dict[str, object]:
    """Mean and 95% bootstrap interval (``boot`` resamples) over seeds
    (:func:`benchmarks.stats.bootstrap_ci`); NaN and None values are left out."""
    vals = [float(v) for v in values if v is not None and math.isfinite(v)]
    if not vals:
        return {"mean": None, "ci": [None, None], "n": 0}
    lo, hi = bootstrap_ci(vals, n=boot)
    return {"mean": float(np.mean(vals)), "ci": [lo, hi], "n": len(vals)}


def summarize(curves: Dict[str, np.ndarray], boot: int = 2000) -> Dict[str, object]:
    """Per-arm summary over seeds (curves ``(iters, S)``).

    ``iters_to_0.5`` / ``iters_to_0.8``: mean over seeds with an unreached seed counted
    at ``iters`` (censored; ``reached`` says how many got there), with interval and
    median. ``final_success``: mean of the last FINAL_ITERS iterations.
    ``acc_*``/``auc_*``/``dpo_loss`` windows: ``early`` (first EARLY_ITERS), ``prelearn``
    (before the seed's moving average first reaches 0.5; every iteration if never),
    ``late`` (from LATE_FROM on, or the last half of a shorter run).
    """
    succ = curves["success"]
    iters, S = succ.shape
    out: Dict[str, object] = {"iters": iters, "seeds": S}
    reach = {t: [iters_to(succ[:, j], t) for j in range(S)] for t in TARGETS}
    for t, vals in reach.items():
        censored = [iters if v is None else v for v in vals]
        stat = _stat(censored, boot)
        stat.update(reached=sum(v is not None for v in vals), censored_at=iters,
                    median=float(np.median(censored)), per_seed=vals)
        out[f"iters_to_{t}"] = stat
    out["final_success"] = _stat(succ[-FINAL_ITERS:].mean(0), boot)
    late = slice(LATE_FROM, None) if iters > LATE_FROM else slice(iters // 2, None)
    windows = {"early": lambda c, j: c[:EARLY_ITERS, j], "late": lambda c, j: c[late, j],
               "prelearn": lambda c, j: c[:max(reach[0.5][j] or iters, 1), j]}
    for name in CURVES[1:]:
        for wname, pick in windows.items():
            per_seed = [np.nanmean(pick(curves[name], j)) if np.isfinite(pick(curves[name], j)).any()
                        else math.nan for j in range(S)]
            out[f"{name}_{wname}"] = _stat(per_seed, boot)
    return out


# ----------------------------------------------------------------------- arms
#: PRM lr as a multiple of the Adam policy lr (section 4); the SGD arms use the same
#: absolute PRM lrs (their PRM is Adam too), named by value.
PRM_LR_RATIOS = (0.3, 1.0, 3.0, 10.0, 30.0)
#: Section 5's one-knob-at-a-time PRM variants: name suffix -> overrides.
PRM_KNOBS = {"steps4": {"prm_steps": 4}, "steps8": {"prm_steps": 8}, "replay4": {"replay": 4},
             "beta0.5": {"beta": 0.5}, "beta2": {"beta": 2.0}}


def default_arms() -> List[SimConfig]:
    """Every arm of the default run, by section of the study (``--list`` prints them).

    Adam arms use ``LR_ADAM``, SGD arms ``LR_SGD`` (chosen so that RLOO needs about as
    many iterations under both). ``istar_initial`` (initial reference, prm_lr = lr/3, one
    PRM step, beta 0.05, group_step) is the arm sections 6 and 7 vary: every initial-
    reference arm matched the oracle, and it is the cheapest.
    """
    rloo = SimConfig(name="rloo", method="rloo", alpha=0.0)
    oracle = SimConfig(name="oracle", method="oracle")
    frozen = SimConfig(name="frozen_prm", method="frozen_prm")
    rolling = SimConfig(name="istar_rolling")                      # the paper
    initial = replace(rolling, name="istar_initial", reference="initial")
    sgd = {"policy_opt": "sgd", "lr": LR_SGD}
    arms = [rloo, oracle, frozen, rolling, initial,                  # sections 1-3
            replace(initial, name="istar_initial_kl0.2", kl_coef=0.2)]
    for ref, arm in (("rolling", rolling), ("initial", initial)):  # section 4
        arms += [replace(arm, name=f"{ref}_prmlr_x{r:g}", prm_lr=LR_ADAM * r) for r in PRM_LR_RATIOS]
        arms += [replace(arm, name=f"sgd_{ref}_prmlr{LR_ADAM * r:g}", prm_lr=LR_ADAM * r, **sgd)
                 for r in PRM_LR_RATIOS]
    for ref, arm in (("initial", initial), ("rolling", rolling)):  # section 5
        arms += [replace(arm, name=f"{ref}_{k}", **kw) for k, kw in PRM_KNOBS.items()]
    arms += [replace(rolling, name=f"sgd_rolling_{k}", **kw, **sgd) for k, kw in PRM_KNOBS.items()]
    arms += [replace(a, name=f"{a.name}_sgd", **sgd) for a in (rloo, oracle, frozen, rolling, initial)]
    for norm in ("group", "batch_max_abs"):                        # section 7
        arms += [replace(initial, name=f"istar_initial_{norm}", step_norm=norm),
                 replace(initial, name=f"istar_initial_sgd_{norm}", step_norm=norm, **sgd),
                 replace(oracle, name=f"oracle_sgd_{norm}", step_norm=norm, **sgd)]
    return arms


# ------------------------------------------------------------------------ cli
#: Curves left out of the JSON: ``acc_drift`` is exactly ``1 - acc_policy_own``.
DERIVED_CURVES = ("acc_drift",)
#: Decimals of the stored curves (``success`` is stored as the number of successful
#: trajectories of the seed's batch, an int, exact).
CURVE_DIGITS = {"dpo_loss": 3}


def _rounded(a: np.ndarray, digits: int = 3) -> List[List[Optional[float]]]:
    """``(iters, S)`` -> per-seed lists, rounded, NaN as None (JSON null)."""
    return [[None if not math.isfinite(v) else round(float(v), digits) for v in col] for col in a.T]


def run_all(arms: Sequence[SimConfig], seeds: Sequence[int], iters: int, boot: int = 2000,
            log=print) -> Dict[str, object]:
    """Run and summarise every arm: ``{name: {"config", "summary", "curves"}}`` with
    per-seed curves (all-NaN curves, e.g. r_phi without a PRM, and DERIVED_CURVES omitted)."""
    out: Dict[str, object] = {}
    for cfg in arms:
        t0 = time.perf_counter()
        res = run_arm(cfg, seeds, iters)
        summary = summarize(res["curves"], boot)
        summary["seconds"] = round(time.perf_counter() - t0, 3)
        if cfg.method == "frozen_prm":
            summary["frozen_r_max_abs_gap"] = res["r_phi_check"]
        curves = {k: _rounded(v, CURVE_DIGITS.get(k, 2)) for k, v in res["curves"].items()
                  if k not in DERIVED_CURVES and k != "success" and np.isfinite(v).any()}
        per_batch = cfg.tasks_per_iter * cfg.group_size
        curves["successes"] = np.rint(res["curves"]["success"] * per_batch).astype(int).T.tolist()
        out[cfg.name] = {"config": asdict(cfg), "summary": summary, "curves": curves}
        log(f"{cfg.name}: {summary['seconds']:.1f}s")
    return out


def _fmt(stat: Dict[str, object], digits: int = 2) -> str:
    """``mean [lo, hi]`` of a summary statistic, ``-`` when there is none."""
    if stat.get("mean") is None:
        return "-"
    lo, hi = stat["ci"]
    return f"{stat['mean']:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def tables(doc: Dict[str, object]) -> str:
    """Two markdown tables of a result document: outcomes with the late same-state
    accuracies, then the early and pre-learning accuracies and pooled AUCs."""
    arms = doc["arms"]
    late = (f"iters >= {LATE_FROM}" if doc["meta"]["iters"] > LATE_FROM else "last half")
    head = ("| arm | iters to 0.5 (reached) | iters to 0.8 (reached) | final success | "
            f"acc r_phi ({late}) | acc prm_progress | acc drift | acc policy_own | DPO loss |")
    lines = [head, "|" + " --- |" * 9]
    for name, arm in arms.items():
        s = arm["summary"]
        reach = [f"{_fmt(s[f'iters_to_{t}'], 0)} ({s[f'iters_to_{t}']['reached']}/{s['seeds']})"
                 for t in TARGETS]
        lines.append(f"| {name} | {reach[0]} | {reach[1]} | {_fmt(s['final_success'])} | "
                     + " | ".join(_fmt(s[f"acc_{k}_late"]) for k in SIGNALS)
                     + f" | {_fmt(s['dpo_loss_late'], 3)} |")
    lines += ["", "| arm | early: acc r_phi | prm_progress | policy_own | pre-0.5: acc r_phi | "
              "prm_progress | policy_own | pooled AUC r_phi early | late | DPO loss early |",
              "|" + " --- |" * 10]
    for name, arm in arms.items():
        s = arm["summary"]
        cells = [_fmt(s[f"acc_{k}_{w}"]) for w in ("early", "prelearn")
                 for k in ("r_phi", "prm_progress", "policy_own")]
        cells += [_fmt(s["auc_r_phi_early"]), _fmt(s["auc_r_phi_late"]), _fmt(s["dpo_loss_early"], 3)]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--arms", nargs="+", help="arm names (default: every arm; see --list)")
    p.add_argument("--seeds", type=int, default=20, help="seeds 0..n-1")
    p.add_argument("--iters", type=int, default=150)
    p.add_argument("--out", help="write the JSON here")
    p.add_argument("--smoke", action="store_true",
                   help="2 seeds x 5 iterations (and 20 bootstrap resamples)")
    p.add_argument("--list", action="store_true", help="print the arms and exit")
    p.add_argument("--tables", metavar="JSON", help="print the tables of a saved result and exit")
    args = p.parse_args(sys.argv[1:] if argv is None else list(argv))
    if args.tables:
        with open(args.tables) as f:
            print(tables(json.load(f)))
        return 0
    torch.set_num_threads(1)
    arms = default_arms()
    by_name = {a.name: a for a in arms}
    if args.list:
        defaults = asdict(SimConfig(name=""))
        for a in arms:
            print(a.name, {k: v for k, v in asdict(a).items() if k != "name" and v != defaults[k]})
        return 0
    if args.arms:
        unknown = [n for n in args.arms if n not in by_name]
        if unknown:
            p.error(f"unknown arms {unknown}; see --list")
        arms = [by_name[n] for n in args.arms]
    seeds, iters, boot = (2, 5, 20) if args.smoke else (args.seeds, args.iters, 2000)
    t0 = time.perf_counter()
    results = run_all(arms, list(range(seeds)), iters, boot, log=lambda m: print(m, file=sys.stderr))
    doc = {"meta": {"command": " ".join(["python -m benchmarks.credit_sim",
                                         *(sys.argv[1:] if argv is None else argv)]),
                    "seeds": seeds, "iters": iters, "seconds": round(time.perf_counter() - t0, 1),
                    "torch": torch.__version__, "lr_adam": LR_ADAM, "lr_sgd": LR_SGD,
                    "curves": ["successes", *(c for c in CURVES[1:] if c not in DERIVED_CURVES)],
                    "note": "curves[name][seed][iteration]; successes = successful trajectories "
                            "of the batch (of tasks_per_iter x group_size); acc_* = same-state "
                            "accuracy at the iteration's door states (acc_drift = 1 - "
                            "acc_policy_own, summary only); auc_r_phi = pooled decisive_auc "
                            "over the sampled steps; dpo_loss = the new batch's before the "
                            "iteration's PRM update; iters_to_* censored at iters"},
           "arms": results}
    print(tables(doc))
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as f:
            json.dump(doc, f, separators=(",", ":"))
        print(f"wrote {args.out} ({doc['meta']['seconds']} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
