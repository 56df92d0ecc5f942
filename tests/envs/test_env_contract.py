"""The TextEnv contract (docs/ENV_CONTRACT.md): checked at ``register_text_env`` and on
what the hooks return in ``reset``/``step``; every error is one line naming the class,
the member, its file:line and the doc. The bad envs are made by hand below."""
from __future__ import annotations

import ast
import importlib.util
import inspect
import math
import textwrap
from pathlib import Path
from typing import NamedTuple

import gymnasium
import numpy as np
import pytest
from doubles.echo_env import EchoEnv

from rllib_istar import columns as C
from rllib_istar.envs import (
    CreditChainEnv,
    KeyCorridorEnv,
    PromptTemplate,
    TextEnv,
    TextEnvContractError,
    contract,
    register_text_env,
    registered_env_ids,
)

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "ENV_CONTRACT.md"
THIS_FILE = Path(__file__).name
HAS_SOKOBAN = importlib.util.find_spec("gym_sokoban") is not None




def _line_of(cls, name):
    """The line ``name`` is defined on in this file (a method's ``def`` or an assignment)."""
    raw = vars(cls)[name]
    func = raw.fget if isinstance(raw, property) else getattr(raw, "__func__", raw)
    if hasattr(func, "__code__"):
        return func.__code__.co_firstlineno
    lines, start = inspect.getsourcelines(cls)
    return start + next(i for i, text in enumerate(lines) if text.strip().startswith(name))


def _assert_one_line(err: Exception, cls, member: str, line: int | None = None) -> str:
    msg = str(err)
    assert isinstance(err, TextEnvContractError) and isinstance(err, TypeError)
    assert "\n" not in msg, msg
    assert cls.__name__ in msg and member in msg, msg
    assert THIS_FILE in msg, msg
    if line is not None:
        assert f"{THIS_FILE}:{line}" in msg, msg
    assert "docs/ENV_CONTRACT.md" in msg, msg
    return msg


# ------------------------------------------------------- registration: bad classes
class MissingApply(TextEnv):
    DEFAULT_CONFIG = {"action_format": "bare", "max_steps": 3}
    PROMPT = PromptTemplate(instruction="say yes")

    @classmethod
    def extra_vocabulary(cls):
        return ["yes"]

    def admissible_actions(self):
        return ["yes"]

    def reset_task(self, task_seed, options):
        return "question"

    def noop(self):
        return "question", 0.0


class ApplyWithoutAction(EchoEnv):
    def apply_action(self):
        return "question", 1.0, True, True


class ResetTaskWithOneArg(EchoEnv):
    def reset_task(self, task_seed):
        return "question"


class ApplyIsNone(EchoEnv):
    apply_action = None


class InstanceVocabulary(EchoEnv):
    def extra_vocabulary(self):
        return ["yes"]


class HelperNamedObs(EchoEnv):
    """A helper named like the base's observation attribute: today ``'NoneType' object is
    not callable`` (the base's ``self._obs = None`` hides the method)."""

    def _obs(self):
        return "question"

    def reset_task(self, task_seed, options):
        return self._obs()


class MaxStepsProperty(EchoEnv):
    @property
    def max_steps(self):
        return 3


class OwnVocabulary(EchoEnv):
    @classmethod
    def vocabulary(cls):
        return ["yes", "no"]


class ConfigWithoutMaxSteps(EchoEnv):
    DEFAULT_CONFIG = {"action_format": "bare"}


class ConfigWithBadFormat(EchoEnv):
    DEFAULT_CONFIG = {"action_format": "json", "max_steps": 3}


class ConfigNotADict(EchoEnv):
    DEFAULT_CONFIG = [("action_format", "bare"), ("max_steps", 3)]


class PromptAsString(EchoEnv):
    PROMPT = "say yes"


BAD_CLASSES = [
    (MissingApply, "apply_action", False),  # no member: the class's own line
    (ApplyWithoutAction, "apply_action", True),
    (ResetTaskWithOneArg, "reset_task", True),
    (ApplyIsNone, "apply_action", True),
    (InstanceVocabulary, "extra_vocabulary", True),
    (HelperNamedObs, "_obs", True),
    (MaxStepsProperty, "max_steps", True),
    (OwnVocabulary, "vocabulary", True),
    (ConfigWithoutMaxSteps, "DEFAULT_CONFIG", True),
    (ConfigWithBadFormat, "DEFAULT_CONFIG", True),
    (ConfigNotADict, "DEFAULT_CONFIG", True),
    (PromptAsString, "PROMPT", True),
]


