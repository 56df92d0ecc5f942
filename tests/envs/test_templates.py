"""PromptTemplate's layout: by default the current observation comes last (its last word
is the prompt's last word, where the tiny model reads it); the built-in envs whose
results were measured with the observation before the actions keep that layout."""
import pytest

from rllib_istar.envs import PromptTemplate

ADMISSIBLE = ["left", "right"]


def test_a_template_written_from_the_docs_puts_the_observation_last():
    prompt = PromptTemplate(instruction="walk the way the sign shows").render(
        "left", [], ADMISSIBLE, "bare")
    lines = prompt.splitlines()
    assert lines[-2:] == ["current observation", "left"]
    assert lines.index("admissible actions left right") < lines.index("current observation")


def test_observation_last_false_keeps_the_observation_before_the_actions():
    prompt = PromptTemplate(instruction="go", observation_last=False).render(
        "left", [("right", "left")], ADMISSIBLE, "bare")
    lines = prompt.splitlines()
    assert lines[-1] == "answer with one action word"
    assert lines.index("current observation") < lines.index("admissible actions left right")


@pytest.mark.parametrize("module,name", [
    ("rllib_istar.envs.sokoban", "_PROMPT"),
    ("rllib_istar.envs.webshop.env", "WEBSHOP_PROMPT"),
    ("rllib_istar.envs.social.env", "_PROMPT"),
])
def test_the_built_in_real_model_envs_keep_their_measured_layout(module, name):
    import importlib

    assert getattr(importlib.import_module(module), name).observation_last is False


def test_the_tiny_model_envs_put_the_observation_last():
    from rllib_istar.envs.credit_chain import _PROMPT as credit
    from rllib_istar.envs.key_corridor import _PROMPT as toy

    assert toy.observation_last and credit.observation_last
