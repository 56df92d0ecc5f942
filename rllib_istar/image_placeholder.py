"""The word that marks where a prompt's picture goes, and the split on it.

Image envs (``envs/images.py``) write :data:`IMAGE_PLACEHOLDER` into their prompts; the
vision-language models (``lm/vision.py``) split the prompt text on it. Both read it here.
"""
from __future__ import annotations

__all__ = ["IMAGE_PLACEHOLDER", "split_on_image"]

#: the word standing for the current picture in a rendered prompt
IMAGE_PLACEHOLDER = "<image>"


def split_on_image(prompt_text: str) -> tuple[str, str]:
    """``(text before, text after)`` the one :data:`IMAGE_PLACEHOLDER` of a prompt.

    Raises:
        ValueError: the prompt holds the placeholder zero or several times.
    """
    count = prompt_text.count(IMAGE_PLACEHOLDER)
    if count != 1:
        raise ValueError(f"an image prompt must hold {IMAGE_PLACEHOLDER!r} exactly once "
                         f"(where the current picture goes), found it {count} times; the "
                         "env's render_prompt must replace it in the history")
    before, after = prompt_text.split(IMAGE_PLACEHOLDER)
    return before, after
