r"""The oracle that trusts nobody: gradients by central finite differences, in float64.

For an op :math:`f` and an upstream gradient :math:`g`, the gradient of the scalar
:math:`\phi(x) = \langle f(x), g \rangle` in one argument :math:`x` is the
vector-Jacobian product every backward computes. Along a direction :math:`v`,

.. math::

    \langle \nabla \phi(x), v \rangle \approx
    \frac{\phi(x + \epsilon v) - \phi(x - \epsilon v)}{2 \epsilon},

with an error of order :math:`\epsilon^2` (the step is
:data:`~.tolerances.FD_EPS`). :func:`numeric_gradient` takes every basis vector in
turn (the whole gradient, one element at a time); the suite's ``check_fd`` checks
random directions of a large argument (:func:`central_difference`).
:class:`FiniteDifferenceOracle` is the practice grader's oracle when torch is not
installed. Needs only NumPy.
"""
from __future__ import annotations

import numpy as np

from .tolerances import FD_EPS, FINITE_DIFFERENCE_TOLERANCES, NON_SMOOTH, graded_arguments, is_float_array


def inner_product(forward, args, kwargs, index, g):
    r"""The scalar :math:`x \mapsto \langle f(\ldots, x, \ldots), g \rangle`, ``x`` as ``args[index]``.

    ``forward`` returns the op's output (the first of a tuple is the one compared).
    """
    g = np.asarray(g, dtype=np.float64)

    def phi(x):
        a = list(args)
        a[index] = x
        out = forward(*a, **kwargs)
        out = out[0] if isinstance(out, tuple) else out
        return float(np.sum(out * g))

    return phi


def central_difference(phi, x, v, eps=FD_EPS) -> float:
    """``(phi(x + eps v) - phi(x - eps v)) / 2 eps``: the derivative of ``phi`` along ``v``."""
    return (phi(x + eps * v) - phi(x - eps * v)) / (2 * eps)


def basis(shape):
    """The unit arrays of ``shape``, one per element, in C order."""
    size = int(np.prod(shape, dtype=np.int64))
    for k in range(size):
        v = np.zeros(size)
        v[k] = 1.0
        yield v.reshape(shape)


def numeric_gradient(phi, x, eps=FD_EPS) -> np.ndarray:
    """The gradient of the scalar ``phi`` at ``x`` (float64), one central difference per element."""
    x = np.asarray(x, dtype=np.float64)
    grad = np.zeros(x.shape)
    flat = grad.reshape(-1)
    for k, v in enumerate(basis(x.shape)):
        flat[k] = central_difference(phi, x, v, eps)
    return grad


class FiniteDifferenceOracle:
    """The grader's oracle without torch: ``reference(function)`` forwards, differences for gradients.

    ``reference(function)`` is scratchnet's own ``(out, backward)`` op of that name
    (proven equal to torch by the parity suite): it gives the forward. Each graded
    gradient is :func:`numeric_gradient` of :func:`inner_product` in float64, cast to the
    argument's dtype. For the :data:`~.tolerances.NON_SMOOTH` ops, probed on purpose
    where torch's gradient is a convention, the gradient is scratchnet's own backward.
    """

    name = "finite differences"
    tolerances = FINITE_DIFFERENCE_TOLERANCES
    eps = FD_EPS

    def __init__(self, reference):
        self.reference = reference

    def run(self, function, names, args, kwargs, make_g):
        """``(out, g, {name: gradient})`` of ``function(*args, **kwargs)`` with upstream ``g``."""
        ref = self.reference(function)
        out, backward = ref(*[a.copy() if isinstance(a, np.ndarray) else a for a in args], **kwargs)
        primary = out[0] if isinstance(out, tuple) else out
        g = make_g(primary.shape, primary.dtype)
        graded = graded_arguments(function, names, args)
        if function in NON_SMOOTH:
            own = backward(g)
            return out, g, {name: np.asarray(own[name]) for _, name in graded}
        wide = [a.astype(np.float64) if is_float_array(a) else a for a in args]

        def forward(*a, **k):
            return ref(*a, **k)[0]

        grads = {}
        for i, name in graded:
            phi = inner_product(forward, wide, kwargs, i, g)
            grads[name] = numeric_gradient(phi, wide[i], self.eps).astype(args[i].dtype)
        return out, g, grads
