"""The API: :func:`explain` an op, and the table of the ops it can explain."""
from __future__ import annotations

import inspect

import numpy as np

from .conv import explain_conv2d
from .linear import explain_linear
from .loss import explain_cross_entropy
from .pooling import explain_avg_pool2d, explain_max_pool2d
from .recorder import Recorder
from .softmax import explain_softmax
from .trace import ExplainError, Explanation

#: The ops :func:`explain` knows, each with its builder: the one list of them. A
#: builder's keyword parameters are the op's options, on the API and the command line.
BUILDERS = {
    "conv2d": explain_conv2d, "max_pool2d": explain_max_pool2d, "avg_pool2d": explain_avg_pool2d,
    "linear": explain_linear, "softmax": explain_softmax, "cross_entropy": explain_cross_entropy,
}
OPS = tuple(BUILDERS)

_EXAMPLE_SHAPES = {("conv2d", "input"): "2,3,7,7", ("conv2d", "weight"): "4,3,3,3",
                   ("linear", "input"): "64,320", ("linear", "weight"): "10,320"}


def explain(op: str, *, numbers: bool = False, seed: int = 0, dtype=None, strict: bool = True,
            **options) -> Explanation:
    """Run ``op`` step by step on data of the given shapes; check it against the op itself.

    Parameters
    ----------
    op : {'conv2d', 'max_pool2d', 'avg_pool2d', 'linear', 'softmax', 'cross_entropy'}
    numbers : bool
        Keep (and print) every array and where each gradient goes. Small inputs only
        (at most :data:`NUMBERS_LIMIT` numbers per array); data are small integers.
    seed : int
        Seed of the data (and of the upstream gradient).
    dtype : {None, 'float32', 'float64'}
        Default float64 with ``numbers`` (exact integers), else float32.
    strict : bool
        Raise :class:`CheckFailed` if the steps disagree with the op (else only record it
        in ``Explanation.check``).
    **options
        The op's shapes and options, as the command line's:

        - conv2d: ``input``, ``weight`` (shapes), ``bias`` (bool), ``stride``,
          ``padding`` (int, pair, ``'same'``, ``'valid'``), ``dilation``, ``groups``
        - max_pool2d: ``input``, ``kernel``, ``stride``, ``padding``, ``dilation``, ``ceil_mode``
        - avg_pool2d: ``input``, ``kernel``, ``stride``, ``padding``, ``ceil_mode``,
          ``count_include_pad``, ``divisor_override``
        - linear: ``input``, ``weight``, ``bias``
        - softmax: ``input``, ``dim`` (default -1)
        - cross_entropy: ``input``, ``target`` (class indices; default drawn from the
          seed), ``ignore_index``, ``reduction``

    Returns
    -------
    Explanation

    Raises
    ------
    ExplainError
        Unknown op or option, bad shapes, or the op's own validation error (its message).
    CheckFailed
        With ``strict``, if the explained steps disagree with the op.
    """
    builder = builder_of(op)
    allowed = options_of(op)
    unknown = [k for k in options if k not in allowed]
    if unknown:
        raise ExplainError(f"explain {op}: option {unknown[0]!r} does not apply; "
                           f"{op} takes {', '.join(allowed)}")
    for name in ("input", "weight"):
        if name in allowed:
            options[name] = _shape(op, name, options.get(name), required=True)
    if op in ("max_pool2d", "avg_pool2d") and options.get("kernel") is None:
        raise ExplainError(f"explain {op}: --kernel K is required (an int or H,W)")
    if dtype is None:
        dtype = "float64" if numbers else "float32"
    if np.dtype(dtype) not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ExplainError(f"explain {op}: --dtype must be float32 or float64, got {dtype!r}")
    r = Recorder(op, numbers, seed, dtype)
    against = builder(r, **options)
    return r.finish(dict(options), against, strict)


def builder_of(op: str):
    """The builder of ``op``, or an :class:`ExplainError` naming the ops there are."""
    if op not in BUILDERS:
        raise ExplainError(f"explain: unknown op {op!r}; expected one of {', '.join(OPS)}")
    return BUILDERS[op]


def options_of(op: str) -> list:
    """The options ``op`` takes, in order: its builder's keyword parameters."""
    return list(inspect.signature(builder_of(op)).parameters)[1:]  # after the recorder


def _shape(op: str, name: str, value, required: bool):
    if value is None:
        if required:
            example = _EXAMPLE_SHAPES.get((op, name), "3,5" if op in ("softmax", "cross_entropy")
                                          else "1,1,4,4")
            raise ExplainError(f"explain {op}: --{name} SHAPE is required (e.g. --{name} {example})")
        return None
    try:
        shape = tuple(int(v) for v in (value if isinstance(value, (tuple, list)) else (value,)))
    except (TypeError, ValueError):
        shape = None
    if shape is None or any(v < 0 for v in shape) or not shape:
        raise ExplainError(f"explain {op}: --{name} must be a shape of non-negative integers "
                           f"like 2,3,7,7, got {value!r}")
    return shape