@pytest.mark.parametrize("cls,member,has_line", BAD_CLASSES,
                         ids=[c.__name__ for c, _, _ in BAD_CLASSES])
def test_a_broken_class_is_refused_at_registration(scratch_ids, cls, member, has_line):
    env_id = f"contract/{cls.__name__}-v0"
    scratch_ids.append(env_id)
    with pytest.raises(TextEnvContractError) as info:
        register_text_env(env_id, cls)
    line = _line_of(cls, member) if has_line else inspect.getsourcelines(cls)[1]
    _assert_one_line(info.value, cls, member, line)
    assert env_id not in registered_env_ids() and env_id not in gymnasium.registry


def test_messages_say_what_is_wrong_and_the_fix():
    def message(cls):
        with pytest.raises(TextEnvContractError) as info:
            contract.check_text_env_class(cls, TextEnv)
        return str(info.value)

    assert "required hook apply_action is not defined" in message(MissingApply)
    assert "add apply_action(action) -> (obs: str, reward: float, terminated: bool, won: bool)" \
        in message(MissingApply)
    assert "apply_action(self)" in message(ApplyWithoutAction)
    assert "@classmethod" in message(InstanceVocabulary)
    assert "reserved name '_obs'" in message(HelperNamedObs) and "rename" in message(HelperNamedObs)
    assert "['max_steps']" in message(ConfigWithoutMaxSteps)
    assert "'json'" in message(ConfigWithBadFormat) and "['tags', 'bare']" in message(
        ConfigWithBadFormat)
    assert "not a PromptTemplate" in message(PromptAsString)


def test_a_class_without_prompt_is_refused():
    class NoPrompt(TextEnv):
        DEFAULT_CONFIG = {"action_format": "bare", "max_steps": 3}
        extra_vocabulary = EchoEnv.__dict__["extra_vocabulary"]
        admissible_actions, reset_task = EchoEnv.admissible_actions, EchoEnv.reset_task
        apply_action, noop = EchoEnv.apply_action, EchoEnv.noop

    with pytest.raises(TextEnvContractError) as info:
        contract.check_text_env_class(NoPrompt, TextEnv)
    assert "NoPrompt" in str(info.value) and "PROMPT is not set" in str(info.value)


def test_a_plain_creator_is_not_checked_at_registration(scratch_ids):
    scratch_ids.append("contract/Creator-v0")
    register_text_env("contract/Creator-v0", lambda cfg: HelperNamedObs(cfg))
    assert "contract/Creator-v0" in registered_env_ids()


# -------------------------------------------------------- registration: good classes
class FullyHooked(EchoEnv):
    """Overrides every optional hook the allowed way."""

    DEFAULT_CONFIG = {"action_format": "bare", "max_steps": 3, "bonus": 1.0}
    MAX_OBS_CHARS = 32
    metadata = {"render_modes": ["ansi"], "render_fps": 1}

    def __init__(self, env_config=None, **kwargs):
        super().__init__(env_config, **kwargs)
        self.bonus = self.config["bonus"]

    def validate_config(self, cfg):
        super().validate_config(cfg)

    def max_obs_chars(self):
        return 32

    def observation_charset(self):
        return "abcdefghijklmnopqrstuvwxyz"

    def task_id(self):
        return f"full-{self._task_seed}"

    def oracle_step_label(self, action):
        return 1.0 if action == "yes" else (0.0 if action is None else -1.0)

    def step_info(self, parsed):
        return dict(super().step_info(parsed), extra=True)

    def render_prompt(self, observation, history):
        return super().render_prompt(observation, [])

    def reset(self, *, seed=None, options=None):
        return super().reset(seed=seed, options=options)

    def step(self, action_text):
        return super().step(action_text)

    @staticmethod
    def noop():
        return "question", 0.0


GOOD = [EchoEnv, KeyCorridorEnv, CreditChainEnv, FullyHooked]


