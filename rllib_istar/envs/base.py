"""``TextEnv``: the gymnasium base class of every text environment.

Observations and actions are ``str``. A subclass provides:

* ``DEFAULT_CONFIG`` (class dict): every env_config key it accepts with its
  default; must contain the shared keys ``action_format`` ("tags" | "bare") and
  ``max_steps``. An unknown key raises ``ValueError`` naming the key and the
  valid keys, so a typo is never silently ignored. ``validate_config`` checks
  values.
* ``PROMPT`` (a :class:`~rllib_istar.envs.templates.PromptTemplate`) and, optionally,
  ``extra_vocabulary()`` (observation symbols, action words, numbers; by default
  found by playing the env, :mod:`.vocabulary_probe`).
* ``reset_task(task_seed, options) -> obs``, ``apply_action(action) -> (obs, reward,
  terminated, won)``, ``noop() -> (obs, reward)``, ``admissible_actions()``,
  ``task_id()`` and ``observation_charset()``; optionally
  ``oracle_step_label(action) -> float | None`` (stored as
  ``info[columns.ORACLE_LABEL]`` after every step when not None),
  ``oracle_action_labels() -> dict | None`` (the label of every admissible action at
  the current state: the same-state credit metric scores them all),
  ``reject_action(action) -> str | None`` (a reason to treat a parsed action as
  invalid, e.g. a free-text utterance that breaks the env's rules) and
  ``format_example_action(rng)`` (an action for the format warm-up; envs with
  pattern or free-text entries fill them in).

The full contract, with the reserved names a subclass must not define (those in
this class and :data:`TextEnv.RESERVED_ATTRIBUTES`), is docs/ENV_CONTRACT.md;
:func:`~rllib_istar.envs.register_text_env` checks a class against it
(:mod:`.contract`), and ``reset``/``step`` check what the hooks return.

The base class handles seeding (``super().reset(seed=...)``; the task seed is
``seed`` itself when given, otherwise drawn from ``self.np_random``), parsing of
the action text (:func:`~rllib_istar.envs.parsing.parse_action`), the step
counter, truncation at ``max_steps``, the info dict (``won``,
``is_action_valid``, ``task_id``, ``action`` plus ``parse_reason`` and
``step``) and the prompt. An invalid action is a no-op: the step counter
advances, the state does not, and the reward is the env's own no-op reward
(the runner applies any invalid-action penalty).
"""
from __future__ import annotations

import string
import warnings
from typing import Any, ClassVar

import gymnasium
from gymnasium import spaces

from rllib_istar import columns as C

from .contract import check_apply, check_noop, check_oracle_label, check_reset_task
from .parsing import ACTION_FORMATS, ParsedAction, parse_action
from .templates import PromptTemplate

__all__ = ["TextEnv", "ACTION_CHARSET", "MAX_ACTION_CHARS", "OLD_HOOK_NAMES"]

#: The hooks' names before they became public (old -> new), still accepted with a
#: DeprecationWarning for one release (``TextEnv.__init_subclass__``).
OLD_HOOK_NAMES = {"_extra_vocabulary": "extra_vocabulary", "_reset_task": "reset_task",
                  "_apply": "apply_action", "_noop": "noop", "_task_id": "task_id",
                  "_observation_charset": "observation_charset",
                  "_max_obs_chars": "max_obs_chars", "_oracle_step_label": "oracle_step_label",
                  "_reject_action": "reject_action", "_validate_config": "validate_config",
                  "_info": "step_info"}

#: Characters of the action space (generated responses may contain anything;
#: ``step`` accepts any ``str``, this only bounds ``action_space.sample()``).
ACTION_CHARSET = string.printable
#: ``action_space.max_length``: far above any response length in use.
MAX_ACTION_CHARS = 32768


