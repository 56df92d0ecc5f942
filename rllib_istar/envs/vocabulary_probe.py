"""The words an env's observations and actions use, found by playing it: the default
``TextEnv.extra_vocabulary()``, so a user's env needs no vocabulary hook.

The tiny models (``model_path: tiny``) have a word-level tokenizer built from the
vocabulary of every registered env; a word it has never seen becomes the unknown
token. :func:`probe_vocabulary` builds the env with its default config, resets it
on ``num_tasks`` task seeds and, on each, takes admissible actions in turn until the
episode ends (at most ``max_steps``; each action is ``format_example_action``'s, so
pattern and free-text entries are filled in), collecting every whitespace-separated word of
the observations and of the admissible actions. Words that appear only in rare
states can be missed: an env that knows its words lists them by overriding
``extra_vocabulary()`` (the built-in envs do).
"""
from __future__ import annotations

import functools
import random

from .parsing import format_response

#: Task seeds probed by default (the first ones a run would also draw often).
PROBE_TASKS = 32


def probe_vocabulary(env_cls, num_tasks: int = PROBE_TASKS, seed: int = 0) -> list[str]:
    """Sorted words seen while playing ``env_cls()`` (default config) on task seeds
    ``0 .. num_tasks - 1`` with admissible actions drawn by ``random.Random(seed)``.

    Raises ``ValueError`` naming the env and the fix when the env cannot be built or
    played with its default config.
    """
    rng = random.Random(seed)
    words: set[str] = set()
    try:
        env = env_cls()
    except Exception as exc:
        raise ValueError(f"{env_cls.__name__}: cannot build it with its default config to "
                         f"find its words ({exc}); override extra_vocabulary() to list "
                         "them") from exc
    try:
        for task in range(num_tasks):
            obs, _ = env.reset(seed=task)
            words.update(obs.split())
            for _ in range(env.max_steps):
                actions = env.admissible_actions()
                for action in actions:
                    words.update(action.split())
                if not actions:
                    break
                action = env.format_example_action(rng)
                words.update(action.split())
                response = format_response(action, env.action_format)
                obs, _, terminated, truncated, _ = env.step(response)
                words.update(obs.split())
                if terminated or truncated:
                    break
    except Exception as exc:
        raise ValueError(f"{env_cls.__name__}: playing it with its default config to find "
                         f"its words failed ({type(exc).__name__}: {exc}); override "
                         "extra_vocabulary() to list them") from exc
    finally:
        env.close()
    return sorted(words)


@functools.lru_cache(maxsize=None)
def class_vocabulary(env_cls) -> tuple:
    """:func:`probe_vocabulary` of ``env_cls`` with the defaults, played once per class:
    every tiny-model build asks for the words of every registered env."""
    return tuple(probe_vocabulary(env_cls))
