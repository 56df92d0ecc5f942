"""VisualSokobanEnv: rendering, the image protocol, parity with Sokoban-v0, config, vocabulary."""
from __future__ import annotations

import importlib.util
import random

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

pytestmark = pytest.mark.skipif(importlib.util.find_spec("gym_sokoban") is None,
                                reason="needs the sokoban extra")

from rllib_istar import columns as C  # noqa: E402
from rllib_istar.envs import (  # noqa: E402
    SOKOBAN_ID,
    VISUAL_SOKOBAN_ID,
    all_vocabulary,
    make_text_env,
)
from rllib_istar.envs import sokoban as sk  # noqa: E402
from rllib_istar.envs import visual_sokoban as vs  # noqa: E402
from rllib_istar.envs.base import TextEnv  # noqa: E402
from rllib_istar.envs.contract import check_text_env_class  # noqa: E402
from rllib_istar.envs.images import IMAGE_PLACEHOLDER, gives_images, split_on_image  # noqa: E402
from rllib_istar.envs.registry import keeps_own_vocabulary, tiny_vocabulary  # noqa: E402
from rllib_istar.envs.sokoban import SokobanTextEnv  # noqa: E402
from rllib_istar.envs.visual_sokoban import VisualSokobanEnv  # noqa: E402

MOVES = ("up", "down", "left", "right")


def act(word):
    return f"<think>go {word}</think><action>{word}</action>"


# between them the two levels hold all 7 cell kinds (one player per level: P or S)
LEVEL_P = """
# # # # # #
# _ O √ X #
# P _ _ _ #
# # # # # #
"""
LEVEL_S = """
# # # # # #
# _ O √ X #
# S _ X _ #
# # # # # #
"""
# cell kind (ids 0..5, 6 = player on target) -> (level, row, col)
KIND_CELLS = {0: (LEVEL_P, 0, 0), 1: (LEVEL_P, 1, 1), 2: (LEVEL_P, 1, 2), 3: (LEVEL_P, 1, 3),
              4: (LEVEL_P, 1, 4), 5: (LEVEL_P, 2, 1), 6: (LEVEL_S, 2, 1)}
ONE_PUSH = "#####\n#_O_#\n#_X_#\n#_P_#\n#####"


def block(img, row, col, px):
    return img[row * px:(row + 1) * px, col * px:(col + 1) * px]


def test_contract_and_protocol():
    check_text_env_class(VisualSokobanEnv, TextEnv)
    env = VisualSokobanEnv()
    assert env.image_observations and gives_images(env)
    assert not VisualSokobanEnv({"observation": "text"}).image_observations
    with pytest.raises(RuntimeError, match="reset"):
        env.observation_image()


def test_same_seed_same_image_and_different_seeds_differ():
    a, b = VisualSokobanEnv(), VisualSokobanEnv()
    images = []
    for seed in range(5):
        a.reset(seed=seed)
        b.reset(seed=seed)
        assert a.observation_image().tobytes() == b.observation_image().tobytes()
        for word in ["up", "left", "down"]:
            ra, rb = a.step(act(word)), b.step(act(word))
            assert ra == rb
            assert a.observation_image().tobytes() == b.observation_image().tobytes()
            if ra[2] or ra[3]:
                break
        a.reset(seed=seed)
        images.append(a.observation_image().tobytes())
    assert len(set(images)) >= 4


@pytest.mark.parametrize("dim, px, tiles", [((6, 6), 8, "flat"), ((7, 5), 3, "flat"),
                                            ((5, 6), 2, "sprites"), ((6, 6), 16, "sprites")])
def test_image_shape_follows_tile_px_and_dim_room(dim, px, tiles):
    env = VisualSokobanEnv({"dim_room": dim, "tile_px": px, "tiles": tiles},
                           render_mode="rgb_array")
    env.reset(seed=1)
    img = env.observation_image()
    assert img.shape == (dim[0] * px, dim[1] * px, 3) and img.dtype == np.uint8
    assert np.array_equal(env.render(), img)
    env.step(act("up"))
    assert env.observation_image().shape == img.shape


@pytest.mark.parametrize("px", [2, 8, 13])
def test_flat_tiles_distinct_per_cell_kind(px):
    env = VisualSokobanEnv({"tile_px": px})
    table = vs.tile_table("flat", px)
    blocks = {}
    for kind, (level, row, col) in KIND_CELLS.items():
        env.reset(options={"level": level})
        blocks[kind] = block(env.observation_image(), row, col, px)
        assert np.array_equal(blocks[kind], table[kind])
        # mostly the kind's solid colour; cells on a target carry the white mark
        solid = (blocks[kind] == vs.FLAT_COLOURS[kind]).all(axis=-1)
        assert solid.mean() >= 0.5
        assert solid.all() == (kind not in (2, 3, 6))
    assert len({b.tobytes() for b in blocks.values()}) == 7
    assert vs.tile_table("flat", px) is table  # cached


