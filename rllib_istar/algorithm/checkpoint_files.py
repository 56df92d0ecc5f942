"""Whether a checkpoint folder was written whole, and the one-line error for a full disk.

Under Tune a checkpoint is written in two steps: the algorithm saves into a fresh
temporary folder, then Tune copies the files into a new ``checkpoint_NNNNNN`` of the
trial folder and records it in the run state only once the copy is done. An earlier
checkpoint is never written again, so a kill during a write leaves it loadable, and
``--resume`` restores the last *recorded* one. What a kill can leave behind is a
half-copied newer folder; :func:`write_manifest` (called last by ``IStar``'s
``save_checkpoint``) lists every file and its size, so :func:`checkpoint_status` tells
such a folder apart from a finished one (``rllib train --resume`` sets it aside,
``rllib evaluate`` skips it). No Ray, no torch.
"""
from __future__ import annotations

import errno
import json
import os
from typing import Dict, Optional

#: The file list of a finished checkpoint, relative paths -> sizes in bytes.
MANIFEST = "istar_manifest.json"
#: Files every RLlib algorithm checkpoint holds at its top (what a manifest-less folder,
#: from an older version or a plain ``save_to_path``, is checked against).
RLLIB_TOP_FILES = ("rllib_checkpoint.json", "metadata.json", "class_and_ctor_args.pkl",
                   "algorithm_state.pkl")
COMPLETE, INCOMPLETE, UNVERIFIED = "complete", "incomplete", "unverified"
#: errnos that mean "the disk (or the user's quota) is full".
DISK_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
DISK_FULL_TEXTS = ("No space left on device", "Disk quota exceeded", "[Errno 28]",
                   "[Errno 122]", "ENOSPC")


def _files(folder: str) -> Dict[str, int]:
    out = {}
    for root, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(root, name)
            rel = os.path.relpath(path, folder)
            if rel != MANIFEST:
                out[rel.replace(os.sep, "/")] = os.path.getsize(path)
    return out


def write_manifest(folder: str) -> None:
    """Write ``folder``'s file list (relative path -> size) to :data:`MANIFEST`, atomically."""
    files = _files(folder)  # before the temporary file exists
    tmp = os.path.join(folder, MANIFEST + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump({"files": files}, f, sort_keys=True)
    os.replace(tmp, os.path.join(folder, MANIFEST))


def _siblings_have_manifests(folder: str) -> bool:
    """Another checkpoint folder beside ``folder`` holds a manifest (this version wrote
    that trial's checkpoints, so one without it was cut short)."""
    parent, name = os.path.split(os.path.abspath(folder))
    try:
        others = [n for n in os.listdir(parent) if "checkpoint_" in n and n != name]
    except OSError:
        return False
    return any(os.path.isfile(os.path.join(parent, n, MANIFEST)) for n in others)


def checkpoint_status(folder: str) -> str:
    """:data:`COMPLETE` (every listed file there, at its size), :data:`INCOMPLETE` (a
    listed file missing or short; or no manifest while one of RLlib's top files is missing
    or another checkpoint of the same trial has one), or :data:`UNVERIFIED` (no manifest:
    a checkpoint of an older version, or from a plain ``save_to_path``)."""
    try:
        with open(os.path.join(folder, MANIFEST), encoding="utf-8") as f:
            listed = json.load(f)["files"]
    except FileNotFoundError:
        have = all(os.path.isfile(os.path.join(folder, n)) for n in RLLIB_TOP_FILES)
        return UNVERIFIED if have and not _siblings_have_manifests(folder) else INCOMPLETE
    except (OSError, ValueError, KeyError, TypeError):
        return INCOMPLETE
    for rel, size in listed.items():
        path = os.path.join(folder, *rel.split("/"))
        if not os.path.isfile(path) or os.path.getsize(path) != size:
            return INCOMPLETE
    return COMPLETE


def is_disk_full(error: BaseException) -> bool:
    """``error`` (or an exception it was raised from) is a full disk or quota."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, OSError) and error.errno in DISK_FULL_ERRNOS:
            return True
        error = error.__cause__ or error.__context__
    return False


def mentions_disk_full(text: str) -> bool:
    """An error text (a trial's ``error.txt``) says the disk or quota was full."""
    return any(t in text for t in DISK_FULL_TEXTS)


class CheckpointDiskFullError(OSError):
    """A checkpoint could not be written: no space left (errno ENOSPC / EDQUOT)."""


def disk_full_error(error: OSError, folder: str) -> Optional[CheckpointDiskFullError]:
    """The one-line error for a checkpoint write into ``folder`` that failed because the
    disk is full, or None if ``error`` is something else."""
    if not is_disk_full(error):
        return None
    return CheckpointDiskFullError(
        error.errno, f"no space left on device while writing checkpoint {folder}: free disk "
        f"space there (or point TMPDIR / --storage-path at a disk with room), then continue "
        "with --resume; the last good checkpoint is kept")