@pytest.mark.parametrize("cls", GOOD, ids=[c.__name__ for c in GOOD])
def test_good_envs_pass(cls):
    contract.check_text_env_class(cls, TextEnv)


@pytest.mark.skipif(not HAS_SOKOBAN, reason="needs the sokoban extra")
def test_sokoban_passes():
    from rllib_istar.envs import SokobanTextEnv

    contract.check_text_env_class(SokobanTextEnv, TextEnv)


def test_the_oracle_label_hook_fills_the_info_key():
    env = FullyHooked()
    _, info = env.reset(seed=0)
    assert C.ORACLE_LABEL not in info  # the reset has no step to label
    assert env.step("yes")[4][C.ORACLE_LABEL] == 1.0
    env.reset(seed=0)
    info = env.step("maybe")[4]
    assert info[C.ORACLE_LABEL] == 0.0 and info["extra"] is True
    env = EchoEnv()
    env.reset(seed=0)
    assert C.ORACLE_LABEL not in env.step("yes")[4]  # the default hook gives no label


# ------------------------------------------------------------- run time: return shapes
class ApplyThreeTuple(EchoEnv):
    def apply_action(self, action):
        return "question", 1.0, True


class ApplyNonStrObs(EchoEnv):
    def apply_action(self, action):
        return 42, 1.0, True, True


class ApplyStrReward(EchoEnv):
    def apply_action(self, action):
        return "question", "1.0", True, True


class ApplyIntTerminated(EchoEnv):
    def apply_action(self, action):
        return "question", 1.0, 1, True


class ResetTaskReturnsNone(EchoEnv):
    def reset_task(self, task_seed, options):
        self.question = "question"  # forgot the return


class NoopReturnsObsOnly(EchoEnv):
    def noop(self):
        return "question"


class LabelIsText(EchoEnv):
    def oracle_step_label(self, action):
        return "right"


RUNTIME = [
    (ApplyThreeTuple, "apply_action", "yes", ["('question', 1.0, True)", "tuple of 3, expected 4"]),
    (ApplyNonStrObs, "apply_action", "yes", ["its obs is 42 (int)"]),
    (ApplyStrReward, "apply_action", "yes", ["its reward is '1.0' (str)"]),
    (ApplyIntTerminated, "apply_action", "yes", ["its terminated is 1 (int)"]),
    (ResetTaskReturnsNone, "reset_task", None, ["returned None (NoneType)",
                                                "reset_task(task_seed, options) -> obs: str"]),
    (NoopReturnsObsOnly, "noop", "maybe", ["returned 'question' (str)",
                                            "noop() -> (obs: str, reward: float)"]),
    (LabelIsText, "oracle_step_label", "yes", ["returned 'right' (str)", "float or None"]),
]


@pytest.mark.parametrize("cls,member,action,needles", RUNTIME,
                         ids=[c.__name__ for c, *_ in RUNTIME])
def test_a_bad_return_shape_fails_at_run_time(cls, member, action, needles):
    contract.check_text_env_class(cls, TextEnv)  # well-formed: only run time can tell
    env = cls()
    with pytest.raises(TextEnvContractError) as info:
        env.reset(seed=0)
        env.step(action)
    msg = _assert_one_line(info.value, cls, member, _line_of(cls, member))
    assert "the contract is" in msg
    for needle in needles:
        assert needle in msg, msg
    if member == "apply_action":
        assert "(obs: str, reward: float, terminated: bool, won: bool)" in msg


class ApplyNamedTuple(EchoEnv):
    class Result(NamedTuple):
        obs: str
        reward: float
        terminated: bool
        won: bool

    def apply_action(self, action):
        return self.Result("question", np.float32(1.0), np.bool_(True), np.bool_(True))


def test_numpy_scalars_and_named_tuples_are_accepted():
    env = ApplyNamedTuple()
    env.reset(seed=0)
    obs, reward, terminated, truncated, info = env.step("yes")
    assert (obs, reward, terminated, truncated, info["won"]) == ("question", 1.0, True, False, True)
    assert type(reward) is float and type(terminated) is bool
    assert contract.check_oracle_label(env, float("nan")) is not None
    assert math.isnan(contract.check_oracle_label(env, float("nan")))


