"""``autocast_dtype`` on this machine: what ``auto`` means here, and a warning for slow bf16.

Whether bf16 compute pays depends on the hardware, not on the model: on a CPU that
computes bf16 natively (AVX512-BF16, AMX-BF16) a bf16 matmul runs in about half
the float32 time; on one that does not, torch emulates it, 2x to 90x *slower* (a
``linear`` 2-6x, a bare ``matmul`` up to 90x; 41x was measured on one such CPU) (docs/benchmarks/real_model.md
"Where bf16 pays"). So ``autocast_dtype: auto`` means:

* CUDA: bf16 where ``torch.cuda.is_bf16_supported()``, else float32 (no autocast);
* CPU: a timed probe, once per process (:func:`bf16_matmul_slowdown`): bf16 when a
  bf16-autocast ``linear`` takes at most :data:`BF16_MAX_SLOWDOWN` times the float32
  time, else float32. The probe measures what torch actually runs; the CPU flags
  (:func:`cpu_bf16_flags`) only say what the chip has, and the two disagree where
  the library does not use the instructions (measured with oneDNN held to AVX2 on
  an AVX512-BF16 CPU: flag present, bf16 5-80x slower). The flags are reported
  beside the choice, never used for it.

:func:`resolve_autocast_dtype` is the one place that turns a requested
``autocast_dtype`` into the dtype to run (the env runner, the learner's modules and the
format warm-up all call it); it logs one line per process saying what was chosen and
why, or a warning with the measured slowdown when ``bfloat16`` is asked for on a CPU
that emulates it. :func:`autocast_choice` gives the same line without logging (the
CLI prints it at start-up). Torch only, no Ray.
"""
from __future__ import annotations

import dataclasses
import functools
import logging
import platform
import time
from typing import Callable, List, Optional, Tuple

import torch

logger = logging.getLogger(__name__)

AUTO = "auto"
#: The values ``autocast_dtype`` accepts (``None``: no autocast).
AUTOCAST_CHOICES = (None, AUTO, "bfloat16", "float16")
#: ``auto`` picks bf16 on a CPU whose bf16-autocast ``linear`` takes at most this many times
#: the float32 time. Measured with the probe on an AMD EPYC with AVX512-BF16 (torch 2.13,
#: 10 probes each): 0.45-0.59 native; 1.9-4.1 with oneDNN held to AVX512_CORE (AVX512,
#: bf16 emulated: a Skylake-class CPU); 4.3-5.9 held to AVX2; the same bands with a busy
#: process on the same core. The threshold sits ~2x from both sides.
BF16_MAX_SLOWDOWN = 1.0
#: The CPU flags (``/proc/cpuinfo``) that mean native bf16 arithmetic: x86 and Arm.
BF16_FLAGS = ("avx512_bf16", "amx_bf16", "bf16")


@dataclasses.dataclass(frozen=True)
class AutocastChoice:
    """A resolved ``autocast_dtype``: ``dtype`` to run (None = float32, no autocast),
    the one ``line`` that says why ("" when there is nothing to say), and ``slow``:
    explicit bf16 on hardware that emulates it (the line is then a warning)."""

    requested: Optional[str]
    device_type: str
    dtype: Optional[str]
    line: str = ""
    slow: bool = False


# ------------------------------------------------------------------ what the CPU is
def _cpuinfo_lines() -> List[str]:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            return f.read().splitlines()
    except OSError:
        return []


def cpu_model(lines: Optional[List[str]] = None) -> str:
    """The CPU's model name (``/proc/cpuinfo``; else ``platform.processor()``; else "?")."""
    for line in _cpuinfo_lines() if lines is None else lines:
        key, _, value = line.partition(":")
        if key.strip() in ("model name", "Model", "Hardware") and value.strip():
            return value.strip()
    return platform.processor() or platform.machine() or "?"