class TextEnv(gymnasium.Env):
    """Base class of text environments (see the module docstring)."""

    #: The hooks' old private names (old -> new), accepted for one release.
    OLD_HOOK_NAMES: ClassVar[dict[str, str]] = OLD_HOOK_NAMES

    metadata: ClassVar[dict] = {"render_modes": ["ansi"], "render_fps": 4}
    DEFAULT_CONFIG: ClassVar[dict[str, Any]] = {"action_format": "tags", "max_steps": 10}
    PROMPT: ClassVar[PromptTemplate]
    #: Upper bound on ``len(observation)``, used for ``observation_space``.
    MAX_OBS_CHARS: ClassVar[int] = 4096
    #: Whether the trajectories of a group revisit identical observations (GiGPO's
    #: anchor states). False (e.g. an open dialogue) makes IStarConfig refuse GiGPO.
    ANCHOR_STATES: ClassVar[bool] = True
    #: Attributes ``__init__``, ``reset`` and ``step`` set on every instance (with
    #: gymnasium's ``_np_random*`` from ``super().reset``): a subclass must not define
    #: members of these names (tests/envs/test_env_contract.py keeps the list in sync).
    RESERVED_ATTRIBUTES: ClassVar[tuple[str, ...]] = (
        "config", "render_mode", "action_format", "max_steps", "observation_space",
        "action_space", "_steps", "_obs", "_done", "_won", "_task_seed",
        "_np_random", "_np_random_seed")

    def __init_subclass__(cls, **kwargs: Any):
        """Maps a subclass's hooks under their old private names (``_apply``, ...) to
        the public ones, with a DeprecationWarning; the old names go in the next release."""
        super().__init_subclass__(**kwargs)
        for old, new in OLD_HOOK_NAMES.items():
            if old in cls.__dict__ and new not in cls.__dict__:
                warnings.warn(f"{cls.__name__}.{old} is the old name of the TextEnv hook "
                              f"'{new}'; rename it (the old name stops working in the next "
                              "release; docs/ENV_CONTRACT.md)", DeprecationWarning, stacklevel=2)
                setattr(cls, new, cls.__dict__[old])

    def __init__(self, env_config: dict | None = None, *, render_mode: str | None = None,
                 **kwargs: Any):
        self.config = self.resolve_config(env_config, kwargs)
        self.validate_config(self.config)
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode {render_mode!r} not supported; "
                             f"valid: {self.metadata['render_modes']}")
        self.render_mode = render_mode
        self.action_format: str = self.config["action_format"]
        self.max_steps: int = int(self.config["max_steps"])
        self.observation_space = spaces.Text(max_length=self.max_obs_chars(), min_length=1,
                                             charset=self.observation_charset())
        self.action_space = spaces.Text(max_length=MAX_ACTION_CHARS, min_length=0,
                                        charset=ACTION_CHARSET)
        self._steps = 0
        self._obs: str | None = None
        self._done = True
        self._won = False
        self._task_seed: int | None = None

    # ------------------------------------------------------------------ config
    @classmethod
    def config_keys(cls) -> list[str]:
        """The env_config keys this env accepts (sorted)."""
        return sorted(cls.DEFAULT_CONFIG)

    @classmethod
    def resolve_config(cls, env_config: dict | None, overrides: dict | None = None) -> dict:
        """Merge ``env_config`` and keyword ``overrides`` into the defaults.

        Raises ``ValueError`` naming any unknown key and listing the valid keys.
        """
        given = dict(env_config or {})
        given.update(overrides or {})
        unknown = sorted(k for k in given if k not in cls.DEFAULT_CONFIG)
        if unknown:
            raise ValueError(f"{cls.__name__}: unknown env_config key(s) {unknown}; "
                             f"valid keys: {cls.config_keys()}")
        cfg = dict(cls.DEFAULT_CONFIG)
        cfg.update(given)
        return cfg

    def validate_config(self, cfg: dict) -> None:
        """Check values; subclasses extend (call super)."""
        if cfg["action_format"] not in ACTION_FORMATS:
            raise ValueError(f"{type(self).__name__}: action_format must be one of "
                             f"{list(ACTION_FORMATS)}, got {cfg['action_format']!r}")
        steps = cfg["max_steps"]
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise ValueError(f"{type(self).__name__}: max_steps must be an int >= 1, "
                             f"got {steps!r}")

    # -------------------------------------------------------------- gymnasium
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Start a new task; deterministic in ``seed``. Returns ``(obs, info)``."""
        super().reset(seed=seed)
        if seed is not None:
            task_seed = int(seed)
        else:
            task_seed = int(self.np_random.integers(0, 2**31 - 1))
        self._task_seed = task_seed
        self._steps = 0
        self._won = False
        self._done = False
        self._obs = check_reset_task(self, self.reset_task(task_seed, options))
        return self._obs, self.step_info(ParsedAction(None, True, "reset"))

    def step(self, action_text: str):
        """Parse ``action_text`` and apply it; an invalid action is a no-op."""
        if self._done:
            raise RuntimeError(f"{type(self).__name__}.step() called before reset() or "
                               "after the episode ended; call reset()")
        parsed = parse_action(action_text, self.admissible_actions(), self.action_format)
        if parsed.valid:
            rejected = self.reject_action(parsed.action)
            if rejected is not None:
                parsed = ParsedAction(None, False, str(rejected))
        self._steps += 1
        if parsed.valid:
            obs, reward, terminated, won = check_apply(self, self.apply_action(parsed.action))
        else:
            (obs, reward), terminated, won = check_noop(self, self.noop()), False, False
        self._won = bool(won)
        truncated = (not terminated) and self._steps >= self.max_steps
        self._done = bool(terminated or truncated)
        self._obs = obs
        info = self.step_info(parsed)
        label = check_oracle_label(self, self.oracle_step_label(parsed.action))
        if label is not None:
            info[C.ORACLE_LABEL] = label
        return obs, float(reward), bool(terminated), bool(truncated), info

    def render(self):
        """``"ansi"``: the current observation text; ``None`` without a render_mode."""
        if self.render_mode == "ansi":
            return self._obs
        return None

    def step_info(self, parsed: ParsedAction) -> dict:
        return {"won": self._won, "is_action_valid": parsed.valid,
                "task_id": self.task_id(), "action": parsed.action,
                "parse_reason": parsed.reason, "step": self._steps}

    # ----------------------------------------------------------------- prompt
    def render_prompt(self, observation: str, history: list[tuple[str, str]]) -> str:
        """Instruction + the given (observation, action) pairs + ``observation`` +
        admissible actions + the format hint for ``action_format``."""
        return self.PROMPT.render(observation, history, self.admissible_actions(),
                                  self.action_format, step=self._steps,
                                  max_steps=self.max_steps)

    @classmethod
    def vocabulary(cls) -> list[str]:
        """Every whitespace-separated word prompts and actions can contain (sorted)."""
        words = set(cls.PROMPT.words()) | set(cls.extra_vocabulary())
        return sorted(w for w in words if w)

    # ------------------------------------------------------ subclass contract
    @classmethod
    def extra_vocabulary(cls) -> list[str]:
        """Words observations and actions can hold beyond the prompt template's. The
        default finds them by playing the env (:mod:`.vocabulary_probe`); override it to
        list them when some appear only in rare states (the built-in envs do)."""
        from .vocabulary_probe import class_vocabulary

        return list(class_vocabulary(cls))

    def max_obs_chars(self) -> int:
        """Upper bound on ``len(observation)`` (``observation_space.max_length``)."""
        return self.MAX_OBS_CHARS

    def observation_charset(self) -> str:
        """Characters observations are made of (bounds ``observation_space``)."""
        return string.ascii_letters + string.digits + " \t\n"

    def admissible_actions(self) -> list[str]:
        """Actions valid in the current state."""
        raise NotImplementedError

    def reset_task(self, task_seed: int, options: dict | None) -> str:
        raise NotImplementedError

    def apply_action(self, action: str) -> tuple[str, float, bool, bool]:
        raise NotImplementedError

    def noop(self) -> tuple[str, float]:
        raise NotImplementedError

    def task_id(self) -> str:
        return f"{type(self).__name__}-s{self._task_seed}"

    def oracle_step_label(self, action: str | None) -> float | None:
        """The oracle label of the step just taken (``info[columns.ORACLE_LABEL]``):
        +1 decisive and right, -1 decisive and wrong, 0 not decisive, NaN unknown, or
        None for no label (the default). Called after ``apply_action`` (``action``: the
        admissible action applied) or ``noop`` (``action=None``)."""
        return None

    def oracle_action_labels(self) -> dict[str, float] | None:
        """The oracle label of every admissible action at the current state, before it is
        taken: ``{action: +1 right / -1 wrong / 0 neither}``, or None (the default: no
        labels, or a state where no action is decisive). The same-state credit metric
        (docs/STEP_REWARDS.md "Measuring credit") scores every labelled action at the same
        prompt; it uses states whose labels hold both a +1 and a -1. Must not change the
        env's state."""
        return None

    def reject_action(self, action: str) -> str | None:
        """Why the parsed admissible ``action`` is invalid after all (the step is then a
        no-op with ``info["parse_reason"]`` set to it), or None (the default: valid).
        Envs whose admissible entries are patterns or free text
        (:data:`~rllib_istar.envs.parsing.FREE_TEXT_ENTRY`) apply their own rules here."""
        return None

    def format_example_action(self, rng) -> str:
        """One action for the format warm-up, drawn with ``rng`` (a ``random.Random``):
        by default a uniformly random admissible action. Envs with pattern entries
        (``search[<your query>]``) or free text return a filled-in example instead."""
        return rng.choice(self.admissible_actions())

    @property
    def current_observation(self) -> str | None:
        """The latest observation (``None`` before the first reset)."""
        return self._obs


def _forward_to(new: str):
    """The base's ``new`` hook under its old name, so that an old-style subclass's
    ``super()._old(...)`` still reaches the base implementation."""
    base_impl = TextEnv.__dict__[new]
    if isinstance(base_impl, classmethod):
        return classmethod(lambda cls, *a, **k: base_impl.__func__(cls, *a, **k))
    return lambda self, *a, **k: base_impl(self, *a, **k)


for _old, _new in OLD_HOOK_NAMES.items():
    setattr(TextEnv, _old, _forward_to(_new))
del _old, _new
