r"""The tuned class-index losses: what runs by default in place of :mod:`..loss`'s textbook ops.

Same contract as the textbook :func:`~scratchnet.functional.cross_entropy` and
:func:`~scratchnet.functional.nll_loss`; ``parity_tests/ops/test_04_losses.py`` proves
them equal, bit for bit. For speed, the lectures' case (``(N, C)`` float scores, every
target a class, no class weights, label smoothing or ignored targets) takes a dense path;
every other call runs the textbook forward. On that path:

* each row's target score is picked directly (:func:`_plain_index_loss`) instead of
  through the general path's masks and weights;
* cross-entropy's backward is :math:`\mathrm{softmax}(x)\,a` less :math:`a` at each
  target, in one new array;
* the guard (:func:`_plain_call`) admits only arguments the textbook takes as they are,
  so it re-checks nothing, and the reductions are called as ufuncs (``np.add.reduce``),
  not through ``ndarray.sum``'s Python wrapper: at batch 1 that overhead is the op's cost.
"""
from __future__ import annotations

import numpy as np

from .._reduction import _reduction
from .._vjp import register_kernel, registration
from ...checks import FLOAT_DTYPES
from ..loss import _check_ignore_index, _class_first, cross_entropy, nll_loss

_INT64 = np.iinfo(np.int64)


def cross_entropy_kernel(input, target, weight=None, size_average=None, ignore_index=-100,
                         reduce=None, reduction="mean", label_smoothing=0.0):
    """:func:`~scratchnet.functional.cross_entropy` with the lectures' case on the dense path."""
    # Resolved first, as the textbook does, and here: a deprecation warning names the caller's line.
    reduction = _reduction("cross_entropy", size_average, reduce, reduction)
    size_average = reduce = None
    plain = _plain_call("cross_entropy", input, target, weight, ignore_index, label_smoothing)
    if plain is None:
        return registration(cross_entropy).forward(input, target, weight, size_average, ignore_index,
                                                   reduce, reduction, label_smoothing)
    x, t = plain
    log_probs = _log_softmax_rows(x)
    rows = np.arange(t.shape[0])
    out = _picked_loss(log_probs, rows, t, reduction)

    def backward(grad_out):
        # The textbook's g - softmax(x) * rowsum(g) with g = -a at each row's target and 0
        # elsewhere, so rowsum(g) = -a exactly: softmax(x) * a, then a off each target.
        # The same roundings (0 - p(-a) = pa, -a - p(-a) = pa - a) in three passes
        # instead of the general path's six, with one array allocated instead of four.
        scale = _row_scale(grad_out, reduction, t.size, log_probs.dtype)
        grad = np.exp(log_probs)
        grad *= scale[:, None] if scale.ndim else scale
        grad[rows, t] -= scale
        return {"input": np.ascontiguousarray(grad), "weight": None}  # C order, as the textbook's

    return out, backward


def nll_loss_kernel(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
                    reduction="mean"):
    """:func:`~scratchnet.functional.nll_loss` with the lectures' case on the dense path."""
    # Resolved first, as the textbook does, and here: a deprecation warning names the caller's line.
    reduction = _reduction("nll_loss", size_average, reduce, reduction)
    size_average = reduce = None
    plain = _plain_call("nll_loss", input, target, weight, ignore_index, 0.0)
    if plain is None:
        return registration(nll_loss).forward(input, target, weight, size_average, ignore_index,
                                              reduce, reduction)
    x, t = plain
    out, core_backward = _plain_index_loss(x, t, reduction)

    def backward(grad_out):
        grad_scores, _ = core_backward(grad_out)
        return {"input": _class_first(grad_scores, 2), "weight": None}

    return out, backward


