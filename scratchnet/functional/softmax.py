r"""Softmax and log-softmax along one dimension.

Both are computed from the shifted logits :math:`x - \max_j x_j`. The shift cancels in
the ratio (softmax is invariant to adding a constant to every logit), and it makes
the largest exponent :math:`e^0 = 1`, so logits of :math:`10^{30}` neither overflow
``exp`` nor lose the distribution; logits of :math:`-\infty` give probability 0 (log
probability :math:`-\infty`) exactly as torch does. A row holding :math:`+\infty`, or
only :math:`-\infty`, has no defined distribution and comes out as NaN, again as in
torch.

The two backward passes need only the forward's output :math:`s` (or
:math:`\ell = \log s`):

.. math::

    \frac{\partial L}{\partial x} = s \odot \Bigl(g - \textstyle\sum_j g_j s_j\Bigr)
    \quad\text{(softmax)}, \qquad
    \frac{\partial L}{\partial x} = g - e^{\ell} \textstyle\sum_j g_j
    \quad\text{(log-softmax)}.

The private ``_log_softmax``/``_log_softmax_backward`` pair is what the
cross-entropy loss builds on, so the loss and the op share every rounding.
"""
from __future__ import annotations

import warnings

import numpy as np

from ..checks import as_float_array, float_dtype, normalize_dim
from ._vjp import differentiable


@differentiable
def softmax(input, dim=None, _stacklevel=3, dtype=None):
    r"""Softmax along ``dim``: :math:`s_i = e^{x_i} / \sum_j e^{x_j}`.

    Computed as :math:`e^{x_i - m} / \sum_j e^{x_j - m}` with :math:`m = \max_j x_j`,
    stable for any finite logits. The Jacobian is
    :math:`\partial s_i / \partial x_k = s_i(\delta_{ik} - s_k)`, so the backward is

    .. math::

        \frac{\partial L}{\partial x} = g \odot s - s \textstyle\sum_j g_j s_j.

    Parameters
    ----------
    input : ndarray, any shape (0-d included), float32 or float64
        Integer input is accepted only together with ``dtype``, as in torch.
    dim : int
        Dimension along which the entries sum to one; negative counts from the end.
        ``None`` is torch's deprecated implicit choice (0 for 0-, 1- and 3-d input,
        else 1) and warns.
    _stacklevel : int
        Where the implicit-``dim`` warning points, as torch's argument.
    dtype : {None, float32, float64}
        Cast ``input`` to this dtype before the op; the output has this dtype and the
        input gradient the input's.

    Returns
    -------
    ndarray, same shape as ``input``, entries in :math:`[0, 1]` summing to 1 along ``dim``

    Examples
    --------
    >>> import numpy as np, scratchnet.functional as F
    >>> F.softmax(np.array([[1.0, 1.0], [0.0, np.log(3)]]), dim=1)  # e^0 : e^log 3 = 1 : 3
    array([[0.5 , 0.5 ],
           [0.25, 0.75]])
    """
    x, axis = _prepare("softmax", input, dim, _stacklevel, dtype)
    if x.size == 0:
        out = x.copy()
    else:
        with np.errstate(invalid="ignore"):  # a +inf logit or an all -inf row: NaN, as torch
            e = np.exp(x - np.max(x, axis=axis, keepdims=True))
            out = np.asarray(e / np.sum(e, axis=axis, keepdims=True))  # 0-d stays an array

    def backward(grad_out):
        gs = grad_out * out
        return {"input": gs - out * np.sum(gs, axis=axis, keepdims=True)}

    return out, backward


