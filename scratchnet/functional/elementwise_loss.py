r"""The lectures' elementwise losses: mean squared error and the logistic loss on logits.

As :mod:`scratchnet.functional.loss`, they follow torch.nn.functional exactly
(arguments, defaults, broadcasting, reductions, legacy flags); each position's loss
depends on its own input and target only, so no class layout is involved.
"""
from __future__ import annotations

import warnings

import numpy as np

from ..checks import as_float_array, same_dtype, shape_str
from ._broadcast import sum_to_shape
from ._reduction import _mean, _per_position_scale, _reduce, _reduction
from ._vjp import differentiable
from .activation import logsigmoid, sigmoid


@differentiable
def mse_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    r"""Mean squared error, :math:`\ell_j = (x_j - y_j)^2`, optionally weighted.

    As torch, ``input`` and ``target`` of different shapes are broadcast together (with
    a warning: that is usually a bug, ``(N, 1)`` against ``(N,)`` gives an
    :math:`N \times N` loss). With a ``weight`` of the input's shape, the loss is
    :math:`w \odot (x - y)^2` and its mean is :math:`\sum w (x-y)^2 / \sum w`.

    Backward, with :math:`a` the upstream gradient per element (:math:`g`, or
    :math:`g / n` for the mean over :math:`n` elements, :math:`g / \sum w` when
    weighted), each gradient summed back over the axes its argument was broadcast along:

    .. math::

        \frac{\partial L}{\partial x} = 2 a\, w \odot (x - y), \qquad
        \frac{\partial L}{\partial y} = -2 a\, w \odot (x - y), \qquad
        \frac{\partial L}{\partial w} = a\,(x - y)^2 \;-\; [\text{mean}]\,\frac{g L}{\sum w}.

    Parameters
    ----------
    input, target : ndarray, broadcastable shapes, float32/float64 (one dtype)
    size_average, reduce : bool, optional
        Deprecated; when given they override ``reduction`` by torch's legacy rule.
    reduction : {'mean', 'sum', 'none'}
    weight : ndarray, the input's shape, optional
        Per-element weights (torch 2.13's ``weight`` argument).

    Returns
    -------
    ndarray, 0-d, or of the broadcast shape for ``'none'``

    Examples
    --------
    >>> import numpy as np, scratchnet.functional as F
    >>> F.mse_loss(np.array([1.0, 2.0, 3.0]), np.array([1.0, 0.0, 5.0]))  # (0 + 4 + 4) / 3
    array(2.66666667)
    """
    op = "mse_loss"
    x = as_float_array(op, "input", input)
    y = as_float_array(op, "target", target)
    w = None if weight is None else as_float_array(op, "weight", weight)
    same_dtype(op, input=x, target=y, weight=w)
    if x.shape != y.shape:
        warnings.warn(
            f"{op}: Using a target size ({shape_str(y.shape)}) that is different to the input "
            f"size ({shape_str(x.shape)}). This will likely lead to incorrect results due to "
            f"broadcasting. Please ensure they have the same size.",
            UserWarning,
            stacklevel=3,
        )
    reduction = _reduction(op, size_average, reduce, reduction)
    shape = _broadcast_shape(op, input=x.shape, target=y.shape)
    if w is not None and w.shape != x.shape:
        raise ValueError(
            f"{op}: Weights and input must have the same size: weight "
            f"{shape_str(w.shape)}, input {shape_str(x.shape)}"
        )

    diff = x - y
    squared = diff * diff
    per = squared * w if w is not None else squared
    count = w.sum() if w is not None else per.size
    out = _reduce(per, reduction, count)

    def backward(grad_out):
        scale = _per_position_scale(grad_out, reduction, shape, count)
        two = diff.dtype.type(2)  # numpy 1.x would make a Python 2 against 0-d float32 float64
        g_diff = two * scale * diff
        if w is not None:
            g_diff = g_diff * w
        grads = {"input": sum_to_shape(g_diff, x.shape), "target": -sum_to_shape(g_diff, y.shape)}
        if w is not None:
            gw = sum_to_shape(scale * squared, w.shape)
            if reduction == "mean":
                gw = gw - _mean(grad_out * out, count)
            grads["weight"] = gw
        return grads

    return out, backward


