"""The next iteration's groups, sampled while the learner trains (``rollout_mode: async``).

``IStar.training_step`` with ``rollout_mode: async`` (docs/algorithm.md §4
"Asynchronous rollouts"):

1. collect the groups launched last iteration (the first iteration, or the first after
   a restore, samples here with the current weights instead);
2. sync the learner's current weights to the runners;
3. :meth:`AheadSampler.launch` the next iteration's sampling on every remote runner;
4. update on the collected groups while the runners sample.

A runner is a Ray actor that runs one call at a time, in the order they were sent: the
weight sync of step 2 lands before the sample of step 3 starts and never during a sample,
so each batch comes from one set of weights (its version is in every episode's
``custom_data``), and that version is the one the next update starts one step behind.
"""
from __future__ import annotations

from typing import Any, List, Optional, Tuple

__all__ = ["AheadSampler", "sample_on_runner"]


def sample_on_runner(runner) -> Tuple[int, Any, Any]:
    """``(worker index, episodes, metrics)`` of one ``sample()`` on ``runner``."""
    return runner.worker_index, runner.sample(), runner.get_metrics()


class AheadSampler:
    """One sampling request per remote env runner, launched now and collected later."""

    #: The tag of the requests in RLlib's actor manager.
    TAG = "istar_sample_ahead"

    def __init__(self):
        self._in_flight = 0

    def launch(self, runners) -> None:
        """Start ``sample()`` on every healthy remote runner of ``runners`` (an
        ``EnvRunnerGroup``) and return at once."""
        self._in_flight = runners.foreach_env_runner_async(sample_on_runner, tag=self.TAG)

    def collect(self, runners) -> Optional[List[Tuple[int, Any, Any]]]:
        """Wait for the launched requests: ``[(worker index, episodes, metrics)]`` of every
        runner that finished (a runner that died returns nothing; RLlib marks it unhealthy
        and restarts it), or None when nothing was launched."""
        if not self._in_flight:
            return None
        self._in_flight = 0
        return [result for _, result in runners.fetch_ready_async_reqs(
            tags=self.TAG, timeout_seconds=None)]

    def discard(self, runners) -> None:
        """Wait for the launched requests and drop their groups (a restore replaced the
        weights they were sampled with)."""
        self.collect(runners)
