r"""The tuned ``linear`` kernel: what runs by default in place of :mod:`..linear`'s textbook op.

Same contract as the textbook :func:`~scratchnet.functional.linear` (arguments, ``(out,
backward)``, the same numbers up to the order of the GEMMs' sums);
``parity_tests/ops/test_02_linear.py`` proves them equal. Two changes, for speed:

* up to :data:`WEIGHT_MAJOR_ROWS` rows the forward and the input gradient run as
  weight-major GEMMs, :math:`(W X^\top)^\top` and :math:`(W^\top G^\top)^\top`: the same
  matrices, which OpenBLAS computes faster that way round at small batch, and the result
  lies in memory with the batch innermost, as conv2d's outputs do;
* at a single row the weight gradient :math:`G^\top X` is an outer product, which a GEMM
  computes slower than a broadcast multiply (:func:`_outer`).
"""
from __future__ import annotations

import math

import numpy as np

from .._broadcast import sum_to_shape
from .._vjp import register_kernel
from ..linear import _validate, linear

#: Up to this many rows (the batch, for a 2-D input) the forward and the input gradient
#: run as weight-major GEMMs; past it, as the textbook's X W^T and G W.
WEIGHT_MAJOR_ROWS = 256


def linear_kernel(input, weight, bias=None):
    """:func:`~scratchnet.functional.linear` with weight-major GEMMs up to
    :data:`WEIGHT_MAJOR_ROWS` rows and a two-pass outer product at one row."""
    x, w, b = _validate(input, weight, bias)
    vector_weight = w.ndim == 1
    w2 = w[None, :] if vector_weight else w
    out_features, in_features = w2.shape
    lead = x.shape[:-1]
    out_shape = lead if vector_weight else lead + (out_features,)

    # The row count is spelled out: reshape(-1, 0) cannot infer it (0 input features).
    rows = math.prod(lead)
    x2 = x.reshape(rows, in_features)
    weight_major = rows <= WEIGHT_MAJOR_ROWS  # the weight's rows as the GEMM's long side
    out = ((w2 @ x2.T).T if weight_major else x2 @ w2.T).reshape(out_shape)
    if b is not None:
        out += b

    def backward(grad_out, needs_input_grad=True):
        g2 = grad_out.reshape(rows, out_features)
        if needs_input_grad:
            grad_x = (w2.T @ g2.T).T if weight_major else g2 @ w2
            grads = {"input": grad_x.reshape(x.shape)}
        else:
            grads = {}
        # Not np.dot for the outer product: its outer-product path skips zeros, so
        # 0 * inf would give 0 instead of torch's NaN.
        gw = _outer(g2[0], x2[0]) if g2.shape[0] == 1 else g2.T @ x2
        grads["weight"] = gw[0] if vector_weight else gw
        if b is not None:
            gb = sum_to_shape(grad_out, b.shape)
            # Nothing to sum when the bias is output-shaped (a 1-D input): then gb is
            # grad_out itself, and gradients must be fresh arrays (fresh_grads).
            grads["bias"] = gb.copy() if b.shape == grad_out.shape else gb
        return grads

    return out, backward


def _outer(g: np.ndarray, x: np.ndarray) -> np.ndarray:
    r"""The outer product :math:`g x^\top` as a new C-ordered ``(len(g), len(x))`` array.

    Two passes, broadcast copy then in-place scaling: every row is first ``x``, then
    multiplied by its ``g_i``. NumPy's one-pass broadcast ``g[:, None] * x`` runs its
    inner loop with a zero-stride operand on a slower path. Each element is the single
    rounded product :math:`g_i x_j`, as in the one-pass form.
    """
    out = np.empty((g.shape[0], x.shape[0]), dtype=np.result_type(g, x))
    out[...] = x
    return np.multiply(out, g[:, None], out=out)


register_kernel(linear, linear_kernel)