@differentiable
def log_softmax(input, dim=None, _stacklevel=3, dtype=None):
    r"""Log of the softmax along ``dim``: :math:`\ell_i = x_i - \log\sum_j e^{x_j}`.

    Computed as :math:`(x_i - m) - \log\sum_j e^{x_j - m}` (log-sum-exp with the max
    :math:`m` factored out), which is finite wherever ``softmax`` would round to 0 and
    ``log(softmax(x))`` would give :math:`-\infty`. Since
    :math:`\partial \ell_i / \partial x_k = \delta_{ik} - s_k` with
    :math:`s = e^{\ell}`,

    .. math::

        \frac{\partial L}{\partial x} = g - e^{\ell} \textstyle\sum_j g_j.

    Parameters
    ----------
    input : ndarray, any shape (0-d included), float32 or float64
        Integer input is accepted only together with ``dtype``, as in torch.
    dim : int
        Dimension normalised over; negative counts from the end. ``None`` is torch's
        deprecated implicit choice (0 for 0-, 1- and 3-d input, else 1) and warns.
    _stacklevel : int
        Where the implicit-``dim`` warning points, as torch's argument.
    dtype : {None, float32, float64}
        Cast ``input`` to this dtype before the op.

    Returns
    -------
    ndarray, same shape as ``input``, entries :math:`\le 0`

    Examples
    --------
    >>> import numpy as np, scratchnet.functional as F
    >>> F.log_softmax(np.zeros(4), dim=0)  # four equal scores: log(1/4) each
    array([-1.38629436, -1.38629436, -1.38629436, -1.38629436])
    """
    x, axis = _prepare("log_softmax", input, dim, _stacklevel, dtype)
    out = _log_softmax(x, axis)

    def backward(grad_out):
        return {"input": _log_softmax_backward(grad_out, out, axis)}

    return out, backward


def _log_softmax(x: np.ndarray, axis) -> np.ndarray:
    r""":math:`\ell = (x - m) - \log\sum_j e^{x_j - m}` with :math:`m = \max_j x_j`."""
    if x.size == 0:
        return x.copy()
    with np.errstate(invalid="ignore"):  # inf - inf: the NaN torch returns too
        shifted = x - x.max(axis=axis, keepdims=True)
        # np.asarray: arithmetic on 0-d arrays hands back a NumPy scalar.
        return np.asarray(shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True)))


def _log_softmax_backward(grad_out: np.ndarray, out: np.ndarray, axis) -> np.ndarray:
    r""":math:`g - e^{\ell} \sum_j g_j`, from the forward's output :math:`\ell`."""
    return grad_out - np.exp(out) * grad_out.sum(axis=axis, keepdims=True)


def _prepare(op: str, input, dim, stacklevel: int, dtype):
    """Validate and cast the input; return ``(x, axis)`` with a NumPy reduction axis.

    ``axis`` is ``None`` for a 0-d input: NumPy has no axis 0 there, but the
    reduction over "all of nothing" is the single element itself, as torch treats it.
    """
    if dtype is None:
        x = as_float_array(op, "input", input)
    else:
        target = float_dtype(op, dtype)
        if not isinstance(input, np.ndarray) or input.dtype.kind not in "biuf":
            raise TypeError(
                f"{op}: input must be a NumPy array of numbers, got "
                f"{getattr(input, 'dtype', type(input).__name__)}"
            )
        # As torch: the input is cast to ``dtype`` *before* the op (useful to run a
        # float32 network's softmax in float64, or to feed integer scores).
        x = input.astype(target, copy=False)
    if dim is None:
        dim = _softmax_dim(op, x.ndim, stacklevel + 2)
    axis = normalize_dim(op, dim, x.ndim)
    return x, (axis if x.ndim else None)


def _softmax_dim(op: str, ndim: int, stacklevel: int) -> int:
    """torch's deprecated implicit ``dim``: 0 for 0-, 1- and 3-d inputs, else 1."""
    warnings.warn(
        f"Implicit dimension choice for {op} has been deprecated. "
        "Change the call to include dim=X as an argument.",
        UserWarning,
        stacklevel=stacklevel,
    )
    return 0 if ndim in (0, 1, 3) else 1
