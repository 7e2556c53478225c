r"""The adaptive timer every benchmark number comes from.

One measurement of a callable ``fn`` goes:

1. **Warm-up.** ``warmup`` untimed calls: first-call costs (lazy allocation, page
   faults on fresh buffers, BLAS thread start-up, torch's kernel selection, CUDA
   context and cuDNN autotuning) are not what a training loop pays per step.
2. **Calibration.** One timed call estimates :math:`t_1`. Calls are grouped into
   samples of ``number`` back-to-back calls, with ``number`` large enough that one
   sample lasts at least ``min_sample_s`` (so a 3 µs op is not timed at the clock's
   resolution), as :mod:`timeit` does. When one call is a sample on its own
   (``number == 1``), the calibration call counts as the first sample.
3. **Repeats.** ``samples`` samples, as many as it takes to spend ``target_s`` in
   total, at least ``min_samples`` of them, and never more than ``max_s`` of time
   unless that would leave fewer than ``floor_samples`` (the expensive cases, a CNN
   step at batch 1000, get few but still several samples). The ``max_s`` budget is
   also enforced on the wall clock while sampling, so a machine that slows down after
   calibration cannot stretch one measurement without bound.

The result is the median per-call time with the min and max over samples. The
median is what the tables report: it ignores the occasional sample that an
interrupt or another process stretched, where the mean would not. The garbage
collector is off while samples run, as in :mod:`timeit`.

On a GPU, the clock is a pair of CUDA events around each sample (recorded on the
stream the work is queued on, read after ``synchronize``), so the time is the
device's, not the Python loop's enqueue time.
"""
from __future__ import annotations

import gc
import math
import statistics
import time
from dataclasses import asdict, dataclass
from typing import Callable, Optional


@dataclass(frozen=True)
class TimerConfig:
    """How long to measure. ``full()`` and ``quick()`` are the two presets of :mod:`benchmarks.run`."""

    target_s: float = 0.2
    max_s: float = 2.0
    min_samples: int = 5
    floor_samples: int = 3
    max_samples: int = 1000
    warmup: int = 2
    min_sample_s: float = 1e-3

    @classmethod
    def full(cls) -> "TimerConfig":
        return cls()

    @classmethod
    def quick(cls) -> "TimerConfig":
        return cls(target_s=0.01, max_s=0.1, min_samples=3, floor_samples=2, max_samples=50,
                   warmup=1, min_sample_s=2e-4)


class _WallClock:
    """``time.perf_counter`` around a sample, calling ``sync`` before reading it."""

    def __init__(self, sync: Optional[Callable[[], None]] = None):
        self._sync = sync or (lambda: None)
        self._t0 = 0.0

    def start(self) -> None:
        self._sync()
        self._t0 = time.perf_counter()

    def stop(self) -> float:
        self._sync()
        return time.perf_counter() - self._t0


class CudaEventClock:
    """CUDA events around a sample: elapsed device time in seconds."""

    def __init__(self, torch_module):
        self._torch = torch_module
        self._start = torch_module.cuda.Event(enable_timing=True)
        self._end = torch_module.cuda.Event(enable_timing=True)

    def start(self) -> None:
        # Anything queued before the sample must not be charged to it.
        self._torch.cuda.synchronize()
        self._start.record()

    def stop(self) -> float:
        self._end.record()
        self._end.synchronize()
        return self._start.elapsed_time(self._end) / 1e3  # elapsed_time is in ms


def measure(fn: Callable[[], object], config: TimerConfig, clock=None) -> dict:
    """Time ``fn()`` and return per-call seconds: median, min, max, and how they were taken.

    Parameters
    ----------
    fn : callable taking no arguments
        One unit of work (one op call, one training step).
    config : TimerConfig
    clock : object with ``start()`` and ``stop() -> seconds``, optional
        Defaults to the wall clock; pass :class:`CudaEventClock` for GPU work.

    Returns
    -------
    dict
        ``median_s``, ``min_s``, ``max_s`` (per call), ``samples``, ``number`` (calls
        per sample), ``total_s`` (time spent in timed samples), ``first_call_s``.
    """
    clock = clock or _WallClock()
    clock.start()
    fn()
    first = clock.stop()
    # A first call that already took max_s has warmed up everything a second one would.
    if first < config.max_s:
        for _ in range(config.warmup - 1):
            fn()
    clock.start()
    fn()
    estimate = max(clock.stop(), 1e-9)

    number = max(1, math.ceil(config.min_sample_s / estimate))
    per_sample = estimate * number
    samples = min(config.max_samples, max(config.min_samples, math.ceil(config.target_s / per_sample)))
    if samples * per_sample > config.max_s:
        samples = max(config.floor_samples, int(config.max_s / per_sample))

    # A call long enough to be a sample on its own (number == 1) already is one: it ran
    # warm, after the warm-up. Reusing it saves a call where calls cost seconds.
    times = [estimate] if number == 1 else []
    # The plan above trusts one calibration call. If the machine slows down afterwards
    # (another process takes the cores), a wall-clock budget still ends the measurement
    # at about max_s, once it has its floor of samples.
    deadline = time.perf_counter() + config.max_s
    stopped_early = False
    gc.collect()
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        while len(times) < samples:
            if len(times) >= config.floor_samples and time.perf_counter() > deadline:
                stopped_early = True
                break
            clock.start()
            for _ in range(number):
                fn()
            times.append(clock.stop() / number)
    finally:
        if gc_was_enabled:
            gc.enable()
    return {
        "median_s": statistics.median(times),
        "min_s": min(times),
        "max_s": max(times),
        "samples": len(times),
        "number": number,
        "total_s": sum(times) * number,
        "first_call_s": first,
        "stopped_early": stopped_early,
    }


def config_dict(config: TimerConfig) -> dict:
    return asdict(config)
