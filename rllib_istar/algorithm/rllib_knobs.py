"""RLlib's own config attributes that IStar reads or refuses (beside IStar's knobs).

RLlib checks none of these values. :data:`RLLIB_KNOBS` declares, for each attribute
IStar reads, a :class:`~rllib_istar.algorithm.knobs.Knob` (doc, bounds, aliases and, where
IStarConfig changes RLlib's default, that default) with the types
``IStarConfig.validate()`` accepts; :data:`RLLIB_UNUSED` lists the attributes IStar does
not read, where a value other than RLlib's default is an error naming what to set.
"""
from __future__ import annotations

from typing import Any, Dict, Tuple

from rllib_istar.algorithm.knobs import Knob
from rllib_istar.algorithm.model_defaults import AUTO

__all__ = ["RLLIB_KNOBS", "RLLIB_UNUSED", "RLLIB_DEFAULTS"]

_UNSET = object()


def _rllib(name: str, types: Tuple[type, ...], doc: str, default: Any = _UNSET,
           **bounds) -> Tuple[Knob, Tuple[type, ...]]:
    knob = Knob(None if default is _UNSET else default, doc, name=name, **bounds)
    knob.changes_default = default is not _UNSET
    return knob, types


_INT, _NUM, _OPT_INT = (int,), (int, float), (int, type(None))
# RLlib's own attributes that IStar reads, with the types and bounds IStarConfig.validate()
# checks (RLlib checks none of these values) and, where IStarConfig changes RLlib's
# default, that default (``changes_default``). Name -> (Knob, accepted types).
RLLIB_KNOBS: Dict[str, Tuple[Knob, Tuple[type, ...]]] = {k.name: (k, t) for k, t in (
    _rllib("lr", _NUM + (list,), "Policy Adam learning rate (or an RLlib schedule "
           "[[timestep, lr], ...]). 'auto': 1e-3 for a tiny model, else 1e-6. REF: 1e-6 "
           "baselines, 5e-7 iStar.", AUTO, minimum=0.0,
           exclusive_minimum=True, aliases=("actor_lr", "learning_rate", "lr_rate", "policy_lr")),
    _rllib("grad_clip", _NUM + (type(None),), "Policy gradient-norm clip (null: none). "
           "REF: 1.0.", 1.0, minimum=0.0, exclusive_minimum=True, hint="null turns the clip off",
           aliases=("grad_norm_clip", "max_grad_norm")),
    _rllib("num_epochs", _INT, "Passes over the batch in the policy update. 'auto': 3 for a "
           "tiny model, else 1. REF: 1.", AUTO,
           minimum=1,
           aliases=("epochs", "n_epochs", "num_ppo_epochs", "num_sgd_iter", "ppo_epochs")),
    _rllib("minibatch_size", _OPT_INT, "Step rows per policy minibatch (null: the whole "
           "batch). REF: 64.", None, minimum=1,
           aliases=("mini_batch_size", "ppo_mini_batch_size", "sgd_minibatch_size")),
    _rllib("num_env_runners", _INT, "Remote env runners (0: sample in the driver; set with "
           ".env_runners()).", minimum=0, aliases=("num_rollout_workers", "num_workers")),
    _rllib("num_learners", _INT, "Remote learners (0: learn in the driver; set with "
           ".learners()).", minimum=0),
    _rllib("num_gpus_per_learner", _NUM, "GPUs per learner (.learners()).", minimum=0.0),
    _rllib("num_cpus_per_env_runner", _NUM, "CPUs per remote env runner (.env_runners()).",
           minimum=0.0),
    _rllib("num_gpus_per_env_runner", _NUM, "GPUs per remote env runner (.env_runners(); "
           "vLLM generation).", minimum=0.0),
    _rllib("seed", _OPT_INT, "Seed of tasks, sampling and initial weights (.debugging()); "
           "null: not seeded.", minimum=0),
)}
# RLlib attributes that IStar does not read: a value other than RLlib's default is an error
# (never a silently ignored setting), naming what to set instead. (Not listed: the ones
# RLlib itself rewrites while it builds: rollout_fragment_length, train_batch_size*.)
RLLIB_UNUSED = {
    "gamma": "IStar's estimators use no discount except GiGPO's step returns: set gigpo_gamma",
    "num_envs_per_env_runner": "each env runner steps num_groups x group_size envs itself: "
                               "set num_groups",
}
# RLlib's attributes whose defaults IStarConfig changes (documented here too).
RLLIB_DEFAULTS = {name: (k.default, k.doc) for name, (k, _) in RLLIB_KNOBS.items()
                  if k.changes_default}