def test_sprites_at_16_px_are_gym_sokobans_room_to_rgb():
    env = VisualSokobanEnv({"tiles": "sprites", "tile_px": 16})
    ref = sk.load_gym_sokoban().render_utils.room_to_rgb
    for seed in (0, 3):
        env.reset(seed=seed)
        for word in ["left", "up", "right"]:
            img = env.observation_image()
            assert np.array_equal(img, sk.room_to_rgb(env.room_state, env.room_fixed))
            assert np.array_equal(img, ref(env.room_state, env.room_fixed))
            if env.step(act(word))[2]:
                break
    small = VisualSokobanEnv({"tiles": "sprites", "tile_px": 8})
    small.reset(seed=0)
    assert np.array_equal(small.observation_image(),
                          sk.room_to_rgb(small.room_state, small.room_fixed)[::2, ::2])


@pytest.mark.parametrize("config", [{}, {"observation": "text", "tiles": "sprites"}])
def test_same_dynamics_as_sokoban(config):
    rng = random.Random(7)
    text, visual = SokobanTextEnv(), VisualSokobanEnv(config)
    for seed in range(4):
        _, ti = text.reset(seed=seed)
        _, vi = visual.reset(seed=seed)
        assert np.array_equal(text.room_state, visual.room_state)
        assert ti["oracle_push_distance"] == vi["oracle_push_distance"]
        assert vi["task_id"] == f"visual-sokoban-6x6-b1-s{seed}"
        for _ in range(15):
            word = rng.choice(MOVES + ("junk",))
            t_obs, tr, tt, ttr, tinf = text.step(act(word))
            v_obs, vr, vt, vtr, vinf = visual.step(act(word))
            assert (tr, tt, ttr) == (vr, vt, vtr)
            assert tinf["won"] == vinf["won"]
            assert tinf["is_action_valid"] == vinf["is_action_valid"]
            np.testing.assert_equal(tinf[C.ORACLE_LABEL], vinf[C.ORACLE_LABEL])
            assert np.array_equal(text.room_state, visual.room_state)
            assert v_obs == (IMAGE_PLACEHOLDER if visual.image_observations else t_obs)
            if tt or ttr:
                break
    text.reset(options={"level": ONE_PUSH})
    visual.reset(options={"level": ONE_PUSH})
    assert text.step(act("up"))[1:4] == visual.step(act("up"))[1:4] == (10.9, True, False)


def test_image_mode_prompt_holds_the_placeholder_once():
    env = VisualSokobanEnv()
    obs, _ = env.reset(seed=2)
    assert obs == IMAGE_PLACEHOLDER and obs in env.observation_space
    history = []
    for word in ["up", "junk", "left", "down"]:
        prompt = env.render_prompt(obs, history)
        before, after = split_on_image(prompt)
        assert "current observation" in before and "admissible actions" in after
        assert "#" not in prompt and "colours grey wall" in prompt
        assert prompt.count(vs.HISTORY_IMAGE_TEXT) == len(history)
        new_obs, _, _, _, info = env.step(act(word))
        assert new_obs == IMAGE_PLACEHOLDER
        history.append((obs, info["action"]))
        obs = new_obs
    prompt = env.render_prompt(obs, history)
    split_on_image(prompt)
    assert "an earlier room\naction up" in prompt and "action none" in prompt
    sprites = VisualSokobanEnv({"tiles": "sprites"})
    obs, _ = sprites.reset(seed=2)
    assert "brown bricks wall" in split_on_image(sprites.render_prompt(obs, history))[0]


def test_text_mode_prompt_equals_sokobans():
    text, visual = SokobanTextEnv(), VisualSokobanEnv({"observation": "text"})
    t_obs, _ = text.reset(seed=5)
    v_obs, _ = visual.reset(seed=5)
    assert t_obs == v_obs and IMAGE_PLACEHOLDER not in v_obs and v_obs in visual.observation_space
    history = []
    for word in ["left", "up", "junk", "right"]:
        assert text.render_prompt(t_obs, history[-2:]) == visual.render_prompt(v_obs, history[-2:])
        t_new, *_ = text.step(act(word))
        v_new, _, _, _, info = visual.step(act(word))
        assert t_new == v_new
        history.append((t_obs, info["action"]))
        t_obs, v_obs = t_new, v_new
    assert visual.observation_image().shape == (48, 48, 3)  # works in text mode too


