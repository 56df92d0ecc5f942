"""The one advantage dispatch: estimator name -> episode estimator, PRM loss, step signal.

docs/algorithm.md §3 and §5 as tables. :data:`ESTIMATORS` maps each
``advantage_estimator`` to an :class:`EstimatorSpec`; :data:`ABLATIONS` maps each
``ablation`` to how it changes a spec; :data:`STEP_SIGNALS` maps a spec's
``step_signal`` to the function that computes the step term ``A_S``. The learner
calls :func:`compute_advantages`, ``IStarConfig`` calls :func:`resolve_estimator`
to validate, and the knob choices are these tables' keys. All math lives in
``rllib_istar.core``; nothing here branches on a name.
"""
from __future__ import annotations

from typing import Callable, Dict, Mapping, NamedTuple, Optional, Tuple

import torch

from rllib_istar import columns as C
from rllib_istar import metrics as M
from rllib_istar.core import advantages as adv
from rllib_istar.core import gigpo, step_norms


class EstimatorSpec(NamedTuple):
    episode: str                 # core episode estimator: grpo | grpo_mean | rloo | reinforce_pp
    prm_loss: Optional[str]      # None (no PRM is built) | "dpo" (iStar) | "ce" (PRIME)
    step_signal: Optional[str]   # None (outcome only) | a key of STEP_SIGNALS
    token_level: bool = False    # advantages are per token (N, L) rather than per step (N,)
    merged: bool = False         # fold alpha * sum_t r_phi into the outcome (ablation 'merged')
    train_prm: bool = True       # False: the PRM never trains (ablation 'frozen_prm')


class StepInputs(NamedTuple):
    """What a step signal may read besides the rows."""
    step_rewards: Optional[torch.Tensor]   # (N,) implicit step rewards r_phi
    token_rewards: Optional[torch.Tensor]  # (N, L) token implicit rewards
    gamma: float                           # GiGPO discount
    gigpo_norm: str                        # GiGPO anchor normalisation
    step_norm: str                         # step_adv_norm: scope of A_S (core.step_norms)
    eps: float
    step_adv: Optional[torch.Tensor] = None  # (N,) A_S of r_phi when the caller has it


def normalised_step_rewards(step_rewards: torch.Tensor, rows, step_norm: str,
                            eps: float) -> torch.Tensor:
    """``A_S``: r_phi ``(N,)`` normalised in the ``step_adv_norm`` scope (§3). ``(N,)``."""
    return step_norms.normalised_step_advantages(step_norm, step_rewards, rows[C.STEP_GROUP],
                                                 rows[C.STEP_INDEX], rows[C.ANCHOR], eps=eps)


ESTIMATORS: Dict[str, EstimatorSpec] = {
    "istar_rloo": EstimatorSpec("rloo", "dpo", "implicit"),
    "istar_grpo": EstimatorSpec("grpo", "dpo", "implicit"),
    "istar_reinforce_pp": EstimatorSpec("reinforce_pp", "dpo", "implicit"),
    "rloo": EstimatorSpec("rloo", None, None),
    "grpo": EstimatorSpec("grpo", None, None),
    "reinforce_pp": EstimatorSpec("reinforce_pp", None, None),
    "gigpo": EstimatorSpec("grpo", None, "anchor"),
    "prime": EstimatorSpec("rloo", "ce", "token_implicit", token_level=True),
}

# Ablations of the iStar estimators (docs/algorithm.md §5, lower table): spec -> ablated spec.
ABLATIONS: Dict[str, Callable[[EstimatorSpec], EstimatorSpec]] = {
    "merged": lambda s: s._replace(step_signal=None, merged=True),
    "token_level_pr": lambda s: s._replace(step_signal="token_implicit", token_level=True),
    "gt_step_reward": lambda s: s._replace(prm_loss=None, step_signal="env"),
    "frozen_prm": lambda s: s._replace(train_prm=False),
}


def _implicit(rows, x: StepInputs) -> torch.Tensor:
    """iStar: r_phi normalised in the ``step_adv_norm`` scope (§3), or the caller's ``A_S``
    of it. ``(N,)``."""
    if x.step_adv is not None:
        return x.step_adv
    return normalised_step_rewards(x.step_rewards, rows, x.step_norm, x.eps)


def _env(rows, x: StepInputs) -> torch.Tensor:
    """Ablation gt_step_reward: the env's step reward normalised like r_phi (§5). ``(N,)``."""
    return normalised_step_rewards(rows[C.ENV_REWARD], rows, x.step_norm, x.eps)


def _anchor(rows, x: StepInputs) -> torch.Tensor:
    """GiGPO: discounted step returns normalised within anchor-state groups (§5). ``(N,)``."""
    returns = gigpo.discounted_returns(rows[C.ENV_REWARD], rows[C.STEP_TRAJ], rows[C.STEP_INDEX],
                                       x.gamma)
    return gigpo.anchor_step_advantages(returns, rows[C.ANCHOR], norm=x.gigpo_norm, eps=x.eps)


