"""``SocialEnv`` (``rllib_istar/Social-v0``): open dialogue whose outcome a judge gives.

A SOTOPIA-like env built offline. A task (drawn from the seed, shared by
a group) is one of the packaged scenarios (:mod:`.scenarios`) and the side the agent
plays. Side 0 speaks first: when the agent is side 1 the partner's opening line is
in the first observation.

* **Observation**: what the agent's side sees (:func:`.dialogue.background`: its own
  goal and secret, never the other's) and the whole transcript so far as ``turn k
  Name said text`` lines, ending with the agent's open ``turn k Name said``. The
  transcript *is* the history, so :meth:`render_prompt` ignores the runner's
  history (no line is shown twice).
* **Action**: the agent's next utterance, free text inside ``<action> </action>``
  (``action_format: tags`` only; the admissible list is the one free-text entry
  :data:`~rllib_istar.envs.parsing.FREE_TEXT_ENTRY`). The parser lower-cases it,
  collapses whitespace (line breaks included) and strips punctuation at its ends.
* **Invalid output** (a no-op turn: the transcript does not change, the partner does
  not answer, the runner applies ``invalid_action_penalty``): no parsable
  ``<action>`` block, or an utterance that :func:`.dialogue.check_utterance` rejects:
  empty, longer than ``max_utterance_chars``, starting with a speaker prefix (``Name:`` / ``Name said``) or holding a role marker (``said:``,
  ``turn <n>``, chat-template tokens, ``assistant:`` / ``user:``, nested tags).
* **Both sides' turns are steps of one transcript**: a valid utterance is appended,
  then the partner's reply (:class:`.partners.ScriptedPartner` by default, or a local
  HF model folder: ``partner: /path``). One env step is one agent turn.
* **End**: the reference's rules (:func:`.dialogue.should_end`): ``max_turns``
  utterances (both sides count) or a leave phrase (``left``, ``leave``, ``bye``,
  ``have a good``) in the last utterance; truncation at ``max_steps`` agent turns.
* **Reward**: sparse, at the episode's end (termination or truncation), from the
  judge: ``reward: goal`` gives goal / 10 in [0, 1] (the paper's metric; a graded
  outcome, train with ``IStarConfig.outcome: return``), ``reward: mean`` the mean of
  the dimensions the judge returns (the reference's reward). ``won`` is
  ``goal >= won_goal``. The scores go to ``info["judge_scores"]``.
* **Judges** (``judge``): ``rule`` (:class:`.judges.RuleJudge`, the scenario's
  machine-checkable criteria; default, offline), ``hf`` (:class:`.judges.HFJudge`
  on the local folder ``judge_model``), ``openai`` (:class:`.judges.OpenAICompatibleJudge`
  at ``judge_url`` with model ``judge_model``, key from the environment variable
  ``judge_api_key_env``). Every judge sits behind a :class:`.cache.CachedJudge`
  (``judge_cache``: an sqlite file, or null for memory), one per process and config.
* **Batched per rollout**: inside the project's env runner the env defers its final
  score (:mod:`rllib_istar.envs.deferred`): the runner collects every finished
  episode's request and scores them with one ``judge_many`` call per ``sample``,
  then adds the reward to each episode's last step. Used on its own (plain
  gymnasium) the env scores at the end of ``step``.
* **No oracle step labels** (a dialogue has no known right turn) and **no repeated
  states** (every utterance changes the observation), so GiGPO's anchors cannot form:
  ``ANCHOR_STATES = False``, and ``IStarConfig`` refuses GiGPO on this env.

env_config: see :data:`SocialEnv.DEFAULT_CONFIG` (each key documented beside it).
"""
from __future__ import annotations

import random
import string
import threading
from typing import Any, ClassVar

from ..base import TextEnv
from ..deferred import DeferredOutcome
from ..parsing import FREE_TEXT_ENTRY
from ..templates import PromptTemplate
from . import phrases
from .cache import CachedJudge, JudgeCache
from .dialogue import (
    MAX_UTTERANCE_CHARS,
    background,
    check_utterance,
    format_transcript,
    should_end,
)
from .judges import DIMENSIONS, JudgeRequest, reward_from_scores
from .partners import Partner, ScriptedPartner
from .scenarios import (
    KINDS,
    Scenario,
    default_scenarios,
    load_scenarios,
    select_scenario,
)
from .scenarios import vocabulary as scenario_vocabulary

