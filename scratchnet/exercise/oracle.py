"""What a learner's op should return: torch autograd, or central finite differences.

:class:`~scratchnet.exercise.torch_oracle.TorchOracle` runs torch's op on copies of
the arguments and differentiates it with the upstream gradient. Without torch,
:class:`FiniteDifferenceOracle` takes the forward from scratchnet's own op (proven
equal to torch by the parity suite) and each gradient from central differences of
:math:`\\langle f(x), g \\rangle` in float64, one input element at a time. Two ops
are not differentiable where the grader looks on purpose, ``relu`` at 0 and
``max_pool2d`` at tied maxima, where torch's gradient is a convention: for those the
oracle without torch is scratchnet's own backward.

torch is imported only by :mod:`scratchnet.exercise.torch_oracle`, when a check builds
its oracle there.
"""
from __future__ import annotations

import numpy as np

from .catalogue import resolve
from .graded import NON_SMOOTH, TOLERANCES, graded_arguments, is_float_array

def torch_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("torch") is not None


def make_oracle(kind: str = "auto"):
    """``'torch'``, ``'fd'`` or ``'auto'`` (torch when it is installed)."""
    if kind == "auto":
        kind = "torch" if torch_available() else "fd"
    if kind == "torch":
        from .torch_oracle import TorchOracle  # torch is imported only here, when asked for

        return TorchOracle()
    return FiniteDifferenceOracle()


class FiniteDifferenceOracle:
    name = "finite differences"
    tolerances = TOLERANCES["fd"]
    eps = 1e-6

    def run(self, function, names, args, kwargs, make_g):
        from .catalogue import exercise_of

        ref = exercise_of(function).reference(function)
        out, backward = ref(*[a.copy() if isinstance(a, np.ndarray) else a for a in args], **kwargs)
        primary = out[0] if isinstance(out, tuple) else out
        g = make_g(primary.shape, primary.dtype)
        graded = graded_arguments(function, names, args)
        if function in NON_SMOOTH:
            own = backward(g)
            return out, g, {name: np.asarray(own[name]) for _, name in graded}
        grads = {}
        wide = [a.astype(np.float64) if is_float_array(a) else a for a in args]
        g64 = np.asarray(g, dtype=np.float64)

        def objective(i, x):
            a = list(wide)
            a[i] = x
            o = ref(*a, **kwargs)[0]
            o = o[0] if isinstance(o, tuple) else o
            return float(np.sum(o * g64))

        for i, name in graded:
            x = wide[i]
            grad = np.zeros(x.shape)
            flat = grad.reshape(-1)
            for k in range(x.size):
                step = np.zeros(x.size)
                step[k] = self.eps
                step = step.reshape(x.shape)
                flat[k] = (objective(i, x + step) - objective(i, x - step)) / (2 * self.eps)
            grads[name] = grad.astype(args[i].dtype)
        return out, g, grads


def reference_call(function, args, kwargs):
    """scratchnet's own ``(out, backward)`` for ``function`` (for the diagnoses' variants)."""
    from .catalogue import exercise_of

    return exercise_of(function).reference(function)(*args, **kwargs)


def sgd_trajectory(kind: str, param, grads, hyper, dtype):
    """The parameter after each step of torch's SGD (``kind='torch'``) or scratchnet's rule."""
    if kind == "torch":
        from .torch_oracle import torch_sgd_trajectory

        return torch_sgd_trajectory(param, grads, hyper)
    sgd = resolve("scratchnet.exercise.reference:sgd_momentum")
    out, buf, p = [], None, param.copy()
    for g in grads:
        p, buf = sgd(p, g, buf, **hyper)
        out.append(np.asarray(p, dtype=dtype))
    return out
