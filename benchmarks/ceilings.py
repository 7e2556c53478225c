r"""What this machine can do at best, measured in the same run as everything else.

Two ceilings, one per kind of bottleneck, each measured by each engine in its own
worker (so each engine is compared with what its own libraries reach):

* **GEMM rate** (GFLOP/s): an :math:`n \times n` by :math:`n \times n` matrix
  product in the run's dtype, :math:`2n^3` floating-point operations. Linear and
  convolution layers are GEMMs underneath, so this is the compute roof of every
  model here.
* **Memory bandwidth** (GB/s): copying a large array (far larger than the last-level
  cache) into another, counted as :math:`2 \times` its bytes (one read, one write;
  the write-allocate read some CPUs add is not counted, so this is the rate a
  program sees). Element-wise ops, pooling and the losses stream their operands
  once, so this is their roof.

A result's *share of the ceiling* is its achieved rate over the roof: FLOP/s over
the GEMM rate for compute-bound work, bytes/s over the bandwidth for memory-bound
work. A share near 100 % leaves nothing to gain on this machine; a small share at
batch 1 is the fixed per-call overhead (Python, dispatch, allocation) dominating.
"""
from __future__ import annotations

from .flops import gemm_flops
from .timing import TimerConfig, measure

#: Default sizes: a 1024 x 1024 GEMM, and a copy of 2**25 elements (128 MiB in float32).
GEMM_N = 1024
COPY_ELEMENTS = 2**25


def measure_ceilings(engine: str, dtype: str, config: TimerConfig, device: str = "cpu",
                     gemm_n: int = GEMM_N, copy_elements: int = COPY_ELEMENTS, clock=None) -> dict:
    """Measure the GEMM rate and the copy bandwidth with ``engine``'s own arrays.

    Parameters
    ----------
    engine : {"numpy", "torch"}
    dtype : {"float32", "float64"}
    config : TimerConfig
    device : {"cpu", "cuda"}
        Only torch runs on ``"cuda"``.
    gemm_n, copy_elements : int
        Problem sizes (smaller in the smoke test).
    clock : optional
        The timer's clock (CUDA events on a GPU).

    Returns
    -------
    dict
        ``gemm_gflops``, ``bandwidth_gbs`` and the timings and sizes behind them.
    """
    import numpy as np

    rng = np.random.default_rng(0)
    a = rng.standard_normal((gemm_n, gemm_n)).astype(dtype)
    b = rng.standard_normal((gemm_n, gemm_n)).astype(dtype)
    src = np.ones(copy_elements, dtype=dtype)
    if engine == "numpy":
        c = np.empty_like(a)
        dst = np.empty_like(src)

        def gemm():
            np.matmul(a, b, out=c)

        def copy():
            np.copyto(dst, src)
    elif engine == "torch":
        import torch

        ta = torch.from_numpy(a).to(device)
        tb = torch.from_numpy(b).to(device)
        tc = torch.empty_like(ta)
        tsrc = torch.from_numpy(src).to(device)
        tdst = torch.empty_like(tsrc)

        def gemm():
            torch.mm(ta, tb, out=tc)

        def copy():
            tdst.copy_(tsrc)
    else:
        raise ValueError(f"measure_ceilings: unknown engine {engine!r}, expected 'numpy' or 'torch'")

    g = measure(gemm, config, clock)
    m = measure(copy, config, clock)
    flops = gemm_flops((1, gemm_n, gemm_n, gemm_n))
    moved = 2.0 * src.nbytes
    return {
        "dtype": dtype,
        "device": device,
        "gemm_n": gemm_n,
        "gemm_flops": flops,
        "gemm_timing": g,
        "gemm_gflops": flops / g["median_s"] / 1e9,
        "gemm_gflops_best": flops / g["min_s"] / 1e9,
        "copy_bytes": moved,
        "copy_timing": m,
        "bandwidth_gbs": moved / m["median_s"] / 1e9,
        "bandwidth_gbs_best": moved / m["min_s"] / 1e9,
    }
