"""IStarConfig and IStar: the RLlib Algorithm for iStar and its baselines.

``IStar.training_step`` reads: sample groups -> one learner update (PRM DPO ->
score -> advantages -> PPO, see ``istar_learner.py``) -> sync the policy weights
only. Every knob is in ``istar_knobs.py`` and rendered into ``IStarConfig``'s
docstring.

    from rllib_istar import IStarConfig
    algo = (IStarConfig().environment("rllib_istar/KeyCorridor-v0")
            .training(advantage_estimator="istar_rloo", group_size=4, lr=1e-3)
            .build_algo())
    algo.train()
"""
from __future__ import annotations

import math
from typing import Any, Dict, List

from ray.rllib.algorithms.algorithm import Algorithm
from ray.rllib.algorithms.algorithm_config import AlgorithmConfig, NotProvided
from ray.rllib.core.rl_module.multi_rl_module import MultiRLModuleSpec
from ray.rllib.utils.metrics import (ENV_RUNNER_RESULTS, LEARNER_RESULTS,
                                     NUM_ENV_STEPS_SAMPLED_LIFETIME, TIMERS)

from rllib_istar import metrics as M
from rllib_istar.estimators import EstimatorSpec, resolve_estimator
from rllib_istar.istar_knobs import KNOBS, KNOBS_BY_NAME, RLLIB_DEFAULTS, render_knob_docs
from rllib_istar.messages import did_you_mean, hint, type_names

POLICY_ID = "default_policy"  # == ray.rllib.core.DEFAULT_MODULE_ID
PRM_ID = "prm"


