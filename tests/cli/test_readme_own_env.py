"""The env contract page's "Register and use" recipe, run exactly as written: its
``my_envs.py`` and its commands, in a fresh folder with ``~`` pointed there. The env is
a 2-step cue task (chance 0.5); with no settings but the stop, the tiny model's defaults
must learn it (at the earlier defaults it stayed at chance, ``dpo`` 0.693)."""
import os
import re
import shlex
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

#: spawns processes or starts Ray: the integration tier (tests/conftest.py)
pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
CONTRACT = (ROOT / "docs" / "ENV_CONTRACT.md").read_text()
SECTION = CONTRACT.split("## Register and use", 1)[1].split("\n## ", 1)[0]


def _env_source(text: str) -> str:
    return re.search(r"```python\n(# my_envs\.py\n.*?)```", text, flags=re.S).group(1)


def _commands() -> list:
    block = re.search(r"```bash\n(.*?)```", SECTION, flags=re.S).group(1)
    return [ln.split("#")[0].strip() for ln in block.splitlines()
            if ln.strip().startswith("rllib ")]


def _success_rates(stdout: str) -> list:
    return [float(m.group(1)) for m in re.finditer(r"\| success ([0-9.]+) \|", stdout)]


def test_the_recipe_has_the_env_and_both_commands():
    assert "register_text_env(\"me/Signpost-v0\"" in _env_source(SECTION)
    assert [c.split()[:2] for c in _commands()] == [["rllib", "train"], ["rllib", "evaluate"]]


def test_the_documented_recipe_learns_as_the_page_says(tmp_path):
    (tmp_path / "my_envs.py").write_text(_env_source(SECTION))
    env = dict(os.environ, HOME=str(tmp_path),
               PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
    train, evaluate = _commands()
    proc = subprocess.run(shlex.split(train), cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=1200)
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr
    assert out.count("defaults for the tiny model") == 1, out  # announced, once
    rates = _success_rates(out)
    stop = int(re.search(r'"training_iteration": (\d+)', train).group(1))
    assert len(rates) == stop, out
    # chance is 0.5; the page states where the rate ends
    first, last = statistics.mean(rates[:10]), statistics.mean(rates[-10:])
    assert first < 0.7 and last >= 0.85, (first, last, out)
    evaluated = subprocess.run(evaluate.replace("~", str(tmp_path)).split(), cwd=tmp_path,
                               env=env, capture_output=True, text=True, timeout=600)
    assert evaluated.returncode == 0, evaluated.stdout + evaluated.stderr
    rate = float(re.search(r"success_rate=([0-9.]+)", evaluated.stdout).group(1))
    assert rate >= 0.8, evaluated.stdout
