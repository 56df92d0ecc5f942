"""Prompt ids for envs that observe pictures (``envs/images.py``), for the env runner.

The history is text and the current picture is pixels: the env renders its prompt
with :data:`~rllib_istar.envs.images.IMAGE_PLACEHOLDER` where the picture goes, and
:meth:`lm.vision.VisionInputs.encode_prompt` writes the image's tokens there. The
truncation rule of ``prompt_budget.py`` drops history first and then cuts from the
front; :meth:`ImagePrompts.check` makes sure it never cut into the image.
"""
from __future__ import annotations

from typing import Callable, Optional, Sequence


class ImagePrompts:
    """Binds a vision model's :class:`~rllib_istar.lm.vision.VisionInputs`, its tokenizer
    and the response prefix."""

    def __init__(self, vision, tokenizer, response_prefix: Optional[str] = None):
        self.vision, self.tokenizer, self.prefix = vision, tokenizer, response_prefix or ""

    def encoder(self, image_shape: Sequence[int]) -> Callable[[str], list]:
        """text -> prompt ids holding an ``image_shape`` image's expanded tokens."""
        return lambda text: self.vision.encode_prompt(self.tokenizer, text, image_shape,
                                                      self.prefix)

    def check(self, prompt, image_shape: Sequence[int], max_prompt_length: int,
              env_id: str) -> None:
        """Raise a one-line error when ``prompt`` (``prompt_budget.Prompt``) lost image
        tokens to the front cut."""
        want = self.vision.num_image_tokens(image_shape)
        if self.vision.count_image_tokens(prompt.ids) != want:
            raise ValueError(f"max_prompt_length={max_prompt_length} cuts into the image "
                             f"({want} tokens) of {env_id}'s prompt; raise max_prompt_length "
                             f"to at least {len(prompt.ids) + prompt.tokens_cut} or use smaller "
                             "images (env_config tile_px)")
