"""Argument validation shared by all of scratchnet: the ops, the layers, the models and the torch twins.

Each helper raises with the caller's name (the op or layer), the offending shape or
value and what was expected, so that a wrong call fails loudly and readably instead
of returning a silently wrong array.
"""
from __future__ import annotations

import numbers

import numpy as np

#: The dtypes every array, layer and model computes in (torch's float and double).
FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def is_int(value) -> bool:
    """Whether ``value`` is an integer (Python's or NumPy's) and not a bool, as torch's int arguments."""
    return isinstance(value, (numbers.Integral, np.integer)) and not isinstance(value, (bool, np.bool_))


def float_dtype(where: str, dtype, default=None) -> np.dtype:
    """``dtype`` as a NumPy dtype, insisting on float32 or float64; ``None`` gives ``default``."""
    if dtype is None and default is not None:
        return np.dtype(default)
    try:
        resolved = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{where}: dtype must be float32 or float64, got {dtype!r}") from None
    if resolved not in FLOAT_DTYPES:
        raise TypeError(f"{where}: dtype must be float32 or float64, got {resolved}")
    return resolved


def resolve_dtype(dtype, where: str) -> np.dtype:
    """A layer's ``dtype=``: ``None`` means float32 (torch's default); float32 or float64."""
    return float_dtype(where, dtype, default=np.float32)


def check_device(device, where: str) -> None:
    """Accept torch's ``device=`` argument for signature parity; NumPy arrays live on the CPU."""
    if device is not None and str(device) != "cpu":
        raise ValueError(f"{where}: scratchnet runs on NumPy, so device must be None or 'cpu', got {device!r}")


def check_size(value, name: str, where: str, *, minimum: int = 0) -> int:
    """A non-negative (or at least ``minimum``) int size, with a message naming the layer."""
    if not is_int(value):
        raise TypeError(f"{where}: {name} must be an int, got {value!r}")
    if value < minimum:
        need = "non-negative" if minimum == 0 else f">= {minimum}"
        raise ValueError(f"{where}: {name} must be {need}, got {value}")
    return int(value)


def as_float_array(op: str, name: str, x) -> np.ndarray:
    """Return ``x`` as an ndarray, insisting on float32 or float64.

    Integer or boolean arrays are rejected rather than upcast: torch keeps the input
    dtype through every op, and so do we (float32 in, float32 out).
    """
    if type(x) is np.ndarray and x.dtype in FLOAT_DTYPES:  # the usual case, checked first
        return x
    if isinstance(x, np.generic):  # a NumPy scalar is a 0-d array in all but name
        x = np.asarray(x)
    if not isinstance(x, np.ndarray):
        if isinstance(x, (numbers.Number, list, tuple)):
            raise TypeError(
                f"{op}: {name} must be a NumPy array of float32 or float64, "
                f"got {type(x).__name__}"
            )
        x = np.asarray(x)
    if x.dtype not in FLOAT_DTYPES:
        raise TypeError(
            f"{op}: {name} must be float32 or float64, got dtype {x.dtype} "
            f"with shape {tuple(x.shape)}"
        )
    return x


def same_dtype(op: str, **arrays) -> None:
    """Insist that the given float arrays share one dtype (torch does too)."""
    named = [(k, v) for k, v in arrays.items() if v is not None]
    dtypes = {v.dtype for _, v in named}
    if len(dtypes) > 1:
        desc = ", ".join(f"{k} {v.dtype}" for k, v in named)
        raise TypeError(f"{op}: expected all floating-point arguments to share one dtype, got {desc}")


INT64 = np.iinfo(np.int64)


def as_index_array(op: str, name: str, x) -> np.ndarray:
    """Return class indices as int64 (torch's Long), converted exactly or not at all.

    Torch takes int64 and uint8 targets; any signed or unsigned integer array is taken
    here, since NumPy labels come in every width (uint8 from IDX files, int32 from
    Windows' default int). Every such dtype but uint64 casts to int64 exactly; a uint64
    value above :math:`2^{63}-1` would wrap to a negative number (``2**64 - 100``
    becomes -100, the default ``ignore_index``, and its sample would silently leave the
    loss), so it is refused, naming the value. Booleans, floats and objects are refused
    as torch refuses them.
    """
    x = np.asarray(x)
    if x.dtype.kind not in "iu":
        raise TypeError(
            f"{op}: {name} with class indices must be an integer array (int64 as in torch, "
            f"or another integer dtype), got dtype {x.dtype}"
        )
    if not np.can_cast(x.dtype, np.int64) and x.size:
        too_big = x > INT64.max
        if too_big.any():
            at = tuple(int(i) for i in np.argwhere(too_big)[0])
            raise IndexError(
                f"{op}: {name} value {x[at]} at index {at} is out of bounds: class indices "
                f"are int64 (at most {INT64.max}), and {x.dtype} {x[at]} does not fit"
            )
    return x.astype(np.int64, copy=False)


def as_int64(op: str, name: str, value) -> int:
    """An int argument that torch passes as int64_t (``ignore_index``), range-checked."""
    if not is_int(value):
        raise TypeError(f"{op}: {name} must be an int, got {value!r}")
    if not INT64.min <= int(value) <= INT64.max:
        raise ValueError(
            f"{op}: {name}={int(value)} does not fit int64 ([{INT64.min}, {INT64.max}])"
        )
    return int(value)


def pair(op: str, name: str, value, *, allow_zero: bool = True) -> tuple:
    """Expand an int or a 1-/2-sequence into ``(h, w)``, as torch's ``_pair``."""
    if is_int(value):
        out = (int(value), int(value))
    elif isinstance(value, (tuple, list)) and len(value) in (1, 2) and all(is_int(v) for v in value):
        out = (int(value[0]), int(value[-1]))
    else:
        raise TypeError(f"{op}: {name} must be an int or a pair of ints, got {value!r}")
    low = 0 if allow_zero else 1
    if min(out) < low:
        need = "non-negative" if allow_zero else "positive"
        raise ValueError(f"{op}: {name} must be {need}, got {value!r}")
    return out


def normalize_dim(op: str, dim: int, ndim: int) -> int:
    """Wrap a possibly negative ``dim`` as torch does, with a clear range error."""
    size = max(ndim, 1)  # torch lets a 0-d tensor use dim 0 / -1
    if type(dim) is not int and not is_int(dim):
        raise TypeError(f"{op}: dim must be an int, got {dim!r}")
    if not -size <= dim < size:
        raise IndexError(
            f"{op}: dimension out of range (expected to be in range of [{-size}, {size - 1}], but got {dim})"
        )
    return int(dim) % size


def check_reduction(op: str, reduction) -> None:
    """A loss's ``reduction``: ``'none'``, ``'mean'`` or ``'sum'`` (torch's message)."""
    if not isinstance(reduction, str) or reduction not in ("none", "mean", "sum"):
        raise ValueError(
            f"{op}: {reduction!r} is not a valid value for reduction "
            f"(expected 'none', 'mean' or 'sum')"
        )


def shape_str(shape) -> str:
    return "(" + ", ".join(str(int(s)) for s in shape) + ("," if len(shape) == 1 else "") + ")"
