"""Thread settings for the workers and the record of the environment a run measured.

Thread counts have to be fixed before NumPy or torch is imported: OpenBLAS, MKL and
OpenMP size their pools from the environment when they load. :func:`thread_env`
builds that environment for a worker process; :func:`limit_threads` then confirms it
from inside the worker (through ``threadpoolctl`` when it is installed, and
``torch.set_num_threads``), so both engines run on the same number of threads.
"""
from __future__ import annotations

import os
import platform
import sys
import time
from pathlib import Path

#: Environment variables that size the BLAS / OpenMP thread pools.
THREAD_VARS = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)
#: OpenBLAS tuning knobs worth recording (they change which kernels run).
OPENBLAS_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_VERBOSE", "GOTO_NUM_THREADS")


def available_cores() -> int:
    """Cores this process may run on (the affinity mask, not the machine's total)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def thread_env(threads: int, base: dict | None = None) -> dict:
    """A copy of ``base`` (default ``os.environ``) with every thread-pool size set to ``threads``,
    and glibc's allocator told to keep freed memory (:func:`malloc_env`)."""
    env = dict(os.environ if base is None else base)
    for var in THREAD_VARS:
        env[var] = str(threads)
    env.update(malloc_env())
    return env


def malloc_env() -> dict:
    """glibc's startup variables for what
    :func:`scratchnet.training.environment.keep_freed_memory` sets, for worker processes.

    Every worker, of either engine (and a baseline checkout's), starts with them: a step's
    arrays then reuse freed pages instead of faulting in fresh ones, whichever library
    allocates them. The training CLI makes the same settings in its own process.
    """
    from scratchnet.training.environment import KEEP_FREED_BYTES, MMAP_THRESHOLD_BYTES

    return {"MALLOC_TRIM_THRESHOLD_": str(KEEP_FREED_BYTES), "MALLOC_MMAP_THRESHOLD_": str(MMAP_THRESHOLD_BYTES)}


def limit_threads(threads: int, engine: str) -> dict:
    """Pin this process's pools to ``threads`` and return what they report afterwards.

    Returns
    -------
    dict
        ``threadpools``: ``threadpoolctl``'s view of every loaded BLAS/OpenMP library
        (``None`` when threadpoolctl is not installed), and for torch
        ``torch_num_threads`` / ``torch_num_interop_threads``.
    """
    info: dict = {"requested": threads}
    if engine == "torch":
        import torch

        torch.set_num_threads(threads)
        info["torch_num_threads"] = torch.get_num_threads()
        info["torch_num_interop_threads"] = torch.get_num_interop_threads()
    else:
        import numpy  # noqa: F401  (load its BLAS so threadpoolctl can see it)
    try:
        from threadpoolctl import threadpool_info, threadpool_limits
    except ImportError:
        info["threadpools"] = None
        return info
    # Kept alive for the process's lifetime: the limit lasts as long as the object.
    limit_threads._limiter = threadpool_limits(limits=threads)
    info["threadpools"] = [
        {k: d.get(k) for k in ("user_api", "internal_api", "num_threads", "version", "architecture",
                               "threading_layer", "prefix")}
        for d in threadpool_info()
    ]
    return info


def _cpu_model() -> str:
    # Imported here, not at the top: a worker entry point sets its thread counts before
    # NumPy (which scratchnet imports) loads.
    from scratchnet.training.environment import cpu_model

    return cpu_model()


def _cpu_caches() -> dict:
    """Each cache level's size per core as Linux reports it (``{"L1d": "48K", "L2": "1024K", ...}``)."""
    caches = {}
    for index in sorted(Path("/sys/devices/system/cpu/cpu0/cache").glob("index*")):
        try:
            level = (index / "level").read_text().strip()
            kind = (index / "type").read_text().strip()
            size = (index / "size").read_text().strip()
        except OSError:
            continue
        caches[f"L{level}" + {"Data": "d", "Instruction": "i"}.get(kind, "")] = size
    return caches


def _cpu_flags() -> list[str]:
    """The SIMD flags that decide which GEMM kernels a BLAS can pick."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = line.split(":", 1)[1].split()
                    return sorted(f for f in flags if f.startswith(("avx", "fma", "sse4", "amx")))
    except OSError:
        pass
    return []


def _mem_total_gib() -> float | None:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal"):
                    return round(int(line.split()[1]) / 2**20, 2)
    except OSError:
        pass
    return None


# The readings are scratchnet's own (scratchnet.training.environment, which the training CLI uses
# too). Imported when called, because of what importing it costs: scratchnet loads NumPy, and
# every benchmark entry point imports this module before its worker sets its thread counts
# (parity_tests/test_benchmarks_smoke.py checks that none loads NumPy on import).
def load_average():
    """The 1, 5 and 15 minute load averages (how busy the machine was), or ``None``."""
    from scratchnet.training.environment import load_average as read

    return read()


def cpu_busy(interval: float = 0.5):
    """Fraction of all cores' time spent busy over ``interval`` seconds, from ``/proc/stat``.

    Sampled while this process sleeps, so it measures *other* processes: a value well
    above 0 before a run means the timings will share the cores. ``None`` off Linux.
    """
    from scratchnet.training.environment import proc_stat_seconds

    try:
        busy0, total0 = proc_stat_seconds()
        time.sleep(interval)
        busy1, total1 = proc_stat_seconds()
    except (OSError, ValueError, IndexError):
        return None
    total = total1 - total0
    return round((busy1 - busy0) / total, 3) if total > 0 else None


def machine_after(machine: dict) -> dict:
    """``machine`` (:func:`machine`) with how busy the machine was just after the run."""
    machine["cpu_busy_after"] = cpu_busy()
    machine["load_average_after"] = load_average()
    return machine


def machine() -> dict:
    """What the parent process records once per run: hardware, OS, Python, env knobs."""
    return {
        "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "cpu_model": _cpu_model(),
        "cpu_flags": _cpu_flags(),
        "cpu_caches": _cpu_caches(),
        "cpu_count": os.cpu_count(),
        "cores_available": available_cores(),
        "mem_total_gib": _mem_total_gib(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "python_implementation": platform.python_implementation(),
        "load_average": load_average(),
        "cpu_busy_before": cpu_busy(),
        "openblas_env": {v: os.environ.get(v) for v in OPENBLAS_VARS},
        "malloc_env": {k: v for k, v in os.environ.items() if k.startswith(("MALLOC_", "GLIBC_TUNABLES"))},
    }


def engine_info(engine: str) -> dict:
    """What a worker records about its own libraries, after they are imported."""
    import numpy as np

    info: dict = {
        "numpy": np.__version__,
        "thread_env": {v: os.environ.get(v) for v in THREAD_VARS},
        "malloc_env": {v: os.environ.get(v) for v in malloc_env()},
    }
    try:
        info["numpy_config"] = np.show_config(mode="dicts")
    except TypeError:  # NumPy < 1.26 only prints
        info["numpy_config"] = None
    if engine == "torch":
        import torch

        info["torch"] = torch.__version__
        info["torch_parallel_info"] = torch.__config__.parallel_info()
        info["torch_mkldnn"] = bool(torch.backends.mkldnn.is_available())
        info["torch_mkl"] = bool(torch.backends.mkl.is_available())
        info["cuda_available"] = bool(torch.cuda.is_available())
        if torch.cuda.is_available():
            info["cuda_device"] = torch.cuda.get_device_name(0)
            info["cuda_version"] = torch.version.cuda
            info["cudnn_version"] = torch.backends.cudnn.version()
    else:
        import scratchnet

        info["scratchnet"] = scratchnet.__version__
    return info
