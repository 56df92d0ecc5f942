"""LLMEnvRunner: group rollouts of an LLM policy on text environments.

RLlib's stock ``SingleAgentEnvRunner`` corrupts text observations and cannot
batch ragged token arrays (docs/rllib_internals.md §4), so this runner drives the
envs itself:

* one ``sample()`` rolls out ``num_groups`` tasks x ``group_size`` trajectories;
  the trajectories of a group share the task seed (same first observation);
* at every step the prompts of *all* live envs go to the generator in one
  batched call;
* episodes keep the prompt ids and the generated response ids exactly as
  generated (token in, token out: a response is decoded for the env, never
  re-encoded), the rollout log-probs, group id, trajectory id and outcome;
* an env that raises in ``reset`` or ``step`` drops that trajectory (logged and
  counted), sampling goes on; a group left with fewer than 2 trajectories is
  dropped whole (counted), since every estimator compares inside a group;
* over-long prompts are shortened by the rule in ``rollout/prompt_budget.py``
  and counted;
* envs that observe pictures (``envs/images.py``) get multimodal prompts for a VLM
  policy (``rollout/image_prompts.py``): history as text, the current picture as
  pixels, kept once per step (``columns.IMAGE``), one image per prompt to generate.

Weight sync ships the policy only, in its own dtype (``set_state``). With the
``hf`` backend the policy generates on CUDA whenever this process sees a GPU
(Ray hides GPUs from remote runners that asked for none, so that means
``num_gpus_per_env_runner > 0``, or the local runner on a GPU driver).
"""
from __future__ import annotations

import logging
import time
import uuid
from typing import Any, Dict, List, Optional

import numpy as np
import ray
from ray.rllib.core import COMPONENT_RL_MODULE, DEFAULT_MODULE_ID
from ray.rllib.core.rl_module.rl_module import RLModule
from ray.rllib.env import INPUT_ENV_SINGLE_SPACES, INPUT_ENV_SPACES
from ray.rllib.env.env_runner import EnvRunner
from ray.rllib.env.single_agent_episode import SingleAgentEpisode
from ray.rllib.utils.annotations import override
from ray.rllib.utils.checkpoints import Checkpointable
from ray.rllib.utils.metrics import (
    NUM_ENV_STEPS_SAMPLED_LIFETIME,
    WEIGHTS_SEQ_NO,
)

from rllib_istar import columns as C
from rllib_istar import metrics as M
from rllib_istar.envs.deferred import supports_deferred_outcomes
from rllib_istar.envs.images import gives_images
from rllib_istar.envs.labels import gives_action_labels
from rllib_istar.rollout.action_candidates import (
    action_candidates,
    response_ids_encoder,
)
from rllib_istar.rollout.deferred_outcomes import settle_deferred_outcomes
from rllib_istar.rollout.prompt_budget import build_prompt
from rllib_istar.rollout.sample_metrics import log_sample_metrics
from rllib_istar.rollout.whole_groups import whole_groups

logger = logging.getLogger(__name__)

TASK_RNG_STATE = "task_rng_state"


class _Trajectory:
    """Book-keeping for one live trajectory (one env, one episode)."""

    __slots__ = ("env", "episode", "obs", "history", "num_invalid", "done", "failed", "won",
                 "image")

    def __init__(self, env, episode: SingleAgentEpisode, obs: str, image=None):
        self.env, self.episode, self.obs = env, episode, obs
        self.image = image  # (H, W, 3) uint8 of the current observation (image envs)
        self.history: list[tuple[str, str]] = []
        self.num_invalid = 0
        self.done = False
        self.failed = False
        self.won: Optional[bool] = None  # set by a deferred outcome (envs/deferred.py)


