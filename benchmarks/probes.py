"""Probes: learner and algorithm subclasses that observe a run through the plugin's hooks.

Nothing here changes what the plugin computes; the probes only *read*, through
the documented hooks (``IStarTorchLearner.on_advantages`` and ``timed``,
``IStar.timed``), used via RLlib's normal mechanisms
(``config.training(learner_class=...)``, ``IStarConfig(algo_class=...)``, see
``common.build_config``). Their records stay on the learner / algorithm object
and are collected per iteration with ``pop_*``; the learner's through
``LearnerGroup.foreach_learner``, so the benchmarks' ``num_learners=0`` (learner
in this process) is all they assume.

* :class:`AdvantageProbeLearner` records, per learner update, how the advantages
  treat the toy's decisive step and how the step rewards r_phi look
  (:func:`advantage_record`).
* :class:`TimingLearner` and :class:`TimingIStar` record the raw duration of every
  phase timer (``timers/<name>``; RLlib itself reports them as an EMA, useless for
  per-iteration breakdowns).
"""
from __future__ import annotations

import contextlib
import time
from collections import defaultdict
from typing import Dict, List, Optional

import torch
from ray.rllib.utils.metrics import TIMERS

from benchmarks.settings import ENV_IDS
from rllib_istar import columns as C
from rllib_istar.algorithm.istar import IStar
from rllib_istar.learner.learner import IStarTorchLearner


def learner_call(algo, fn) -> list:
    """``fn(learner)`` on every learner of ``algo`` (one with ``num_learners=0``)."""
    return [r.get() for r in algo.learner_group.foreach_learner(fn)]


# ------------------------------------------------------------------- timers
class RawTimers:
    """Raw durations of timed blocks per ``timers/<name>`` key, since the last pop."""

    def __init__(self):
        self.times: Dict[str, List[float]] = defaultdict(list)

    @contextlib.contextmanager
    def around(self, name: str, inner):
        """Time ``inner`` (the hook's default context manager) and keep the duration."""
        t0 = time.perf_counter()
        with inner:
            yield
        self.times[f"{TIMERS}/{name}"].append(time.perf_counter() - t0)

    def pop(self) -> Dict[str, float]:
        """Sum per key since the last pop (one iteration)."""
        out = {k: sum(v) for k, v in self.times.items()}
        self.times.clear()
        return out


class TimingLearner(IStarTorchLearner):
    """Learner whose phase timers (old_logp, prm_update, prm_scoring, policy_update)
    also keep raw durations."""

    def timed(self, name: str):
        if not hasattr(self, "raw_timers"):
            self.raw_timers = RawTimers()
        return self.raw_timers.around(name, super().timed(name))

    def pop_timers(self) -> Dict[str, float]:
        return self.raw_timers.pop() if hasattr(self, "raw_timers") else {}


class TimingIStar(IStar):
    """Algorithm whose driver timers (rollout, learner_update, weight_sync) also keep
    raw durations; pair it with :class:`TimingLearner` (``common.build_config(timing=True)``)."""

    def timed(self, name: str):
        if not hasattr(self, "raw_timers"):
            self.raw_timers = RawTimers()
        return self.raw_timers.around(name, super().timed(name))

    def pop_timers(self) -> Dict[str, float]:
        """Raw durations since the last pop, summed per key: the driver's and the learner's."""
        out = self.raw_timers.pop() if hasattr(self, "raw_timers") else {}
        for learner_times in learner_call(self, lambda learner: learner.pop_timers()):
            for k, v in learner_times.items():
                out[k] = out.get(k, 0.0) + v
        return out


