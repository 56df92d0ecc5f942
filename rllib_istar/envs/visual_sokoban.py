"""``VisualSokobanEnv``: Sokoban-v0 shown as a picture (``rllib_istar/VisualSokoban-v0``).

A subclass of :class:`~rllib_istar.envs.sokoban.SokobanTextEnv`: the same rooms for
the same seeds, the same rewards, oracle step labels (``C.ORACLE_LABEL``), action
parsing, ``max_steps`` and ``reset(options={"level": ...})``. Only the observation
differs: the env implements the image protocol of :mod:`.images`.

* ``image_observations`` (a property): True iff ``observation == "image"``.
* ``observation_image()``: the current room (after the latest ``reset``/``step``) as an
  ``(h * tile_px, w * tile_px, 3) uint8`` array, deterministic in (seed, actions);
  available in both modes. ``render_mode="rgb_array"`` renders the same array.
* In image mode the text observation ``reset``/``step`` return is exactly
  :data:`~rllib_istar.envs.images.IMAGE_PLACEHOLDER` (``"<image>"``), and
  ``render_prompt`` holds it exactly once, for the current picture: the history's
  past observations are written as the fixed text :data:`HISTORY_IMAGE_TEXT`
  (``"an earlier room"``; the past actions stay as text, without the placeholder
  should a response have written it), and the instruction
  describes the picture's colours instead of the text symbols. In text mode the
  observations and prompts are Sokoban-v0's, word for word.

Tiles (``tiles``): ``"flat"``, our own renderer: one solid colour per cell kind
(:data:`FLAT_COLOURS`: grey wall, black floor, red target, yellow box, orange box
on target, green player, cyan player on target), and a white square in the middle
of every cell with a target under it, so a box or player on a target differs from
one off it in colour and mark; ``"sprites"``: gym_sokoban's 16-px sprites,
nearest-neighbour resized to ``tile_px`` (at 16 exactly gym_sokoban's
``room_to_rgb``). Pure numpy: a tile table ``(7, tile_px, tile_px, 3)`` is built
once per (tiles, tile_px) and cached at module level (:func:`tile_table`); a frame
is one fancy-index into it (:func:`render_room`).

env_config keys: Sokoban-v0's (``action_format``, ``max_steps``, ``dim_room``,
``num_boxes``, ``num_gen_steps``, ``search_depth``, ``oracle_labels``), plus
``observation`` (``"image"`` default, or ``"text"``), ``tile_px`` (int in [2, 64],
default 8: a 6x6 room is 48x48 px) and ``tiles`` (``"flat"`` default, or
``"sprites"``). Bad values raise a one-line ``ValueError`` naming the key.

Vocabulary: ``vocabulary()`` covers both modes (the placeholder word, the
image-mode instructions of both tile styles, :data:`HISTORY_IMAGE_TEXT`); the id is
registered with its own vocabulary (``_OWN_VOCABULARY``), so the shared tiny model's
words are unchanged.

Costs (6x6, 1 box, one CPU core, mean of 200): reset and step cost what Sokoban-v0's
do (about 2.5 ms and 0.1 ms: room generation and the push-distance solver dominate);
the image is rendered only when ``observation_image()`` is called, in 15 to 25 us,
and holds ``h * w * tile_px**2 * 3`` bytes: 6912 per step at tile_px 8, 27648 at 16.
"""
from __future__ import annotations

import dataclasses
import threading
from typing import Any, ClassVar

import numpy as np

from .config_checks import int_in_range
from .images import IMAGE_PLACEHOLDER
from .sokoban import _PROMPT, SokobanTextEnv, _tiles, room_to_rgb
from .templates import PromptTemplate

__all__ = ["VisualSokobanEnv", "FLAT_COLOURS", "HISTORY_IMAGE_TEXT", "IMAGE_PROMPTS",
           "OBSERVATION_MODES", "TILE_STYLES", "TILE_PX_RANGE", "tile_table", "render_room"]

OBSERVATION_MODES = ("image", "text")
TILE_STYLES = ("flat", "sprites")
#: inclusive bounds of ``tile_px``
TILE_PX_RANGE = (2, 64)
#: what a past observation reads as in an image-mode prompt's history
HISTORY_IMAGE_TEXT = "an earlier room"

