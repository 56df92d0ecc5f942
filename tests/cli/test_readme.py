"""The README starts with the two commands, and they stay runnable and in sync with CI."""
import re

from cli_helpers import ROOT

README = (ROOT / "README.md").read_text()
BLOCKS = re.findall(r"```bash\n(.*?)```", README, flags=re.S)


def _commands(block):
    return [ln for ln in block.splitlines() if ln.strip() and not ln.startswith("#")]


def test_readme_opens_with_the_main_job_and_the_test_command():
    head = README.split("# rllib_istar")[0]
    assert len(re.findall(r"```bash\n", head)) == 2 and head.startswith("```bash\n")
    (train,) = _commands(BLOCKS[0])
    assert len(_commands(BLOCKS[1])) == 1
    job = re.search(r"rllib train file (tuned_examples/\S+\.yaml)$", train)
    assert job and (ROOT / job.group(1)).is_file()
    assert train.startswith("python3 -m venv .venv && . .venv/bin/activate && pip install ")


def test_readme_test_command_is_exactly_what_ci_runs():
    ci = (ROOT / ".ci" / "run").read_text()
    (tests,) = _commands(BLOCKS[1])
    assert tests in ci.splitlines()


def test_readme_python_config_validates():
    snippet = re.search(r"```python\n(from rllib_istar import IStarConfig\n.*?)\nalgo = ",
                        README, flags=re.S).group(1)
    scope = {}
    exec(snippet, scope)  # noqa: S102 (our own README)
    scope["config"].validate()


def test_python_page_hook_snippet_defines_a_learner_subclass():
    page = (ROOT / "docs" / "python.md").read_text()
    snippet = re.search(r"```python\n(from rllib_istar.learner.learner import .*?)```",
                        page, flags=re.S).group(1)
    scope = {}
    exec(snippet, scope)  # noqa: S102 (our own README)
    from rllib_istar.learner.learner import IStarTorchLearner

    assert issubclass(scope["MyLearner"], IStarTorchLearner)
    assert "on_advantages" in vars(scope["MyLearner"])
