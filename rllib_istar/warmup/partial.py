"""The format warm-up's partial result: saved every few minutes, resumed by the next run.

A warm-up of a real model takes many minutes; a run killed half-way would
otherwise start over. While it trains, ``<warm-up folder>.partial/state.pt`` holds
everything the rest of the run depends on after step k:

* ``step`` (k), ``steps`` (N) and the last ``loss``;
* the model's and the AdamW optimizer's ``state_dict``;
* the Python ``random.Random`` state (it draws each step's batch) and torch's CPU
  generator state;
* a fingerprint of the collected examples (re-collected from the seed on resume,
  the same list only if the env is unchanged).

The folder is named after the warm-up's cache folder, so it carries the same cache
key. It is saved at most every :data:`PARTIAL_EVERY_S` seconds (5 minutes: a kill
loses at most that much; a SmolLM2-135M state is about 1.6 GB, seconds to write),
never at the last step, and written atomically: ``torch.save`` to a temp file in
the same folder, then ``os.replace`` over the old one, so a kill at any moment
leaves the previous state or the new one, never half of one. A save that fails (a
full disk) is reported and training goes on. The finished warm-up removes the
folder. Resuming restores every piece, so the resumed run's weights equal an
uninterrupted run's (tests/algorithm/test_warmup_resume.py).
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import time
from typing import Callable, Optional

import torch

PARTIAL_SUFFIX = ".partial"  # <warm-up folder><suffix> holds the partial state
STATE_FILE = "state.pt"
PARTIAL_EVERY_S = 300.0      # at most one save per this many seconds of training


def partial_dir(out_dir: str) -> str:
    """The partial folder of the warm-up cached at ``out_dir``."""
    return out_dir.rstrip(os.sep) + PARTIAL_SUFFIX


def data_fingerprint(data) -> str:
    """sha256 of the collected ``(prompt ids, response ids, image)`` examples."""
    digest = hashlib.sha256()
    for prompt, response, image in data:
        digest.update(repr((list(prompt), list(response))).encode())
        if image is not None:  # a numpy picture (image envs)
            digest.update(repr(image.shape).encode())
            digest.update(image.tobytes())
    return digest.hexdigest()


def save_partial(out_dir: str, state: dict) -> str:
    """Write ``state`` as ``partial_dir(out_dir)/state.pt`` atomically; the file's path."""
    folder = partial_dir(out_dir)
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".state-", suffix=".tmp", dir=folder)
    os.close(fd)
    try:
        torch.save(state, tmp)
        target = os.path.join(folder, STATE_FILE)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return target


def load_partial(out_dir: str, steps: int, fingerprint: str,
                 say: Optional[Callable[[str], None]] = None) -> Optional[dict]:
    """The partial state of ``out_dir``'s warm-up, or None: none saved, unreadable, or
    saved for other examples or another step count (then ``say`` tells why, and the
    warm-up starts over)."""
    path = os.path.join(partial_dir(out_dir), STATE_FILE)
    if not os.path.isfile(path):
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # a damaged file: start over rather than fail
        reason = f"unreadable ({type(e).__name__})"
    else:
        if state.get("steps") != steps or not 0 < state.get("step", 0) < steps:
            reason = "for another step count"
        elif state.get("data") != fingerprint:
            reason = "for other examples (the env changed)"
        else:
            return state
    if say is not None:
        say(f"format warm-up: ignoring the partial result in {partial_dir(out_dir)} ({reason}); "
            "starting over")
    return None


def remove_partial(out_dir: str) -> None:
    """Delete ``out_dir``'s partial folder (the finished warm-up no longer needs it)."""
    shutil.rmtree(partial_dir(out_dir), ignore_errors=True)


def training_state(step: int, steps: int, loss, model, optim, rng, fingerprint: str) -> dict:
    """Everything a resumed warm-up needs after ``step`` (see the module docstring)."""
    loss = float(loss.detach()) if hasattr(loss, "detach") else float(loss)
    return {"step": int(step), "steps": int(steps), "loss": loss, "data": fingerprint,
            "model": model.state_dict(), "optim": optim.state_dict(),
            "py_rng": rng.getstate(), "torch_rng": torch.get_rng_state()}


def restore(state: dict, model, optim, rng) -> int:
    """Put ``state`` back into ``model``, ``optim``, ``rng`` and torch's generator;
    returns the step to continue after."""
    model.load_state_dict(state["model"])
    optim.load_state_dict(state["optim"])
    rng.setstate(state["py_rng"])
    torch.set_rng_state(state["torch_rng"])
    return int(state["step"])


class PartialSaver:
    """Says when a partial save is due (:data:`PARTIAL_EVERY_S`, or ``every_s``, seconds
    since training started or since the last save) and saves it."""

    def __init__(self, out_dir: str, say: Optional[Callable[[str], None]] = None,
                 every_s: Optional[float] = None, clock: Callable[[], float] = time.monotonic):
        self.out_dir, self.say, self.clock = out_dir, say, clock
        self.every_s = PARTIAL_EVERY_S if every_s is None else float(every_s)
        self.last = clock()

    def due(self) -> bool:
        """True once ``every_s`` seconds have passed since the start or the last save."""
        return self.clock() - self.last >= self.every_s

    def save(self, state: dict) -> bool:
        """Save ``state`` (:func:`training_state`); True if saved. A failed save (a full
        disk) is told through ``say`` and does not stop the warm-up."""
        try:
            save_partial(self.out_dir, state)
        except (OSError, RuntimeError) as e:
            if self.say is not None:
                self.say(f"format warm-up: could not save the partial result "
                         f"({type(e).__name__}: {e}); continuing without it")
            return False
        finally:
            self.last = self.clock()
        if self.say is not None:
            self.say(f"format warm-up: partial result saved at step {state['step']}/"
                     f"{state['steps']} (a rerun resumes there)")
        return True
