"""autocast_dtype auto: bf16 only where the hardware computes it natively (lm/precision.py).

The CPU probe and the CUDA check are faked, so both answers are checked on any machine;
one test runs the real probe and checks only that it measures (never how fast).
"""
import contextlib
import logging

import pytest
import torch

from rllib_istar.lm import precision
from rllib_istar.lm.precision import AUTO, decide

NATIVE, EMULATED = 0.46, 24.0  # bf16/float32 matmul time: measured kinds of CPU (module doc)


def _no_probe():
    raise AssertionError("the probe must not run for this request")


@pytest.fixture
def fake_cpu(monkeypatch):
    """fake_cpu(slowdown): this process's CPU probe answers ``slowdown``; caches cleared."""
    def _set(slowdown):
        monkeypatch.setattr(precision, "bf16_matmul_slowdown", lambda: slowdown)
        monkeypatch.setattr(precision, "cpu_summary", lambda: "Fake CPU, bf16 instructions: ?")
        precision.autocast_choice.cache_clear()
        precision._logged.clear()

    yield _set
    precision.autocast_choice.cache_clear()
    precision._logged.clear()


def test_auto_is_bf16_on_a_cpu_with_native_bf16():
    choice = decide(AUTO, "cpu", slowdown=lambda: NATIVE, describe_cpu=lambda: "Fast CPU")
    assert choice.dtype == "bfloat16" and not choice.slow
    assert choice.line.startswith("autocast_dtype auto -> bfloat16: ")
    assert "0.46x the float32 time" in choice.line and "Fast CPU" in choice.line


def test_auto_is_float32_on_a_cpu_that_emulates_bf16():
    choice = decide(AUTO, "cpu", slowdown=lambda: EMULATED, describe_cpu=lambda: "Slow CPU")
    assert choice.dtype is None and not choice.slow
    assert choice.line.startswith("autocast_dtype auto -> float32 (no autocast): ")
    assert "24x the float32 time" in choice.line and "emulated" in choice.line


def test_the_threshold_sits_between_the_measured_kinds():
    assert NATIVE < precision.BF16_MAX_SLOWDOWN < 2.0  # 1.9: the slowest emulation measured
    assert decide(AUTO, "cpu", slowdown=lambda: 1.0).dtype == "bfloat16"
    assert decide(AUTO, "cpu", slowdown=lambda: 1.01).dtype is None


def test_explicit_bfloat16_runs_and_warns_only_where_it_is_emulated():
    slow = decide("bfloat16", "cpu", slowdown=lambda: EMULATED, describe_cpu=lambda: "Slow CPU")
    assert slow.dtype == "bfloat16" and slow.slow
    assert "\n" not in slow.line and "24x the float32 time" in slow.line
    assert "set autocast_dtype: auto" in slow.line
    fast = decide("bfloat16", "cpu", slowdown=lambda: NATIVE)
    assert fast.dtype == "bfloat16" and not fast.slow and fast.line == ""


@pytest.mark.parametrize("requested", [None, "float16"])
def test_other_requests_pass_through_without_a_probe(requested):
    choice = decide(requested, "cpu", slowdown=_no_probe, cuda_bf16=_no_probe)
    assert choice.dtype == requested and choice.line == ""


def test_on_cuda_auto_follows_is_bf16_supported():
    yes = decide(AUTO, "cuda", slowdown=_no_probe, cuda_bf16=lambda: True)
    no = decide(AUTO, "cuda", slowdown=_no_probe, cuda_bf16=lambda: False)
    assert yes.dtype == "bfloat16" and no.dtype is None
    assert "is_bf16_supported() is False" in no.line
    warn = decide("bfloat16", "cuda", cuda_bf16=lambda: False)
    assert warn.slow and warn.dtype == "bfloat16"
    other = decide(AUTO, "mps", slowdown=_no_probe, cuda_bf16=_no_probe)  # no check known
    assert other.dtype is None and "no bf16 check for mps" in other.line


def test_an_unknown_value_is_one_line():
    with pytest.raises(ValueError, match="autocast_dtype='bf16' is not one of"):
        decide("bf16", "cpu")


def test_decided_once_per_process_and_logged_once(fake_cpu, monkeypatch, caplog):
    calls = []
    fake_cpu(EMULATED)
    monkeypatch.setattr(precision, "bf16_matmul_slowdown", lambda: calls.append(1) or EMULATED)
    with caplog.at_level(logging.INFO, logger="rllib_istar.lm.precision"):
        assert precision.resolve_autocast_dtype(AUTO) is None
        assert precision.resolve_autocast_dtype(AUTO) is None
        assert precision.resolve_autocast_dtype("bfloat16") == "bfloat16"
        assert precision.resolve_autocast_dtype("bfloat16") == "bfloat16"
    assert len(calls) == 2  # once per requested value, then cached
    lines = [r for r in caplog.records if r.name == "rllib_istar.lm.precision"]
    assert [r.levelno for r in lines] == [logging.INFO, logging.WARNING]
    assert "auto -> float32" in lines[0].getMessage() and "slow here" in lines[1].getMessage()


