"""Flatten a contiguous range of dimensions into one."""
from __future__ import annotations

import math

import numpy as np

from ..checks import normalize_dim
from ._vjp import differentiable


@differentiable
def flatten(input, start_dim=0, end_dim=-1):
    r"""Merge dimensions ``start_dim..end_dim`` (inclusive) into one, as ``torch.flatten``.

    A pure reshape, so the backward reshapes the gradient back:
    :math:`\partial L/\partial x = \mathrm{reshape}(g, x.\text{shape})`.

    The lectures' flatten between the last conv block and the classifier,
    ``(N, 20, 4, 4) -> (N, 320)``, is ``flatten(x, 1)``.

    Parameters
    ----------
    input : ndarray
    start_dim, end_dim : int
        First and last dimension to merge; negative values count from the end.

    Returns
    -------
    ndarray with ``end_dim - start_dim`` fewer dimensions (a 0-d input becomes 1-d).

    Examples
    --------
    >>> import numpy as np, scratchnet.functional as F
    >>> F.flatten(np.arange(8.0).reshape(2, 2, 2), start_dim=1)  # the basic CNN's 20x4x4 -> 320
    array([[0., 1., 2., 3.],
           [4., 5., 6., 7.]])
    """
    x = np.asarray(input)
    s = normalize_dim("flatten", start_dim, x.ndim)
    e = normalize_dim("flatten", end_dim, x.ndim)
    if s > e:
        raise ValueError(
            f"flatten: start_dim ({start_dim}) cannot come after end_dim ({end_dim}) "
            f"for an input of {x.ndim} dimensions"
        )
    if x.ndim == 0:
        out = x.reshape(1)
    else:
        # The merged size is spelled out: reshape(-1) cannot infer it next to a 0-sized dim.
        merged = math.prod(x.shape[s:e + 1])
        out = x.reshape(x.shape[:s] + (merged,) + x.shape[e + 1:])

    def backward(grad_out):
        return {"input": grad_out.reshape(x.shape)}

    return out, backward
