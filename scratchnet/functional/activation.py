"""Element-wise activations: ReLU, sigmoid, tanh, log-sigmoid.

Each forward is written to stay finite for any finite input (sigmoid and
log-sigmoid at ±400 would overflow ``exp`` if written naively), and each backward
is expressed through the forward's output where that is both cheaper and what
torch does, so the two agree to the last few ulps.
"""
from __future__ import annotations

import numpy as np

from ..checks import as_float_array
from ._vjp import differentiable


@differentiable
def relu(input, inplace=False):
    r"""Rectified linear unit, :math:`\mathrm{relu}(x) = \max(x, 0)`.

    Backward: :math:`\partial L/\partial x = g \cdot [x > 0]`. The derivative at
    exactly 0 is taken as 0, the same subgradient torch uses. As torch's
    ``threshold_backward`` it is a selection, ``x <= 0 ? 0 : g``: exactly 0 where
    :math:`x \le 0` even for an inf/NaN ``g``, and ``g`` passes where ``x`` is NaN.

    Parameters
    ----------
    input : ndarray, any shape, float32 or float64
    inplace : bool
        Overwrite ``input`` with the result (and return it), as torch's ``inplace``.

    Returns
    -------
    ndarray, same shape and dtype as ``input``

    Examples
    --------
    >>> import numpy as np, scratchnet.functional as F
    >>> F.relu(np.array([-1.0, 0.0, 2.0]))
    array([0., 0., 2.])
    """
    x = as_float_array("relu", "input", input)
    # A zero of x's dtype: numpy 1.x turns a 0-d float32 against a Python 0 into float64.
    out = np.maximum(x, x.dtype.type(0), out=x if inplace else None)

    def backward(grad_out):
        # out <= 0 is x <= 0; reading it from out also works after an in-place forward.
        # Not out > 0: a NaN input passes its gradient, as in torch. A select, not a
        # product with a 0/1 mask: inf * 0 would be NaN where torch gives exactly 0.
        return {"input": np.where(out <= 0, grad_out.dtype.type(0), grad_out)}

    return out, backward


@differentiable
def sigmoid(input):
    r"""Logistic sigmoid, :math:`\sigma(x) = 1 / (1 + e^{-x})`.

    Backward: :math:`\partial L/\partial x = g \cdot \sigma(x)(1-\sigma(x))`, reusing
    the forward's output. Computed as :math:`e^{-|x|}/(1+e^{-|x|})` for negative
    ``x`` so that ``sigmoid(-400)`` is a tiny positive number, not ``exp`` overflow.

    Parameters
    ----------
    input : ndarray, any shape, float32 or float64

    Returns
    -------
    ndarray, same shape and dtype as ``input``, values in :math:`[0, 1]`

    Examples
    --------
    >>> import numpy as np, scratchnet.functional as F
    >>> F.sigmoid(np.array([-400.0, 0.0, 400.0]))  # no overflow warning at -400
    array([1.9151696e-174, 5.0000000e-001, 1.0000000e+000])
    """
    x = as_float_array("sigmoid", "input", input)
    out = _stable_sigmoid(x)

    def backward(grad_out):
        one = out.dtype.type(1)  # numpy 1.x would make a Python 1 against a 0-d float32 float64
        return {"input": grad_out * (one - out) * out}

    return out, backward


@differentiable
def tanh(input):
    r"""Hyperbolic tangent.

    Backward: :math:`\partial L/\partial x = g \cdot (1 - \tanh^2 x)`, from the output.

    Parameters
    ----------
    input : ndarray, any shape, float32 or float64

    Returns
    -------
    ndarray, same shape and dtype as ``input``, values in :math:`[-1, 1]`

    Examples
    --------
    >>> import numpy as np, scratchnet.functional as F
    >>> F.tanh(np.array([-400.0, 0.0, 0.5]))
    array([-1.        ,  0.        ,  0.46211716])
    """
    x = as_float_array("tanh", "input", input)
    out = np.tanh(x)

    def backward(grad_out):
        one = out.dtype.type(1)  # numpy 1.x would make a Python 1 against a 0-d float32 float64
        return {"input": grad_out * (one - out * out)}

    return out, backward


@differentiable
def logsigmoid(input):
    r"""Log of the sigmoid, :math:`\log\sigma(x) = -\log(1 + e^{-x})`.

    Forward, stable for any ``x``:
    :math:`\log\sigma(x) = \min(x, 0) - \log(1 + e^{-|x|})`.

    Backward: :math:`\partial L/\partial x = g \cdot (1 - \sigma(x)) = g\,\sigma(-x)`.
    This is the binary cross-entropy of the lectures: :math:`-\log\sigma(y z)` is the
    logistic loss of a score ``z`` for a label :math:`y \in \{-1, +1\}`.

    Parameters
    ----------
    input : ndarray, any shape, float32 or float64

    Returns
    -------
    ndarray, same shape and dtype as ``input``, values :math:`\le 0`

    Examples
    --------
    >>> import numpy as np, scratchnet.functional as F
    >>> F.logsigmoid(np.array([-400.0, 0.0, 400.0]))  # log(1/2) in the middle
    array([-4.00000000e+002, -6.93147181e-001, -1.91516960e-174])
    """
    x = as_float_array("logsigmoid", "input", input)
    out = (np.minimum(x, 0) - np.log1p(np.exp(-np.abs(x)))).astype(x.dtype, copy=False)

    def backward(grad_out):
        return {"input": grad_out * _stable_sigmoid(-x)}

    return out, backward


def _stable_sigmoid(x: np.ndarray) -> np.ndarray:
    """:math:`\\sigma(x)` without overflow: only ever exponentiate :math:`-|x|`."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(x.dtype, copy=False)
