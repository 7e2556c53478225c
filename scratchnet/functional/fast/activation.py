r"""relu, sigmoid and tanh in fewer, cheaper passes.

Same numbers and flags as
:mod:`scratchnet.functional.activation`'s: each value is rounded as the textbook rounds
it, each product taken in its order, so forwards and gradients are bit for bit the same, and
``parity_tests/ops/test_01_activations.py`` proves it. For speed:

* relu's forward takes its maximum against an array of zeros, not the scalar 0
  (:func:`._layout.zeros_in_layout`); its backward multiplies by the mask when the
  gradient is finite and selects only when it is not (:func:`._where.where_grad`);
* sigmoid's and tanh's backwards run in one scratch array laid out as the output,
  where the expression would allocate two or three activation-sized temporaries;
* sigmoid's forward computes the textbook's :math:`e^{-|x|}/(1+e^{-|x|})` and
  :math:`1/(1+e^{-|x|})` as one division, its numerator :math:`\max(e^{-|x|}, [x \ge 0])`:
  two arrays and seven branch-free passes, where the textbook's expression allocates
  eight and its ``np.where`` branches on every element.
"""
from __future__ import annotations

import numpy as np

from ...checks import as_float_array
from .._vjp import register_kernel, registration
from ..activation import relu, sigmoid, tanh
from ._layout import zeros_in_layout
from ._where import where_grad

# The textbook forward, looked up once: tanh's kernel changes only the backward.
_TANH = registration(tanh).forward


def relu_kernel(input, inplace=False):
    x = as_float_array("relu", "input", input)
    # The textbook's np.maximum(x, 0) against zeros laid out as x: the same numbers, the
    # ufunc's fast path (see zeros_in_layout).
    out = np.maximum(x, zeros_in_layout(x), out=x if inplace else None)

    def backward(grad_out):
        return {"input": where_grad(~(out <= 0), grad_out)}

    return out, backward


def sigmoid_kernel(input):
    out = _sigmoid(as_float_array("sigmoid", "input", input))

    def backward(grad_out):
        d = np.subtract(1, out, out=np.empty_like(out))  # (1 - s), laid out as out; 0-d safe
        np.multiply(grad_out, d, out=d)
        return {"input": np.multiply(d, out, out=d)}

    return out, backward


def _sigmoid(x: np.ndarray) -> np.ndarray:
    """The textbook's ``_stable_sigmoid(x)``, the same roundings, in arrays laid out as ``x``."""
    e = np.abs(x, out=np.empty_like(x))
    np.negative(e, out=e)
    np.exp(e, out=e)                          # e^{-|x|}: never overflows
    d = np.add(e, 1, out=np.empty_like(e))    # 1 + e^{-|x|}
    # The numerator, 1 where x >= 0 and e elsewhere, as a max against the 0/1 mask (e <= 1;
    # a NaN stays NaN): branch-free, where a masked copy branches on every element.
    np.maximum(e, x >= 0, out=e)
    return np.divide(e, d, out=e)


def tanh_kernel(input):
    out, _ = _TANH(input)

    def backward(grad_out):
        d = np.multiply(out, out, out=np.empty_like(out))  # y^2, laid out as out; 0-d safe
        np.subtract(1, d, out=d)
        return {"input": np.multiply(grad_out, d, out=d)}

    return out, backward


register_kernel(relu, relu_kernel)
register_kernel(sigmoid, sigmoid_kernel)
register_kernel(tanh, tanh_kernel)
