"""Compare an answer with its reference: ``None`` when it matches, else a report that says how.

:func:`compare` is the one comparison of the parity suite and the practice grader.
Its :class:`Mismatch` names the shape or dtype that differs, or how many values
differ, the largest difference, where it is and the two values there, with the
tolerance that was applied; small arrays are printed side by side. The grader shows
its lines to the learner; :func:`assert_close` raises them as an ``AssertionError``.

A value passes when ``|got - expected| <= atol * scale + rtol * |expected|``
(``scale``: the largest finite magnitude in ``expected``, at least 1). NaN matches
NaN and an infinity matches the same infinity; anything else against NaN or an
infinity is a difference (reported as an infinite one).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from .tolerances import TOLERANCES


@dataclass(frozen=True)
class Mismatch:
    """How ``got`` differs from ``expected``: the report's lines and the numbers behind them."""

    what: str
    lines: list
    count: int = 0  # values that differ (0 for a shape or dtype mismatch)
    size: int = 0
    index: Optional[tuple] = None  # where the largest difference is
    largest: Optional[float] = None
    got: object = None  # the two values at ``index``
    expected: object = None
    tolerance: Optional[tuple] = None  # (rtol, atol, scale) applied to floating-point values

    def __str__(self) -> str:
        return "\n".join(self.lines)


def compare(what, got, expected, tolerances=TOLERANCES, *, rtol=None, atol=None) -> Optional[Mismatch]:
    """``None`` if ``got`` matches ``expected``; else the :class:`Mismatch` that says how.

    ``tolerances`` is a table ``{dtype: {"rtol", "atol"}}`` read at ``expected``'s dtype;
    ``rtol``/``atol``, if given, replace its entry. Integer and boolean arrays must be equal.
    """
    got = np.asarray(got)
    expected = np.asarray(expected)
    if got.shape != expected.shape:
        return Mismatch(what, [f"{what}: shape {tuple(got.shape)}, expected {tuple(expected.shape)}"])
    if got.dtype != expected.dtype:
        return Mismatch(what, [f"{what}: dtype {got.dtype}, expected {expected.dtype} "
                               f"(keep the input's dtype)"])
    if expected.dtype.kind != "f":
        if np.array_equal(got, expected):
            return None
        bad = np.argwhere(got != expected)
        first = tuple(int(i) for i in bad[0])
        return Mismatch(what, [f"{what}: differs at {len(bad)} positions, first at {first}"]
                        + side_by_side(got, expected), count=len(bad), size=got.size, index=first,
                        got=got[first].item(), expected=expected[first].item())
    entry = tolerances[expected.dtype]
    rtol = entry["rtol"] if rtol is None else rtol
    atol = entry["atol"] if atol is None else atol
    finite = np.isfinite(expected)
    scale = max(float(np.max(np.abs(expected[finite]), initial=1.0)), 1.0)
    with np.errstate(all="ignore"):  # inf - inf and NaN are judged below, not warned about
        diff = np.abs(got.astype(np.float64) - expected.astype(np.float64))
        bad = ~(diff <= atol * scale + rtol * np.abs(expected.astype(np.float64)))
        both_nan = np.isnan(got) & np.isnan(expected)
        same_inf = np.isinf(expected) & (got == expected)
        bad |= np.isinf(expected) & ~same_inf  # inf - (-inf) is inf, within an infinite bound
        bad &= ~(both_nan | same_inf)
    if not bad.any():
        return None
    diff = np.where(np.isnan(diff), np.inf, diff)  # a NaN where a number belongs: the worst
    at = np.unravel_index(int(np.argmax(np.where(bad, diff, -1))), diff.shape) if diff.ndim else ()
    at = tuple(int(i) for i in at)
    count = int(bad.sum())
    lines = [f"{what}: {count} of {bad.size} values differ; the largest difference is "
             f"{diff[at]:.3g} at {at} "
             f"(got {float(got[at]):.8g}, expected {float(expected[at]):.8g}; tolerance rtol {rtol:g}, "
             f"atol {atol:g} x {scale:.3g})"]
    return Mismatch(what, lines + side_by_side(got, expected), count=count, size=int(bad.size),
                    index=at, largest=float(diff[at]), got=float(got[at]),
                    expected=float(expected[at]), tolerance=(rtol, atol, scale))


def side_by_side(got, expected, limit=48) -> list:
    """``expected | got`` as two columns of printed arrays, for small arrays."""
    if expected.size > limit or got.size > limit:
        return []
    left = ["expected"] + np.array2string(expected, precision=5, suppress_small=True).splitlines()
    right = ["got"] + np.array2string(got, precision=5, suppress_small=True).splitlines()
    width = max(len(s) for s in left) + 4
    rows = max(len(left), len(right))
    left += [""] * (rows - len(left))
    right += [""] * (rows - len(right))
    return ["    " + a.ljust(width) + b for a, b in zip(left, right)]


def assert_close(actual, expected, *, rtol=None, atol=None, what="value", tolerances=TOLERANCES):
    """Raise ``AssertionError`` with :func:`compare`'s report unless ``actual`` matches ``expected``.

    ``rtol``/``atol`` default to the table's entry at ``expected``'s dtype.
    """
    problem = compare(what, actual, expected, tolerances, rtol=rtol, atol=atol)
    if problem is not None:
        raise AssertionError(str(problem))
