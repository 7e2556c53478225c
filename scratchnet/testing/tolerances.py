"""How closely an answer must match, and which gradients are compared at all.

One table, read by the parity suite (``parity_tests/helpers.py``) and by the practice
grader alike: :data:`TOLERANCES` when the reference is torch (the same formula in
another implementation, so only rounding differs) and :data:`FINITE_DIFFERENCE_TOLERANCES`
when it is central finite differences (which add their own truncation and
cancellation error). An entry is ``{"rtol": ..., "atol": ...}``: a value passes when
``|got - expected| <= atol * scale + rtol * |expected|``, where ``scale`` is the
largest finite magnitude in the expected array (at least 1), so a float32 sum of a
thousand terms is judged at float32's resolution for its size (:mod:`.compare`).

The tables are read-only: a test that needs another tolerance says so at its call.
"""
from __future__ import annotations

from types import MappingProxyType

import numpy as np


def _entry(rtol: float, atol: float):
    return MappingProxyType({"rtol": rtol, "atol": atol})


#: Against torch: float64 to a few ulps of the result, float32 at its own resolution.
TOLERANCES = MappingProxyType({
    np.dtype(np.float64): _entry(rtol=1e-7, atol=1e-10),
    np.dtype(np.float32): _entry(rtol=1e-4, atol=1e-5),
})

#: Against central differences (computed in float64, step :data:`FD_EPS`): their error
#: is about eps**2 (truncation) plus 1e-16 / eps (cancellation), so float64 gets 1e-6.
FINITE_DIFFERENCE_TOLERANCES = MappingProxyType({
    np.dtype(np.float64): _entry(rtol=1e-6, atol=1e-8),
    np.dtype(np.float32): TOLERANCES[np.dtype(np.float32)],
})

#: The step of every central difference: balances truncation against cancellation.
FD_EPS = 1e-6

#: One directional derivative against its central difference (``check_fd``): a sum over
#: many elements carries more cancellation than one element, hence the looser rtol.
FD_DIRECTIONAL = _entry(rtol=1e-5, atol=1e-8)

#: Gradients that torch does not compute (scratchnet does, as a bonus): not compared.
NOT_DIFFERENTIATED = frozenset({("cross_entropy", "weight"), ("nll_loss", "weight")})

#: Ops with a kink or ties where the grader probes them on purpose (relu at 0, tied
#: maxima): torch's gradient there is a convention, so no finite differences.
NON_SMOOTH = frozenset({"relu", "max_pool2d"})


def is_float_array(a) -> bool:
    """Whether ``a`` is a floating-point ndarray (the arguments that have a gradient)."""
    return isinstance(a, np.ndarray) and a.dtype.kind == "f"


def graded_arguments(function: str, names, args) -> list:
    """``[(index, name)]`` of the arguments of ``function`` whose gradient is compared."""
    return [(i, n) for i, (n, a) in enumerate(zip(names, args))
            if is_float_array(a) and (function, n) not in NOT_DIFFERENTIATED]