#: flat tile colour per cell kind: gym_sokoban's ids 0..5, then 6 = player on target
FLAT_COLOURS = np.array([
    (128, 128, 128),  # 0 wall: grey
    (0, 0, 0),        # 1 floor: black
    (200, 0, 0),      # 2 target: red
    (240, 120, 0),    # 3 box on target: orange
    (230, 200, 0),    # 4 box: yellow
    (0, 190, 0),      # 5 player: green
    (0, 190, 200),    # 6 player on target: cyan
], dtype=np.uint8)
_TARGET_MARK = np.array((255, 255, 255), dtype=np.uint8)  # white, in the middle
_ON_TARGET = (2, 3, 6)

_RULES = ("each action moves you one cell up down left or right and you push a box by "
          "walking into it\n"
          "a box can not be pulled and nothing can move through a wall")
_INTRO = ("you are an expert sokoban player\n"
          "the goal is to push every box onto a target\n"
          "the picture shows the room from above with one square per cell\n")
#: the image-mode prompt per tile style (Sokoban-v0's template with another instruction)
IMAGE_PROMPTS: dict[str, PromptTemplate] = {
    "flat": dataclasses.replace(_PROMPT, instruction=(
        _INTRO
        + "colours grey wall black floor red target yellow box orange box on target "
          "green player cyan player on target\n"
          "a white dot in the middle of a square marks a target under it\n" + _RULES)),
    "sprites": dataclasses.replace(_PROMPT, instruction=(
        _INTRO
        + "brown bricks wall black floor red frame with a red dot target yellow crate box "
          "crate in a red frame box on target green figure player green figure in a red "
          "frame player on target\n" + _RULES)),
}

_TILE_LOCK = threading.Lock()
_TILE_CACHE: dict[tuple[str, int], np.ndarray] = {}


