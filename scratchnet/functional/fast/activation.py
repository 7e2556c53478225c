"""relu, sigmoid and tanh with their backward passes in fewer, cheaper passes.

Same forwards (the textbook's own), numbers and flags as
:mod:`scratchnet.functional.activation`'s: each product is taken in the textbook's
order, so the gradients are bit for bit the same, and
``parity_tests/ops/test_01_activations.py`` proves it. For speed:

* relu's backward multiplies by the mask when the gradient is finite and selects only
  when it is not (:func:`._where.where_grad`);
* sigmoid's and tanh's backwards run in one scratch array laid out as the output,
  where the expression would allocate two or three activation-sized temporaries.
"""
from __future__ import annotations

import numpy as np

from .._vjp import register_kernel, registration
from ..activation import relu, sigmoid, tanh
from ._where import where_grad

# The textbook forwards, looked up once: the kernels change only the backward.
_RELU, _SIGMOID, _TANH = (registration(op).forward for op in (relu, sigmoid, tanh))


def relu_kernel(input, inplace=False):
    out, _ = _RELU(input, inplace)

    def backward(grad_out):
        return {"input": where_grad(~(out <= 0), grad_out)}

    return out, backward


def sigmoid_kernel(input):
    out, _ = _SIGMOID(input)

    def backward(grad_out):
        d = np.subtract(1, out, out=np.empty_like(out))  # (1 - s), laid out as out; 0-d safe
        np.multiply(grad_out, d, out=d)
        return {"input": np.multiply(d, out, out=d)}

    return out, backward


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
