"""SIGTERM for the ``rllib`` command: stop like Ctrl+C, end with one line, exit 143.

Without this, ``ray.init`` installs a SIGTERM handler that calls ``sys.exit`` wherever
the driver happens to be, and a run killed by a job scheduler ends in a Ray stack
dump. Here (installed by :func:`install_sigterm_handler`, again after ``ray.init``):

* while Tune runs the trials, a SIGTERM asks Tune to stop as Ctrl+C does (Tune
  saves the experiment state one last time, so ``--resume`` continues from the
  latest checkpoints), and :func:`received` tells ``rllib train`` to exit with
  :data:`EXIT_TERMINATED` and one line saying where the results are and how to resume;
* anywhere else (Ray start-up, the format warm-up, ``rllib evaluate``) it raises
  :class:`Terminated`, which ``rllib`` turns into one line and exit code 143.

A second SIGTERM while Tune is still stopping raises :class:`Terminated` at once.
"""
from __future__ import annotations

import signal
import threading

EXIT_TERMINATED = 128 + signal.SIGTERM  # 143: the shell's code for a process ended by SIGTERM

_state = {"received": False}


class Terminated(BaseException):
    """A SIGTERM arrived; a BaseException, so Ray's and Tune's ``except Exception``
    blocks let it through to the command, which prints one line."""


def received() -> bool:
    """A SIGTERM arrived since the handler was installed."""
    return _state["received"]


def _tune_stop_handler():
    """Tune's SIGINT handler while ``tune.run`` runs (it stops the run gracefully and
    saves the experiment state), else None."""
    handler = signal.getsignal(signal.SIGINT)
    return handler if getattr(handler, "__module__", "") == "ray.tune.tune" else None


def on_sigterm(signum=signal.SIGTERM, frame=None) -> None:
    """The SIGTERM handler: a graceful Tune stop while Tune runs (the first time), else
    :class:`Terminated`."""
    first = not _state["received"]
    _state["received"] = True
    tune_stop = _tune_stop_handler()
    if first and tune_stop is not None:
        tune_stop(signal.SIGINT, frame)  # Tune ends the run after the current step
        return
    raise Terminated()


def install_sigterm_handler():
    """Make :func:`on_sigterm` the SIGTERM handler (main thread only; elsewhere Python
    cannot set one); returns the handler it replaced (None when not installed)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, on_sigterm)


def restore_sigterm_handler(previous) -> None:
    """Put back the handler :func:`install_sigterm_handler` replaced, forget the signal."""
    _state["received"] = False
    if previous is not None and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, previous)


def terminated_line(folders, resume_hint: str) -> str:
    """The one line ``rllib train`` ends with after a SIGTERM."""
    where = ", ".join(folders) or "the results folder"
    return (f"rllib: terminated (SIGTERM); results and checkpoints so far are in {where}; "
            f"continue with: {resume_hint or 'the same command plus --resume'}")