@pytest.mark.parametrize("config, key", [
    ({"observation": "pixels"}, "observation"), ({"tile_px": 1}, "tile_px"),
    ({"tile_px": 65}, "tile_px"), ({"tile_px": 8.0}, "tile_px"), ({"tile_px": True}, "tile_px"),
    ({"tiles": "pretty"}, "tiles"), ({"tile": "flat"}, "tile")])
def test_bad_config_raises_naming_the_key(config, key):
    with pytest.raises(ValueError) as err:
        VisualSokobanEnv(config)
    msg = str(err.value)
    assert f"{key}" in msg and "\n" not in msg
    if key in ("observation", "tiles"):
        assert "'image', 'text'" in msg or "'flat', 'sprites'" in msg


def test_gymnasium_make_and_make_text_env():
    env = gymnasium.make(VISUAL_SOKOBAN_ID, tile_px=4, max_steps=3)
    obs, info = env.reset(seed=0)
    assert obs == IMAGE_PLACEHOLDER and info["task_id"].startswith("visual-sokoban-6x6")
    assert env.unwrapped.observation_image().shape == (24, 24, 3)
    env.step(act("up"))
    built = make_text_env(VISUAL_SOKOBAN_ID, {"observation": "text"})
    assert isinstance(built, VisualSokobanEnv) and not built.image_observations
    assert make_text_env(SOKOBAN_ID).reset(seed=0)[0] == built.reset(seed=0)[0]
    check_env(VisualSokobanEnv(), skip_render_check=True)
    check_env(VisualSokobanEnv({"observation": "text"}, render_mode="rgb_array"),
              skip_render_check=True)


def test_vocabulary_covers_random_rollouts_in_both_modes():
    vocab = set(VisualSokobanEnv.vocabulary())
    assert {IMAGE_PLACEHOLDER, "earlier", "cyan", "bricks"} <= vocab
    assert set(SokobanTextEnv.vocabulary()) <= vocab
    rng = random.Random(0)
    for config in [{}, {"tiles": "sprites"}, {"observation": "text"},
                   {"action_format": "bare", "tile_px": 4}]:
        env = VisualSokobanEnv(config)
        for seed in range(3):
            obs, _ = env.reset(seed=seed)
            history = []
            while True:
                prompt = env.render_prompt(obs, history[-3:])
                assert not [w for w in prompt.split() if w not in vocab], config
                word = rng.choice(MOVES + ("junk",))
                new_obs, _, term, trunc, info = env.step(act(word))
                history.append((obs, info["action"]))
                obs = new_obs
                if term or trunc:
                    break


def test_shared_vocabulary_unchanged():
    assert keeps_own_vocabulary(VISUAL_SOKOBAN_ID)
    shared = set(all_vocabulary())
    assert IMAGE_PLACEHOLDER not in shared and "cyan" not in shared
    assert set(VisualSokobanEnv.vocabulary()) <= set(tiny_vocabulary(VISUAL_SOKOBAN_ID))


def test_image_changes_after_a_move():
    env = VisualSokobanEnv()
    env.reset(options={"level": ONE_PUSH})
    start = env.observation_image()
    env.step(act("down"))  # into the wall: the room stays
    assert np.array_equal(env.observation_image(), start)
    env.step(act("left"))  # the player moves
    moved = env.observation_image()
    assert not np.array_equal(moved, start)
    assert np.array_equal(block(moved, 3, 1, 8), vs.tile_table()[5])
    assert np.array_equal(block(moved, 3, 2, 8), vs.tile_table()[1])
    start[...] = 0  # the returned array is the caller's: the cache is untouched
    assert not np.array_equal(env.observation_image(), start)


def test_a_response_that_writes_the_placeholder_never_doubles_the_image():
    """An invalid response's raw text goes into the history; if the policy wrote
    "<image>" itself (a tiny VLM did, in training), the prompt still holds one."""
    from rllib_istar.envs.images import IMAGE_PLACEHOLDER, split_on_image

    env = make_text_env("rllib_istar/VisualSokoban-v0", {"action_format": "bare"})
    obs, _ = env.reset(seed=0)
    history = [(obs, f"{IMAGE_PLACEHOLDER} up {IMAGE_PLACEHOLDER}"), (obs, IMAGE_PLACEHOLDER)]
    prompt = env.render_prompt(obs, history)
    before, after = split_on_image(prompt)
    assert "up" in before and IMAGE_PLACEHOLDER not in before + after