def _token_implicit(rows, x: StepInputs) -> torch.Tensor:
    """PRIME / token_level_pr: token rewards z-scored over the group's tokens. ``(N, L)``."""
    return adv.token_step_advantages(x.token_rewards, rows[C.RESPONSE_MASK], rows[C.STEP_GROUP],
                                     eps=x.eps)


STEP_SIGNALS: Dict[str, Callable[[Mapping[str, torch.Tensor], StepInputs], torch.Tensor]] = {
    "implicit": _implicit,
    "env": _env,
    "anchor": _anchor,
    "token_implicit": _token_implicit,
}


def resolve_estimator(name: str, ablation: Optional[str] = None) -> EstimatorSpec:
    """Spec for ``advantage_estimator=name`` with an optional ablation.

    Raises ValueError (one line, listing the valid names) for unknown names and
    for an ablation on a non-iStar estimator.
    """
    if name not in ESTIMATORS:
        raise ValueError(f"unknown advantage_estimator {name!r}; valid: {', '.join(ESTIMATORS)}")
    spec = ESTIMATORS[name]
    if ablation is None:
        return spec
    if ablation not in ABLATIONS:
        raise ValueError(f"unknown ablation {ablation!r}; valid: {', '.join(ABLATIONS)} (or null)")
    if spec.prm_loss != "dpo":
        raise ValueError(f"ablation {ablation!r} modifies an iStar estimator; "
                         f"set advantage_estimator to istar_rloo, istar_grpo or istar_reinforce_pp")
    return ABLATIONS[ablation](spec)


def _stats(x: torch.Tensor) -> Tuple[float, float]:
    x = x.float()
    return float(x.mean()) if x.numel() else 0.0, float(x.std()) if x.numel() > 1 else 0.0


def compute_advantages(
    spec: EstimatorSpec,
    rows: Mapping[str, torch.Tensor],
    *,
    alpha: float,
    step_rewards: Optional[torch.Tensor] = None,
    token_rewards: Optional[torch.Tensor] = None,
    gamma: float = 0.95,
    gigpo_norm: str = "std",
    step_norm: str = "group",
    eps: float = 1e-6,
    step_adv: Optional[torch.Tensor] = None,
) -> Tuple[torch.Tensor, Dict[str, float]]:
    """Advantages for the policy loss and their diagnostics (docs/algorithm.md §3, §5).

    ``A = A_E(tau) + alpha * A_S(t)`` where ``A_E`` is ``spec.episode`` on the
    trajectory outcomes (plus ``alpha * sum_t r_phi`` when ``spec.merged``) and
    ``A_S`` is ``STEP_SIGNALS[spec.step_signal]`` (absent for outcome-only specs).

    Args:
        spec: what the estimator needs (:func:`resolve_estimator`).
        rows: the step rows (``connectors.episodes_to_rows``).
        alpha: ``step_advantage_weight``.
        step_rewards: ``(N,)`` implicit step rewards r_phi (``implicit`` and ``merged``).
        step_norm: ``step_adv_norm``, the scope of ``A_S`` for ``implicit`` and ``env``.
        token_rewards: ``(N, L)`` token implicit rewards (``token_implicit``).
        step_adv: ``(N,)`` ``A_S`` of ``step_rewards`` when the caller computed it
            (:func:`normalised_step_rewards`), so it is computed once per update.

    Returns:
        ``(N,)`` step advantages, or ``(N, L)`` token advantages (zero off the
        response mask) when ``spec.token_level``; and a metrics dict.
    """
    outcomes, traj_group = rows[C.TRAJ_OUTCOME], rows[C.TRAJ_GROUP]
    if spec.merged:
        outcomes = adv.merged_outcomes(outcomes, step_rewards, rows[C.STEP_TRAJ], alpha)
    episode = adv.episode_advantages(spec.episode, outcomes, traj_group, eps=eps)
    episode_per_step = adv.broadcast_to_steps(episode, rows[C.STEP_TRAJ])
    metrics = dict(zip((M.ADV_EPISODE_MEAN, M.ADV_EPISODE_STD), _stats(episode)))
    if spec.step_signal is None:
        out = episode_per_step
    else:
        step_term = STEP_SIGNALS[spec.step_signal](
            rows, StepInputs(step_rewards, token_rewards, gamma, gigpo_norm, step_norm, eps,
                             step_adv))
        if spec.token_level:
            mask = rows[C.RESPONSE_MASK]
            out = adv.mix_token_advantages(episode_per_step, step_term, mask, alpha)
            step_term = step_term[mask.bool()]
        else:
            out = adv.mix_advantages(episode_per_step, step_term, alpha)
        metrics.update(zip((M.ADV_STEP_MEAN, M.ADV_STEP_STD), _stats(step_term)))
    metrics[M.ADV_MEAN] = _stats(out if not spec.token_level else out[rows[C.RESPONSE_MASK].bool()])[0]
    return out.float(), metrics