@pytest.mark.parametrize("lines, flags, model", [
    (["processor : 0", "model name : AMD EPYC 9R14", "flags : fpu avx512f avx512_bf16 amx_bf16"],
     ["avx512_bf16", "amx_bf16"], "AMD EPYC 9R14"),
    (["model name\t: AMD EPYC 7B13", "flags\t\t: fpu avx2 fma"], [], "AMD EPYC 7B13"),
    (["processor : 0", "Features : fp asimd bf16 i8mm"], ["bf16"], None),
    ([], None, None),
])
def test_cpu_flag_reader(lines, flags, model):
    assert precision.cpu_bf16_flags(lines) == flags
    if model:
        assert precision.cpu_model(lines) == model


def test_the_real_probe_measures_and_leaves_rng_and_threads_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    threads = torch.get_num_threads()
    factor = precision.measure_bf16_slowdown(size=64, reps=1)
    assert factor > 0 and torch.get_num_threads() == threads
    torch.testing.assert_close(torch.rand(3), expected)


# ---- the one rule, where the dtype is used ------------------------------------------
def test_module_autocast_follows_auto(fake_cpu, build_module, tiny_path):
    from lmtest_utils import right_pad

    ids, mask = right_pad([[1, 5, 6, 7, 8], [1, 4, 4]])
    plain = build_module(tiny_path).token_logprobs(ids, mask)
    fake_cpu(EMULATED)
    emulated = build_module(tiny_path, autocast_dtype=AUTO)
    assert isinstance(emulated.autocast(), contextlib.nullcontext)
    torch.testing.assert_close(emulated.token_logprobs(ids, mask), plain, rtol=0, atol=0)
    fake_cpu(NATIVE)
    native = build_module(tiny_path, autocast_dtype=AUTO)
    assert isinstance(native.autocast(), torch.autocast)
    assert float((native.token_logprobs(ids, mask) - plain).detach().abs().max()) > 0  # bf16


@pytest.mark.parametrize("slowdown, dtype", [(EMULATED, torch.float32), (NATIVE, torch.bfloat16)])
def test_env_runner_copy_follows_auto(fake_cpu, slowdown, dtype):
    from rllib_istar import IStarConfig
    from rllib_istar.rollout.env_runner import LLMEnvRunner

    fake_cpu(slowdown)
    config = (IStarConfig().environment("rllib_istar/KeyCorridor-v0")
              .training(group_size=2, num_groups=1, max_new_tokens=2, autocast_dtype=AUTO,
                        format_warmup_steps=0))
    runner = LLMEnvRunner(config=config, worker_index=0)
    assert {p.dtype for p in runner.module.lm.parameters()} == {dtype}


@pytest.mark.parametrize("slowdown, recorded", [(EMULATED, None), (NATIVE, "bfloat16")])
def test_format_warmup_follows_auto(fake_cpu, tiny_path, tmp_path, slowdown, recorded):
    import json

    from rllib_istar.warmup import build_warmup_model

    fake_cpu(slowdown)
    out = build_warmup_model(str(tmp_path / "warm"), tiny_path, "rllib_istar/KeyCorridor-v0",
                             {}, steps=1, batch_size=2, autocast_dtype=AUTO)
    with open(f"{out}/warmup.json") as f:
        assert json.load(f)["autocast_dtype"] == recorded


def test_the_knob_accepts_auto_and_still_needs_float32_weights():
    from rllib_istar import IStarConfig
    from rllib_istar.algorithm.knobs import KNOBS_BY_NAME

    assert AUTO in KNOBS_BY_NAME["autocast_dtype"].choices
    assert set(KNOBS_BY_NAME["autocast_dtype"].choices) == set(precision.AUTOCAST_CHOICES)
    ok = IStarConfig().environment("rllib_istar/KeyCorridor-v0").training(autocast_dtype=AUTO)
    ok.validate()
    bad = (IStarConfig().environment("rllib_istar/KeyCorridor-v0")
           .training(autocast_dtype=AUTO, model_dtype="bfloat16"))
    with pytest.raises(ValueError, match="set model_dtype: float32"):
        bad.validate()


def test_rllib_train_prints_the_choice_at_start_up(fake_cpu):
    from rllib_istar.cli.train import precision_lines

    fake_cpu(EMULATED)
    experiments = {"a": {"config": {"autocast_dtype": AUTO}}, "b": {"config": {}},
                   "c": {"config": {"autocast_dtype": "bfloat16"}}}
    lines = precision_lines(experiments)
    assert len(lines) == 2 and lines[0].startswith("autocast_dtype auto -> float32")
    assert lines[1].startswith("warning: autocast_dtype bfloat16 is slow here")
    fake_cpu(NATIVE)
    assert precision_lines({"a": {"config": {"autocast_dtype": "bfloat16"}}}) == []