__all__ = ["SocialEnv", "JUDGE_KINDS", "REWARD_MODES"]

JUDGE_KINDS = ("rule", "hf", "openai")
REWARD_MODES = ("goal", "mean")
JUDGE_SCORES = "judge_scores"

_PROMPT = PromptTemplate(
    instruction="you are in a conversation reach your goal and keep your secret",
    hint_tags="first think inside <think> </think> then write your next utterance inside "
              "<action> </action> one line in your own words",
    hint_bare="write your next utterance",
    observation_last=False)  # the dialogue before the hint: the layout its results used

# one judge / partner per process and config (models load once; the cache is shared)
_SHARED: dict[tuple, Any] = {}
_SHARED_LOCK = threading.Lock()


def _shared(key: tuple, build):
    with _SHARED_LOCK:
        if key not in _SHARED:
            _SHARED[key] = build()
        return _SHARED[key]


class SocialEnv(TextEnv):
    """Open dialogue against a partner, judged at the end (see the module docstring)."""

    DEFAULT_CONFIG: ClassVar[dict[str, Any]] = {
        "action_format": "tags",      # only "tags": an utterance is free text
        "max_steps": 10,              # agent turns (valid or not) before truncation
        "max_turns": 20,              # utterances of both sides (the reference's 20)
        "kinds": None,                # null = every kind, or a list of KINDS
        "scenarios_path": None,       # null = the packaged scenarios, or a JSON file
        "agent_side": None,           # null = drawn from the task seed, or 0 / 1
        "partner": "scripted",        # "scripted" or a local HF model folder
        "partner_max_new_tokens": 40,
        "judge": "rule",              # one of JUDGE_KINDS
        "judge_model": None,          # hf: a local folder; openai: the served model name
        "judge_url": None,            # openai: the endpoint's base URL
        "judge_api_key_env": "OPENAI_API_KEY",
        "judge_dimensions": None,     # null = the judge's own (hf: goal; openai: all 7 SOTOPIA)
        "judge_timeout_s": 60.0,
        "judge_max_retries": 3,
        "judge_cache": None,          # null = in memory, or an sqlite file path
        "reward": "goal",             # one of REWARD_MODES
        "won_goal": 7.0,              # won = goal score >= this
        "max_utterance_chars": MAX_UTTERANCE_CHARS,
    }
    PROMPT: ClassVar[PromptTemplate] = _PROMPT
    MAX_OBS_CHARS: ClassVar[int] = 16384
    ANCHOR_STATES: ClassVar[bool] = False

    def __init__(self, env_config: dict | None = None, **kwargs: Any):
        super().__init__(env_config, **kwargs)
        cfg = self.config
        self.scenarios = (load_scenarios(cfg["scenarios_path"]) if cfg["scenarios_path"]
                          else default_scenarios(cfg["kinds"]))
        if cfg["scenarios_path"] and cfg["kinds"]:
            self.scenarios = [s for s in self.scenarios if s.kind in cfg["kinds"]]
        if not self.scenarios:
            raise ValueError(f"SocialEnv: no scenario of kinds {cfg['kinds']} in "
                             f"{cfg['scenarios_path'] or 'the packaged scenarios'}; "
                             f"valid kinds: {list(KINDS)}")
        self.scenario: Scenario | None = None
        self.agent: int = 0
        self.transcript: list[tuple[int, str]] = []
        self._defer = False
        self._pending: JudgeRequest | None = None
        self._scored = False

    def validate_config(self, cfg: dict) -> None:
        super().validate_config(cfg)
        name = type(self).__name__
        if cfg["action_format"] != "tags":
            raise ValueError(f"{name}: action_format must be 'tags' (an utterance is free "
                             f"text inside <action> </action>), got {cfg['action_format']!r}")
        for key, lo in (("max_turns", 1), ("partner_max_new_tokens", 1),
                        ("max_utterance_chars", 1), ("judge_max_retries", 0)):
            v = cfg[key]
            if isinstance(v, bool) or not isinstance(v, int) or v < lo:
                raise ValueError(f"{name}: {key} must be an int >= {lo}, got {v!r}")
        if cfg["kinds"] is not None:
            bad = [k for k in cfg["kinds"] if k not in KINDS] if isinstance(cfg["kinds"], list) \
                else [cfg["kinds"]]
            if bad:
                raise ValueError(f"{name}: kinds must be null or a list of {list(KINDS)}, "
                                 f"got {cfg['kinds']!r}")
        if cfg["agent_side"] not in (None, 0, 1):
            raise ValueError(f"{name}: agent_side must be null, 0 or 1, got {cfg['agent_side']!r}")
        if cfg["judge"] not in JUDGE_KINDS:
            raise ValueError(f"{name}: judge must be one of {list(JUDGE_KINDS)}, "
                             f"got {cfg['judge']!r}")
        if cfg["judge"] == "hf" and not cfg["judge_model"]:
            raise ValueError(f"{name}: judge 'hf' needs judge_model, a local HF model folder")
        if cfg["judge"] == "openai" and not (cfg["judge_url"] and cfg["judge_model"]):
            raise ValueError(f"{name}: judge 'openai' needs judge_url (e.g. "
                             "http://localhost:8000/v1) and judge_model (the served model name)")
        dims = cfg["judge_dimensions"]
        if dims is not None and (not isinstance(dims, list) or "goal" not in dims
                                 or any(d not in DIMENSIONS for d in dims)):
            raise ValueError(f"{name}: judge_dimensions must be null or a list of "
                             f"{list(DIMENSIONS)} that includes 'goal', got {dims!r}")
        if cfg["reward"] not in REWARD_MODES:
            raise ValueError(f"{name}: reward must be one of {list(REWARD_MODES)}, "
                             f"got {cfg['reward']!r}")
        if not isinstance(cfg["judge_timeout_s"], (int, float)) or cfg["judge_timeout_s"] <= 0:
            raise ValueError(f"{name}: judge_timeout_s must be > 0, got {cfg['judge_timeout_s']!r}")

    # ------------------------------------------------------------ judge, partner
    @property
    def judge(self) -> CachedJudge:
        """The process-wide cached judge of this config."""
        cfg = self.config
        key = ("judge", cfg["judge"], cfg["judge_model"], cfg["judge_url"],
               cfg["judge_api_key_env"], cfg["judge_timeout_s"], cfg["judge_max_retries"],
               tuple(cfg["judge_dimensions"] or ()), cfg["judge_cache"])
        return _shared(key, lambda: CachedJudge(self._build_judge(),
                                                JudgeCache(cfg["judge_cache"] or ":memory:")))

    def _build_judge(self):
        from .judges import HFJudge, OpenAICompatibleJudge, RuleJudge

        cfg = self.config
        if cfg["judge"] == "rule":
            return RuleJudge()
        dims = {"dimensions": tuple(cfg["judge_dimensions"])} if cfg["judge_dimensions"] else {}
        if cfg["judge"] == "hf":
            return HFJudge(cfg["judge_model"], **dims)
        return OpenAICompatibleJudge(cfg["judge_url"], cfg["judge_model"], **dims,
                                     api_key_env=cfg["judge_api_key_env"],
                                     timeout_s=float(cfg["judge_timeout_s"]),
                                     max_retries=cfg["judge_max_retries"])

    @property
    def partner(self) -> Partner:
        cfg = self.config
        if cfg["partner"] == "scripted":
            return _shared(("partner", "scripted"), ScriptedPartner)
        from .hf_partner import HFPartner

        return _shared(("partner", cfg["partner"], cfg["partner_max_new_tokens"]),
                       lambda: HFPartner(cfg["partner"],
                                         max_new_tokens=cfg["partner_max_new_tokens"],
                                         max_chars=cfg["max_utterance_chars"]))

    # --------------------------------------------------------------- contract
    @classmethod
    def extra_vocabulary(cls) -> list[str]:
        return scenario_vocabulary() + [FREE_TEXT_ENTRY] + FREE_TEXT_ENTRY.split()

    def observation_charset(self) -> str:
        return string.printable

    def admissible_actions(self) -> list[str]:
        return [FREE_TEXT_ENTRY]

    def render_prompt(self, observation: str, history: list[tuple[str, str]]) -> str:
        """Instruction, the observation (background + transcript) and the format hint;
        ``history`` is ignored: the transcript already holds every turn."""
        return "\n".join([self.PROMPT.instruction, observation,
                          self.PROMPT.hint(self.action_format)])

    def task_id(self) -> str:
        sid = self.scenario.id if self.scenario is not None else "none"
        return f"Social-{sid}-side{self.agent}"

    def _observation(self) -> str:
        return (background(self.scenario, self.agent) + "\n"
                + format_transcript(self.scenario, self.transcript, next_side=self.agent))

    def reset_task(self, task_seed: int, options: dict | None) -> str:
        self.scenario = select_scenario(task_seed, self.scenarios)
        side = self.config["agent_side"]
        self.agent = int(side) if side is not None else random.Random(2 * task_seed + 1).randrange(2)
        self.transcript = []
        self._pending, self._scored = None, False
        if self.agent == 1:
            self.transcript.append((0, self.partner.reply(self.scenario, self.transcript, 0)))
        return self._observation()

    def reject_action(self, action: str) -> str | None:
        reason = check_utterance(self.scenario, self.agent, action,
                                 self.config["max_utterance_chars"])
        return None if reason == "ok" else f"invalid utterance: {reason}"

    def apply_action(self, action: str) -> tuple[str, float, bool, bool]:
        max_turns = self.config["max_turns"]
        self.transcript.append((self.agent, action))
        if not should_end(self.transcript, max_turns):
            other = 1 - self.agent
            self.transcript.append((other, self.partner.reply(self.scenario, self.transcript,
                                                              other)))
        return self._observation(), 0.0, should_end(self.transcript, max_turns), False

    def noop(self) -> tuple[str, float]:
        return self._observation(), 0.0

    def format_example_action(self, rng) -> str:
        """A format-only example: a small-talk line or 3-8 random words of this side's
        background (never a scripted task move)."""
        if rng.random() < 0.5:
            return rng.choice(phrases.SMALL_TALK)
        words = [w for w in background(self.scenario, self.agent).split() if w.isalnum()]
        return " ".join(rng.choice(words) for _ in range(rng.randint(3, 8)))

    # ---------------------------------------------------------- judged reward
    def step(self, action_text: str):
        """The base step; at the episode's end (termination or truncation) the judge's
        reward is added and ``won`` / ``judge_scores`` set, unless deferred."""
        obs, reward, terminated, truncated, info = super().step(action_text)
        if (terminated or truncated) and not self._scored:
            self._scored = True
            request = JudgeRequest(self.scenario, tuple(self.transcript), self.agent)
            if self._defer:
                self._pending = request
            else:
                outcome = self.score_pending_outcomes([request])[0]
                reward += outcome.reward
                info["won"] = outcome.won
                info.update(outcome.info)
        return obs, reward, terminated, truncated, info

    def set_deferred_outcomes(self, enabled: bool) -> None:
        """Defer the final score to :meth:`score_pending_outcomes` (the env runner)."""
        self._defer = bool(enabled)

    def pop_pending_outcome(self) -> JudgeRequest | None:
        """The finished episode's judge request (once), or None."""
        request, self._pending = self._pending, None
        return request

    def score_pending_outcomes(self, requests: list) -> list[DeferredOutcome]:
        """Judge ``requests`` in one ``judge_many`` call (cache first)."""
        judge = self.judge
        hits, misses = judge.cache.hits, judge.cache.misses
        scores = judge.judge_many([JudgeRequest(*r) for r in requests])
        looked_up = judge.cache.hits - hits + judge.cache.misses - misses
        hit_rate = (judge.cache.hits - hits) / looked_up if looked_up else 0.0
        return [DeferredOutcome(reward_from_scores(s, self.config["reward"]),
                                bool(s["goal"] >= self.config["won_goal"]),
                                {JUDGE_SCORES: dict(s), "judge_cache_hit_rate": hit_rate})
                for s in scores]
