"""The metrics one ``LLMEnvRunner.sample()`` logs (``env_runners/...`` in the results)."""
from __future__ import annotations

from ray.rllib.utils.metrics import (
    EPISODE_LEN_MEAN,
    EPISODE_RETURN_MEAN,
    NUM_ENV_STEPS_SAMPLED,
    NUM_ENV_STEPS_SAMPLED_LIFETIME,
    NUM_EPISODES,
    NUM_EPISODES_LIFETIME,
)

from rllib_istar import columns as C
from rllib_istar import metrics as M


def log_sample_metrics(metrics, episodes, steps: int, groups_dropped: int, gen_tokens: int,
                       gen_time: float, env_time: float, total: float) -> None:
    """Log a sample's counters, timings and per-episode means into ``metrics`` (RLlib's
    ``MetricsLogger``); ``steps`` is the env steps of the kept ``episodes``."""
    log = metrics.log_value
    log(NUM_ENV_STEPS_SAMPLED, steps, reduce="sum")
    log(NUM_ENV_STEPS_SAMPLED_LIFETIME, steps, reduce="lifetime_sum")
    log(NUM_EPISODES, len(episodes), reduce="sum")
    log(NUM_EPISODES_LIFETIME, len(episodes), reduce="lifetime_sum")
    log(M.ENV_ERRORS, 0, reduce="sum")
    log(M.GROUPS_DROPPED, groups_dropped, reduce="sum")
    log(M.GENERATED_TOKENS, gen_tokens, reduce="sum")
    log(M.GENERATION_TIME_S, gen_time, reduce="sum")
    log(M.ENV_TIME_S, env_time, reduce="sum")
    log(M.SAMPLE_TIME_S, total, reduce="sum")
    log(M.GENERATED_TOKENS_PER_S, gen_tokens / max(gen_time, 1e-9), reduce="mean")
    for ep in episodes:
        n = max(len(ep), 1)
        log(EPISODE_RETURN_MEAN, float(ep.get_return()), reduce="mean")
        log(EPISODE_LEN_MEAN, len(ep), reduce="mean")
        log(M.SUCCESS_RATE, float(ep.custom_data[C.WON]), reduce="mean")
        log(M.OUTCOME_MEAN, float(ep.custom_data[C.OUTCOME]), reduce="mean")
        log(M.INVALID_ACTION_RATE, ep.custom_data[C.NUM_INVALID] / n, reduce="mean")
