"""The format warm-up says how far it is: step k/N, the loss, elapsed and time left
(warmup/progress.py), through the announcement's channel."""
import io
import re

from rllib_istar import IStarConfig
from rllib_istar.warmup import prepare_policy_model
from rllib_istar.warmup.progress import WarmupProgress, format_duration

STEP_LINE = re.compile(r"^format warm-up: step (\d+)/(\d+) \| loss \d+\.\d{4} \| "
                       r"\S+ elapsed \| ~\S+ left$")


class FakeClock:
    """A clock the test moves by hand (no wall-clock time in assertions)."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def _steps_printed(total, seconds_per_step, start=0):
    clock, lines = FakeClock(), []
    progress = WarmupProgress(total, lines.append, start_step=start, clock=clock)
    progress.started(100, 0.5, 8)
    for step in range(start + 1, total + 1):
        clock.now += seconds_per_step
        progress.step(step, 1.0)
    assert lines[0].startswith("format warm-up: 100 examples collected in 0.5s; ")
    return [int(STEP_LINE.match(ln).group(1)) for ln in lines[1:]]


def test_cadence_first_step_then_every_10s_and_10_percent_then_last():
    # 1 s per step: 10 s and 10 % (10 steps) pass together every 10 steps
    assert _steps_printed(100, 1.0) == [1, 11, 21, 31, 41, 51, 61, 71, 81, 91, 100]
    # fast steps (1/16 s, exact in binary): 10 % passes long before 10 s, so 10 s decides
    assert _steps_printed(1000, 0.0625) == [1, 161, 321, 481, 641, 801, 961, 1000]
    # slow steps (a real model): never more than a minute without a line
    assert _steps_printed(10, 100.0) == list(range(1, 11))
    # a resumed run counts from where it starts
    assert _steps_printed(100, 1.0, start=50) == [51, 61, 71, 81, 91, 100]


def test_time_left_is_the_mean_step_time_times_the_steps_left():
    clock, lines = FakeClock(), []
    progress = WarmupProgress(40, lines.append, clock=clock)
    progress.started(10, 0.1, 8)
    clock.now += 30.0
    progress.step(1, 2.5)
    assert lines[-1] == "format warm-up: step 1/40 | loss 2.5000 | 30s elapsed | ~19m30s left"
    assert [format_duration(s) for s in (0, 59.4, 61, 3600 + 125)] == ["0s", "59s", "1m01s",
                                                                       "1h02m"]


def test_no_channel_means_no_lines():
    WarmupProgress(3, None).step(1, 1.0)  # silent, and reads no clock or loss


def test_prepare_prints_progress_under_the_announcement():
    config = (IStarConfig().environment("rllib_istar/KeyCorridor-v0").debugging(seed=4242)
              .training(format_warmup_steps=3, format_warmup_batch_size=4, max_new_tokens=2))
    lines = []
    prepare_policy_model(config, announce=lines.append)
    assert lines[0].startswith("format warm-up of 'tiny' on rllib_istar/KeyCorridor-v0: 3 steps")
    assert lines[1].startswith("format warm-up: ") and "examples collected" in lines[1]
    steps = [STEP_LINE.match(ln) for ln in lines[2:]]
    assert all(steps), lines
    assert [int(m.group(1)) for m in steps][0] == 1 and steps[-1].group(1, 2) == ("3", "3")


def test_rllib_train_prints_the_progress_on_its_stream():
    """``rllib train`` builds the warm-up in ``prepare_models``: the lines reach its stream."""
    from rllib_istar.cli.train import prepare_models

    stream = io.StringIO()
    prepare_models({"exp": {"env": "rllib_istar/KeyCorridor-v0",
                            "config": {"seed": 4343, "format_warmup_steps": 2,
                                       "format_warmup_batch_size": 4, "max_new_tokens": 2}}},
                   stream)
    out = stream.getvalue().splitlines()
    assert out[0].startswith("format warm-up of 'tiny'")
    assert any(STEP_LINE.match(ln) and "step 2/2 " in ln for ln in out), out
