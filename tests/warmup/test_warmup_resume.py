"""A killed format warm-up resumes from its partial result and ends with the same
weights as an uninterrupted one (warmup/partial.py)."""
import os

import pytest
import torch
from safetensors.torch import load_file

from rllib_istar.warmup import partial as warmup_partial
from rllib_istar.warmup import build_warmup_model
from rllib_istar.lm.loading import resolve_model_path

ENV = "rllib_istar/KeyCorridor-v0"
STEPS, KILL_AT = 4, 2
SMALL = {"batch_size": 4, "seed": 7}  # a few fast steps of the tiny model


def _weights(folder):
    return load_file(os.path.join(folder, "model.safetensors"))


def _build(out, **kwargs):
    return build_warmup_model(str(out), resolve_model_path("tiny"), ENV, None, STEPS,
                              **SMALL, **kwargs)


def _killed_after_partial(monkeypatch, step):
    """Make the warm-up die (KeyboardInterrupt) right after it saved the partial at ``step``."""
    save = warmup_partial.PartialSaver.save

    def save_then_die(self, state):
        saved = save(self, state)
        if state["step"] == step:
            raise KeyboardInterrupt
        return saved

    monkeypatch.setattr(warmup_partial.PartialSaver, "save", save_then_die)


def test_a_killed_warmup_resumes_and_ends_like_an_uninterrupted_one(tmp_path, monkeypatch):
    straight = _build(tmp_path / "straight")  # default: no partial saved in a short run
    assert not os.path.exists(warmup_partial.partial_dir(straight))

    out, lines = tmp_path / "resumed", []
    with monkeypatch.context() as m:
        _killed_after_partial(m, KILL_AT)
        with pytest.raises(KeyboardInterrupt):
            _build(out, say=lines.append, partial_every_s=0)  # a partial after every step
    assert not out.exists(), "a killed warm-up publishes no final entry"
    assert os.path.isfile(os.path.join(warmup_partial.partial_dir(str(out)),
                                       warmup_partial.STATE_FILE))
    assert f"format warm-up: partial result saved at step {KILL_AT}/{STEPS} " \
           "(a rerun resumes there)" in lines

    lines.clear()
    resumed = _build(out, say=lines.append)
    assert any(ln.startswith(f"resuming format warm-up at step {KILL_AT}/{STEPS}")
               for ln in lines), lines
    assert not any(f"step {KILL_AT}/{STEPS} |" in ln for ln in lines), "no step is redone"
    assert not os.path.exists(warmup_partial.partial_dir(resumed)), "the partial is removed"
    a, b = _weights(straight), _weights(resumed)
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a), "resumed weights differ"


def test_a_partial_for_other_examples_is_ignored(tmp_path):
    out, lines = str(tmp_path / "w"), []
    warmup_partial.save_partial(out, {"step": 1, "steps": STEPS, "data": "other"})
    assert warmup_partial.load_partial(out, STEPS, "mine", lines.append) is None
    assert "for other examples" in lines[-1] and "starting over" in lines[-1]
    assert warmup_partial.load_partial(out, STEPS + 1, "other", lines.append) is None
    assert "another step count" in lines[-1]
    assert warmup_partial.load_partial(out, STEPS, "other")["step"] == 1


def test_partial_is_replaced_atomically_and_a_damaged_one_starts_over(tmp_path):
    out, lines = str(tmp_path / "w"), []
    for step in (1, 2):
        warmup_partial.save_partial(out, {"step": step, "steps": STEPS, "data": "d"})
    folder = warmup_partial.partial_dir(out)
    assert os.listdir(folder) == [warmup_partial.STATE_FILE], "no temp file left behind"
    assert warmup_partial.load_partial(out, STEPS, "d")["step"] == 2
    with open(os.path.join(folder, warmup_partial.STATE_FILE), "wb") as f:
        f.write(b"cut short by a kill")
    assert warmup_partial.load_partial(out, STEPS, "d", lines.append) is None
    assert "unreadable" in lines[-1]


def test_a_failed_partial_save_does_not_stop_the_warmup(tmp_path, monkeypatch):
    def full_disk(out_dir, state):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(warmup_partial, "save_partial", full_disk)
    lines = []
    saver = warmup_partial.PartialSaver(str(tmp_path / "w"), lines.append, every_s=0)
    assert saver.due() and saver.save({"step": 1, "steps": STEPS}) is False
    assert "could not save the partial result" in lines[-1] and "continuing" in lines[-1]