def cpu_bf16_flags(lines: Optional[List[str]] = None) -> Optional[List[str]]:
    """The bf16 instruction flags the CPU reports (``avx512_bf16``, ``amx_bf16``; ``bf16``
    on Arm), ``[]`` if it reports flags but none of these, ``None`` where no flags can be
    read (no ``/proc/cpuinfo``)."""
    for line in _cpuinfo_lines() if lines is None else lines:
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            have = set(value.split())
            return [f for f in BF16_FLAGS if f in have]
    return None


def cpu_summary() -> str:
    """``"<model>, bf16 instructions: avx512_bf16"`` (or ``none`` / ``unknown``)."""
    flags = cpu_bf16_flags()
    said = "unknown" if flags is None else (", ".join(flags) or "none")
    return f"{cpu_model()}, bf16 instructions: {said}"


# ------------------------------------------------------------------ the timed probe
def _best_time(fn: Callable[[], object], reps: int) -> float:
    best = float("inf")
    for _ in range(reps):
        start = time.thread_time()
        fn()
        best = min(best, time.thread_time() - start)
    return best


def measure_bf16_slowdown(size: int = 512, reps: int = 5) -> float:
    """bf16-autocast ``linear`` time / float32 time on this CPU: one thread, the best of
    ``reps`` interleaved runs of a ``size``^3 matmul, in thread CPU time (another process
    on the same core does not skew it). Costs ~0.05 s with native bf16, ~0.1-1 s where
    bf16 is emulated. Leaves torch's global RNG and thread count as they were."""
    gen = torch.Generator().manual_seed(0)
    x, w = torch.randn(size, size, generator=gen), torch.randn(size, size, generator=gen)
    linear = torch.nn.functional.linear

    def fp32():
        return linear(x, w)

    def bf16():
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return linear(x, w)

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        fp32(), bf16()  # first calls pick kernels
        best32 = best16 = float("inf")
        for _ in range(reps):
            best32 = min(best32, _best_time(fp32, 1))
            best16 = min(best16, _best_time(bf16, 1))
    finally:
        torch.set_num_threads(threads)
    return best16 / max(best32, 1e-9)


@functools.lru_cache(maxsize=None)
def bf16_matmul_slowdown() -> float:
    """:func:`measure_bf16_slowdown`, measured once per process."""
    return measure_bf16_slowdown()


def cuda_bf16_supported() -> bool:
    """``torch.cuda.is_bf16_supported()`` (False without CUDA)."""
    return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())


