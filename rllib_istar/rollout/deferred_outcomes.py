"""The env runner's side of deferred outcomes (``rllib_istar/envs/deferred.py``).

After a ``sample()`` loop, :func:`settle_deferred_outcomes` scores every finished
episode of an env with deferred outcomes in **one batch** (e.g. one ``judge_many``
call per sample) and writes the result into the episode: the outcome's reward is added
to the last step's reward (``SingleAgentEpisode.rewards[-1]``) and to its raw env
reward (``extra_model_outputs[ENV_REWARD_RAW][-1]``), so ``outcome: return`` and the
invalid-action penalty work unchanged; its ``won`` is set on the trajectory (read by
the runner's ``_finish``); its info goes to ``custom_data[DEFERRED_INFO]`` and its
numbers are logged as ``deferred/<name>`` (one level of nested dicts flattened:
``deferred/judge_scores/goal``). A scorer error (an unreachable judge) propagates: its
message names the endpoint and the fix.
"""
from __future__ import annotations

import time
from typing import Any, Dict, Iterator, List, Tuple

from rllib_istar import columns as C
from rllib_istar import metrics as M
from rllib_istar.envs.deferred import supports_deferred_outcomes

__all__ = ["settle_deferred_outcomes"]


def _numeric_items(info: Dict[str, Any], prefix: str = "") -> Iterator[Tuple[str, float]]:
    """``(name, number)`` of ``info``'s numbers, one level of nested dicts flattened
    as ``outer/inner``."""
    for key, value in info.items():
        if isinstance(value, dict) and not prefix:
            yield from _numeric_items(value, f"{key}/")
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            yield f"{prefix}{key}", float(value)


def settle_deferred_outcomes(trajs: List[Any], metrics) -> int:
    """Score the pending outcomes of ``trajs`` (the runner's live-or-finished, not failed
    trajectories: ``.env``, ``.episode``, ``.won``) in one batch; returns how many."""
    pending = []
    for tr in trajs:
        if supports_deferred_outcomes(tr.env):
            request = tr.env.pop_pending_outcome()
            if request is not None:
                pending.append((tr, request))
    if not pending:
        return 0
    t0 = time.perf_counter()
    outcomes = pending[0][0].env.score_pending_outcomes([r for _, r in pending])
    metrics.log_value(M.DEFERRED_SCORING_S, time.perf_counter() - t0, reduce="sum")
    metrics.log_value(M.DEFERRED_OUTCOMES, len(pending), reduce="sum")
    for (tr, _), out in zip(pending, outcomes):
        ep = tr.episode
        ep.set_rewards(new_data=float(ep.get_rewards(-1)) + float(out.reward), at_indices=-1)
        raw = float(ep.get_extra_model_outputs(C.ENV_REWARD_RAW, -1))
        ep.set_extra_model_outputs(key=C.ENV_REWARD_RAW, new_data=raw + float(out.reward),
                                   at_indices=-1)
        tr.won = bool(out.won)
        ep.custom_data[C.DEFERRED_INFO] = dict(out.info)
        for name, value in _numeric_items(out.info):
            metrics.log_value(f"{M.DEFERRED_PREFIX}{name}", value, reduce="mean")
    return len(pending)
