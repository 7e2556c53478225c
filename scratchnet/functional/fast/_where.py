r"""Route a gradient through a 0/1 mask the way torch does: with a ``where``.

Torch's masked backward passes (ReLU's ``x <= 0 ? 0 : g``, max pooling's argmax
scatter, the losses' ignored positions) *select*; they never multiply. The
difference only shows with non-finite gradients: :math:`\infty \cdot 0` is NaN, so a
product with a mask turns an upstream ``inf`` at a dropped position into NaN where
torch gives exactly 0.

``np.where`` is several times slower than a product on random masks (it branches per
element), and the product is exact whenever the gradient is finite: the helper below
checks that once and takes the product then.
"""
from __future__ import annotations

import numpy as np


def where_grad(keep: np.ndarray, grad: np.ndarray) -> np.ndarray:
    r""":math:`\text{keep} \;?\; g : 0` elementwise, broadcasting ``keep`` against ``grad``.

    Parameters
    ----------
    keep : ndarray of bool
        Where the gradient passes.
    grad : ndarray, float
        Upstream gradient; the result has its dtype.

    Returns
    -------
    ndarray, the broadcast shape, exactly 0 wherever ``keep`` is false (even where
    ``grad`` is inf or NaN) and ``grad`` elsewhere.
    """
    if np.isfinite(grad).all():
        return np.multiply(grad, keep)
    return np.where(keep, grad, np.zeros((), dtype=grad.dtype))
