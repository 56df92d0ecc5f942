"""The one advantage dispatch (learner/estimator_tables.py): tables and hand-made rows."""
import pytest
import torch

from rllib_istar import columns as C
from rllib_istar import metrics as M
from rllib_istar.core import advantages as adv
from rllib_istar.core import gigpo
from rllib_istar.learner.estimator_tables import (
    ABLATIONS,
    ESTIMATORS,
    STEP_SIGNALS,
    compute_advantages,
    resolve_estimator,
)

# Two groups; group 0 has trajectories 0 (2 steps, won) and 1 (1 step); group 1 has 2 and 3.
ROWS = {
    C.TRAJ_OUTCOME: torch.tensor([1.0, 0.0, 0.9, 0.0]),
    C.TRAJ_GROUP: torch.tensor([0, 0, 1, 1]),
    C.STEP_TRAJ: torch.tensor([0, 0, 1, 2, 3, 3]),
    C.STEP_GROUP: torch.tensor([0, 0, 0, 1, 1, 1]),
    C.STEP_INDEX: torch.tensor([0, 1, 0, 0, 0, 1]),
    C.ENV_REWARD: torch.tensor([0.0, 1.0, -0.1, 0.9, 0.0, 0.0]),
    C.ANCHOR: torch.tensor([0, 1, 0, 2, 2, 3]),
    C.RESPONSE_MASK: torch.tensor([[0, 1, 1], [0, 0, 1], [0, 1, 0], [1, 1, 0], [0, 1, 1], [0, 0, 1]],
                                  dtype=torch.float32),
}
STEP_R = torch.tensor([0.3, -0.2, 0.1, 0.5, -0.4, 0.0])
TOKEN_R = torch.arange(18, dtype=torch.float32).reshape(6, 3) / 10 * ROWS[C.RESPONSE_MASK]


def _episode(name):
    per_traj = adv.episode_advantages(name, ROWS[C.TRAJ_OUTCOME], ROWS[C.TRAJ_GROUP])
    return adv.broadcast_to_steps(per_traj, ROWS[C.STEP_TRAJ])


def test_every_spec_names_a_known_step_signal_and_episode_estimator():
    specs = list(ESTIMATORS.values())
    specs += [resolve_estimator("istar_rloo", a) for a in ABLATIONS]
    for spec in specs:
        assert spec.step_signal is None or spec.step_signal in STEP_SIGNALS
        assert spec.episode in adv.EPISODE_ESTIMATORS


@pytest.mark.parametrize("name", ["rloo", "grpo", "reinforce_pp"])
def test_outcome_only_is_the_episode_advantage(name):
    out, metrics = compute_advantages(ESTIMATORS[name], ROWS, alpha=1.0)
    torch.testing.assert_close(out, _episode(ESTIMATORS[name].episode))
    assert M.ADV_STEP_MEAN not in metrics


def test_istar_adds_alpha_times_the_step_zscore():
    out, metrics = compute_advantages(ESTIMATORS["istar_rloo"], ROWS, alpha=0.5, step_rewards=STEP_R)
    want = _episode("rloo") + 0.5 * adv.step_advantages(STEP_R, ROWS[C.STEP_GROUP])
    torch.testing.assert_close(out, want)
    assert metrics[M.ADV_MEAN] == pytest.approx(float(want.mean()))


def test_gigpo_adds_the_anchor_normalised_discounted_return():
    out, _ = compute_advantages(ESTIMATORS["gigpo"], ROWS, alpha=1.0, gamma=0.9, gigpo_norm="mean")
    ret = gigpo.discounted_returns(ROWS[C.ENV_REWARD], ROWS[C.STEP_TRAJ], ROWS[C.STEP_INDEX], 0.9)
    want = _episode("grpo") + gigpo.anchor_step_advantages(ret, ROWS[C.ANCHOR], "mean")
    torch.testing.assert_close(out, want)


def test_gt_step_reward_uses_the_env_reward_and_merged_folds_rewards_into_the_outcome():
    out, _ = compute_advantages(resolve_estimator("istar_grpo", "gt_step_reward"), ROWS, alpha=2.0)
    torch.testing.assert_close(out, _episode("grpo") + 2.0 * adv.step_advantages(
        ROWS[C.ENV_REWARD], ROWS[C.STEP_GROUP]))
    out, metrics = compute_advantages(resolve_estimator("istar_rloo", "merged"), ROWS, alpha=2.0,
                                      step_rewards=STEP_R)
    merged = adv.merged_outcomes(ROWS[C.TRAJ_OUTCOME], STEP_R, ROWS[C.STEP_TRAJ], 2.0)
    want = adv.broadcast_to_steps(adv.episode_advantages("rloo", merged, ROWS[C.TRAJ_GROUP]),
                                  ROWS[C.STEP_TRAJ])
    torch.testing.assert_close(out, want)
    assert M.ADV_STEP_MEAN not in metrics


def test_token_level_advantages_are_zero_off_the_response():
    mask = ROWS[C.RESPONSE_MASK]
    out, _ = compute_advantages(ESTIMATORS["prime"], ROWS, alpha=1.0, token_rewards=TOKEN_R)
    assert out.shape == mask.shape and torch.all(out[mask == 0] == 0)
    want = (_episode("rloo")[:, None] + adv.token_step_advantages(TOKEN_R, mask, ROWS[C.STEP_GROUP])) * mask
    torch.testing.assert_close(out, want)


def test_unknown_names_list_the_valid_ones():
    with pytest.raises(ValueError, match="unknown advantage_estimator 'grpoo'; valid: istar_rloo"):
        resolve_estimator("grpoo")
    with pytest.raises(ValueError, match="unknown ablation 'merge'"):
        resolve_estimator("istar_rloo", "merge")
    with pytest.raises(ValueError, match="modifies an iStar estimator"):
        resolve_estimator("gigpo", "merged")
