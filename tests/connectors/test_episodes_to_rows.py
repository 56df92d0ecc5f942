"""Hand-made cases for the step-row masks and tables (connectors/episodes_to_rows.py)."""
import torch
from doubles.episodes import token_episode

from rllib_istar import columns as C
from rllib_istar.connectors.episodes_to_rows import episodes_to_rows


def test_rows_masks_exclude_prompt_and_padding():
    eps = [token_episode("g1", 1.0, [([5, 6], [7], [-0.5]), ([5], [8, 9], [-0.1, -0.2])], won=True),
           token_episode("g2", 0.0, [([4, 4, 4], [3], [-1.0])])]
    rows = episodes_to_rows(eps, pad_id=0)
    assert rows[C.INPUT_IDS].tolist() == [[5, 6, 7, 0], [5, 8, 9, 0], [4, 4, 4, 3]]
    assert rows[C.ATTENTION_MASK].tolist() == [[1, 1, 1, 0], [1, 1, 1, 0], [1, 1, 1, 1]]
    assert rows[C.RESPONSE_MASK].tolist() == [[0, 0, 1, 0], [0, 1, 1, 0], [0, 0, 0, 1]]
    assert torch.allclose(rows[C.ROLLOUT_LOGP], torch.tensor(
        [[0, 0, -0.5, 0], [0, -0.1, -0.2, 0], [0, 0, 0, -1.0]]))
    assert rows[C.STEP_TRAJ].tolist() == [0, 0, 1]
    assert rows[C.STEP_GROUP].tolist() == [0, 0, 1]
    assert rows[C.STEP_INDEX].tolist() == [0, 1, 0]
    assert rows[C.TRAJ_OUTCOME].tolist() == [1.0, 0.0]
    assert rows[C.TRAJ_WON].tolist() == [1.0, 0.0]
    assert rows[C.ENV_REWARD].tolist() == [0.0, 1.0, 0.0]


def test_rows_anchor_ids_shared_only_inside_a_group():
    eps = [token_episode("g1", 1.0, [([1], [2], [-0.1])]), token_episode("g1", 0.0, [([1], [3], [-0.1])]),
           token_episode("g2", 0.0, [([1], [3], [-0.1])])]
    anchor = episodes_to_rows(eps)[C.ANCHOR].tolist()
    assert anchor[0] == anchor[1] and anchor[2] != anchor[0]


def test_rows_oracle_labels_come_from_each_steps_own_info():
    """info[t + 1] arrived with step t; an env without labels gives NaN, never a fake 0."""
    eps = [token_episode("g1", 1.0, [([1], [2], [-0.1]), ([1], [3], [-0.1]), ([1], [2], [-0.1])],
                         oracle=[1.0, 0.0, -1.0]),
           token_episode("g1", 0.0, [([1], [3], [-0.1])])]
    oracle = episodes_to_rows(eps)[C.STEP_ORACLE]
    assert oracle[:3].tolist() == [1.0, 0.0, -1.0]
    assert torch.isnan(oracle[3])