class IStarConfig(AlgorithmConfig):
    """Configuration of :class:`IStar` (iStar and the paper's baselines).

    Set knobs with the fluent setters RLlib users know (``.environment()``,
    ``.env_runners()``, ``.learners()``, ``.training(**knobs)``), or as plain
    attributes / a dict (YAML, Tune). ``validate()`` rejects unknown keys (with
    the nearest valid name), wrong types and impossible settings.

    Knobs (ALGORITHM.md is the spec; sources in parentheses):
    """

    def __init__(self, algo_class=None):
        super().__init__(algo_class=algo_class or IStar)
        for knob in KNOBS:
            setattr(self, knob.name, knob.default)
        for name, (default, _) in RLLIB_DEFAULTS.items():
            setattr(self, name, default)
        from rllib_istar.connectors import EpisodesToStepRows
        from rllib_istar.rollout.env_runner import LLMEnvRunner

        self.env_runner_cls = LLMEnvRunner
        self.add_default_connectors_to_learner_pipeline = False
        self._learner_connector = lambda *spaces: EpisodesToStepRows()
        self._dont_auto_sync_env_runner_states = True
        self.sample_timeout_s = None
        self.episodes_to_numpy = False

    # -------------------------------------------------------------- setters
    def training(self, **kwargs) -> "IStarConfig":
        """RLlib's training settings plus every iStar knob (see the class docstring)."""
        ours = {k: kwargs.pop(k) for k in list(kwargs) if k in KNOBS_BY_NAME}
        try:
            super().training(**kwargs)
        except TypeError as e:
            bad = next(iter(kwargs))
            raise TypeError(f"{e}; {_key_hint(bad, self._known_keys())}") from None
        for key, value in ours.items():
            if value is not NotProvided:
                setattr(self, key, value)
        return self

    # -------------------------------------------------------------- derived
    @property
    def estimator(self) -> EstimatorSpec:
        return resolve_estimator(self.advantage_estimator, self.ablation)

    @property
    def uses_prm(self) -> bool:
        return self.estimator.prm_loss is not None

    @property
    def effective_ratio_level(self) -> str:
        if self.ratio_level != "auto":
            return self.ratio_level
        return "token" if self.estimator.token_level else "step"

    def num_groups_per_env_runner(self) -> int:
        return math.ceil(self.num_groups / max(1, self.num_env_runners))

    def effective_model_path(self) -> str:
        """``model_path``, or its format-warmed copy when ``format_warmup_steps > 0``
        (built on first call, then cached)."""
        if not self.format_warmup_steps:
            return self.model_path
        from rllib_istar.models.warmup import ensure_warmup_model

        return ensure_warmup_model(self.model_path, self.env, self.env_config,
                                   self.format_warmup_steps, int(self.seed or 0),
                                   self.history_length, self.max_prompt_length)

    def module_specs(self) -> Dict[str, Any]:
        from rllib_istar.modules.specs import build_module_specs

        return build_module_specs(
            model_path=self.effective_model_path(), dtype=self.model_dtype, temperature=self.temperature,
            prm=self.uses_prm, prm_mode=self.prm_mode, prm_model_path=self.prm_init,
            lora_rank=self.lora_rank, lora_alpha=self.lora_alpha,
            trust_remote_code=self.trust_remote_code, compute_entropy=self.entropy_coef > 0,
            gradient_checkpointing=self.gradient_checkpointing)

    def policy_module_spec(self):
        return self.module_specs()[POLICY_ID]

    def get_default_rl_module_spec(self):
        return self.policy_module_spec()

    def get_multi_rl_module_spec(self, *, env=None, spaces=None, inference_only=False, **kwargs):
        """{policy, prm (learner_only, only when the estimator needs it)} from the knobs."""
        import gymnasium as gym

        text = gym.spaces.Text(1)
        specs = self.module_specs()
        if inference_only:
            specs = {mid: s for mid, s in specs.items() if not s.learner_only}
        for spec in specs.values():
            spec.observation_space = spec.observation_space or text
            spec.action_space = spec.action_space or text
            spec.inference_only = inference_only and not spec.learner_only
        return MultiRLModuleSpec(rl_module_specs=specs)

    def get_default_learner_class(self):
        from rllib_istar.istar_learner import IStarTorchLearner

        return IStarTorchLearner

    # ----------------------------------------------------------- validation
    def _known_keys(self) -> List[str]:
        return sorted(set(vars(type(self)())) | set(dir(type(self))))

    def validate(self) -> None:
        super().validate()
        known = set(vars(type(self)())) | {"class"}  # RLlib's from_state() leaves "class"
        for key in vars(self):
            if key not in known and not key.startswith("__"):  # "__...__": Tune's own keys
                self._value_error(f"unknown config key {key!r}; {_key_hint(key, known)}")
        for knob in KNOBS:
            self._check_knob(knob, getattr(self, knob.name))
        self._check_settings()
        if self.num_env_runners > 0:
            self.create_local_env_runner = False  # no LLM on the driver when runners are remote

    def _check_knob(self, knob, value) -> None:
        if isinstance(value, bool) and bool not in knob.types and value is not None:
            self._value_error(f"{knob.name} must be {type_names(knob.types)}, got {value!r}")
        if not isinstance(value, knob.types):
            self._value_error(f"{knob.name} must be {type_names(knob.types)}, got {value!r} "
                              f"({type(value).__name__})")
        if knob.choices is not None and value not in knob.choices:
            self._value_error(f"{knob.name}={value!r} is not valid; choose one of "
                              f"{', '.join(repr(c) for c in knob.choices)}"
                              f"{did_you_mean(value, knob.choices)}")
        if knob.minimum is not None and value is not None and value < knob.minimum:
            self._value_error(f"{knob.name}={value!r} must be >= {knob.minimum}")

    def _check_settings(self) -> None:
        from rllib_istar.envs import registered_env_ids

        if not self.env:
            self._value_error("no env set; use .environment('rllib_istar/KeyCorridor-v0') or "
                              f"env: in the YAML (registered: {', '.join(registered_env_ids())})")
        elif isinstance(self.env, str) and self.env not in registered_env_ids():
            self._value_error(f"unknown env {self.env!r}; registered: "
                              f"{', '.join(registered_env_ids())}{did_you_mean(self.env, registered_env_ids())}")
        try:
            spec = self.estimator
        except ValueError as e:
            self._value_error(str(e))
            return
        if self.group_size < 2:
            self._value_error(f"group_size={self.group_size}: {self.advantage_estimator} "
                              "compares trajectories inside a group; set group_size >= 2")
        if spec.prm_loss and self.prm_mode == "none":
            self._value_error(f"advantage_estimator {self.advantage_estimator} needs the PRM "
                              "but prm_mode is 'none'; set prm_mode: full (or lora), or pick "
                              "an outcome-only estimator (rloo, grpo, reinforce_pp)")
        if spec.token_level and self.ratio_level in ("step", "step_product"):
            self._value_error(f"{self.advantage_estimator}/{self.ablation} gives token-level "
                              f"advantages; set ratio_level: token (or auto)")
        if self.top_p <= 0 or self.top_p > 1:
            self._value_error(f"top_p={self.top_p} must be in (0, 1]")
        if self.num_learners > 1 and self.num_groups < self.num_learners:
            self._value_error(f"num_groups={self.num_groups} < num_learners="
                              f"{self.num_learners}: each learner needs whole groups")
        if self.generation_backend == "vllm":
            import importlib.util

            if importlib.util.find_spec("vllm") is None:
                self._value_error("generation_backend 'vllm' needs vLLM: pip install "
                                  "'rllib_istar[vllm]' on a GPU machine, or use 'hf'")


