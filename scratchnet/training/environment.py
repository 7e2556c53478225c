"""What a training run records about where it ran (versions, threads, device, data, load),
and the one process setting it makes (:func:`keep_freed_memory`).

A time measured on a shared or drifting machine means little without the load it was
taken under, so :class:`OtherLoad` measures how much CPU *other* processes used while
a block ran (the machine's busy time from ``/proc/stat`` minus this process's own).
"""
from __future__ import annotations

import os
import platform
import resource
import sys
import time

import numpy as np


def load_average():
    """The 1, 5 and 15 minute load averages, or ``None`` where the OS has none."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def proc_stat_seconds():
    """``(busy, total)`` CPU seconds summed over every core since boot, from ``/proc/stat``."""
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    tick = os.sysconf("SC_CLK_TCK")
    return (sum(fields) - idle) / tick, sum(fields) / tick


def _cpu_seconds(who: int) -> float:
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime


class OtherLoad:
    """Fraction of all cores' time that *other* processes kept busy during a ``with`` block.

    The machine's busy CPU time (``/proc/stat``) minus what the measured processes used
    themselves: this process (``of="self"``, the training CLI) or the child processes it
    waits for (``of="children"``, the benchmark workers). About 0 when they had the
    machine to themselves; 0.5 on two cores means another process held one core the
    whole time, and timings taken in the block are slower than the machine can do.
    ``fraction`` stays ``None`` where ``/proc/stat`` is missing (not Linux).
    """

    fraction = None

    def __init__(self, of: str = "self"):
        if of not in ("self", "children"):
            raise ValueError(f"OtherLoad: of must be 'self' or 'children', got {of!r}")
        self._who = resource.RUSAGE_SELF if of == "self" else resource.RUSAGE_CHILDREN

    def __enter__(self):
        try:
            self._start = (proc_stat_seconds(), _cpu_seconds(self._who))
        except (OSError, ValueError, IndexError):
            self._start = None
        return self

    def __exit__(self, *exc):
        if self._start is not None:
            (busy0, total0), own0 = self._start
            busy1, total1 = proc_stat_seconds()
            total = total1 - total0
            own = _cpu_seconds(self._who) - own0
            if total > 0:
                self.fraction = round(min(1.0, max(0.0, (busy1 - busy0 - own) / total)), 3)
        return False


#: glibc's ``mallopt`` parameters (``malloc.h``).
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
#: Freed heap memory glibc may keep for reuse instead of returning it to the OS.
KEEP_FREED_BYTES = 256 << 20
#: Blocks from this size on are mapped on their own: glibc's largest automatic threshold.
MMAP_THRESHOLD_BYTES = 32 << 20
_KEPT: dict = {}


def keep_freed_memory() -> dict | None:
    """Have glibc's allocator keep freed memory for reuse: a training step's arrays then
    reuse pages instead of faulting in fresh ones, step after step.

    A step allocates and frees the same arrays every time. glibc returns a freed block
    at the top of its heap to the OS once more than ``M_TRIM_THRESHOLD`` is free there,
    and by default that threshold follows the largest block freed so far (twice it):
    where a step's arrays are a few hundred KB to a few MB (the CNNs at batch 8 to 32),
    the heap is trimmed and regrown every step, and each 4 KiB page of the regrowth is
    a page fault (about 2 µs here; ``benchmarks/README.md`` has the measurements). This
    fixes the trim threshold at :data:`KEEP_FREED_BYTES` and the mmap threshold at
    :data:`MMAP_THRESHOLD_BYTES`, as ``MALLOC_TRIM_THRESHOLD_`` and
    ``MALLOC_MMAP_THRESHOLD_`` would at startup. A process-wide setting: the training
    CLI and the benchmarks' workers (both engines) call it; a script with its own loop
    may. Returns the settings made, or ``None`` where the C library is not glibc.
    """
    if _KEPT:
        return dict(_KEPT)
    if platform.libc_ver()[0] != "glibc":
        return None
    import ctypes

    try:
        libc = ctypes.CDLL(None)
        ok = (libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) == 1
              and libc.mallopt(_M_TRIM_THRESHOLD, KEEP_FREED_BYTES) == 1)
    except (OSError, AttributeError):
        return None
    if not ok:
        return None
    _KEPT.update(trim_threshold=KEEP_FREED_BYTES, mmap_threshold=MMAP_THRESHOLD_BYTES)
    return dict(_KEPT)


def malloc_settings() -> dict | None:
    """What :func:`keep_freed_memory` set in this process (``None`` if it was not called)."""
    return dict(_KEPT) or None


def threads() -> dict:
    """The thread pools' sizes: NumPy's BLAS (when threadpoolctl is installed) and torch's."""
    info = {"cores_available": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
            else os.cpu_count()}
    try:
        from threadpoolctl import threadpool_info

        info["blas"] = [{k: d.get(k) for k in ("internal_api", "num_threads", "version")}
                        for d in threadpool_info()]
    except ImportError:
        info["blas"] = None
    torch = sys.modules.get("torch")
    if torch is not None:
        info["torch_num_threads"] = torch.get_num_threads()
    return info


def cpu_model() -> str:
    """The CPU's model name (Linux's ``/proc/cpuinfo``; elsewhere what ``platform`` knows)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def machine_line(env: dict) -> str:
    """One sentence naming the machine and libraries an :func:`environment` record was taken on."""
    t = env.get("threads") or {}
    blas = next((b for b in t.get("blas") or [] if b.get("internal_api") in ("openblas", "mkl", "blis")), None)
    blas_text = f" ({blas['internal_api']} {blas['version']}, {blas['num_threads']} threads)" if blas else ""
    torch_text = (f", torch {env['torch']} ({t.get('torch_num_threads', '?')} threads)"
                  if env.get("torch") else "")
    return (f"Measured on {env.get('cpu_model', 'an unrecorded CPU')}, {t.get('cores_available', '?')} cores "
            f"available, NumPy {env.get('numpy')}{blas_text}{torch_text}, Python {env.get('python')}, "
            f"{env.get('platform')}; started {env.get('time_utc')}.")


def environment(*, device: str = "cpu", data_source: str = "") -> dict:
    """A record of the run's environment, for its results JSON."""
    import scratchnet

    torch = sys.modules.get("torch")
    env = {
        "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu_model": cpu_model(),
        "scratchnet": scratchnet.__version__,
        "numpy": np.__version__,
        "torch": torch.__version__ if torch is not None else None,
        "device": device,
        "data_source": data_source,
        "threads": threads(),
        "malloc": malloc_settings(),
        "load_average_start": load_average(),
    }
    if torch is not None and device.startswith("cuda") and torch.cuda.is_available():
        env["cuda_device"] = torch.cuda.get_device_name(0)
    return env