@differentiable
def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None, reduce=None,
                                     reduction="mean", pos_weight=None):
    r"""Logistic loss on logits, :math:`-w\,[p_w\, y \log\sigma(x) + (1-y)\log(1-\sigma(x))]`.

    Using :math:`\log(1 - \sigma(x)) = \log\sigma(x) - x`, this is computed as torch does,

    .. math::

        \ell = w \bigl[(1 - y)\,x - (1 + (p_w - 1)\,y)\,\log\sigma(x)\bigr],

    with the stable :math:`\log\sigma(x) = \min(x, 0) - \log(1 + e^{-|x|})`: no
    :math:`\log 0` for logits of :math:`\pm 10^4`, where sigmoid-then-log would give
    ``inf``. ``pos_weight`` :math:`p_w` (one per class, broadcast along the last
    dimension, or any shape broadcastable to the input) scales the positive term; with
    :math:`p_w = 1` this is plain binary cross-entropy, the lectures' logistic
    regression cost :math:`-(y \log H + (1-y)\log(1-H))`, :math:`H = \sigma(x)`.

    Backward, :math:`a` the upstream gradient per element (``g / n`` for the mean), each
    gradient summed back over its broadcast axes:

    .. math::

        \frac{\partial L}{\partial x} &= a\,w \bigl[(1 + (p_w-1)\,y)\,\sigma(x) - p_w y\bigr], &
        \frac{\partial L}{\partial y} &= a\,w \bigl[(1 - p_w)\log\sigma(x) - x\bigr], \\
        \frac{\partial L}{\partial w} &= a \bigl[(1 - y)\,x - (1 + (p_w - 1)\,y)\log\sigma(x)\bigr], &
        \frac{\partial L}{\partial p_w} &= -a\,w\, y \log\sigma(x).

    Parameters
    ----------
    input : ndarray, any shape, float32/float64
        Logits.
    target : ndarray, the input's shape, same dtype
        Targets in :math:`[0, 1]` (soft labels allowed).
    weight : ndarray, broadcastable to the input's shape, optional
        Rescales each element's loss.
    size_average, reduce : bool, optional
        Deprecated; when given they override ``reduction`` by torch's legacy rule.
    reduction : {'mean', 'sum', 'none'}
    pos_weight : ndarray, broadcastable to the input's shape, optional
        Weight of the positive examples, typically ``(C,)`` for a multi-label ``(N, C)``.

    Returns
    -------
    ndarray, 0-d, or of the input's shape for ``'none'``

    Examples
    --------
    >>> import numpy as np, scratchnet.functional as F
    >>> z, y = np.array([0.0, 400.0, -400.0]), np.ones(3)
    >>> F.binary_cross_entropy_with_logits(z, y, reduction="none")  # log 2, ~0, 400: no inf
    array([6.93147181e-001, 1.91516960e-174, 4.00000000e+002])
    """
    op = "binary_cross_entropy_with_logits"
    x = as_float_array(op, "input", input)
    y = as_float_array(op, "target", target)
    w = None if weight is None else as_float_array(op, "weight", weight)
    pw = None if pos_weight is None else as_float_array(op, "pos_weight", pos_weight)
    same_dtype(op, input=x, target=y, weight=w, pos_weight=pw)
    reduction = _reduction(op, size_average, reduce, reduction)
    if y.shape != x.shape:
        raise ValueError(
            f"{op}: Target size {shape_str(y.shape)} must be the same as input size "
            f"{shape_str(x.shape)}"
        )
    for name, arr in (("weight", w), ("pos_weight", pw)):
        if arr is not None and _broadcast_shape(op, **{name: arr.shape, "input": x.shape}) != x.shape:
            raise ValueError(
                f"{op}: {name} of shape {shape_str(arr.shape)} must broadcast to the input's "
                f"shape {shape_str(x.shape)} without enlarging it"
            )

    # A one of x's dtype: numpy 1.x makes a 0-d float32 minus a Python 1 float64.
    one = x.dtype.type(1)
    log_sig = logsigmoid(x)
    pos_scale = (pw - one) * y + one if pw is not None else None
    unweighted = (one - y) * x - (log_sig * pos_scale if pw is not None else log_sig)
    per = unweighted * w if w is not None else unweighted
    out = _reduce(per, reduction, per.size)

    def backward(grad_out):
        scale = _per_position_scale(grad_out, reduction, x.shape, per.size)
        scaled = scale * w if w is not None else scale
        if pw is not None:
            # torch's own expressions (t = p_w y; log sigma(-x) rather than log sigma(x) - x),
            # so that infinite logits give its inf, not inf - inf = NaN.
            t = pw * y
            grad_x = ((t + one - y) * sigmoid(x) - t) * scaled
            grad_y = (logsigmoid(-x) - log_sig * pw) * scaled
        else:
            grad_x = (sigmoid(x) - y) * scaled
            grad_y = -x * scaled
        grads = {"input": grad_x, "target": grad_y}
        if w is not None:
            grads["weight"] = sum_to_shape(scale * unweighted, w.shape)
        if pw is not None:
            grads["pos_weight"] = sum_to_shape(-scaled * y * log_sig, pw.shape)
        return grads

    return out, backward



def _broadcast_shape(op: str, **shapes) -> tuple:
    try:
        return np.broadcast_shapes(*shapes.values())
    except ValueError:
        desc = ", ".join(f"{k} {shape_str(s)}" for k, s in shapes.items())
        raise ValueError(f"{op}: shapes cannot be broadcast together: {desc}") from None
