"""What each ``advantage_estimator`` (and ablation) needs: PRM loss and step signal.

ALGORITHM.md §5 in table form. The learner asks this table, never a chain of
``if name == ...``; ``IStarConfig.validate`` uses it to reject impossible
settings.
"""
from __future__ import annotations

from typing import NamedTuple, Optional


class EstimatorSpec(NamedTuple):
    episode: str                 # core episode estimator: grpo | grpo_mean | rloo | reinforce_pp
    prm_loss: Optional[str]      # None (no PRM is built) | "dpo" (iStar) | "ce" (PRIME)
    step_signal: Optional[str]   # None | implicit | token_implicit | merged | anchor | env
    token_level: bool = False    # advantages are per token (N, L) rather than per step (N,)


ESTIMATORS = {
    "istar_rloo": EstimatorSpec("rloo", "dpo", "implicit"),
    "istar_grpo": EstimatorSpec("grpo", "dpo", "implicit"),
    "istar_reinforce_pp": EstimatorSpec("reinforce_pp", "dpo", "implicit"),
    "rloo": EstimatorSpec("rloo", None, None),
    "grpo": EstimatorSpec("grpo", None, None),
    "reinforce_pp": EstimatorSpec("reinforce_pp", None, None),
    "gigpo": EstimatorSpec("grpo", None, "anchor"),
    "prime": EstimatorSpec("rloo", "ce", "token_implicit", token_level=True),
}

# Ablations of the iStar estimators (ALGORITHM.md §5, lower table).
ABLATIONS = ("merged", "token_level_pr", "gt_step_reward")


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
    if ablation == "merged":
        return spec._replace(step_signal="merged")
    if ablation == "token_level_pr":
        return spec._replace(step_signal="token_implicit", token_level=True)
    return spec._replace(prm_loss=None, step_signal="env")  # gt_step_reward
