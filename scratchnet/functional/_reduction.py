"""The reductions every loss shares: ``'none' | 'mean' | 'sum'``, torch's legacy flags,
and the gradient each position receives from the reduced loss.
"""
from __future__ import annotations

import warnings

import numpy as np

from ..checks import check_reduction

def legacy_reduction(op: str, size_average, reduce, *, stacklevel: int) -> str:
    """torch's translation of the deprecated ``size_average``/``reduce`` flags, with its warning.

    ``reduce=False`` means ``'none'``, otherwise ``size_average=False`` means ``'sum'``,
    otherwise ``'mean'`` (``None`` counts as ``True``). The loss modules of
    :mod:`scratchnet.nn` apply the same rule to their constructor flags. The warning
    points ``stacklevel`` frames above this function's caller's frame.
    """
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    reduction = "mean" if size_average and reduce else "sum" if reduce else "none"
    warnings.warn(
        f"{op}: size_average and reduce args will be deprecated, please use "
        f"reduction='{reduction}' instead.",
        UserWarning,
        stacklevel=stacklevel + 1,
    )
    return reduction


def _reduction(op: str, size_average, reduce, reduction) -> str:
    """The ``reduction`` a loss call asks for, validated.

    The legacy ``size_average``/``reduce`` flags win when either is given
    (:func:`legacy_reduction`); the deprecated ``'elementwise_mean'`` is ``'mean'``.
    """
    if size_average is not None or reduce is not None:
        reduction = legacy_reduction(op, size_average, reduce, stacklevel=4)
    elif reduction == "elementwise_mean":
        warnings.warn(
            f"{op}: reduction='elementwise_mean' is deprecated. Please use reduction='mean' instead.",
            UserWarning,
            stacklevel=4,
        )
        reduction = "mean"
    check_reduction(op, reduction)
    return reduction


def _reduce(per: np.ndarray, reduction: str, denominator) -> np.ndarray:
    """Every loss's reduction of its per-position losses ``per``.

    ``'none'``: ``per`` as is; ``'sum'``: its sum; ``'mean'``: its sum divided by
    ``denominator`` (the number of positions, or their total weight).
    """
    if reduction == "none":
        return np.asarray(per)
    if reduction == "sum":
        return np.asarray(per.sum())
    return _mean(per.sum(), denominator)


def _mean(total: np.ndarray, count) -> np.ndarray:
    """``total / count``; 0/0 is the NaN torch gives for the mean of nothing."""
    with np.errstate(invalid="ignore", divide="ignore"):
        # count in total's dtype: numpy 1.x makes a float32 scalar / Python int float64.
        return np.asarray(total / np.asarray(count, dtype=total.dtype))


def _per_position_scale(grad_out: np.ndarray, reduction: str, shape, denominator=None):
    r""":math:`\partial\,\text{out} / \partial\,\text{loss}_i` times the upstream gradient.

    ``'none'`` passes ``grad_out`` through, ``'sum'`` spreads the scalar over every
    position, ``'mean'`` also divides by the mean's ``denominator``.
    """
    if reduction == "none":
        return grad_out
    if reduction == "mean":
        with np.errstate(invalid="ignore", divide="ignore"):
            # As in _mean: the denominator in grad_out's dtype, under numpy 1.x's rules too.
            grad_out = grad_out / np.asarray(denominator, dtype=grad_out.dtype)
    return np.broadcast_to(grad_out, shape)
