"""Which oracle grades a check: torch when it is installed, else central finite differences.

Both oracles are :mod:`scratchnet.testing`'s, the ones the parity suite uses:
:class:`~scratchnet.testing.torch_oracle.TorchOracle` runs torch's op on copies of
the arguments and differentiates it with the upstream gradient;
:class:`~scratchnet.testing.finite_differences.FiniteDifferenceOracle` takes the
forward from scratchnet's own op (proven equal to torch by the parity suite) and each
gradient from central differences. What is practice-specific is here: where an
exercise's reference op is found, and the SGD exercise's trajectory.

torch is imported only by :mod:`scratchnet.testing.torch_oracle`, when a check builds
its oracle there.
"""
from __future__ import annotations

import numpy as np

from ..testing import FiniteDifferenceOracle
from .catalogue import exercise_of, resolve


def torch_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("torch") is not None


def make_oracle(kind: str = "auto"):
    """``'torch'``, ``'fd'`` or ``'auto'`` (torch when it is installed)."""
    if kind == "auto":
        kind = "torch" if torch_available() else "fd"
    if kind == "torch":
        from ..testing.torch_oracle import TorchOracle  # torch is imported only here, when asked for

        return TorchOracle()
    return FiniteDifferenceOracle(reference=_reference)


def _reference(function):
    """scratchnet's own op that ``function``'s exercise is graded against."""
    return exercise_of(function).reference(function)


def reference_call(function, args, kwargs):
    """scratchnet's own ``(out, backward)`` for ``function`` (for the diagnoses' variants)."""
    return _reference(function)(*args, **kwargs)


def sgd_trajectory(kind: str, param, grads, schedule):
    """``[(parameter, momentum buffer)]`` after each step: torch's SGD (``kind='torch'``) or
    scratchnet's own rule (:func:`scratchnet.optim.sgd.sgd_step`), ``schedule[t]`` the
    hyper-parameters of step ``t`` (the learning rate and momentum may change)."""
    if kind == "torch":
        from .torch_sgd import torch_sgd_schedule

        return torch_sgd_schedule(param, grads, schedule)
    sgd = resolve("scratchnet.exercise.reference:sgd_momentum")
    out, buf, p = [], None, param.copy()
    for g, hyper in zip(grads, schedule):
        p, buf = sgd(p, g, buf, **hyper)
        p = np.asarray(p, dtype=param.dtype)
        out.append((p, None if buf is None else np.asarray(buf, dtype=param.dtype)))
    return out
