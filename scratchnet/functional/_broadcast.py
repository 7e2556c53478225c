"""Undoing broadcasting in a backward pass."""
from __future__ import annotations

import numpy as np


def sum_to_shape(grad: np.ndarray, shape) -> np.ndarray:
    r"""Undo broadcasting: sum ``grad`` over the axes along which ``shape`` was stretched.

    If ``y = f(broadcast_to(a, out.shape))`` then :math:`\partial L/\partial a` is the
    upstream gradient summed over every broadcast axis; that is all this does.
    """
    shape = tuple(shape)
    lead = grad.ndim - len(shape)
    if lead:
        grad = grad.sum(axis=tuple(range(lead)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    return grad.reshape(shape)
