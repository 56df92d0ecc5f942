"""VisualSokoban-v0 with the tiny VLM end to end: images in episodes and rows (masks
checked by hand), every update after a real train() moving exactly the modules (and
the vision towers) it should, the image-blind PRM option, a checkpoint round trip, and
the one-line errors for impossible settings."""
from pathlib import Path

import numpy as np
import pytest
import torch
from algo_utils import changed, module_state

from rllib_istar import columns as C
from rllib_istar.connectors.episodes_to_rows import episodes_to_rows
from rllib_istar.envs import make_text_env
from rllib_istar.envs.images import IMAGE_PLACEHOLDER

ENV = "rllib_istar/VisualSokoban-v0"
VISION = ".visual."  # the vision tower's parameter names hold this


EXAMPLES = Path(__file__).resolve().parents[2] / "tuned_examples"
METHOD_OF = {"istar_rloo": "istar", "rloo": "rloo", "gigpo": "gigpo"}
#: a tiny budget on top of the tuned example (its model, env_config and knobs otherwise)
TINY = {"group_size": 4, "num_groups": 2, "format_warmup_steps": 10, "num_epochs": 1,
        "microbatch_size": 8}


def visual_config(estimator="istar_rloo", **overrides):
    """tuned_examples/visual_sokoban_<method>_cpu.yaml's config, as Tune would pass it,
    at a tiny budget (episodes of at most 4 steps)."""
    from rllib_istar import IStarConfig
    from rllib_istar.cli.experiments import (
        Source,
        config_variants,
        experiments_from_file,
    )

    path = EXAMPLES / f"visual_sokoban_{METHOD_OF[estimator]}_cpu.yaml"
    spec = experiments_from_file(str(path))[path.stem]
    variant, _, _ = next(config_variants(path.stem, spec["config"], Source(None)))
    variant = dict(variant, **{**TINY, **overrides})
    variant["env_config"] = dict(variant["env_config"], max_steps=4)
    assert variant["advantage_estimator"] == estimator and spec["env"] == ENV
    return IStarConfig().update_from_dict(dict(variant, env=spec["env"]))


def _runner(**knobs):
    from rllib_istar.rollout.env_runner import LLMEnvRunner

    config = visual_config(format_warmup_steps=0, **knobs)
    config.env_runners(env_runner_cls=LLMEnvRunner, num_env_runners=0)
    return LLMEnvRunner(config=config, worker_index=0)


def test_rollout_keeps_one_image_per_step_and_rows_batch_them():
    runner = _runner()
    episodes = runner.sample(task_seeds=[3], group_size=2)
    probe = make_text_env(ENV, {"action_format": "bare", "max_steps": 4})
    obs, _ = probe.reset(seed=3)
    assert obs == IMAGE_PLACEHOLDER
    n_img = runner.vision.num_image_tokens((48, 48, 3))
    for ep in episodes:
        images = ep.get_extra_model_outputs(C.IMAGE)
        prompts = ep.get_extra_model_outputs(C.PROMPT_IDS)
        assert len(images) == len(ep) and all(im.shape == (48, 48, 3) for im in images)
        assert np.array_equal(images[0], probe.observation_image())  # the reset's picture
        assert all(runner.vision.count_image_tokens(p) == n_img for p in prompts)
        assert all(IMAGE_PLACEHOLDER in t for t in ep.get_extra_model_outputs(C.PROMPT_TEXT))
    rows = episodes_to_rows(episodes)
    n = sum(len(ep) for ep in episodes)
    assert rows[C.IMAGES].shape == (n, 48, 48, 3) and rows[C.IMAGES].dtype == torch.uint8
    i = 0
    for ep in episodes:  # row i = step t: its prompt ids, its response ids, its image
        for t in range(len(ep)):
            p, r = ep.get_extra_model_outputs(C.PROMPT_IDS)[t], ep.get_extra_model_outputs(C.RESPONSE_IDS)[t]
            assert rows[C.INPUT_IDS][i, :len(p) + len(r)].tolist() == list(p) + list(r)
            assert rows[C.RESPONSE_MASK][i].tolist() == [0.0] * len(p) + [1.0] * len(r) + \
                [0.0] * (rows[C.INPUT_IDS].shape[1] - len(p) - len(r))
            assert np.array_equal(rows[C.IMAGES][i].numpy(), ep.get_extra_model_outputs(C.IMAGE)[t])
            i += 1
    # both trajectories start from the same room: one anchor state; other pictures differ
    first = [sum(len(e) for e in episodes[:k]) for k in range(len(episodes))]
    assert len({int(rows[C.ANCHOR][j]) for j in first}) == 1
    for a in range(n):
        for b in range(n):
            same = torch.equal(rows[C.IMAGES][a], rows[C.IMAGES][b])
            assert (rows[C.ANCHOR][a] == rows[C.ANCHOR][b]) == same
    runner.stop()


