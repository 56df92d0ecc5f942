"""docs/KNOBS.md is the generated knob table (regenerate:
``python -m rllib_istar.algorithm.knob_table > docs/KNOBS.md``)."""
from pathlib import Path

from rllib_istar.algorithm import knob_table
from rllib_istar.algorithm.knobs import KNOBS
from rllib_istar.algorithm.rllib_knobs import RLLIB_KNOBS


def test_docs_knobs_md_is_the_generated_table():
    committed = (Path(__file__).resolve().parents[2] / "docs" / "KNOBS.md").read_text()
    assert committed == knob_table.render(), "regenerate docs/KNOBS.md (see this module)"


def test_the_table_has_one_row_per_knob_with_its_range():
    text = knob_table.render()
    for knob in [*KNOBS, *(k for k, _ in RLLIB_KNOBS.values())]:
        (row,) = [ln for ln in text.splitlines() if ln.startswith(f"| `{knob.name}` |")]
        valid = row.split(" | ")[3]   # the "valid" cell
        if knob.choices is not None:
            assert valid.startswith("one of "), (knob.name, valid)
            for choice in knob.choices:
                assert ("`null`" if choice is None else f"`{choice!r}`") in valid, (knob.name, choice)
        elif knob.valid_range() or knob.valid:
            assert valid == (knob.valid_range() or knob.valid), (knob.name, valid)
        else:
            assert valid == "any", (knob.name, valid)
    assert "| `lr` | rllib | number or list or `'auto'` | > 0 | `'auto'` |" in text
    assert "| lr | 0.001 | 1e-06 |" in text  # what auto resolves to, per model kind
    assert "| `clip_low` | policy | number | [0, 1) | `0.2` |" in text