# --------------------------------------------------------------- advantages
class AdvantageProbeLearner(IStarTorchLearner):
    """Learner that records :func:`advantage_record` of every update (a probe error is
    recorded, never raised)."""

    def build(self) -> None:
        super().build()
        self.probe_records: List[Dict[str, float]] = []
        self.color_ids: Optional[set] = None
        if self.config.env == ENV_IDS["toy"]:
            from rllib_istar.envs.key_corridor import COLORS
            from rllib_istar.lm import load_tokenizer

            tok = load_tokenizer(self.config.effective_model_path())
            self.color_ids = {tok.convert_tokens_to_ids(c) for c in COLORS}

    def on_advantages(self, rows, step_rewards, advantages) -> None:
        super().on_advantages(rows, step_rewards, advantages)
        try:
            self.probe_records.append(advantage_record(rows, advantages, step_rewards, self.color_ids))
        except Exception as e:  # a probe must never break training
            self.probe_records.append({"probe_error": repr(e)})

    def pop_probe(self) -> Dict[str, float]:
        """The last update's record since the last pop ({} if none)."""
        recs, self.probe_records = self.probe_records, []
        return recs[-1] if recs else {}


def advantage_record(rows, adv, step_r, color_ids: Optional[set]) -> Dict[str, float]:
    """How one update's advantages treat the *decisive* step of the toy (step 0: which
    key), and the implicit step rewards.

    Toy rows: the door colour is the prompt's last token, the key is the response's
    first token. For step-0 rows with a valid key (``color_ids``: the key colours'
    token ids; None off the toy) we record the mean advantage of right-key and
    wrong-key steps (their gap is the credit the policy gets for the right decision)
    and, for PRM methods, the same for the step reward r_phi and its AUC
    (P(r_phi(right) > r_phi(wrong)) within a group). On every env we record the
    correlation of r_phi with the env's own step reward.
    """
    rec: Dict[str, float] = {}
    mask = rows[C.RESPONSE_MASK]
    adv_step = adv if adv.dim() == 1 else (adv * mask).sum(1) / mask.sum(1).clamp(min=1)
    env_r = rows[C.ENV_REWARD].float()
    if step_r is not None and len(step_r) > 2 and float(env_r.std()) > 0:
        rec["corr_r_phi_env_reward"] = float(torch.corrcoef(torch.stack([step_r.float(), env_r]))[0, 1])
    if color_ids is not None:
        first = mask.float().argmax(1)
        idx = torch.arange(len(first))
        key = rows[C.INPUT_IDS][idx, first]
        door = rows[C.INPUT_IDS][idx, first - 1]
        is0 = (rows[C.STEP_INDEX] == 0) & torch.tensor([int(k) in color_ids for k in key])
        right, wrong = is0 & (key == door), is0 & (key != door)
        rec["key_steps"] = int(is0.sum())
        rec["key_right_frac"] = float(right.sum()) / max(int(is0.sum()), 1)
        if right.any() and wrong.any():
            rec["adv_key_gap"] = float(adv_step[right].mean() - adv_step[wrong].mean())
            later = rows[C.STEP_INDEX] > 0
            rec["adv_later_abs"] = float(adv_step[later].abs().mean()) if later.any() else 0.0
            if step_r is not None:
                rec["r_phi_key_gap"] = float(step_r[right].mean() - step_r[wrong].mean())
                rec["r_phi_key_auc"] = _group_auc(step_r, rows[C.STEP_GROUP], right, wrong)
                # share of the step reward's spread that sits on the decisive step
                sr = step_r.float()
                rec["r_phi_key_std"] = float(sr[is0].std()) if is0.sum() > 1 else 0.0
                rec["r_phi_later_std"] = float(sr[later].std()) if later.sum() > 1 else 0.0
    return rec


def _group_auc(score, group, pos, neg) -> float:
    """Mean over groups of P(score(pos) > score(neg)) (ties count 1/2)."""
    aucs = []
    for g in group.unique():
        p, n = score[pos & (group == g)], score[neg & (group == g)]
        if len(p) and len(n):
            d = p[:, None] - n[None, :]
            aucs.append(float(((d > 0).float() + 0.5 * (d == 0).float()).mean()))
    return sum(aucs) / len(aucs) if aucs else float("nan")
