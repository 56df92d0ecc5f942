"""``CreditChainEnv``: several free decisions, only some decisive, mistakes invisible later.

Built so that outcome-only credit is genuinely hard and per-step credit can be
measured. The task (drawn from the seed, shared by a group) is a
chain of ``num_steps`` rooms. ``num_decisive`` of them are **door** rooms with a
colour; the rest are **hall** rooms (distractors). At every room the admissible
actions are the same ``num_choices`` colours, so the policy decides at every
step; in a door room the right action is the door's colour, in a hall room any
colour is fine. A valid action moves on to the next room; an invalid one is a
no-op (reward 0). The episode ends after the last room, or is truncated at
``max_steps``.

Observations name only the current room, e.g. ``"room 2 of 4 door red"``
or ``"room 3 of 4 hall"`` (the deciding word last), and prompts are
**memoryless**: :meth:`render_prompt` ignores the history, so neither the policy
nor the PRM can see an earlier mistake. Observations are a pure function of
(task, room), so GiGPO's anchor states form across a group.

Reward is sparse, at the terminal step only: ``outcome: binary`` gives 1 iff
every door was answered right (chance ``num_choices ** -num_decisive``, 1/9 at
the defaults); ``graded`` gives the fraction of doors answered right (train it
with ``IStarConfig.outcome: return``: the default ``success`` outcome is won/lost
and would ignore the grade). ``won`` means every door right in both.

Every step's info carries the oracle label ``columns.ORACLE_LABEL``: +1 a valid
action in a door room that is right, -1 one that is wrong, 0 a hall room or an
invalid action. :data:`CREDIT_PRESETS` names the benchmark settings (``binary``,
``graded`` and the longer-horizon ``long``: 8 rooms, 3 doors).

env_config: ``action_format`` ("bare"), ``max_steps`` (6, >= num_steps),
``num_steps`` (4, 1..16), ``num_decisive`` (2, 1..num_steps), ``num_choices``
(3, 2..3), ``outcome`` ("binary" | "graded").
"""
from __future__ import annotations

import random
from typing import Any, ClassVar

from .base import TextEnv
from .config_checks import int_in_range
from .templates import PromptTemplate, number_words, word_template
from .key_corridor import COLORS

__all__ = ["CREDIT_OUTCOMES", "CREDIT_PRESETS", "MAX_ROOMS", "CreditChainEnv"]

MAX_ROOMS = 16
CREDIT_OUTCOMES = ("binary", "graded")
CREDIT_PRESETS: dict[str, dict[str, Any]] = {
    "binary": {"num_steps": 4, "num_decisive": 2, "max_steps": 6, "outcome": "binary"},
    "graded": {"num_steps": 4, "num_decisive": 2, "max_steps": 6, "outcome": "graded"},
    "long": {"num_steps": 8, "num_decisive": 3, "max_steps": 10, "outcome": "binary"},
}

_PROMPT = word_template("in each room pick a colour a door needs its own colour a hall takes any")