def _plain_call(op, input, target, weight, ignore_index, label_smoothing):
    """``(x, t)`` when a call is the lectures' case, else ``None`` (the textbook runs).

    The guard admits only arguments the textbook would take as they are (float scores,
    integer targets of the batch's length that cast to int64 exactly); anything else runs
    the textbook, so a bad call fails with the textbook's error. ``ignore_index`` is checked
    by the textbook's own helper (the kernel has resolved ``reduction`` already).
    """
    if weight is not None:
        return None
    if type(label_smoothing) not in (int, float) or label_smoothing != 0:
        return None
    if not (isinstance(input, np.ndarray) and input.dtype in FLOAT_DTYPES and input.ndim == 2
            and input.shape[0] > 0 and isinstance(target, np.ndarray)
            and target.shape == input.shape[:1] and target.dtype.kind in "iu"
            and target.dtype != np.uint64):  # uint64 may not fit int64: the textbook names the value
        return None
    if type(ignore_index) is not int or not _INT64.min <= ignore_index <= _INT64.max:
        ignore_index = _check_ignore_index(op, ignore_index)  # the usual int needs no call
    t = target.astype(np.int64, copy=False)  # as the textbook's as_index_array
    t_min, t_max = np.minimum.reduce(t), np.maximum.reduce(t)  # ndarray.min's wrapper, skipped
    if not (0 <= t_min and t_max < input.shape[1] and not t_min <= ignore_index <= t_max):
        return None  # out-of-range targets (the textbook names them) or ignored ones
    return input, t


def _plain_index_loss(scores: np.ndarray, t: np.ndarray, reduction: str):
    r"""The lectures' case of the textbook :func:`~scratchnet.functional.loss._index_loss`:
    ``(N, C)`` scores, every target a class.

    Without class weights, label smoothing or ignored targets the masks and weights
    of the general path are all ones, and the loss is just the picked scores,

    .. math::

        \text{loss}_i = -\ell_{i, t_i}, \qquad
        \frac{\partial L}{\partial \ell_{ic}} = -a_i\,[c = t_i],

    with :math:`a_i` the upstream gradient per row (``g / N`` for the mean). It runs
    on every training step, where the general path's dozen mask operations cost more
    than the arithmetic; it rounds exactly as the general path does (``-1 * x`` and the
    sum of one value and zeros are exact).
    """
    rows = np.arange(t.shape[0])
    dtype = scores.dtype
    out = _picked_loss(scores, rows, t, reduction)

    def backward(grad_out):
        scale = _row_scale(grad_out, reduction, t.size, dtype)
        grad = np.zeros_like(scores)
        grad[rows, t] = -scale
        return grad, None

    return out, backward


def _picked_loss(scores: np.ndarray, rows: np.ndarray, t: np.ndarray, reduction: str) -> np.ndarray:
    """The reduced :math:`-\\ell_{i, t_i}`: the textbook's ``_reduce`` with the same roundings.

    The reductions are called as ufuncs, without ``ndarray.sum``'s Python wrapper or the
    mean's ``errstate``: here the count is at least 1, so the division cannot warn.
    """
    nll = np.negative(scores[rows, t])
    if reduction == "none":
        return nll
    total = np.add.reduce(nll, axis=None)
    if reduction == "sum":
        return np.asarray(total)
    return np.asarray(total / scores.dtype.type(t.size))


def _log_softmax_rows(x: np.ndarray) -> np.ndarray:
    """The textbook ``_log_softmax(x, -1)`` of 2-D scores, the same numbers, its reductions
    called as ufuncs (``ndarray.max`` and ``.sum`` add a Python wrapper each)."""
    with np.errstate(invalid="ignore"):  # inf - inf: the NaN torch returns too
        shifted = np.subtract(x, np.maximum.reduce(x, axis=1, keepdims=True))
        total = np.add.reduce(np.exp(shifted), axis=1, keepdims=True)
        return np.subtract(shifted, np.log(total, out=total), out=shifted)


def _row_scale(grad_out: np.ndarray, reduction: str, n: int, dtype) -> np.ndarray:
    """:math:`a_i`, each row's upstream gradient: ``g / N`` for the mean, else ``g``."""
    return grad_out / dtype.type(n) if reduction == "mean" else grad_out


register_kernel(cross_entropy, cross_entropy_kernel)
register_kernel(nll_loss, nll_loss_kernel)
