r"""The affine map of a fully connected layer: one GEMM forward, two backward.

:math:`Y = X W^\top + b` for :math:`X` the input with its leading dimensions flattened
into rows; backward :math:`\partial L/\partial X = G W`, :math:`\partial L/\partial W
= G^\top X`, :math:`\partial L/\partial b = \sum_m G_{m,:}`.

A tuned kernel with the same contract runs by default
(:mod:`scratchnet.functional.fast.linear`); ``with F.textbook():`` runs this page's code,
and the suite proves the two equal.
"""
from __future__ import annotations

import math

import numpy as np

from ..checks import as_float_array, same_dtype, shape_str
from ._broadcast import sum_to_shape
from ._vjp import differentiable


@differentiable(honors_needs_input_grad=True, fresh_grads=True)
def linear(input, weight, bias=None):
    r"""Affine map :math:`y = x W^\top + b`, over any number of leading dimensions.

    With ``x`` of shape :math:`(*, \text{in})`, ``W`` of shape :math:`(\text{out}, \text{in})`
    and ``b`` of shape :math:`(\text{out},)`, flatten the leading dims to
    :math:`X \in \mathbb{R}^{M \times \text{in}}` and upstream gradient
    :math:`G \in \mathbb{R}^{M \times \text{out}}`. Then

    .. math::

        \frac{\partial L}{\partial X} = G W, \qquad
        \frac{\partial L}{\partial W} = G^\top X, \qquad
        \frac{\partial L}{\partial b} = \textstyle\sum_{m} G_{m,:}.

    The weight and bias gradients sum over every leading position, which is how one
    weight shared by a whole batch collects every sample's contribution.

    Parameters
    ----------
    input : ndarray, shape ``(*, in_features)``
    weight : ndarray, shape ``(out_features, in_features)`` (or ``(in_features,)``,
        which drops the last output dimension, as in torch)
    bias : ndarray, optional
        Shape ``(out_features,)``, or anything that broadcasts against the output
        without enlarging it (torch adds it with broadcasting too); with a 1-D weight
        only for a 1-D input, shape ``()``.

    Returns
    -------
    ndarray, shape ``(*, out_features)``

    Examples
    --------
    >>> import numpy as np, scratchnet.functional as F
    >>> x = np.array([[1.0, 2.0]])                             # one sample, 2 features
    >>> w = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, -1.0]])    # 3 outputs
    >>> F.linear(x, w, np.array([0.0, 0.0, 10.0]))
    array([[1., 3., 8.]])
    """
    x, w, b = _validate(input, weight, bias)
    vector_weight = w.ndim == 1
    w2 = w[None, :] if vector_weight else w  # a 1-D weight is one output row
    out_features, in_features = w2.shape
    lead = x.shape[:-1]
    # X: every leading position is one row. The row count is spelled out: reshape(-1, 0)
    # cannot infer it (0 input features).
    x2 = x.reshape(math.prod(lead), in_features)
    out = (x2 @ w2.T).reshape(lead if vector_weight else lead + (out_features,))
    if b is not None:
        out += b

    def backward(grad_out, needs_input_grad=True):
        g2 = grad_out.reshape(x2.shape[0], out_features)  # G, one row per row of X
        grads = {}
        if needs_input_grad:
            grads["input"] = (g2 @ w2).reshape(x.shape)  # G W
        gw = g2.T @ x2  # G^T X: the sum over rows collects every sample's share
        grads["weight"] = gw[0] if vector_weight else gw
        if b is not None:
            gb = sum_to_shape(grad_out, b.shape)  # the sum of G over the rows
            # Nothing to sum when the bias is output-shaped (a 1-D input): then gb is
            # grad_out itself, and gradients must be fresh arrays (fresh_grads).
            grads["bias"] = gb.copy() if b.shape == grad_out.shape else gb
        return grads

    return out, backward


def _validate(input, weight, bias):
    """Check a ``linear`` call as torch does; return ``input``, ``weight`` and ``bias`` as arrays."""
    x = as_float_array("linear", "input", input)
    w = as_float_array("linear", "weight", weight)
    b = None if bias is None else as_float_array("linear", "bias", bias)
    same_dtype("linear", input=x, weight=w, bias=b)
    if w.ndim not in (1, 2):
        raise ValueError(
            f"linear: weight must be 2-D (out_features, in_features), got shape {shape_str(w.shape)}"
        )
    if x.ndim == 0:
        raise ValueError("linear: input must have at least 1 dimension, got a 0-d array")
    vector_weight = w.ndim == 1  # one output's weights: the output drops the last axis
    in_features = w.shape[-1]
    if x.shape[-1] != in_features:
        rows = int(np.prod(x.shape[:-1], dtype=np.int64))
        # torch's words for a matrix weight, the lectures' flatten-size error.
        torch_says = ("" if vector_weight else
                      f" (torch says: mat1 and mat2 shapes cannot be multiplied "
                      f"({rows}x{x.shape[-1]} and {in_features}x{w.shape[0]}))")
        raise ValueError(
            f"linear: input of shape {shape_str(x.shape)} has {x.shape[-1]} features in its "
            f"last dimension, but weight of shape {shape_str(w.shape)} expects {in_features}"
            + torch_says
        )

    out_shape = x.shape[:-1] if vector_weight else x.shape[:-1] + (w.shape[0],)
    if b is not None:
        # torch's rule for a 1-D weight: a bias for a 1-D input, or a 0-d one for an input
        # of 3 or more dimensions; a 2-D input goes through a matrix product that refuses it.
        if vector_weight and x.ndim > 1 and not (x.ndim > 2 and b.ndim == 0):
            raise ValueError(
                f"linear: with a 1-D weight a bias fits a 1-D input, or a 0-d bias an input of "
                f"3 or more dimensions; got input {shape_str(x.shape)}, weight {shape_str(w.shape)}, "
                f"bias {shape_str(b.shape)} (torch: mat2 must be a matrix)"
            )
        expected = "()" if vector_weight else f"({w.shape[0]},)"
        fits = b.shape == out_shape[-1:] and not vector_weight  # the usual bias, no test needed
        if not fits:
            try:
                fits = np.broadcast_shapes(b.shape, out_shape) == out_shape
            except ValueError:
                fits = False
        if not fits:
            raise ValueError(
                f"linear: bias of shape {shape_str(b.shape)} does not broadcast to the output "
                f"shape {shape_str(out_shape)}; expected {expected}"
            )

    return x, w, b
