"""Memoized validation for the window ops' kernels.

A training loop calls every layer with the same shapes, dtypes and arguments step after
step, and a window op's checks and geometry are a function of exactly those: a kernel's
``_setup`` remembers the result of each *valid* call under a key of those shapes, dtypes
and arguments and skips straight to the computation when it sees the key again (at
batch 1 the checks cost as much as the arithmetic). A call that raised is never
remembered, so bad input always fails as before. Only keys with nothing ambiguous in them
are used: exact float ndarrays, and arguments that are exact ints, bools, strings, None
or tuples of those (``1.0 == 1 == True`` in a dict, but only ``1`` is a valid stride).
"""
from __future__ import annotations

import numpy as np

from ...checks import FLOAT_DTYPES

_MEMO: dict = {}
#: Distinct calls remembered; past this the memo starts over (a sweep over many shapes
#: must not grow it without bound).
MEMO_LIMIT = 1024
_PLAIN = (int, bool, str, type(None))


def _part(value):
    """``value`` as a key part, its type beside it at every level (``(type, value)``, a
    tuple's items each so, as ``(1, 1)`` and ``(True, True)`` are equal tuples); ``None``
    when it is not memoizable."""
    kind = type(value)
    if kind in _PLAIN:
        return kind, value
    if kind is tuple:
        items = tuple(map(_part, value))
        return None if None in items else (tuple, items)
    return None


def memo_key(op: str, arrays, args):
    """The memo key of a call of ``op``, or ``None`` when the call is not memoizable."""
    parts = [op]
    for a in arrays:
        if a is None:
            parts.append(None)
        elif type(a) is np.ndarray and a.dtype in FLOAT_DTYPES:
            parts.append((a.shape, a.dtype))
        else:
            return None
    for v in args:
        kind = type(v)
        part = (kind, v) if kind in _PLAIN else _part(v)  # the usual int or None inline: no call
        if part is None:
            return None
        parts.append(part)
    return tuple(parts)


def memo_get(key):
    """What :func:`memo_put` stored under ``key`` (``None`` when absent or ``key`` is ``None``)."""
    return None if key is None else _MEMO.get(key)


def memo_put(key, value) -> None:
    """Remember ``value`` for ``key`` (a no-op for ``None``)."""
    if key is None:
        return
    if len(_MEMO) >= MEMO_LIMIT:
        _MEMO.clear()
    _MEMO[key] = value
