"""One training iteration of IStar on Mini-WebShop, from tuned_examples/webshop_istar_cpu.yaml
with a tiny budget (a short format warm-up, 2 groups of 2): the unmarked tier's WebShop
training check (tests/cli/test_tuned_examples.py trains each webshop YAML as written, slow-marked)."""
from pathlib import Path

from example_runs import train_example_once

YAML = Path(__file__).resolve().parents[2] / "tuned_examples" / "webshop_istar_cpu.yaml"
TINY_BUDGET = {"format_warmup_steps": 10, "num_groups": 2, "group_size": 2, "num_epochs": 1}


def test_webshop_istar_trains_one_iteration(ray_session):
    _, result = train_example_once(YAML, **TINY_BUDGET)
    assert 0.0 <= result["env_runners"]["success_rate"] <= 1.0
    assert 0.0 <= result["env_runners"]["invalid_action_rate"] <= 1.0
    assert "prm" in result["learners"], "iStar's PRM phase ran on WebShop rows"
