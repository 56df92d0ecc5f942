"""Pure torch math of iStar (arXiv 2509.19199) and its baselines.

Tensors and numbers in, tensors out; never imports ray, transformers or
vllm. Module per concern (see docs/algorithm.md for the equations):

* :mod:`.segments`       per-segment and masked sums, means, stds, whitening
* :mod:`.step_rewards`   implicit step reward (§1)
* :mod:`.prm_losses`     preference pairs, trajectory DPO, PRIME CE (§2, §5)
* :mod:`.advantages`     episode estimators registry, step z-score, mix (§3)
* :mod:`.gigpo`          anchor groups, discounted returns (GiGPO, §5)
* :mod:`.policy_losses`  PPO-clip by ratio level (§4)

Losses return NamedTuples with ``.loss`` and ``.metrics``; metric keys
carry no prefix (the learner adds the module id).
"""
from rllib_istar.core import (
    advantages,
    gigpo,
    policy_losses,
    prm_losses,
    segments,
    step_rewards,
)
from rllib_istar.core.advantages import (
    EPISODE_ESTIMATORS,
    broadcast_to_steps,
    episode_advantages,
    get_episode_estimator,
    merged_outcomes,
    mix_advantages,
    mix_token_advantages,
    register_episode_estimator,
    step_advantages,
    token_step_advantages,
)
from rllib_istar.core.gigpo import (
    ANCHOR_NORMS,
    anchor_ids,
    anchor_step_advantages,
    discounted_returns,
)
from rllib_istar.core.policy_losses import (
    RATIO_LEVELS,
    PolicyLossOutput,
    clipped_surrogate,
)
from rllib_istar.core.prm_losses import (
    TRAJ_AGGREGATIONS,
    CEOutput,
    DPOOutput,
    groups_without_pairs,
    pair_accuracy,
    preference_pairs,
    prime_ce_loss,
    trajectory_dpo_loss,
    trajectory_dpo_loss_share,
    trajectory_logratio,
)
from rllib_istar.core.segments import (
    compact_ids,
    masked_mean,
    masked_sum,
    masked_whiten,
    seg_count,
    seg_mean,
    seg_std,
    seg_sum,
    seg_zscore,
)
from rllib_istar.core.step_rewards import (
    implicit_step_rewards,
    step_logratio,
    token_implicit_rewards,
    token_logratio,
)

__all__ = [
    "advantages", "gigpo", "policy_losses", "prm_losses", "segments", "step_rewards",
    "EPISODE_ESTIMATORS", "broadcast_to_steps", "episode_advantages", "get_episode_estimator",
    "merged_outcomes", "mix_advantages", "mix_token_advantages", "token_step_advantages", "register_episode_estimator", "step_advantages",
    "ANCHOR_NORMS", "anchor_ids", "anchor_step_advantages", "discounted_returns",
    "RATIO_LEVELS", "PolicyLossOutput", "clipped_surrogate",
    "TRAJ_AGGREGATIONS", "CEOutput", "DPOOutput", "groups_without_pairs", "pair_accuracy",
    "preference_pairs", "prime_ce_loss", "trajectory_dpo_loss", "trajectory_dpo_loss_share",
    "trajectory_logratio",
    "compact_ids", "masked_mean", "masked_sum", "masked_whiten", "seg_count",
    "seg_mean", "seg_std", "seg_sum", "seg_zscore",
    "implicit_step_rewards", "step_logratio", "token_implicit_rewards", "token_logratio",
]
