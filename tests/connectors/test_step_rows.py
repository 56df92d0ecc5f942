"""StepRows: the three tables kept apart, sized, moved and sliced by step only."""
import pytest
import torch

from rllib_istar import columns as C
from rllib_istar.connectors.step_rows import StepRows


def _columns(n=4, m=2, k=0):
    out = {C.INPUT_IDS: torch.arange(n * 3).reshape(n, 3),
           C.RESPONSE_MASK: torch.ones(n, 3),
           C.STEP_TRAJ: torch.tensor([0, 0, 1, 1][:n]),
           C.TRAJ_OUTCOME: torch.tensor([1.0, 0.0][:m]),
           C.TRAJ_GROUP: torch.zeros(m, dtype=torch.long)}
    if k:
        out.update({C.CAND_INPUT_IDS: torch.zeros(k, 5, dtype=torch.long),
                    C.CAND_LABEL: torch.tensor([1.0, -1.0, 0.0][:k])})
    return out


def test_columns_are_sorted_into_their_tables():
    rows = StepRows.from_columns(_columns(k=3))
    assert set(rows.steps) == {C.INPUT_IDS, C.RESPONSE_MASK, C.STEP_TRAJ}
    assert set(rows.trajectories) == {C.TRAJ_OUTCOME, C.TRAJ_GROUP}
    assert set(rows.candidates) == {C.CAND_INPUT_IDS, C.CAND_LABEL}
    assert (rows.num_steps, rows.num_trajectories, rows.num_candidates) == (4, 2, 3)
    # a Mapping over every column: what the learner's functions read
    assert set(rows) == set(_columns(k=3)) and len(rows) == 7
    assert rows[C.TRAJ_OUTCOME].tolist() == [1.0, 0.0] and C.IMAGES not in rows
    assert rows.get(C.IMAGES) is None
    with pytest.raises(KeyError):
        rows[C.IMAGES]
    assert StepRows.from_columns(rows) is rows


def test_slice_takes_step_rows_and_leaves_the_other_tables_whole():
    rows = StepRows.from_columns(_columns())
    part = rows.slice(slice(1, 3))
    assert set(part) == set(rows.steps)
    assert part[C.INPUT_IDS].tolist() == [[3, 4, 5], [6, 7, 8]]
    assert part[C.STEP_TRAJ].tolist() == [0, 1]
    # an index tensor, and only the named columns this batch holds (images: absent)
    picked = rows.slice(torch.tensor([3, 0]), [C.INPUT_IDS, C.IMAGES])
    assert list(picked) == [C.INPUT_IDS] and picked[C.INPUT_IDS][:, 0].tolist() == [9, 0]
    # a trajectory column has M entries, not N: slicing it by step would be wrong
    with pytest.raises(ValueError, match="traj_outcome.*not step columns"):
        rows.slice(slice(0, 2), [C.INPUT_IDS, C.TRAJ_OUTCOME])


def test_to_moves_every_table():
    rows = StepRows.from_columns(_columns(k=2)).to(torch.device("meta"))
    assert {t.device.type for t in rows.values()} == {"meta"}
    assert (rows.num_steps, rows.num_trajectories, rows.num_candidates) == (4, 2, 2)


def test_mismatched_sizes_and_unknown_columns_are_refused():
    bad = _columns()
    bad[C.STEP_TRAJ] = torch.tensor([0, 1])  # 2 entries beside 4-row step columns
    with pytest.raises(ValueError, match="steps columns disagree"):
        StepRows.from_columns(bad)
    with pytest.raises(ValueError, match=r"unknown column\(s\) \['old_logp'\]"):
        StepRows.from_columns(dict(_columns(), old_logp=torch.zeros(4, 3)))
    with pytest.raises(ValueError, match="are not trajectories columns"):
        StepRows(steps={}, trajectories={C.INPUT_IDS: torch.zeros(2, 3)})


def test_the_learner_connector_builds_step_rows():
    from doubles.episodes import token_episode

    from rllib_istar.connectors import episodes_to_rows

    eps = [token_episode("g1", 1.0, [([5, 6], [7], [-0.5]), ([5], [8, 9], [-0.1, -0.2])]),
           token_episode("g2", 0.0, [([4, 4, 4], [3], [-1.0])])]
    rows = episodes_to_rows(eps)
    assert isinstance(rows, StepRows)
    assert (rows.num_steps, rows.num_trajectories, rows.num_candidates) == (3, 2, 0)
    assert C.TRAJ_OUTCOME in rows.trajectories and C.ENV_REWARD in rows.steps
