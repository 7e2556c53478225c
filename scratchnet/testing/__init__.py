"""The oracles and tolerances that the parity suite and the practice grader share.

Whatever says that an op is right lives here once, and both judges use it: the parity
suite (``parity_tests/``, which proves scratchnet's ops equal to torch) and the
practice grader (:mod:`scratchnet.exercise`, which grades a learner's ops).

:mod:`.tolerances`
    The tolerance table per dtype (:data:`TOLERANCES` against torch,
    :data:`FINITE_DIFFERENCE_TOLERANCES` against finite differences) and the knobs:
    which ops are not smooth where they are probed, which gradients torch does not
    compute.
:mod:`.compare`
    :func:`compare`: ``None``, or a :class:`Mismatch` that reports the largest
    difference, where it is, the values there and how many differ;
    :func:`assert_close` raises it.
:mod:`.finite_differences`
    Central differences of :math:`\\langle f(x), g \\rangle` in float64, and the
    grader's oracle built on them (needs only NumPy).
:mod:`.torch_oracle`
    An op's forward and backward run by torch on NumPy arguments, torch's SGD and a
    chain of layers through torch. Imports torch: import it by name, where torch is
    the reference.
:mod:`.strategies`
    The hypothesis strategies that draw the ops' arguments (and their memory
    layouts), and the example counts of the hypothesis profiles. Imports hypothesis:
    import it by name.

Importing this package imports NumPy only (neither torch nor hypothesis), so a
learner without torch still gets the finite-difference oracle.
"""
from .compare import Mismatch, assert_close, compare
from .finite_differences import FiniteDifferenceOracle, central_difference, inner_product, numeric_gradient
from .tolerances import (
    FD_DIRECTIONAL,
    FD_EPS,
    FINITE_DIFFERENCE_TOLERANCES,
    NON_SMOOTH,
    NOT_DIFFERENTIATED,
    TOLERANCES,
    graded_arguments,
    is_float_array,
)

__all__ = [
    "TOLERANCES", "FINITE_DIFFERENCE_TOLERANCES", "FD_DIRECTIONAL", "FD_EPS", "NON_SMOOTH",
    "NOT_DIFFERENTIATED", "graded_arguments", "is_float_array",
    "compare", "assert_close", "Mismatch",
    "inner_product", "central_difference", "numeric_gradient", "FiniteDifferenceOracle",
]
