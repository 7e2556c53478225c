"""SGD's tuned update: :func:`scratchnet.optim.sgd.sgd_step`'s arithmetic, in place and cache-sized.

:func:`sgd_step_` performs the same floating-point operations, in the same order, as
the textbook :func:`~scratchnet.optim.sgd.sgd_step`, so its numbers are the same bit
for bit; what differs is where they are written. Each piece, and why:

* in place: the parameter and the momentum buffer are updated where they lie, instead
  of in new arrays (one pass over memory less per array, no allocation);
* a reused work array holds :math:`-\\gamma g`: NumPy has no fused axpy, and a fresh
  temporary every step costs about as much as the update itself; every slice takes
  the same one, so it is written in L2 rather than fetched from memory slice by slice;
* slices sized from the core's L2: the update is four or more passes over
  parameter-sized arrays, and done slice by slice each slice stays in L2 from the
  first pass to the last (only where the L2 holds large slices: see :func:`slice_size`).

The measurements behind each choice are in ``benchmarks/README.md`` (History).
"""
from __future__ import annotations

import threading
from typing import Optional

import numpy as np

from ..functional.fast._cache import l2_bytes
from .optimizer import add_scaled

__all__ = ["sgd_step_", "slice_size"]


def sgd_step_(param, grad, momentum_buffer, *, lr, momentum=0.0, dampening=0.0, weight_decay=0.0,
              nesterov=False, maximize=False):
    """:func:`~scratchnet.optim.sgd.sgd_step` computed in place: ``(param, momentum_buffer)``.

    ``param`` is updated in place and returned; so is ``momentum_buffer`` (allocated
    here at the first step with momentum, when it is ``None``). ``grad`` is not modified.
    """
    lr, momentum, dampening, weight_decay = (float(v) for v in (lr, momentum, dampening, weight_decay))
    first = momentum != 0 and momentum_buffer is None
    if first:
        momentum_buffer = np.empty(grad.shape, dtype=grad.dtype)
    arrays = (param, grad, momentum_buffer if momentum != 0 else None)
    for p, g, b in _slices(arrays, _slice()):
        w = _work_array(g)  # the same scratch for every slice: it stays in L2
        if maximize:
            g = -g
        if weight_decay != 0:
            g = add_scaled(g, p, weight_decay)
        if momentum != 0:
            if first:
                b[...] = g
            else:
                b *= momentum
                b += g if dampening == 0 else (1 - dampening) * g
            g = g + momentum * b if nesterov else b
        p += np.multiply(g, -lr, out=w)  # p - lr*g, the product in the work array
    return param, (momentum_buffer if momentum != 0 else None)


# ---------------------------------------------------------------- the work array
_WORK = threading.local()  # per thread: two optimizers stepping in two threads never share one


def _work_array(like: np.ndarray) -> np.ndarray:
    """Scratch shaped like ``like``: one flat buffer per dtype, grown to the largest piece.

    A piece is a slice, or a parameter updated whole. Pieces are updated one at a time,
    so their temporaries never coexist, and the one buffer stays warm in cache.
    """
    if not hasattr(_WORK, "by_dtype"):
        _WORK.by_dtype = {}
    buffers = _WORK.by_dtype
    buf = buffers.get(like.dtype)
    if buf is None or buf.size < like.size:
        buf = buffers[like.dtype] = np.empty(like.size, dtype=like.dtype)
    return buf[:like.size].reshape(like.shape)


# ---------------------------------------------------------------- L2-sized slices
#: Elements per slice, once probed: ``None`` whole arrays; unset until the first update.
_SLICE: dict = {}


def _slice() -> Optional[int]:
    """The slice size for this machine, probed at the first update (not at import)."""
    if "size" not in _SLICE:
        _SLICE["size"] = slice_size(l2_bytes())
    return _SLICE["size"]


def slice_size(l2: Optional[int]) -> Optional[int]:
    """Elements per slice of the update for a core with ``l2`` bytes of L2, or ``None`` (whole arrays).

    Four float32 slices (parameter, gradient, buffer, work array) fill half the L2
    at most, and a slice holds 64Ki elements at least: below that, the Python call
    per pass and slice costs more than the cache saves.
    """
    if not l2:
        return None
    size = 1 << ((l2 // 2 // (4 * 4)).bit_length() - 1)  # a power of two
    return size if size >= 1 << 16 else None


def _slices(arrays, size):
    """The arrays (``None`` entries kept) cut into matching flat slices of ``size`` elements.

    With ``size=None``, arrays of ``size`` elements or fewer, or arrays that are not
    all C-contiguous (flat slices would not be views), they come back whole, in one piece.
    """
    present = [a for a in arrays if a is not None]
    n = arrays[0].size
    if size is None or n <= size or not all(a.flags.c_contiguous for a in present):
        yield arrays
        return
    flat = [None if a is None else a.reshape(-1) for a in arrays]
    for start in range(0, n, size):
        yield tuple(None if f is None else f[start:start + size] for f in flat)
