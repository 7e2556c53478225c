"""``keep_freed_memory``: a training step's arrays reuse freed pages instead of faulting in new ones.

A step allocates and frees the same few-MB arrays every time; with glibc's default
thresholds the heap is trimmed and regrown step after step, a page fault per 4 KiB.
The test runs that pattern in fresh processes, with and without the setting, and
counts the faults: the contrast shows the setting is what removes them.
"""
from __future__ import annotations

import json
import platform
import subprocess
import sys

import pytest

from scratchnet.training import environment

pytestmark = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")

STEP_LIKE = """
import json, resource, sys
import numpy as np
if sys.argv[1] == "keep":
    from scratchnet.training.environment import keep_freed_memory
    assert keep_freed_memory() is not None
def step():
    # a forward's and a backward's arrays, a few hundred KB to a few MB, freed at the end
    arrays = [np.ones(n, dtype=np.float32) for n in (1 << 18, 3 << 17, 1 << 19, 1 << 18)]
    return sum(float(a[-1]) for a in arrays)
step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    step()
print(json.dumps((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 20))
"""


def _faults_per_step(mode: str) -> float:
    out = subprocess.run([sys.executable, "-c", STEP_LIKE, mode], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_freed_memory_is_reused_not_faulted_in_again():
    default, kept = _faults_per_step("default"), _faults_per_step("keep")
    # 6 MiB of arrays a step: 1536 pages. Trimmed and regrown, most of them fault again.
    assert default > 500, f"the default allocator no longer trims here ({default} faults a step): revisit"
    assert kept < 5, f"{kept} page faults a step with freed memory kept"


def test_settings_are_made_once_and_recorded():
    first = environment.keep_freed_memory()
    assert first == {"trim_threshold": environment.KEEP_FREED_BYTES,
                     "mmap_threshold": environment.MMAP_THRESHOLD_BYTES}
    assert environment.keep_freed_memory() == first
    assert environment.malloc_settings() == first
    assert environment.environment()["malloc"] == first


def test_benchmark_workers_start_with_the_same_settings():
    from benchmarks import env

    worker = env.thread_env(2, base={})
    assert worker["MALLOC_TRIM_THRESHOLD_"] == str(environment.KEEP_FREED_BYTES)
    assert worker["MALLOC_MMAP_THRESHOLD_"] == str(environment.MMAP_THRESHOLD_BYTES)
    assert worker["OPENBLAS_NUM_THREADS"] == "2"