class CreditChainEnv(TextEnv):
    """A chain of rooms: answer each door with its colour; halls do not matter."""

    DEFAULT_CONFIG: ClassVar[dict[str, Any]] = {
        "action_format": "bare", "max_steps": 6, "num_steps": 4, "num_decisive": 2,
        "num_choices": 3, "outcome": "binary"}
    PROMPT: ClassVar[PromptTemplate] = _PROMPT
    MAX_OBS_CHARS: ClassVar[int] = 64

    def __init__(self, env_config: dict | None = None, **kwargs: Any):
        super().__init__(env_config, **kwargs)
        cfg = self.config
        self.num_steps, self.num_decisive = cfg["num_steps"], cfg["num_decisive"]
        self.choices = list(COLORS[: cfg["num_choices"]])
        self.outcome: str = cfg["outcome"]
        self._doors: dict[int, str] = {}
        self._room = 0
        self._right = 0

    def validate_config(self, cfg: dict) -> None:
        super().validate_config(cfg)
        n = int_in_range("CreditChainEnv", "num_steps", cfg["num_steps"], 1, MAX_ROOMS)
        int_in_range("CreditChainEnv", "num_decisive", cfg["num_decisive"], 1, n)
        int_in_range("CreditChainEnv", "num_choices", cfg["num_choices"], 2, len(COLORS))
        if cfg["outcome"] not in CREDIT_OUTCOMES:
            raise ValueError(f"CreditChainEnv: outcome must be one of {list(CREDIT_OUTCOMES)}, "
                             f"got {cfg['outcome']!r}")
        if cfg["max_steps"] < n:
            raise ValueError(f"CreditChainEnv: max_steps ({cfg['max_steps']}) < num_steps ({n}); "
                             "set max_steps >= num_steps")

    @classmethod
    def extra_vocabulary(cls) -> list[str]:
        return [*COLORS, "room", "of", "door", "hall", *number_words(MAX_ROOMS)]

    def observation_charset(self) -> str:
        return "abcdefghijklmnopqrstuvwxyz0123456789 "

    # ------------------------------------------------------------------ state
    def _render_obs(self) -> str:
        room = min(self._room, self.num_steps - 1)
        kind = f"door {self._doors[room]}" if room in self._doors else "hall"
        return f"room {room + 1} of {self.num_steps} {kind}"

    def render_prompt(self, observation: str, history: list[tuple[str, str]]) -> str:
        """Memoryless prompts: the current room is all the policy and PRM see (history ignored)."""
        return super().render_prompt(observation, [])

    def admissible_actions(self) -> list[str]:
        return list(self.choices)

    def reset_task(self, task_seed: int, options: dict | None) -> str:
        rng = random.Random(task_seed)
        positions = sorted(rng.sample(range(self.num_steps), self.num_decisive))
        self._doors = {p: rng.choice(self.choices) for p in positions}
        self._room, self._right = 0, 0
        return self._render_obs()

    def apply_action(self, action: str) -> tuple[str, float, bool, bool]:
        self._right += int(self._doors.get(self._room) == action)
        self._room += 1
        if self._room < self.num_steps:
            return self._render_obs(), 0.0, False, False
        won = self._right == self.num_decisive
        reward = float(won) if self.outcome == "binary" else self._right / self.num_decisive
        return self._render_obs(), reward, True, won

    def noop(self) -> tuple[str, float]:
        return self._render_obs(), 0.0

    def oracle_step_label(self, action: str | None) -> float:
        """``info[ORACLE_LABEL]`` for the room the action was taken in (``apply_action`` has
        just moved on by one room; an invalid action, ``None``, is labelled 0)."""
        room = self._room - 1
        if action is not None and room in self._doors:
            return 1.0 if action == self._doors[room] else -1.0
        return 0.0

    def oracle_action_labels(self) -> dict[str, float] | None:
        """In a door room: +1 for the door's colour, -1 for every other colour; None in a
        hall room (no action is decisive there) and after the last room."""
        colour = self._doors.get(self._room) if self._room < self.num_steps else None
        if colour is None:
            return None
        return {c: 1.0 if c == colour else -1.0 for c in self.choices}

    def task_id(self) -> str:
        return f"creditchain-n{self.num_steps}-d{self.num_decisive}-s{self._task_seed}"

    # ------------------------------------------------------------ inspection
    @property
    def doors(self) -> dict[int, str]:
        """Door rooms of the current task: position -> colour (the right action)."""
        return dict(self._doors)

    @property
    def rooms(self) -> list[str]:
        """Every room of the current task in order: its door colour, or ``"hall"``."""
        return [self._doors.get(i, "hall") for i in range(self.num_steps)]

    @property
    def room(self) -> int:
        """Index of the current room (``num_steps`` once the chain is done)."""
        return self._room