class LLMEnvRunner(EnvRunner, Checkpointable):
    """EnvRunner that samples groups of trajectories from an LLM policy."""

    @override(EnvRunner)
    def __init__(self, *, config, **kwargs):
        # a config nobody validated (a runner made by hand) may still hold "auto" knobs
        resolved = getattr(config, "with_model_defaults", None)
        super().__init__(config=resolved() if resolved else config, **kwargs)
        from rllib_istar.envs import make_text_env

        self._make_env = lambda: make_text_env(self.config.env, dict(self.config.env_config or {}))
        self.env = self._make_env()  # probe env: spaces + early failure on bad config
        self._env_pool: list = []    # one env per trajectory slot, reused across samples
        self._weights_seq_no = 0
        self.last_env_error: Optional[str] = None  # the latest env error, for the driver's message
        seed_entropy = [int(self.config.seed or 0), int(self.worker_index or 0)]
        self._task_rng = np.random.default_rng(seed_entropy)
        self.module: Optional[RLModule] = None
        self.tokenizer = None
        self.generator = None
        self.vision = None  # lm.vision.VisionInputs of a vision-language policy
        self._images = gives_images(self.env)  # every env of this runner shares its config
        self.make_module()
        if self._images and self.vision is None:
            raise ValueError(f"{self.config.env} observes images, but the policy "
                             f"{self.config.model_path!r} is not a vision-language model; use "
                             "model_path: tiny-vlm or a local Qwen2.5-VL folder, or set "
                             "env_config observation: text")

    # ------------------------------------------------------------------ setup
    @override(EnvRunner)
    def make_module(self):
        from rllib_istar.lm import encode_prompt, load_tokenizer, resolve_model_path
        from rllib_istar.messages import VLLM_NO_IMAGES
        from rllib_istar.rollout.generation import make_generator
        from rllib_istar.rollout.image_prompts import ImagePrompts

        cfg = self.config
        path = resolve_model_path(cfg.effective_model_path())
        self.tokenizer = load_tokenizer(path)
        self._prefix = cfg.response_prefix or ""
        self._encode = lambda text: encode_prompt(self.tokenizer, text, self._prefix)
        self._encode_action = (response_ids_encoder(self.tokenizer, self.env.action_format,
                                                    self._prefix)
                               if cfg.same_state_credit and gives_action_labels(self.env)
                               else None)  # same-state credit: record the labelled actions
        stops = {"stop_strings": list(cfg.stop_strings)} if cfg.stop_strings else {}
        if cfg.generation_backend == "hf":
            spec = cfg.policy_module_spec()
            spec.observation_space, spec.action_space = self.env.observation_space, self.env.action_space
            self.module = spec.build()
            self.module.eval()
            self.vision = self.module.vision  # a VLM's: image prompts and pixel inputs
            if self.vision is not None:
                self._image_prompts = ImagePrompts(self.vision, self.tokenizer, self._prefix)
            from rllib_istar.lm.precision import (
                autocast_torch_dtype,
                device_type_of_process,
            )

            device = device_type_of_process()  # Ray hides GPUs from runners that asked for none
            dtype = autocast_torch_dtype(cfg.autocast_dtype, device)  # "auto": lm/precision.py
            if dtype is not None:
                # inference only: the runner's copy holds its weights in the autocast dtype
                # (set_state casts the learner's float32 weights on each sync). Autocast over
                # float32 weights would re-cast every weight at every decoding step.
                self.module.lm.to(dtype)
            if device == "cuda":
                self.module.to("cuda")
            self.generator = make_generator("hf", model=self.module.lm, tokenizer=self.tokenizer,
                                            vision=self.vision, **stops)
        elif self._images:
            raise ValueError(f"{cfg.env} observes images: {VLLM_NO_IMAGES}")
        else:
            self.generator = make_generator(cfg.generation_backend, model_path=path,
                                            dtype=cfg.model_dtype, **stops,
                                            **dict(cfg.vllm_kwargs or {}))

    @override(EnvRunner)
    def assert_healthy(self):
        assert self.env is not None and self.generator is not None

    @override(EnvRunner)
    def get_spaces(self):
        spaces = (self.env.observation_space, self.env.action_space)
        return {INPUT_ENV_SPACES: spaces, INPUT_ENV_SINGLE_SPACES: spaces, DEFAULT_MODULE_ID: spaces}

    # ----------------------------------------------------------------- sample
    @override(EnvRunner)
    def sample(self, *, num_groups: Optional[int] = None, group_size: Optional[int] = None,
               task_seeds: Optional[List[int]] = None, temperature: Optional[float] = None,
               explore: bool = True, **kwargs) -> List[SingleAgentEpisode]:
        """Roll out ``num_groups`` tasks x ``group_size`` trajectories.

        Args:
            num_groups: tasks to sample (default: this runner's share of
                ``config.num_groups``).
            group_size: trajectories per task (default ``config.group_size``).
            task_seeds: explicit task seeds (evaluation); overrides ``num_groups``.
            temperature: sampling temperature override; ``explore=False`` means greedy.

        Returns:
            Finished episodes. A trajectory whose env raised in ``reset`` or ``step``
            is dropped (``num_env_errors``), and so is a group left with fewer than 2
            trajectories (``num_groups_dropped``, see ``whole_groups.py``).
        """
        cfg = self.config
        group_size = group_size or cfg.group_size
        if task_seeds is None:
            n = num_groups if num_groups is not None else cfg.num_groups_per_env_runner()
            task_seeds = [int(s) for s in self._task_rng.integers(0, 2**31 - 1, size=n)]
        temperature = (cfg.temperature if temperature is None else temperature) if explore else 0.0
        t0 = time.perf_counter()
        trajs, groups = self._reset_groups(task_seeds, group_size)
        gen_time, gen_tokens, env_time = 0.0, 0, 0.0
        for _ in range(cfg.max_episode_steps):
            live = [tr for tr in trajs if not tr.done]
            if not live:
                break
            prompts = [build_prompt(tr.env.render_prompt, self._encoder(tr), tr.obs, tr.history,
                                    cfg.history_length, cfg.max_prompt_length) for tr in live]
            for tr, p in zip(live, prompts) if self._images else ():
                self._image_prompts.check(p, tr.image.shape, cfg.max_prompt_length, cfg.env)
            for p in prompts:
                self.metrics.log_value(M.HISTORY_DROPPED, p.history_dropped, reduce="sum")
                self.metrics.log_value(M.PROMPT_TOKENS_CUT, int(p.tokens_cut > 0), reduce="sum")
            tg = time.perf_counter()
            results = self.generator.generate(
                [p.ids for p in prompts], max_new_tokens=cfg.max_new_tokens,
                temperature=temperature, top_p=cfg.top_p,
                seed=int(self._task_rng.integers(0, 2**31 - 1)),
                **({"images": [tr.image for tr in live]} if self._images else {}))
            gen_time += time.perf_counter() - tg
            te = time.perf_counter()
            for tr, prompt, res in zip(live, prompts, results):
                gen_tokens += len(res.response_ids)
                self._step_one(tr, prompt, res)
            env_time += time.perf_counter() - te
        else:  # safety cap reached: cut the episodes that are still running
            for tr in trajs:
                if not tr.done:
                    tr.episode.is_truncated, tr.done = True, True
        settle_deferred_outcomes([tr for tr in trajs if not tr.failed], self.metrics)
        episodes = [self._finish(tr) for tr in trajs if not tr.failed]
        episodes, groups_dropped = whole_groups(episodes, groups, group_size, cfg.env)
        steps = sum(len(e) for e in episodes)
        self.num_env_steps_sampled_lifetime += steps
        log_sample_metrics(self.metrics, episodes, steps, groups_dropped, gen_tokens, gen_time,
                           env_time, time.perf_counter() - t0)
        return episodes

    def _encoder(self, tr: _Trajectory):
        """text -> prompt ids for ``tr``: plain, or with its current image's tokens."""
        return self._image_prompts.encoder(tr.image.shape) if self._images else self._encode

    def _reset_groups(self, task_seeds: List[int], group_size: int):
        """Reset ``group_size`` envs per task seed; returns ``(trajectories,
        {group id: task seed})``. An env whose reset raises is dropped (counted)."""
        trajs, groups = [], {}
        slot = 0
        for seed in task_seeds:
            group_id = uuid.uuid4().hex
            groups[group_id] = seed
            for _ in range(group_size):
                episode = SingleAgentEpisode()
                episode.custom_data.update({C.GROUP_ID: group_id, C.TRAJ_ID: episode.id_,
                                            C.TASK_SEED: seed,
                                            C.POLICY_VERSION: self._weights_seq_no})
                this_slot, slot = slot, slot + 1
                try:
                    env = self._pooled_env(this_slot)
                    obs, info = env.reset(seed=seed)
                except Exception as e:  # an env that cannot reset is dropped, like a crash
                    self._count_env_error(e, seed, "reset")
                    self._env_pool[this_slot] = None  # rebuilt on next use
                    continue
                episode.add_env_reset(observation=obs, infos=info)
                trajs.append(_Trajectory(env, episode, obs,
                                         env.observation_image() if self._images else None))
        return trajs, groups

    def _pooled_env(self, slot: int):
        while len(self._env_pool) <= slot:
            self._env_pool.append(None)
        if self._env_pool[slot] is None:
            env = self._make_env()
            if supports_deferred_outcomes(env):
                env.set_deferred_outcomes(True)
            self._env_pool[slot] = env
        return self._env_pool[slot]

    def _step_one(self, tr: _Trajectory, prompt, res) -> None:
        candidates = (action_candidates(tr.env, self._encode_action) if self._encode_action
                      else None)  # before the step: the labels of the prompt's state
        # the env parses prefix + response; the ids stay exactly as sampled
        text = self._prefix + self.tokenizer.decode(res.response_ids, skip_special_tokens=True)
        try:
            obs, reward, terminated, truncated, info = tr.env.step(text)
        except Exception as e:
            self._count_env_error(e, tr.episode.custom_data[C.TASK_SEED], "step")
            tr.failed = tr.done = True
            self._env_pool[self._env_pool.index(tr.env)] = None  # a crashed env is not reused
            return
        valid = bool(info.get("is_action_valid", True))
        penalty = 0.0 if valid else self.config.invalid_action_penalty
        tr.num_invalid += int(not valid)
        extra = {C.PROMPT_IDS: prompt.ids, C.RESPONSE_IDS: list(res.response_ids),
                 C.ROLLOUT_LOGP: list(res.logp), C.PROMPT_TEXT: prompt.text,
                 C.ACTION_VALID: valid, C.ENV_REWARD_RAW: float(reward)}
        if self._images:
            extra[C.IMAGE] = tr.image  # the prompt's image, once per step
        if candidates is not None:
            extra[C.CANDIDATE_IDS], extra[C.CANDIDATE_LABELS] = candidates
        tr.episode.add_env_step(
            observation=obs, action=text, reward=float(reward) - penalty, infos=info,
            terminated=bool(terminated), truncated=bool(truncated), extra_model_outputs=extra)
        tr.history.append((tr.obs, info.get("action") or text))
        tr.obs = obs
        if self._images:
            tr.image = tr.env.observation_image()
        tr.done = bool(terminated or truncated)

    def _finish(self, tr: _Trajectory) -> SingleAgentEpisode:
        ep = tr.episode
        infos = ep.get_infos()
        won = bool(infos[-1].get("won", False)) if infos else False
        if tr.won is not None:  # a deferred outcome's
            won = tr.won
        if self.config.outcome == "success":
            outcome = float(won) - self.config.invalid_action_penalty * tr.num_invalid
        else:  # "return": the penalised step rewards already hold the penalty
            outcome = float(ep.get_return())
        ep.custom_data.update({C.OUTCOME: outcome, C.WON: won, C.NUM_INVALID: tr.num_invalid})
        return ep

    def _count_env_error(self, err: Exception, task_seed: int, where: str) -> None:
        """Log (one warning per error) and count an env error; the trajectory is dropped."""
        first_line = next(iter(str(err).splitlines()), "")
        self.last_env_error = (f"env {self.config.env}, task seed {task_seed}: {where} raised "
                               f"{type(err).__name__}: {first_line}")
        logger.warning("%s; trajectory dropped", self.last_env_error)
        self.metrics.log_value(M.ENV_ERRORS, 1, reduce="sum")

    @override(EnvRunner)
    def get_metrics(self):
        return self.metrics.reduce()

    # ------------------------------------------------------- state and sync
    @override(Checkpointable)
    def get_state(self, components=None, *, not_components=None, **kwargs) -> Dict[str, Any]:
        """Counters and the task RNG; module weights only when asked for by name.

        Never returns ``{}`` (RLlib would then re-query without exclusions and
        write the full weights into the checkpoint, docs/rllib_internals.md §3).
        """
        state = {NUM_ENV_STEPS_SAMPLED_LIFETIME: self.num_env_steps_sampled_lifetime,
                 TASK_RNG_STATE: self._task_rng.bit_generator.state,
                 WEIGHTS_SEQ_NO: self._weights_seq_no}
        names = [components] if isinstance(components, str) else list(components or [])
        if any(n.startswith(COMPONENT_RL_MODULE) for n in names) and self.module is not None:
            state[COMPONENT_RL_MODULE] = {DEFAULT_MODULE_ID: self.module.get_state(inference_only=True)}
        return state

    @override(Checkpointable)
    def set_state(self, state: Dict[str, Any]) -> None:
        if COMPONENT_RL_MODULE in state:
            seq_no = state.get(WEIGHTS_SEQ_NO, 0)
            if seq_no == 0 or self._weights_seq_no < seq_no:
                weights = state[COMPONENT_RL_MODULE]
                if isinstance(weights, ray.ObjectRef):
                    weights = ray.get(weights)
                if isinstance(weights, dict) and DEFAULT_MODULE_ID in weights:
                    weights = weights[DEFAULT_MODULE_ID]
                if weights:
                    self._load_policy_weights(weights)
            if seq_no > 0:
                self._weights_seq_no = seq_no
        if NUM_ENV_STEPS_SAMPLED_LIFETIME in state:
            self.num_env_steps_sampled_lifetime = state[NUM_ENV_STEPS_SAMPLED_LIFETIME]
        if TASK_RNG_STATE in state:
            self._task_rng.bit_generator.state = state[TASK_RNG_STATE]

    def _load_policy_weights(self, weights) -> None:
        if self.module is not None:
            self.module.set_state(weights)
        else:
            self.generator.load_weights(weights)

    @override(Checkpointable)
    def get_ctor_args_and_kwargs(self):
        return (), {"config": self.config}

    @override(Checkpointable)
    def get_checkpointable_components(self):
        return []

    @override(EnvRunner)
    def stop(self):
        for env in [self.env, *self._env_pool]:
            if env is not None:
                env.close()
