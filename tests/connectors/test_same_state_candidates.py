"""The connector's same-state candidate rows (columns.CAND_*), against hand-made episodes."""
import torch
from doubles.episodes import token_episode

from rllib_istar import columns as C
from rllib_istar.connectors.episodes_to_rows import episodes_to_rows

DECISIVE = ([[7], [8, 9]], [1.0, -1.0])   # two labelled actions: "7" right, "8 9" wrong
NONE = ([], [])


def test_each_distinct_decisive_prompt_gets_one_candidate_set():
    # two trajectories share the decisive prompt [5, 6] at step 0; one also meets [4] later
    a = token_episode("g", 1.0, [([5, 6], [7], [-0.1]), ([4], [1], [-0.2])], oracle=[1.0, 0.0],
                      candidates=[DECISIVE, NONE])
    b = token_episode("g", 0.0, [([5, 6], [8, 9], [-0.3, -0.4]), ([4], [7], [-0.5])],
                      oracle=[-1.0, 0.0], candidates=[DECISIVE, ([[7], [1]], [-1.0, 1.0])])
    rows = episodes_to_rows([a, b])
    # rows: a0, a1, b0, b1. States: [5, 6] -> 0 (first seen at row 0), [4] -> 1 (row 3 only:
    # row 1 has the same prompt but recorded no candidates)
    assert rows[C.STEP_STATE].tolist() == [0, -1, 0, 1]
    assert rows[C.CAND_STATE].tolist() == [0, 0, 1, 1]
    assert rows[C.CAND_ROW].tolist() == [0, 0, 3, 3]
    assert rows[C.CAND_LABEL].tolist() == [1.0, -1.0, -1.0, 1.0]
    assert rows[C.CAND_INPUT_IDS].tolist() == [[5, 6, 7, 0], [5, 6, 8, 9], [4, 7, 0, 0],
                                               [4, 1, 0, 0]]
    assert rows[C.CAND_RESPONSE_MASK].tolist() == [[0, 0, 1, 0], [0, 0, 1, 1], [0, 1, 0, 0],
                                                   [0, 1, 0, 0]]
    assert rows[C.CAND_ATTENTION_MASK].sum(1).tolist() == [3, 4, 2, 2]


def test_no_candidates_no_columns():
    rows = episodes_to_rows([token_episode("g", 1.0, [([5], [7], [-0.1])]),
                             token_episode("g", 0.0, [([5], [8], [-0.1])], candidates=[NONE])])
    assert C.CAND_INPUT_IDS not in rows and C.STEP_STATE not in rows
    assert torch.equal(rows[C.INPUT_IDS], torch.tensor([[5, 7], [5, 8]]))