def _vision_keys(state):
    return [k for k in state if VISION in k]


def _train_until_pairs(algo, tries=4):
    for _ in range(tries):
        result = algo.train()
        if result["learners"]["prm"]["num_pairs"] > 0:
            return result
    pytest.fail("no preference pairs in 4 iterations")


@pytest.mark.parametrize("prm_inputs", ["multimodal", "text"])
def test_istar_update_moves_policy_and_prm_and_the_prm_sees_pixels_only_if_asked(build, prm_inputs):
    algo = build(visual_config(prm_inputs=prm_inputs))
    algo.train()  # gradients, optimizer moments and a moved pi_old exist from here on
    policy0, prm0 = module_state(algo, "default_policy"), module_state(algo, "prm")
    result = _train_until_pairs(algo)
    policy1, prm1 = module_state(algo, "default_policy"), module_state(algo, "prm")
    assert set(_vision_keys(policy0)) <= set(changed(policy0, policy1))  # the policy sees pixels
    moved_prm = set(changed(prm0, prm1))
    assert moved_prm - set(_vision_keys(prm0)), "the PRM's language model trained"
    if prm_inputs == "multimodal":
        assert set(_vision_keys(prm0)) <= moved_prm
    else:  # the reference's image-blind PRM: its vision tower never gets a gradient
        assert not moved_prm & set(_vision_keys(prm0))
    assert result["learners"]["default_policy"]["rollout_learner_logp_gap"] < 1e-4
    prm = algo.learner_group._learner.module["prm"].unwrapped()
    assert prm.reads_images == (prm_inputs == "multimodal")


@pytest.mark.parametrize("estimator", ["rloo", "gigpo"])
def test_baselines_move_only_the_policy(build, estimator):
    algo = build(visual_config(estimator))
    algo.train()
    before = module_state(algo, "default_policy")
    algo.train()
    after = module_state(algo, "default_policy")
    assert set(_vision_keys(before)) <= set(changed(before, after))
    assert "prm" not in algo.learner_group._learner.module.keys()


def test_checkpoint_round_trip_with_the_vlm(build, tmp_path):
    from ray.rllib.algorithms.algorithm import Algorithm

    algo = build(visual_config())
    algo.train()
    path = algo.save_to_path(str(tmp_path / "ckpt"))
    saved = {m: module_state(algo, m) for m in ("default_policy", "prm")}
    restored = Algorithm.from_checkpoint(path)
    try:
        for m, state in saved.items():
            assert changed(state, module_state(restored, m)) == [], m
        runner = restored.env_runner_group.local_env_runner
        runner_state = runner.module.get_state()
        assert all(torch.equal(runner_state[k], saved["default_policy"][k]) for k in runner_state)
        result = restored.train()
        assert result["training_iteration"] == 2
        assert changed(saved["default_policy"], module_state(restored, "default_policy"))
    finally:
        restored.stop()


@pytest.mark.parametrize("knobs,match", [
    ({"model_path": "tiny"}, "not a vision-language model; use model_path: tiny-vlm"),
    ({"generation_backend": "vllm"}, "generation_backend: hf"),
])
def test_impossible_settings_fail_with_one_line(knobs, match):
    with pytest.raises(ValueError) as err:
        visual_config(**knobs).validate()
    assert match in str(err.value).splitlines()[0]  # RLlib appends a line of its own


def test_text_fallback_runs_a_text_model():
    with pytest.raises(ValueError, match="observes images, but the policy"):
        _runner(model_path="tiny")  # built without validation: the runner refuses it too
    runner = _runner_text()
    episodes = runner.sample(task_seeds=[1], group_size=2)
    assert all(C.IMAGE not in ep.extra_model_outputs for ep in episodes)
    assert C.IMAGES not in episodes_to_rows(episodes)
    runner.stop()


def _runner_text():
    from rllib_istar import IStarConfig
    from rllib_istar.rollout.env_runner import LLMEnvRunner

    config = (IStarConfig().environment(ENV, env_config={"action_format": "bare", "max_steps": 3,
                                                         "observation": "text"})
              .debugging(seed=0).training(model_path="tiny", group_size=2, num_groups=1,
                                          max_new_tokens=2, format_warmup_steps=0))
    config.env_runners(env_runner_cls=LLMEnvRunner, num_env_runners=0)
    return LLMEnvRunner(config=config, worker_index=0)


def test_a_prompt_budget_that_would_cut_the_image_fails_with_the_fix():
    runner = _runner(max_prompt_length=48)
    with pytest.raises(ValueError, match="cuts into the image .* raise max_prompt_length"):
        runner.sample(task_seeds=[0], group_size=2)
    runner.stop()
