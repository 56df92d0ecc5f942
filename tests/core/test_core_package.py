"""Package hygiene: core imports no ray/transformers; docstring examples run."""
import doctest
import subprocess
import sys
from pathlib import Path

import pytest

import rllib_istar.core as core

ROOT = Path(__file__).resolve().parents[2]
MODULES = [core.segments, core.step_rewards, core.prm_losses, core.advantages, core.gigpo,
           core.policy_losses]


def test_core_imports_neither_ray_nor_transformers():
    code = ("import rllib_istar.core, sys; "
            "bad = sorted(m for m in sys.modules if m in ('ray', 'transformers', 'vllm') "
            "or m.startswith(('ray.', 'transformers.', 'vllm.'))); "
            "assert not bad, bad")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__.rsplit(".", 1)[-1])
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0, "every module documents a worked example"
    assert result.failed == 0


def test_public_names_are_exported():
    for name in core.__all__:
        assert hasattr(core, name), name
    # the contract names external checks call
    for mod, name in [("step_rewards", "implicit_step_rewards"), ("prm_losses", "preference_pairs"),
                      ("prm_losses", "trajectory_dpo_loss"), ("advantages", "episode_advantages"),
                      ("advantages", "step_advantages"), ("policy_losses", "clipped_surrogate")]:
        assert callable(getattr(getattr(core, mod), name))
