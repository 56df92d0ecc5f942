"""A per-update seed for RLlib's minibatch shuffle, so a resumed run shuffles exactly
as an uninterrupted one.

RLlib shuffles the policy batch each epoch with the *global* ``np.random``
(``SampleBatch.shuffle``), whose state is neither seeded per update nor checkpointed:
a run restored from a checkpoint would shuffle differently from the run that saved it.
:func:`seeded_global_numpy` seeds it, for the duration of one update only, from the
config seed and the lifetime env-step count that the update is for (both restored with
a checkpoint), and puts the caller's state back afterwards.
"""
from __future__ import annotations

import contextlib
from typing import Optional

import numpy as np


@contextlib.contextmanager
def seeded_global_numpy(seed: Optional[int], lifetime_env_steps: Optional[int]):
    """Seed ``np.random`` from ``(seed, lifetime_env_steps)`` inside the block; with no
    seed (an unseeded run) leave it alone."""
    if seed is None or lifetime_env_steps is None:
        yield
        return
    saved = np.random.get_state()
    entropy = np.random.SeedSequence([int(seed), int(lifetime_env_steps)])
    np.random.seed(entropy.generate_state(1)[0])
    try:
        yield
    finally:
        np.random.set_state(saved)