# ------------------------------------------------------------------ reserved names
def _own_attributes(cls) -> set[str]:
    """``self.X = ...`` targets in ``cls``'s own source (what the subclass adds)."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    names = set()
    for node in ast.walk(tree):
        targets = node.targets if isinstance(node, ast.Assign) else (
            [node.target] if isinstance(node, (ast.AnnAssign, ast.AugAssign)) else [])
        for t in targets:
            for el in (t.elts if isinstance(t, ast.Tuple) else [t]):
                if isinstance(el, ast.Attribute) and getattr(el.value, "id", None) == "self":
                    names.add(el.attr)
    return names


def _stepped(env):
    """``env`` after a reset, an invalid step (a no-op) and a valid one."""
    env.reset(seed=3)
    env.step("not an action")
    env.step(env.admissible_actions()[0])
    return env


def test_reserved_attributes_are_exactly_what_the_base_sets():
    assert set(vars(_stepped(EchoEnv()))) == set(TextEnv.RESERVED_ATTRIBUTES)


@pytest.mark.parametrize("cls", [KeyCorridorEnv, CreditChainEnv])
def test_instance_attributes_are_the_reserved_ones_plus_the_subclass_own(cls):
    own = _own_attributes(cls)
    assert own and not own & set(TextEnv.RESERVED_ATTRIBUTES)
    assert set(vars(_stepped(cls()))) <= set(TextEnv.RESERVED_ATTRIBUTES) | own


def test_reserved_names_come_from_the_base_class():
    reserved = set(contract.reserved_names(TextEnv))
    hooks = set(contract.REQUIRED_HOOKS) | set(contract.OPTIONAL_HOOKS) | set(
        contract.CLASS_SETTINGS) | set(TextEnv.OLD_HOOK_NAMES)
    assert set(TextEnv.RESERVED_ATTRIBUTES) <= reserved and not reserved & hooks
    assert {"vocabulary", "config_keys", "resolve_config", "current_observation", "np_random",
            "unwrapped", "spec", "RESERVED_ATTRIBUTES"} <= reserved
    for klass in (TextEnv, gymnasium.Env):  # every name is either a hook or reserved
        for name in vars(klass):
            if not (name.startswith("__") and name.endswith("__")):
                assert name in reserved or name in hooks, name
    assert set(contract.HOOK_CALLS) == set(contract.REQUIRED_HOOKS) | set(contract.OPTIONAL_HOOKS)


def test_required_hooks_are_the_ones_the_base_leaves_unimplemented():
    unimplemented = {name for name, raw in vars(TextEnv).items()
                     if callable(getattr(raw, "__func__", raw))
                     and "raise NotImplementedError" in inspect.getsource(getattr(raw, "__func__",
                                                                                   raw))}
    assert unimplemented == set(contract.REQUIRED_HOOKS)
    assert "extra_vocabulary" not in contract.REQUIRED_HOOKS  # found by playing the env


def test_the_base_hooks_accept_the_calls_the_contract_describes():
    for name, (npos, kwargs, _) in contract.HOOK_CALLS.items():
        raw = inspect.getattr_static(TextEnv, name)
        func = getattr(raw, "__func__", raw)
        lead = () if isinstance(raw, staticmethod) else (None,)
        inspect.signature(func).bind(*lead, *([None] * npos), **{k: None for k in kwargs})


# ----------------------------------------------------------------------- the doc
def test_the_doc_lists_every_reserved_name_and_hook():
    text = DOC.read_text()
    names = (list(contract.reserved_names(TextEnv)) + list(contract.REQUIRED_HOOKS)
             + list(contract.OPTIONAL_HOOKS) + list(contract.CLASS_SETTINGS))
    missing = [n for n in names if f"`{n}`" not in text and f"`{n}(" not in text]
    assert not missing, f"add to docs/ENV_CONTRACT.md: {missing}"
    for key in ("won", "is_action_valid", "task_id", "action", "parse_reason", "step",
                C.ORACLE_LABEL):
        assert f"`{key}`" in text, key
    assert "--import" in text and "register_text_env" in text


def test_the_readme_links_the_doc():
    assert "docs/ENV_CONTRACT.md" in (ROOT / "README.md").read_text()