def _flat_tiles(px: int) -> np.ndarray:
    tiles = np.broadcast_to(FLAT_COLOURS[:, None, None, :], (7, px, px, 3)).copy()
    size = max(1, px // 4)
    lo = (px - size) // 2
    for kind in _ON_TARGET:
        tiles[kind, lo:lo + size, lo:lo + size] = _TARGET_MARK
    return tiles


def _sprite_tiles(px: int) -> np.ndarray:
    sprites = _tiles()  # (7, 16, 16, 3), gym_sokoban's order (wall .. player on target)
    index = (np.arange(px) * sprites.shape[1]) // px  # nearest neighbour
    return sprites[:, index][:, :, index].copy()


def tile_table(tiles: str = "flat", tile_px: int = 8) -> np.ndarray:
    """The read-only ``(7, tile_px, tile_px, 3) uint8`` tile per cell kind (ids 0..5,
    6 = player on target), built once per ``(tiles, tile_px)``."""
    key = (tiles, int(tile_px))
    table = _TILE_CACHE.get(key)
    if table is not None:
        return table
    if tiles not in TILE_STYLES:
        raise ValueError(f"tiles must be one of {list(TILE_STYLES)}, got {tiles!r}")
    table = _flat_tiles(key[1]) if tiles == "flat" else _sprite_tiles(key[1])
    table.setflags(write=False)
    with _TILE_LOCK:
        return _TILE_CACHE.setdefault(key, table)


def render_room(room_state: np.ndarray, room_fixed: np.ndarray, tiles: str = "flat",
                tile_px: int = 8) -> np.ndarray:
    """``(h * tile_px, w * tile_px, 3) uint8``: the room drawn with :func:`tile_table`."""
    return room_to_rgb(room_state, room_fixed, tile_table(tiles, tile_px))


def _without_placeholder(text: str) -> str:
    """``text`` with every :data:`IMAGE_PLACEHOLDER` removed (whitespace collapsed)."""
    return " ".join(text.replace(IMAGE_PLACEHOLDER, " ").split()) if text else text


class VisualSokobanEnv(SokobanTextEnv):
    """Sokoban with picture observations; see the module docstring."""

    DEFAULT_CONFIG: ClassVar[dict[str, Any]] = {
        **SokobanTextEnv.DEFAULT_CONFIG, "observation": "image", "tile_px": 8, "tiles": "flat"}

    def __init__(self, env_config: dict | None = None, **kwargs: Any):
        super().__init__(env_config, **kwargs)
        self.tile_px = int(self.config["tile_px"])
        self.tile_style: str = self.config["tiles"]
        tile_table(self.tile_style, self.tile_px)  # build (and cache) the tiles now

    def validate_config(self, cfg: dict) -> None:
        super().validate_config(cfg)
        name = type(self).__name__
        if cfg["observation"] not in OBSERVATION_MODES:
            raise ValueError(f"{name}: observation must be one of {list(OBSERVATION_MODES)}, "
                             f"got {cfg['observation']!r}")
        int_in_range(name, "tile_px", cfg["tile_px"], *TILE_PX_RANGE)
        if cfg["tiles"] not in TILE_STYLES:
            raise ValueError(f"{name}: tiles must be one of {list(TILE_STYLES)}, "
                             f"got {cfg['tiles']!r}")

    # ------------------------------------------------------- image protocol
    @property
    def image_observations(self) -> bool:
        """Whether observations are pictures (``observation: image``)."""
        return self.config["observation"] == "image"

    def observation_image(self) -> np.ndarray:
        """The current room as an ``(h * tile_px, w * tile_px, 3) uint8`` RGB array."""
        env = self._legacy
        if getattr(env, "room_state", None) is None:
            raise RuntimeError(f"{type(self).__name__}.observation_image() called before "
                               "reset(); call reset()")
        return render_room(env.room_state, env.room_fixed, self.tile_style, self.tile_px)

    def render(self):
        if self.render_mode == "rgb_array":
            return self.observation_image()
        return super().render()

    # ---------------------------------------------------------- vocabulary
    @classmethod
    def extra_vocabulary(cls) -> list[str]:
        words = set(super().extra_vocabulary()) | {IMAGE_PLACEHOLDER}
        words.update(HISTORY_IMAGE_TEXT.split())
        for template in IMAGE_PROMPTS.values():
            words.update(template.words())
        return sorted(words)

    def observation_charset(self) -> str:
        if self.image_observations:
            return "".join(sorted(set(IMAGE_PLACEHOLDER)))
        return super().observation_charset()

    def max_obs_chars(self) -> int:
        if self.image_observations:
            return len(IMAGE_PLACEHOLDER)
        return super().max_obs_chars()

    # ---------------------------------------------------------------- state
    def _shown(self, text: str) -> str:
        return IMAGE_PLACEHOLDER if self.image_observations else text

    def reset_task(self, task_seed: int, options: dict | None) -> str:
        return self._shown(super().reset_task(task_seed, options))

    def apply_action(self, action: str) -> tuple[str, float, bool, bool]:
        obs, reward, terminated, won = super().apply_action(action)
        return self._shown(obs), reward, terminated, won

    def noop(self) -> tuple[str, float]:
        obs, reward = super().noop()
        return self._shown(obs), reward

    def task_id(self) -> str:
        h, w = self.dim_room
        return f"visual-sokoban-{h}x{w}-b{self.num_boxes}-s{self._task_seed}"

    # --------------------------------------------------------------- prompt
    def render_prompt(self, observation: str, history: list[tuple[str, str]]) -> str:
        """Text mode: Sokoban-v0's prompt. Image mode: the picture instruction, the
        history's observations as :data:`HISTORY_IMAGE_TEXT` and ``observation`` (the
        placeholder) as the current one, so the placeholder appears exactly once: a past
        response that wrote the placeholder itself (an invalid action's raw text) has it
        removed."""
        if not self.image_observations:
            return super().render_prompt(observation, history)
        past = [(HISTORY_IMAGE_TEXT, _without_placeholder(action)) for _, action in history]
        return IMAGE_PROMPTS[self.tile_style].render(
            observation, past, self.admissible_actions(), self.action_format,
            step=self._steps, max_steps=self.max_steps)
