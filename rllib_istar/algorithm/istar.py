"""IStarConfig and IStar: the RLlib AlgorithmConfig and Algorithm of iStar and its baselines.

``IStar.training_step`` reads: sample groups -> one learner update (PRM DPO ->
score -> advantages -> PPO, see ``learner/learner.py``) -> sync the policy
weights only.

The config only describes: every knob is declared once in ``knobs.py`` (a base class),
checked in ``validation.py``, and rendered into this class's docstring. Nothing
here trains or loads a model; the format warm-up is built by an explicit step
(``warmup.prepare_policy_model``) that ``IStar.setup`` and ``rllib train`` call.

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
from ray.rllib.utils.annotations import override
from ray.rllib.utils.metrics import (
    ENV_RUNNER_RESULTS,
    LEARNER_RESULTS,
    NUM_ENV_STEPS_SAMPLED_LIFETIME,
    TIMERS,
)

from rllib_istar import metrics as M
from rllib_istar.algorithm import validation
from rllib_istar.algorithm.knobs import (
    KNOBS,
    KNOBS_BY_NAME,
    RLLIB_DEFAULTS,
    IStarKnobs,
    render_knob_docs,
)
from rllib_istar.learner.estimators import EstimatorSpec, resolve_estimator
from rllib_istar.rl_modules.specs import POLICY_ID


class IStarConfig(IStarKnobs, AlgorithmConfig):
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
            setattr(self, knob.name, knob.fresh_default())
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
            raise TypeError(f"{e}; {validation.key_hint(bad, self._known_keys())}") from None
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
        """The policy's starting checkpoint: ``model_path``, or the cache folder of its
        format-warmed copy when ``format_warmup_steps > 0``. Only names the folder;
        ``warmup.prepare_policy_model(config)`` builds it."""
        if not self.format_warmup_steps:
            return self.model_path
        from rllib_istar.algorithm.warmup import warmup_path_for

        return warmup_path_for(self)

    def module_specs(self) -> Dict[str, Any]:
        from rllib_istar.rl_modules.specs import build_module_specs

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
        from rllib_istar.learner.learner import IStarTorchLearner

        return IStarTorchLearner

    # ----------------------------------------------------------- validation
    def _known_keys(self) -> List[str]:
        return sorted(set(vars(type(self)())) | set(dir(type(self))))

    def validate(self) -> None:
        super().validate()
        validation.check_unknown_keys(self, vars(type(self)()), self._value_error)
        validation.check_knobs(self, self._value_error)
        validation.check_settings(self, self._value_error)
        if self.num_env_runners > 0:
            self.create_local_env_runner = False  # no LLM on the driver when runners are remote


IStarConfig.__doc__ += render_knob_docs()


class IStar(Algorithm):
    """iStar (and baselines) on RLlib's new API stack: sample groups, update, sync.

    Hook for subclasses: :meth:`timed` (the driver-side phase timers).
    """

    @classmethod
    @override(Algorithm)
    def get_default_config(cls) -> IStarConfig:
        return IStarConfig()

    def export_hf(self, out_dir: str, include_prm: bool = True) -> Dict[str, str]:
        """Write the trained policy (and PRM) as Hugging Face folders; see ``export.py``."""
        from rllib_istar.algorithm.export import export_hf

        return export_hf(self, out_dir, include_prm=include_prm)

    @override(Algorithm)
    def setup(self, config) -> None:
        from rllib_istar.algorithm.warmup import prepare_policy_model

        prepare_policy_model(config)  # the warmed model, built once before any worker needs it
        super().setup(config)

    def timed(self, name: str):
        """Context manager that times one phase into ``timers/<name>`` (RLlib's
        smoothed timer). Override to also observe each raw duration."""
        return self.metrics.log_time((TIMERS, name))

    @override(Algorithm)
    def training_step(self) -> None:
        runners = self.env_runner_group
        local = runners.num_remote_env_runners() == 0
        with self.timed(M.TIMER_ROLLOUT):
            out = runners.foreach_env_runner(lambda r: (r.sample(), r.get_metrics()),
                                             local_env_runner=local)
        episodes = [ep for eps, _ in out for ep in eps]
        self.metrics.aggregate([m for _, m in out], key=ENV_RUNNER_RESULTS)
        if not episodes:
            raise RuntimeError("every trajectory of this iteration was dropped (env errors); "
                               "see env_runners/num_env_errors and the runner logs")
        timesteps = {NUM_ENV_STEPS_SAMPLED_LIFETIME: self.metrics.peek(
            (ENV_RUNNER_RESULTS, NUM_ENV_STEPS_SAMPLED_LIFETIME), default=0)}
        with self.timed(M.TIMER_LEARNER):
            results = self.learner_group.update(
                **self._learner_data(episodes), timesteps=timesteps,
                num_epochs=self.config.num_epochs, minibatch_size=self.config.minibatch_size,
                shuffle_batch_per_epoch=self.config.minibatch_size is not None)
        self.metrics.aggregate(results, key=LEARNER_RESULTS)
        with self.timed(M.TIMER_WEIGHT_SYNC):
            runners.sync_weights(from_worker_or_learner_group=self.learner_group,
                                 policies=[POLICY_ID], inference_only=True)

    def _learner_data(self, episodes) -> Dict[str, Any]:
        """Whole groups per learner (RLlib's own sharding slices episodes and
        drops ``custom_data``, notes/RLLIB_2.60.md §2.5)."""
        n = max(1, self.config.num_learners)
        if n == 1:
            return {"episodes": episodes}
        import ray

        from rllib_istar.connectors import shard_whole_groups

        shards = shard_whole_groups(episodes, n)
        mb = self.config.minibatch_size
        steps = [sum(len(e) for e in s) for s in shards]
        per_epoch = max(math.ceil(s / mb) for s in steps) if mb else 1
        return {"episodes_refs": [ray.put(s) for s in shards],
                "num_total_minibatches": per_epoch * self.config.num_epochs}
