"""EchoEnv: the smallest user env (the registry docstring's example), shared by tests.

Importable (``from doubles.echo_env import EchoEnv``) and, as a file, copied
into a subprocess's folder for ``rllib train --import`` (see the ``echo_env_source``
fixture in tests/conftest.py). One step: "yes" wins, "no" loses.
"""
from typing import ClassVar

from rllib_istar.envs import PromptTemplate, TextEnv


class EchoEnv(TextEnv):
    DEFAULT_CONFIG: ClassVar[dict] = {"action_format": "bare", "max_steps": 3}
    PROMPT: ClassVar[PromptTemplate] = PromptTemplate(instruction="say yes")

    @classmethod
    def extra_vocabulary(cls):
        return ["yes", "no", "question", "zebra"]

    def admissible_actions(self):
        return ["yes", "no"]

    def reset_task(self, task_seed, options):
        return "question"

    def apply_action(self, action):
        return "question", float(action == "yes"), True, action == "yes"

    def noop(self):
        return "question", 0.0
