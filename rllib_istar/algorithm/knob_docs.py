"""The knob table as text, appended to IStarConfig's docstring (``help(IStarConfig)``)."""
from __future__ import annotations

from rllib_istar.algorithm.knobs import KNOBS, SECTIONS
from rllib_istar.algorithm.rllib_knobs import RLLIB_KNOBS, RLLIB_UNUSED

__all__ = ["render_knob_docs"]


def render_knob_docs() -> str:
    """The knob table as text, appended to IStarConfig's docstring."""
    lines = []
    for section in SECTIONS:
        lines.append(f"\n    {section.upper()}")
        for k in (k for k in KNOBS if k.section == section):
            choice = f" One of {k.choices}." if k.choices else ""
            lines.append(f"      {k.name} (default {k.default!r}): {k.doc}{choice}")
    lines.append("\n    RLLIB KNOBS (validated here; a default shown is IStarConfig's)")
    for name, (k, _) in RLLIB_KNOBS.items():
        default = f" (default {k.default!r})" if k.changes_default else ""
        rng = f" Range {k.valid_range()}." if k.valid_range() else ""
        lines.append(f"      {name}{default}: {k.doc}{rng}")
    lines.append("\n    RLLIB KNOBS IStar DOES NOT USE (setting one is an error): "
                 + ", ".join(RLLIB_UNUSED))
    return "\n".join(lines)