IStarConfig.__doc__ += render_knob_docs()


def _key_hint(key: str, valid) -> str:
    return hint(key, valid, "see the knob list in help(rllib_istar.IStarConfig)")


class IStar(Algorithm):
    """iStar (and baselines) on RLlib's new API stack: sample groups, update, sync."""

    @classmethod
    def get_default_config(cls) -> IStarConfig:
        return IStarConfig()

    def export_hf(self, out_dir: str, include_prm: bool = True) -> Dict[str, str]:
        """Write the trained policy (and PRM) as Hugging Face folders; see ``export.py``."""
        from rllib_istar.export import export_hf

        return export_hf(self, out_dir, include_prm=include_prm)

    def setup(self, config) -> None:
        config.effective_model_path()  # build a warmed model once, before any worker needs it
        super().setup(config)

    def training_step(self) -> None:
        runners = self.env_runner_group
        local = runners.num_remote_env_runners() == 0
        with self.metrics.log_time((TIMERS, M.TIMER_ROLLOUT)):
            out = runners.foreach_env_runner(lambda r: (r.sample(), r.get_metrics()),
                                             local_env_runner=local)
        episodes = [ep for eps, _ in out for ep in eps]
        self.metrics.aggregate([m for _, m in out], key=ENV_RUNNER_RESULTS)
        if not episodes:
            raise RuntimeError("every trajectory of this iteration was dropped (env errors); "
                               "see env_runners/num_env_errors and the runner logs")
        timesteps = {NUM_ENV_STEPS_SAMPLED_LIFETIME: self.metrics.peek(
            (ENV_RUNNER_RESULTS, NUM_ENV_STEPS_SAMPLED_LIFETIME), default=0)}
        with self.metrics.log_time((TIMERS, M.TIMER_LEARNER)):
            results = self.learner_group.update(
                **self._learner_data(episodes), timesteps=timesteps,
                num_epochs=self.config.num_epochs, minibatch_size=self.config.minibatch_size,
                shuffle_batch_per_epoch=self.config.minibatch_size is not None)
        self.metrics.aggregate(results, key=LEARNER_RESULTS)
        with self.metrics.log_time((TIMERS, M.TIMER_WEIGHT_SYNC)):
            runners.sync_weights(from_worker_or_learner_group=self.learner_group,
                                 policies=[POLICY_ID], inference_only=True)

    def _learner_data(self, episodes) -> Dict[str, Any]:
        """Whole groups per learner (RLlib's own sharding slices episodes and
        drops ``custom_data``, notes/RLLIB_2.60.md §2.5)."""
        n = max(1, self.config.num_learners)
        if n == 1:
            return {"episodes": episodes}
        import ray

        from rllib_istar.rollout.sharding import shard_whole_groups

        shards = shard_whole_groups(episodes, n)
        mb = self.config.minibatch_size
        steps = [sum(len(e) for e in s) for s in shards]
        per_epoch = max(math.ceil(s / mb) for s in steps) if mb else 1
        return {"episodes_refs": [ray.put(s) for s in shards],
                "num_total_minibatches": per_epoch * self.config.num_epochs}
