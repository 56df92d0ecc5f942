"""``KeyCorridorEnv``: a tiny credit-assignment task for fast tests.

The task (chosen from the seed) is a door colour. Step 0: take one of three
keys (``red``, ``green``, ``blue``). Then walk ``corridor_length`` steps with
``forward``, then ``open`` the door. Opening ends the episode: reward +1 and
``won=True`` iff the key matches the door, else reward 0. Every other reward is
0 (sparse, terminal), so the first decision alone decides success while the
reward arrives ``corridor_length + 1`` steps later.

Observations are a handful of words, e.g. ``"key none position 0 of 2 door
red"``, placed last in the prompt so the door colour is its final word: a pure function of (door, key, position), hence identical across
trajectories of the same task at the same state (GiGPO anchors form). An
invalid action (unparsable, or a valid word that is not admissible now, e.g.
``red`` in the corridor) is a no-op with reward 0. The episode is truncated
after ``max_steps`` (default 6) steps. Reset and step cost microseconds. Each
step's info carries the oracle label ``columns.ORACLE_LABEL`` (+1 right key, -1
wrong key, 0 any other step).

env_config: ``action_format`` ("bare" by default, the toy is meant for tiny
word-level models), ``max_steps`` (6), ``corridor_length`` (2, at most
:data:`MAX_CORRIDOR`).
"""
from __future__ import annotations

import random
from typing import Any, ClassVar

from .base import TextEnv
from .config_checks import int_in_range
from .templates import PromptTemplate, number_words, word_template

__all__ = ["KeyCorridorEnv", "COLORS", "MAX_CORRIDOR"]

COLORS = ("red", "green", "blue")
#: Largest supported ``corridor_length`` (keeps the number words in vocabulary).
MAX_CORRIDOR = 16

_PROMPT = word_template("take the key matching the door then go forward and open it")


class KeyCorridorEnv(TextEnv):
    """Pick the key matching the door, walk the corridor, open the door."""

    DEFAULT_CONFIG: ClassVar[dict[str, Any]] = {
        "action_format": "bare", "max_steps": 6, "corridor_length": 2}
    PROMPT: ClassVar[PromptTemplate] = _PROMPT
    MAX_OBS_CHARS: ClassVar[int] = 64

    def __init__(self, env_config: dict | None = None, **kwargs: Any):
        super().__init__(env_config, **kwargs)
        self.corridor_length: int = self.config["corridor_length"]
        self._door = COLORS[0]
        self._key: str | None = None
        self._pos = 0

    def validate_config(self, cfg: dict) -> None:
        super().validate_config(cfg)
        int_in_range("KeyCorridorEnv", "corridor_length", cfg["corridor_length"], 0,
                     MAX_CORRIDOR)

    @classmethod
    def extra_vocabulary(cls) -> list[str]:
        return [*COLORS, "forward", "open", "door", "key", "none", "position", "of",
                *number_words(MAX_CORRIDOR)]

    def observation_charset(self) -> str:
        return "abcdefghijklmnopqrstuvwxyz0123456789 "

    # ------------------------------------------------------------------ state
    def _render_obs(self) -> str:
        # the door colour comes last: with observation_last it is the prompt's last word
        return (f"key {self._key or 'none'} position {self._pos} of {self.corridor_length} "
                f"door {self._door}")

    def admissible_actions(self) -> list[str]:
        if self._key is None:
            return list(COLORS)
        if self._pos < self.corridor_length:
            return ["forward"]
        return ["open"]

    def reset_task(self, task_seed: int, options: dict | None) -> str:
        self._door = COLORS[random.Random(task_seed).randrange(len(COLORS))]
        self._key = None
        self._pos = 0
        return self._render_obs()

    def apply_action(self, action: str) -> tuple[str, float, bool, bool]:
        if action in COLORS:
            self._key = action
        elif action == "forward":
            self._pos += 1
        else:  # "open"
            won = self._key == self._door
            return self._render_obs(), (1.0 if won else 0.0), True, won
        return self._render_obs(), 0.0, False, False

    def noop(self) -> tuple[str, float]:
        return self._render_obs(), 0.0

    def oracle_step_label(self, action: str | None) -> float:
        """``info[ORACLE_LABEL]``: +1 / -1 for taking the right / a wrong key, 0 for every
        other step (forced ``forward``/``open``, invalid). A key is admissible only
        while none is held, so an applied colour is the pick."""
        if action in COLORS:
            return 1.0 if action == self._door else -1.0
        return 0.0

    def oracle_action_labels(self) -> dict[str, float] | None:
        """Before a key is taken: +1 for the door's colour, -1 for the other keys; None
        afterwards (``forward`` and ``open`` are forced)."""
        if self._key is not None:
            return None
        return {c: 1.0 if c == self._door else -1.0 for c in COLORS}

    def task_id(self) -> str:
        return f"keycorridor-c{self.corridor_length}-s{self._task_seed}"

    # ------------------------------------------------------------ inspection
    @property
    def door(self) -> str:
        """The door colour of the current task (the correct key)."""
        return self._door
