"""``sparse_conv2d``'s tuned kernel: LeNet-5's C3 on the conv kernel's batch-innermost im2col.

The numbers are those of the textbook :func:`scratchnet.functional.sparse_conv.sparse_conv2d`
(the same products per input map); the suite proves it. It gathers the windows with the
conv kernel's :func:`~.conv._im2col`, so its output lies in memory as ``(C, H, W, N)``
as the conv kernel's does (the layout the next layers keep), and it caches each
table's reader lists.
"""
from __future__ import annotations

import functools

import numpy as np

from .._vjp import register_kernel
from ..sparse_conv import _readers as _plain_readers, _setup, sparse_conv2d
from .conv import _bias_grad, _col2im, _im2col

#: The reader lists are a function of the (hashable) table alone: computed once per table.
_readers = functools.lru_cache(maxsize=32)(_plain_readers)


def _sparse_conv2d_kernel(input, weight, bias, table, stride=1, padding=0, dilation=1):
    """:func:`~scratchnet.functional.sparse_conv.sparse_conv2d`'s forward and backward on batch-innermost columns."""
    x4, unbatched, w, b, table, geo = _setup("sparse_conv2d", input, weight, bias, table,
                                             stride, padding, dilation)
    n, channels = x4.shape[:2]
    n_maps = len(table)
    taps = geo.kernel[0] * geo.kernel[1]
    ho, wo = geo.out_hw
    readers = _readers(table, channels)  # cached: a function of the table alone
    w_rows = w.reshape(len(w), taps)  # connection t's kernel is row t
    cols = _im2col(x4, geo, 1).reshape(channels, taps, ho * wo * n)  # X_c = cols[c]

    y = np.zeros((n_maps, cols.shape[-1]), dtype=x4.dtype)
    for c, (maps, connections) in enumerate(readers):
        if len(maps):
            y[maps] += w_rows[connections] @ cols[c]
    if b is not None:
        y += b[:, None]
    # (maps, Ho, Wo, N) memory as an (N, maps, Ho, Wo) array, as conv2d returns it.
    out = y.reshape(n_maps, ho, wo, n).transpose(3, 0, 1, 2)

    def backward(grad_out, needs_input_grad=True):
        g = grad_out[None] if unbatched else grad_out
        g_cols = np.ascontiguousarray(g.transpose(1, 2, 3, 0)).reshape(n_maps, ho * wo * n)
        grad_w = np.empty(w_rows.shape, dtype=w.dtype)  # every connection is written once below
        dcols = np.zeros(cols.shape, dtype=x4.dtype) if needs_input_grad else None
        for c, (maps, connections) in enumerate(readers):
            if len(maps) == 0:
                continue
            g_maps = g_cols[maps]
            grad_w[connections] = g_maps @ cols[c].T
            if needs_input_grad:
                np.matmul(w_rows[connections].T, g_maps, out=dcols[c])
        grads = {"weight": grad_w.reshape(w.shape)}
        if needs_input_grad:
            grad_x = _col2im(dcols.reshape(1, channels * taps, -1), geo, n, channels)
            grads["input"] = grad_x[0] if unbatched else grad_x
        if b is not None:
            grads["bias"] = _bias_grad(g_cols)
        return grads

    return (out[0] if unbatched else out), backward


register_kernel(sparse_conv2d, _sparse_conv2d_kernel)
