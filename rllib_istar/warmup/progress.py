"""Progress lines of the format warm-up: step k/N, the loss, time elapsed and time left.

A warm-up of a real model (SmolLM2 on 2 cores) runs for many minutes; these lines
say it is moving and when it will end. They go through the same callable as the
warm-up's announcement (``rllib train`` prints them under it). Cadence:

* one line when training starts (examples collected, steps to run), so the first
  line comes within seconds, before the first step (one step of a real model can
  take half a minute);
* a line after the first step;
* then a line once both :data:`MIN_GAP_S` seconds and :data:`MIN_FRACTION` of the
  steps have passed since the last one, or :data:`MAX_GAP_S` seconds have, whichever
  comes first (a short warm-up prints a few lines, a long one never stays silent
  for more than a minute);
* a line at the last step.

The estimate of the time left is the mean step time of this process (a resumed
run times only its own steps) times the steps left.
"""
from __future__ import annotations

import time
from typing import Callable, Optional

MIN_GAP_S = 10.0     # no two step lines closer than this...
MIN_FRACTION = 0.1   # ...nor closer than this share of the steps,
MAX_GAP_S = 60.0     # ...unless this long has passed since the last line


def format_duration(seconds: float) -> str:
    """``42s``, ``3m05s`` or ``1h02m``: a duration as a person reads it."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


class WarmupProgress:
    """Prints the warm-up's progress lines through ``say`` (see the module docstring).

    ``start_step`` is where this process starts (``> 0`` when resumed); ``clock``
    returns seconds (``time.monotonic``; tests pass a fake one).
    """

    def __init__(self, total_steps: int, say: Optional[Callable[[str], None]],
                 start_step: int = 0, clock: Callable[[], float] = time.monotonic):
        self.total = int(total_steps)
        self.say = say
        self.start_step = int(start_step)
        self.clock = clock
        self.t0 = clock()
        self.last_line_t: Optional[float] = None
        self.last_line_step = self.start_step

    def started(self, n_examples: int, collect_s: float, batch_size: int) -> None:
        """The first line: the examples are collected and training starts."""
        if self.say is None:
            return
        self.say(f"format warm-up: {n_examples} examples collected in {collect_s:.1f}s; "
                 f"training steps {self.start_step + 1}-{self.total} of {self.total} "
                 f"(batch {batch_size})")
        self.t0 = self.clock()  # time the steps only

    def step(self, step: int, loss) -> None:
        """Step ``step`` (1-based) is done with ``loss`` (a tensor or float); prints a
        line if it is due. ``loss`` is read (``float``) only for a printed line."""
        if self.say is None:
            return
        now = self.clock()
        since = now - (self.last_line_t if self.last_line_t is not None else self.t0)
        due = (self.last_line_t is None or step >= self.total or since >= MAX_GAP_S
               or (since >= MIN_GAP_S
                   and step - self.last_line_step >= MIN_FRACTION * self.total))
        if not due:
            return
        self.last_line_t, self.last_line_step = now, step
        elapsed = now - self.t0
        done_here = step - self.start_step
        left = elapsed / done_here * (self.total - step) if done_here > 0 else 0.0
        loss = float(loss.detach()) if hasattr(loss, "detach") else float(loss)
        self.say(f"format warm-up: step {step}/{self.total} | loss {loss:.4f} | "
                 f"{format_duration(elapsed)} elapsed | ~{format_duration(left)} left")
