"""The affine map of a fully connected layer."""
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
    vector_weight = w.ndim == 1
    w2 = w[None, :] if vector_weight else w
    out_features, in_features = w2.shape
    if x.shape[-1] != in_features:
        rows = int(np.prod(x.shape[:-1], dtype=np.int64))
        raise ValueError(
            f"linear: input of shape {shape_str(x.shape)} has {x.shape[-1]} features in its "
            f"last dimension, but weight of shape {shape_str(w.shape)} expects {in_features} "
            f"(torch says: mat1 and mat2 shapes cannot be multiplied "
            f"({rows}x{x.shape[-1]} and {in_features}x{out_features}))"
        )

    lead = x.shape[:-1]
    out_shape = lead if vector_weight else lead + (out_features,)
    if b is not None:
        if vector_weight and x.ndim > 1:
            raise ValueError(
                f"linear: a bias needs a 2-D weight (out_features, in_features) unless the "
                f"input is 1-D; got input {shape_str(x.shape)}, weight {shape_str(w.shape)}"
            )
        fits = not vector_weight and b.shape == (out_features,)  # the usual bias, no test needed
        if not fits:
            try:
                fits = np.broadcast_shapes(b.shape, out_shape) == out_shape
            except ValueError:
                fits = False
        if not fits:
            raise ValueError(
                f"linear: bias of shape {shape_str(b.shape)} does not broadcast to the output "
                f"shape {shape_str(out_shape)}; expected ({out_features},)"
            )

    # The row count is spelled out: reshape(-1, 0) cannot infer it (0 input features).
    rows = math.prod(lead)
    x2 = x.reshape(rows, in_features)
    # GEMM orientation: for a batch of up to WEIGHT_MAJOR_ROWS rows, OpenBLAS computes
    # (W X^T)^T faster than X W^T (the weight's rows as the GEMM's long side). The
    # result is the same (M, out) matrix with the batch innermost in memory, the
    # layout conv2d's outputs have too; the next op takes it as it is.
    weight_major = rows <= WEIGHT_MAJOR_ROWS
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
        # For a single row (batch 1) G^T X is an outer product, which OpenBLAS's GEMM
        # computes several times slower than a broadcast multiply. (Not np.dot: its
        # outer-product path skips zeros, so 0 * inf gives 0 instead of torch's NaN.)
        gw = _outer(g2[0], x2[0]) if g2.shape[0] == 1 else g2.T @ x2
        grads["weight"] = gw[0] if vector_weight else gw
        if b is not None:
            gb = sum_to_shape(grad_out, b.shape)
            # Nothing to sum when the bias is output-shaped (a 1-D input): then gb is
            # grad_out itself, and gradients must be fresh arrays (fresh_grads).
            grads["bias"] = gb.copy() if b.shape == grad_out.shape else gb
        return grads

    return out, backward


#: Up to this many rows (the batch, for a 2-D input) the forward and the input gradient
#: run as weight-major GEMMs, (W X^T)^T and (W^T G^T)^T. MLP-5's training step at
#: batch 2 to 256 took 0.95-0.98 of the time (paired, in one process, 8-10 rounds;
#: AMD EPYC, OpenBLAS 0.3.31, 2 threads); at batch 1000 it took 1.01.
WEIGHT_MAJOR_ROWS = 256


def _outer(g: np.ndarray, x: np.ndarray) -> np.ndarray:
    r"""The outer product :math:`g x^\top` as a new C-ordered ``(len(g), len(x))`` array.

    Two passes, broadcast copy then in-place scaling: every row is first ``x``, then
    multiplied by its ``g_i``. NumPy's one-pass broadcast ``g[:, None] * x`` runs its
    inner loop with a zero-stride operand on a slower path; the two passes took 0.65 of
    its time on MLP-5's 520x784 gradient (paired). Each element is the single rounded
    product :math:`g_i x_j`, as in the one-pass form.
    """
    out = np.empty((g.shape[0], x.shape[0]), dtype=np.result_type(g, x))
    out[...] = x
    return np.multiply(out, g[:, None], out=out)