# ------------------------------------------------------------------ the decision
def decide(requested: Optional[str], device_type: str, *,
           slowdown: Optional[Callable[[], float]] = None,
           cuda_bf16: Optional[Callable[[], bool]] = None,
           describe_cpu: Optional[Callable[[], str]] = None) -> AutocastChoice:
    """The choice for ``requested`` (None | "auto" | "bfloat16" | "float16") on
    ``device_type`` ("cpu" | "cuda"). The probes default to this module's
    :func:`bf16_matmul_slowdown`, :func:`cuda_bf16_supported` and :func:`cpu_summary`
    (looked up at call time, so tests can fake them).

    The probe runs only where the answer needs it: ``auto`` or ``bfloat16`` on a CPU."""
    slowdown = slowdown or bf16_matmul_slowdown
    cuda_bf16 = cuda_bf16 or cuda_bf16_supported
    describe_cpu = describe_cpu or cpu_summary
    if requested not in AUTOCAST_CHOICES:
        raise ValueError(f"autocast_dtype={requested!r} is not one of "
                         f"{', '.join(map(repr, AUTOCAST_CHOICES))}; set one of them")
    if requested is None or requested == "float16":
        return AutocastChoice(requested, device_type, requested)
    if device_type == "cuda":
        native = cuda_bf16()
        if requested == AUTO:
            return AutocastChoice(requested, device_type, "bfloat16" if native else None,
                                  f"autocast_dtype auto -> {'bfloat16' if native else 'float32'}: "
                                  f"torch.cuda.is_bf16_supported() is {native}")
        return AutocastChoice(requested, device_type, "bfloat16", "" if native else (
            "autocast_dtype bfloat16 on a GPU without bf16 support "
            "(torch.cuda.is_bf16_supported() is False): set autocast_dtype: auto or null"),
            slow=not native)
    if device_type != "cpu":  # no check known for this device: run what was asked, or float32
        return AutocastChoice(requested, device_type, None if requested == AUTO else "bfloat16",
                              f"autocast_dtype auto -> float32: no bf16 check for {device_type}"
                              if requested == AUTO else "")
    factor = slowdown()
    native = factor <= BF16_MAX_SLOWDOWN
    measured = (f"a bf16 linear layer takes {factor:.2g}x the float32 time on this CPU "
                f"({describe_cpu()})")
    if requested == AUTO:
        chosen = "bfloat16" if native else "float32 (no autocast)"
        why = "" if native else "; bf16 is emulated here"
        return AutocastChoice(requested, device_type, "bfloat16" if native else None,
                              f"autocast_dtype auto -> {chosen}: {measured}{why}")
    if native:
        return AutocastChoice(requested, device_type, "bfloat16")
    return AutocastChoice(requested, device_type, "bfloat16",
                          f"autocast_dtype bfloat16 is slow here: {measured}; bf16 is emulated, "
                          "set autocast_dtype: auto (float32 here) for speed", slow=True)


@functools.lru_cache(maxsize=None)
def autocast_choice(requested: Optional[str], device_type: str = "cpu") -> AutocastChoice:
    """:func:`decide` with the real probes, once per process and (requested, device)."""
    return decide(requested, device_type)


_logged: set = set()


def resolve_autocast_dtype(requested: Optional[str], device_type: str = "cpu"
                           ) -> Optional[str]:
    """The autocast dtype to run (``None``: float32, no autocast) for the requested
    ``autocast_dtype`` on ``device_type``; logs the choice's line once per process
    (a warning when bf16 was asked for but is emulated)."""
    choice = autocast_choice(requested, device_type)
    if choice.line and (requested, device_type) not in _logged:
        _logged.add((requested, device_type))
        (logger.warning if choice.slow else logger.info)(choice.line)
    return choice.dtype


def autocast_torch_dtype(requested: Optional[str], device_type: str = "cpu"
                         ) -> Optional[torch.dtype]:
    """:func:`resolve_autocast_dtype` as a ``torch.dtype`` (or None)."""
    dtype = resolve_autocast_dtype(requested, device_type)
    return getattr(torch, dtype) if dtype else None


def device_type_of_process() -> str:
    """"cuda" where this process sees a GPU, else "cpu" (the env runner's rule)."""
    return "cuda" if torch.cuda.is_available() else "cpu"


def machine_precision_info() -> dict:
    """What the benchmarks record beside every speed figure: CPU model, its bf16 flags,
    the measured bf16 slowdown and what ``auto`` picks here."""
    flags = cpu_bf16_flags()
    return {"cpu_model": cpu_model(), "cpu_bf16_flags": flags,
            "cpu_has_bf16_instructions": None if flags is None else bool(flags),
            "bf16_matmul_slowdown": round(bf16_matmul_slowdown(), 3),
            "autocast_auto_cpu": autocast_choice(AUTO, "cpu").dtype or "float32"}


__all__: Tuple[str, ...] = (
    "AUTO", "AUTOCAST_CHOICES", "BF16_MAX_SLOWDOWN", "AutocastChoice", "autocast_choice",
    "autocast_torch_dtype", "bf16_matmul_slowdown", "cpu_bf16_flags", "cpu_model",
    "cpu_summary", "decide", "device_type_of_process", "machine_precision_info",
    "measure_bf16_slowdown", "resolve_autocast_dtype")
