"""FaultyEnv: KeyCorridor that fails on purpose, for the runner-fault tests.

Faults are chosen by ``env_config`` (besides KeyCorridor's own keys):

* ``reset_fault_groups`` (list of int): groups whose every ``reset`` raises;
* ``step_faults`` ({group: n}): the first ``n`` trajectories of that group raise
  in ``step`` at step ``fault_step`` (1 = the first step); KeyCorridor's first
  step never ends an episode, so ``fault_step=2`` is always reached and a failed
  trajectory has one recorded step that would show up if it leaked;
* ``exit_marker`` (a file path): while the file does not exist, the first
  ``step`` creates it and kills the process with ``os._exit(1)`` (a dying Ray
  worker); once it exists the env behaves normally, so the fault happens once
  per test, across actor restarts;
* ``protect_pid``: never ``os._exit`` in this process (the pytest driver);
* ``fault_key`` (str): namespaces the counters below, one per test.

"Group g" is the g-th distinct task seed this process has reset under
``fault_key``, and "trajectory m" of a group is the m-th reset of that seed:
:class:`~rllib_istar.rollout.env_runner.LLMEnvRunner` resets a group's
trajectories one after another, so both are deterministic (counting from 0 in
each worker process). ``info`` carries ``fault_group`` and ``fault_member``.

Vocabulary and prompts are KeyCorridor's, so the tiny model built from
``all_vocabulary()`` is the same whether or not a process registered this env.

Remote runners do not import the test modules: :class:`FaultyEnvRunner`
registers the env in its own process, and this module is pickled by value.
"""
from __future__ import annotations

import os
import sys
from typing import Any, ClassVar, Dict, Tuple

import ray.cloudpickle

from rllib_istar.envs import register_text_env
from rllib_istar.envs.registry import registered_env_ids
from rllib_istar.envs.key_corridor import KeyCorridorEnv
from rllib_istar.rollout.env_runner import LLMEnvRunner

FAULTY_ENV_ID = "test/Faulty-v0"

# fault_key -> {task seed: (group index, resets of that seed so far)}, per process
_GROUPS: Dict[str, Dict[int, Tuple[int, int]]] = {}


class EnvFault(RuntimeError):
    """What FaultyEnv raises."""


class FaultyEnv(KeyCorridorEnv):
    DEFAULT_CONFIG: ClassVar[dict[str, Any]] = {
        **KeyCorridorEnv.DEFAULT_CONFIG, "fault_key": "", "reset_fault_groups": [],
        "step_faults": {}, "fault_step": 2, "exit_marker": None, "protect_pid": None}
    _fault_group, _fault_member, _fault_calls = -1, -1, 0  # set by every reset

    def reset(self, *, seed=None, options=None):
        seen = _GROUPS.setdefault(self.config["fault_key"], {})
        group, resets = seen.get(seed, (len(seen), 0))
        seen[seed] = (group, resets + 1)
        self._fault_group, self._fault_member, self._fault_calls = group, resets, 0
        if group in self.config["reset_fault_groups"]:
            raise EnvFault(f"reset fault: group {group}, trajectory {resets}\nsecond line")
        obs, info = super().reset(seed=seed, options=options)
        return obs, self._tagged(info)

    def step(self, action_text):
        self._fault_calls += 1
        marker = self.config["exit_marker"]
        if marker and not os.path.exists(marker) and os.getpid() != self.config["protect_pid"]:
            open(marker, "w").close()
            os._exit(1)
        failing = self.config["step_faults"].get(self._fault_group, 0)
        if self._fault_member < failing and self._fault_calls == self.config["fault_step"]:
            raise EnvFault(f"step fault: group {self._fault_group}, "
                           f"trajectory {self._fault_member}, step {self._fault_calls}")
        obs, reward, terminated, truncated, info = super().step(action_text)
        return obs, reward, terminated, truncated, self._tagged(info)

    def _tagged(self, info: dict) -> dict:
        return {**info, "fault_group": self._fault_group, "fault_member": self._fault_member}


def register() -> None:
    """Register :data:`FAULTY_ENV_ID` in this process (idempotent)."""
    if FAULTY_ENV_ID not in registered_env_ids():
        register_text_env(FAULTY_ENV_ID, FaultyEnv)


class FaultyEnvRunner(LLMEnvRunner):
    """LLMEnvRunner that registers FaultyEnv first (a remote runner's process has not)."""

    def __init__(self, *, config, **kwargs):
        register()
        super().__init__(config=config, **kwargs)


register()
# remote runners cannot import ``doubles.faulty_env`` (tests/ is not on their path)
ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
