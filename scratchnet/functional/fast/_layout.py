"""Arrays laid out in memory as the input is: the kernels' passes stay contiguous.

A conv kernel's ``(N, C, H, W)`` output lies in memory as ``(C, H, W, N)``
(:mod:`.conv`); a pool or activation that writes its result, its padded buffer or its
gradient in that same order reads and writes every pass contiguously, where a
C-ordered array would turn each pass into a transposing copy.
"""
from __future__ import annotations

import numpy as np

from .._windows import WindowGeometry


def empty_in_layout(ref: np.ndarray, shape, dtype=None, *, lead: tuple = (), fill=None,
                    order=None) -> np.ndarray:
    """A new array of ``lead + shape`` whose last ``ref.ndim`` axes lie in memory as ``ref``'s do.

    ``np.empty_like`` keeps an array's memory order but not with another shape. Here
    a window op's output, or the stack of its taps (``lead``), gets the input's axis
    order: a conv's ``(N, C, H, W)`` output lies in memory as ``(C, H, W, N)``
    (see :mod:`.conv`), and writing a pool's result in that order keeps every pass a
    contiguous one, where a C-ordered result would make each a transposing copy.
    ``order`` (axes, outermost first) asks for a given layout instead of ``ref``'s.
    """
    perm = list(order) if order is not None else _memory_order(ref)
    if perm is None:
        # Already outermost first (a C-ordered array): no permutation, which halves the
        # cost of a batch-1 call.
        mem = np.empty(tuple(lead) + tuple(shape), dtype=dtype or ref.dtype)
        if fill is not None:
            mem.fill(fill)
        return mem
    mem = np.empty(tuple(lead) + tuple(shape[a] for a in perm), dtype=dtype or ref.dtype)
    if fill is not None:
        mem.fill(fill)
    k = len(lead)
    return mem.transpose(tuple(range(k)) + tuple(k + i for i in _inverse(perm)))


def _memory_order(ref: np.ndarray):
    """``ref``'s axes outermost first in memory (larger stride: slower-varying; ties keep
    the logical order), or ``None`` where that is the logical order (C order).

    A C-contiguous ``ref`` is taken as C order without sorting: its length-1 axes may
    carry any stride, but they lay nothing out.
    """
    if ref.flags.c_contiguous:
        return None
    steps = [abs(s) for s in ref.strides]
    if steps == sorted(steps, reverse=True):
        return None
    return sorted(range(ref.ndim), key=lambda a: -steps[a])


def _inverse(perm: list) -> list:
    """``where[a]``: the memory position of logical axis ``a`` (the inverse of ``perm``)."""
    where = [0] * len(perm)
    for position, axis in enumerate(perm):
        where[axis] = position
    return where


#: The shared zeros of :func:`zeros_in_layout`, one read-only buffer per dtype.
_ZEROS: dict = {}
#: Past this many elements :func:`zeros_in_layout` gives a 0-d zero: no buffer that large is kept.
ZEROS_MAX_ELEMENTS = 1 << 22


def zeros_in_layout(ref: np.ndarray) -> np.ndarray:
    """Read-only zeros of ``ref``'s shape and dtype, lying in memory as ``ref`` does.

    For ``np.maximum(x, zeros_in_layout(x))`` in place of ``np.maximum(x, 0)``: the same
    numbers, but NumPy 2.4's ``maximum`` and ``minimum`` run a scalar (stride-0) operand
    several times slower than an array one (``benchmarks/README.md``). A view of one
    shared buffer per dtype, grown as needed; a 0-d zero past :data:`ZEROS_MAX_ELEMENTS`.
    """
    if ref.size > ZEROS_MAX_ELEMENTS:
        zero = np.zeros((), dtype=ref.dtype)
        zero.flags.writeable = False
        return zero
    buf = _ZEROS.get(ref.dtype)
    if buf is None or buf.size < ref.size:
        buf = np.zeros(min(max(ref.size, 2 * (0 if buf is None else buf.size), 4096), ZEROS_MAX_ELEMENTS),
                       dtype=ref.dtype)
        buf.flags.writeable = False
        _ZEROS[ref.dtype] = buf
    perm = _memory_order(ref)
    if perm is None:
        return buf[:ref.size].reshape(ref.shape)
    return buf[:ref.size].reshape(tuple(ref.shape[a] for a in perm)).transpose(_inverse(perm))


def as_layout_of(ref: np.ndarray, a: np.ndarray) -> np.ndarray:
    """``a`` (``ref``'s shape) if it lies in memory as ``ref`` does, else a copy of it that does.

    Only axes longer than 1 are compared: a length-1 axis's stride never moves a pointer
    (``grad[None]`` gives it 0), so it makes no layout of its own.
    """
    if a.strides == ref.strides or all(sa == sr for sa, sr, n in zip(a.strides, ref.strides, ref.shape) if n > 1):
        return a
    out = empty_in_layout(ref, ref.shape, dtype=a.dtype)
    out[...] = a
    return out


def pad_in_layout(geo: WindowGeometry, x: np.ndarray, fill, order=None) -> np.ndarray:
    """:meth:`WindowGeometry.pad_input` into a buffer that lies in memory as ``x`` does (or in ``order``)."""
    if not any(geo.pad):
        return x
    top, _, left, _ = geo.pad
    h, w = geo.in_hw
    buf = empty_in_layout(x, x.shape[:-2] + geo.padded_hw, fill=fill, order=order)
    buf[..., top:top + h, left:left + w] = x
    return buf


def crop_in_layout(geo: WindowGeometry, padded: np.ndarray) -> np.ndarray:
    """:meth:`WindowGeometry.crop`, the copy keeping the padded buffer's memory order."""
    if not any(geo.pad):
        return padded
    top, _, left, _ = geo.pad
    h, w = geo.in_hw
    return padded[..., top:top + h, left:left + w].copy(order="K")
