"""IStarConfig and IStar: the RLlib AlgorithmConfig and Algorithm of iStar and its baselines.

``IStar.training_step`` reads: sample groups -> one learner update (PRM DPO ->
score -> advantages -> PPO, see ``learner/learner.py``) -> sync the policy
weights only. With ``rollout_mode: async`` the runners sample the next iteration
during the update (``ahead_sampler.py``).

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

import logging
import math
import time
from typing import Any, Dict, List, Optional

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
from rllib_istar.algorithm import model_defaults, validation
from rllib_istar.algorithm.ahead_sampler import AheadSampler, sample_on_runner
from rllib_istar.algorithm.knob_docs import render_knob_docs
from rllib_istar.algorithm.knobs import KNOBS, KNOBS_BY_NAME, IStarKnobs
from rllib_istar.algorithm.no_episodes import no_episodes_error
from rllib_istar.algorithm.process_sharing import share_local_runner_weights
from rllib_istar.algorithm.rllib_knobs import RLLIB_DEFAULTS
from rllib_istar.algorithm.settings_checks import check_settings
from rllib_istar.learner.estimator_tables import EstimatorSpec, resolve_estimator
from rllib_istar.rl_modules.specs import POLICY_ID

logger = logging.getLogger(__name__)


class IStarConfig(IStarKnobs, AlgorithmConfig):
    """Configuration of :class:`IStar` (iStar and the paper's baselines).

    Set knobs with the fluent setters RLlib users know (``.environment()``,
    ``.env_runners()``, ``.learners()``, ``.training(**knobs)``), or as plain
    attributes / a dict (YAML, Tune). ``validate()`` rejects unknown keys (with
    the nearest valid name), wrong types and impossible settings.

    Knobs (docs/algorithm.md is the spec; sources in parentheses):
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
        # A dead env runner is restarted by RLlib's defaults (restart_failed_env_runners);
        # IStar.training_step waits this long for it (30 s in RLlib): an LLM runner's
        # restart reloads the model (and a vLLM engine), which takes minutes.
        self.env_runner_health_probe_timeout_s = 600.0

    # -------------------------------------------------------------- setters
    def training(self, **kwargs) -> "IStarConfig":
        """RLlib's training settings plus every iStar knob (see the class docstring)."""
        ours = {k: kwargs.pop(k) for k in list(kwargs) if k in KNOBS_BY_NAME}
        try:
            super().training(**kwargs)
        except TypeError as e:
            bad = validation.unknown_training_key(kwargs) or next(iter(kwargs))
            raise TypeError(f"{e}; {validation.training_key_hint(bad, self._known_keys())}") \
                from None
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
    def effective_prm_dpo_reference(self) -> str:
        """The DPO loss's reference: ``prm_dpo_reference``, or ``prm_reference``'s."""
        return self.prm_dpo_reference or self.prm_reference

    @property
    def uses_initial_reference(self) -> bool:
        """Whether the PRM's scoring or its DPO loss reads pi_init (``initial``)."""
        return self.uses_prm and "initial" in (self.prm_reference, self.effective_prm_dpo_reference)

    @property
    def env_labels_actions(self) -> bool:
        """Whether the env labels its admissible actions (``oracle_action_labels``): the
        learner then reports same-state credit (``same_state_credit``)."""
        if not self.same_state_credit or not isinstance(self.env, str):
            return False
        from rllib_istar.envs.labels import gives_action_labels
        from rllib_istar.envs.registry import registered_env_ids, text_env_class

        return (self.env in registered_env_ids()
                and gives_action_labels(text_env_class(self.env) or object))

    @property
    def effective_ratio_level(self) -> str:
        if self.ratio_level != "auto":
            return self.ratio_level
        return "token" if self.estimator.token_level else "step"

    def num_groups_per_env_runner(self) -> int:
        return math.ceil(self.num_groups / max(1, self.num_env_runners))

    def base_model_spec(self) -> str:
        """``model_path`` as ``resolve_model_path`` needs it for this env: a tiny model
        (``tiny``, ``tiny:...``, ``tiny-bpe``) on an env that keeps its vocabulary apart
        (``register_text_env(..., shared_vocabulary=False)``: WebShop, Social) becomes
        ``<spec>+<env id>``, so its tokenizer covers that env's words while every other
        env keeps the shared tiny model."""
        from rllib_istar.lm.loading import is_tiny_spec

        if isinstance(self.env, str) and is_tiny_spec(self.model_path):
            from rllib_istar.envs.registry import keeps_own_vocabulary

            if keeps_own_vocabulary(self.env):
                return f"{self.model_path}+{self.env}"
        return self.model_path

    def effective_model_path(self) -> str:
        """The policy's starting checkpoint: ``model_path`` (:meth:`base_model_spec`), or
        the cache folder of its format-warmed copy when ``format_warmup_steps > 0``.
        Only names the folder; ``warmup.prepare_policy_model(config)`` builds it. An
        ``"auto"`` warm-up counts as what it resolves to (``model_defaults``)."""
        config = self.with_model_defaults()
        if not config.format_warmup_steps:
            return config.base_model_spec()
        from rllib_istar.warmup import warmup_path_for

        return warmup_path_for(config)

    def module_specs(self) -> Dict[str, Any]:
        from rllib_istar.rl_modules.specs import build_module_specs

        resolved = self.with_model_defaults()  # "auto" read as validate() resolves it
        return build_module_specs(
            model_path=self.effective_model_path(), dtype=self.model_dtype, temperature=self.temperature,
            prm=self.uses_prm, prm_mode=self.prm_mode, prm_model_path=self.prm_init,
            lora_rank=self.lora_rank, lora_alpha=self.lora_alpha,
            trust_remote_code=self.trust_remote_code, compute_entropy=self.entropy_coef > 0,
            gradient_checkpointing=resolved.gradient_checkpointing, policy_mode=self.policy_mode,
            autocast_dtype=self.autocast_dtype, flush_denormal=self.flush_denormal,
            prm_inputs=self.prm_inputs)

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

    def apply_model_defaults(self) -> Optional[str]:
        """Set every ``"auto"`` knob to its model's value (``model_defaults.py``); the line
        announcing it, or None. ``with_model_defaults()``: a resolved copy, unannounced."""
        return model_defaults.model_defaults_line(
            self.model_path, model_defaults.resolve_model_defaults(self))

    def with_model_defaults(self) -> "IStarConfig":
        return model_defaults.with_model_defaults(self)

    def validate(self) -> None:
        line = self.apply_model_defaults()
        if line:
            model_defaults.logger.warning(line)
        defaults = type(self)()
        validation.check_unknown_keys(self, vars(defaults), self._value_error)
        validation.check_knobs(self, self._value_error)
        validation.check_rllib_knobs(self, defaults, self._value_error)
        super().validate()  # after ours: RLlib's own checks assume sane values
        check_settings(self, self._value_error)
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
        from rllib_istar.warmup import prepare_policy_model

        prepare_policy_model(config)  # the warmed model, built once before any worker needs it
        self._ahead = AheadSampler()  # rollout_mode async: the next iteration's sampling
        super().setup(config)
        self.shared_weight_bytes = share_local_runner_weights(self.env_runner_group,
                                                              self.learner_group)

    @override(Algorithm)
    def set_state(self, state) -> None:
        """RLlib's restore, after dropping the groups sampled ahead (``rollout_mode: async``)."""
        self._ahead.discard(self.env_runner_group)
        super().set_state(state)

    @override(Algorithm)
    def save_checkpoint(self, checkpoint_dir: str) -> None:
        """RLlib's checkpoint, then its file list (``checkpoint_files.write_manifest``),
        so a folder cut short by a kill mid-write is told apart from a finished one. A
        full disk raises one line that names the fix (``CheckpointDiskFullError``)."""
        from rllib_istar.algorithm.checkpoint_files import (
            disk_full_error,
            write_manifest,
        )

        try:
            super().save_checkpoint(checkpoint_dir)
            write_manifest(checkpoint_dir)
        except OSError as e:
            full = disk_full_error(e, checkpoint_dir)
            if full is None:
                raise
            raise full from e

    def timed(self, name: str):
        """Context manager that times one phase into ``timers/<name>`` (RLlib's
        smoothed timer). Override to also observe each raw duration."""
        return self.metrics.log_time((TIMERS, name))

    @override(Algorithm)
    def training_step(self) -> None:
        runners = self.env_runner_group
        ahead = self.config.rollout_mode == "async"
        with self.timed(M.TIMER_ROLLOUT):
            out = self._ahead.collect(runners) if ahead else None
            if out is None:
                if ahead:  # a first sample: the runners start from the learner's version
                    self._sync_policy(runners)
                out = self._sample_groups(runners)
        episodes = [ep for _, eps, _ in out for ep in eps]
        self.metrics.aggregate([m for _, _, m in out], key=ENV_RUNNER_RESULTS)
        if not episodes:
            raise no_episodes_error(runners, self.metrics, len(out),
                                    self.config.env_runner_health_probe_timeout_s)
        timesteps = {NUM_ENV_STEPS_SAMPLED_LIFETIME: self.metrics.peek(
            (ENV_RUNNER_RESULTS, NUM_ENV_STEPS_SAMPLED_LIFETIME), default=0)}
        if ahead:  # the next iteration samples with the weights this update starts from
            with self.timed(M.TIMER_WEIGHT_SYNC):
                self._sync_policy(runners)
            self._ahead.launch(runners)
        with self.timed(M.TIMER_LEARNER):
            results = self.learner_group.update(
                **self._learner_data(episodes), timesteps=timesteps,
                num_epochs=self.config.num_epochs, minibatch_size=self.config.minibatch_size,
                shuffle_batch_per_epoch=self.config.minibatch_size is not None)
        self.metrics.aggregate(results, key=LEARNER_RESULTS)
        if not ahead:
            with self.timed(M.TIMER_WEIGHT_SYNC):
                self._sync_policy(runners)

    def _sync_policy(self, runners) -> None:
        """The learner's policy weights (and their version) to every env runner."""
        runners.sync_weights(from_worker_or_learner_group=self.learner_group,
                             policies=[POLICY_ID], inference_only=True)

    #: Rounds of "wait for the runners that died to be restarted, then sample on them"
    #: in one iteration (a runner that dies again after that is left for the next one).
    RESAMPLE_ROUNDS = 2

    def _sample_groups(self, runners) -> List[tuple]:
        """``[(worker index, episodes, metrics)]`` of every runner that finished sampling.

        The local runner (no remote ones) samples in this process; its errors raise (env
        errors never do: the runner drops those trajectories, ``LLMEnvRunner.sample``).
        A remote runner that dies mid-sample (a RayActorError) returns nothing: with
        ``restart_failed_env_runners`` (RLlib's default) RLlib marks it unhealthy and Ray
        restarts its actor (up to ``max_num_env_runner_restarts`` times). Its groups are
        lost, so :meth:`_wait_for_restarts` waits for it and syncs it, and it samples
        again, at most :attr:`RESAMPLE_ROUNDS` times. Only runners healthy when this step
        began are waited for; one still down leaves the iteration with fewer groups.
        """
        if runners.num_remote_env_runners() == 0:
            return runners.foreach_env_runner(sample_on_runner, local_env_runner=True)
        started = set(runners.healthy_env_runner_ids())
        out = runners.foreach_env_runner(sample_on_runner, local_env_runner=False)
        for _ in range(self.RESAMPLE_ROUNDS):
            lost = started - {index for index, _, _ in out}
            if not lost:
                break
            logger.warning("env runner(s) %s died while sampling; waiting up to "
                           "env_runner_health_probe_timeout_s=%ss for RLlib to restart them",
                           sorted(lost), self.config.env_runner_health_probe_timeout_s)
            restored = self._wait_for_restarts(runners, lost)
            if not restored:
                break
            out += runners.foreach_env_runner(sample_on_runner, local_env_runner=False,
                                              remote_worker_ids=restored)
        return out

    def _wait_for_restarts(self, runners, lost: set) -> List[int]:
        """Poll RLlib's ``restore_env_runners`` until every runner in ``lost`` is back or
        ``env_runner_health_probe_timeout_s`` has passed; returns the ones back.

        A restarting actor answers RLlib's ping at once with ActorUnavailableError (the
        ping does not wait), hence the polling. Each restored runner gets RLlib's
        restore state: the learner's current inference-only module state, i.e. the
        policy weights the other runners sampled with (the PRM's inference-only state
        is empty), so it samples the same policy. Its task RNG starts again from the
        seed (not part of that state). ``on_env_runners_recreated`` callbacks fire as in
        ``Algorithm``.
        """
        deadline = time.monotonic() + self.config.env_runner_health_probe_timeout_s
        back: List[int] = []
        while True:
            restored = [i for i in self.restore_env_runners(runners) if i in lost]
            if restored:
                self._make_on_env_runners_recreated_callbacks(
                    config=self.config, env_runner_group=runners,
                    restored_env_runner_indices=restored)
                back += restored
            if set(back) >= lost or time.monotonic() >= deadline:
                return back
            time.sleep(0.5)

    def _learner_data(self, episodes) -> Dict[str, Any]:
        """Whole groups per learner (RLlib's own sharding slices episodes and
        drops ``custom_data``, docs/rllib_internals.md §2)."""
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
