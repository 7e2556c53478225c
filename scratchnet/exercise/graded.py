"""What the grader compares, and how closely: shared by every oracle.

Which arguments' gradients are graded, which ops are not smooth where the grader
probes them, and the tolerances of each oracle (torch: the parity suite's; finite
differences: looser in float64, as central differences carry truncation and rounding
error).
"""
from __future__ import annotations

import numpy as np

#: Gradients that torch does not compute (scratchnet does, as a bonus): not graded.
NOT_DIFFERENTIATED = {("cross_entropy", "weight"), ("nll_loss", "weight")}
#: Ops with a kink or ties where the grader probes them: no finite differences there.
NON_SMOOTH = {"relu", "max_pool2d"}

TOLERANCES = {
    "torch": {np.dtype(np.float64): (1e-7, 1e-10), np.dtype(np.float32): (1e-4, 1e-5)},
    "fd": {np.dtype(np.float64): (1e-6, 1e-8), np.dtype(np.float32): (1e-4, 1e-5)},
}


def is_float_array(a) -> bool:
    return isinstance(a, np.ndarray) and a.dtype.kind == "f"


def graded_arguments(function: str, names, args) -> list:
    """``[(index, name)]`` of the arguments whose gradient is graded."""
    return [(i, n) for i, (n, a) in enumerate(zip(names, args))
            if is_float_array(a) and (function, n) not in NOT_DIFFERENTIATED]
