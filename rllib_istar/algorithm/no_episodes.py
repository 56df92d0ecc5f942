"""The one-line error of an iteration in which no episode reached the learner."""
from __future__ import annotations

from ray.rllib.utils.metrics import ENV_RUNNER_RESULTS

from rllib_istar import metrics as M

__all__ = ["no_episodes_error"]


def no_episodes_error(runners, metrics, num_answered: int, probe_timeout_s: float) -> RuntimeError:
    """Why nothing reached the learner: every runner down (``num_answered == 0``), or
    every trajectory dropped (env errors, groups cut below 2 trajectories).

    Args:
        runners: the ``EnvRunnerGroup``; metrics: the algorithm's ``MetricsLogger`` after
            this iteration's runner metrics were aggregated; num_answered: runners that
            returned; probe_timeout_s: ``env_runner_health_probe_timeout_s``.
    """
    if num_answered == 0:
        down = runners.num_remote_env_runners() - runners.num_healthy_remote_env_runners()
        return RuntimeError(
            f"no env runner returned episodes this iteration ({down} of "
            f"{runners.num_remote_env_runners()} remote env runners down and not restored "
            f"within env_runner_health_probe_timeout_s={probe_timeout_s}); see the runner "
            "logs and config.fault_tolerance(restart_failed_env_runners=..., "
            "env_runner_health_probe_timeout_s=...)")
    errors = metrics.peek((ENV_RUNNER_RESULTS, M.ENV_ERRORS), default=0)
    groups = metrics.peek((ENV_RUNNER_RESULTS, M.GROUPS_DROPPED), default=0)
    last = [e for e in runners.foreach_env_runner(
        lambda r: getattr(r, "last_env_error", None), local_env_runner=True) if e]
    return RuntimeError(
        f"every trajectory of this iteration was dropped ({errors} env errors in "
        f"reset/step; {groups} groups left with fewer than 2 trajectories); "
        + (f"the last: {last[-1]}" if last else "see the runner log warnings"))
