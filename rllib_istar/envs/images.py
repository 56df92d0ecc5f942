"""Image observations: how an env hands the runner a picture (no Ray, no torch).

A text env stays a ``TextEnv`` (``str`` observations and actions). An env that can
also show its state as a picture implements two members, and the project's env
runner (:class:`~rllib_istar.rollout.env_runner.LLMEnvRunner`) then builds
multimodal prompts for a vision-language policy:

* ``image_observations: bool`` (a property): True when the env's observations are
  pictures, which an env config selects with ``observation: image``
  (:data:`OBSERVATION_KEY`, :func:`config_gives_images`; e.g. ``VisualSokoban-v0``). Its
  text observation is then :data:`IMAGE_PLACEHOLDER`, and the rendered prompt holds
  that word exactly once, where the current picture goes.
* ``observation_image() -> np.ndarray``: the current observation (after the latest
  ``reset``/``step``) as an ``(H, W, 3) uint8`` RGB array, the same size at every step
  of a config.

The runner keeps one image per env step (``columns.IMAGE``, never one per token);
the learner batches them as ``columns.IMAGES (N, H, W, 3) uint8`` and the vision
model's image processor turns them into pixel values at each forward pass.
"""
from __future__ import annotations

from typing import Any

from rllib_istar.image_placeholder import IMAGE_PLACEHOLDER, split_on_image  # noqa: F401

__all__ = ["IMAGE_PLACEHOLDER", "OBSERVATION_KEY", "config_gives_images", "gives_images",
           "split_on_image"]

#: the env_config key choosing pictures ("image") or text ("text") as observations
OBSERVATION_KEY = "observation"


def config_gives_images(env_cls: Any, resolved_config: dict) -> bool:
    """Whether an env class with this resolved ``env_config`` observes pictures (without
    building the env): it implements ``observation_image`` and the config says
    ``observation: image``."""
    return (callable(getattr(env_cls, "observation_image", None))
            and resolved_config.get(OBSERVATION_KEY) == "image")


def gives_images(env: Any) -> bool:
    """Whether ``env`` implements the protocol above and its observations are pictures."""
    return bool(getattr(env, "image_observations", False)) and callable(
        getattr(env, "observation_image", None))
