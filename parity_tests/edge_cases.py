"""The two hostile checks every op file runs on its own ops: empty shapes and non-finite values.

Each op file (``ops/test_0*_*.py``) holds a table for each check: ``EMPTY_SHAPE_CASES``
(``{name: hypothesis strategy}``) and ``NON_FINITE_CASES`` (``{name: build(rng, dtype)}``),
built from the op's own strategies and the shared pieces below, and runs it through
:func:`zero_size_dimensions_follow_torch` and :func:`non_finite_forward_and_backward_match_torch`.
``ops/test_every_op.py`` assembles the tables and checks that every registered op has a
case in each.

Empty shapes: for each op hypothesis draws a call whose every size (batch, channels,
features, classes, spatial sizes, extra dimensions) may be 0. If torch refuses the call,
scratchnet must refuse it with an error naming the op; if torch computes it, scratchnet
must return the same output and gradients (an empty-feature ``linear`` is the broadcast
bias, its weight gradient an empty matrix; a sum over nothing is 0, a mean over nothing
NaN).

Non-finite values (NaN, +inf, -inf): torch's backward passes are ``where``s, not
multiplications by 0/1 masks: ReLU's backward is ``x <= 0 ? 0 : g``, so an upstream
``inf`` where the input is negative gives exactly 0 (a mask product would give
``inf * 0 = NaN``), and a NaN input passes its upstream gradient. Every op must reproduce
torch's NaN/inf pattern exactly. Each non-finite case builds a valid call of one op from a
seeded generator; hypothesis then plants non-finite values (and exact zeros, the other
edge of every mask) in the op's floating-point data arguments and in the upstream
gradient, at positions and densities it chooses. The arithmetic on NaN and inf raises
NumPy's "invalid value" flags on the way; those RuntimeWarnings are the point of the
input here, so each call runs with them silenced.
"""
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import strategies as st

import scratchnet.functional as F
from scratchnet.functional.conv import conv2d_naive

from helpers import check_op

# ================================================================== empty shapes
sizes = st.sampled_from([0, 0, 1, 2, 3])
dtypes = st.sampled_from([np.float32, np.float64])


def normal(rng, shape, dtype):
    return np.asarray(rng.standard_normal(shape)).astype(dtype)


@st.composite
def unary(draw, np_fn, torch_fn, with_dim=False):
    """An empty-shape case of an op of one array (and, with ``with_dim``, a ``dim``)."""
    shape = tuple(draw(st.lists(sizes, min_size=0, max_size=4)))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    kwargs = {}
    if with_dim:
        kwargs["dim"] = draw(st.integers(-max(len(shape), 1), max(len(shape), 1) - 1))
    return np_fn, torch_fn, [normal(rng, shape, draw(dtypes))], kwargs, None


def _torch_refuses(torch_fn, args, kwargs):
    targs = [torch.from_numpy(a.copy()) if isinstance(a, np.ndarray) else a for a in args]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch_fn(*targs, **kwargs)
    except (RuntimeError, ValueError, IndexError, TypeError) as err:
        return err
    return None


def zero_size_dimensions_follow_torch(np_fn, torch_fn, args, kwargs, torch_args):
    """One drawn empty-shape case: torch's refusal (naming the op) or torch's numbers."""
    refusal = _torch_refuses(torch_fn, args, kwargs)
    if refusal is None and np_fn in (F.conv2d, conv2d_naive) and args[0].shape[-3] == 0:
        # torch returns an (N, 0, H_out, W_out) tensor for an input without channels,
        # dropping the weight's output channels; the sum over no channels would be the
        # bias, (N, C_out, H_out, W_out). Neither is a sensible layer output: refused.
        with pytest.raises(ValueError, match=f"{np_fn.__name__}: .* has no channels"):
            np_fn(*args, **kwargs)
        return
    if refusal is not None:
        with pytest.raises((ValueError, TypeError, IndexError, RuntimeError)) as info:
            np_fn(*args, **kwargs)
        assert np_fn.__name__ in str(info.value), info.value
        return
    check_op(np_fn, torch_fn, args, kwargs, torch_args=torch_args)


# ================================================================ non-finite values
POISON = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0])


def plain_tensor(x):
    """A plain tensor that torch neither differentiates nor is asked to."""
    return torch.from_numpy(x.copy())


# Every case: (rng, dtype) -> dict(np_fn, torch_fn, args, kwargs=..., torch_args=..., poison=...)
# ``poison`` lists the positions in ``args`` whose values may be replaced; an argument
# torch does not differentiate (class weights, BCE's weights) is given to torch as a
# plain tensor in ``torch_args`` and stays one when poisoned.


def non_finite_unary(np_fn, torch_fn, *, with_dim=False):
    """A non-finite case of an op of one array (and, with ``with_dim``, a ``dim``)."""
    def build(rng, dtype):
        shape = tuple(int(d) for d in rng.integers(1, 4, size=rng.integers(1, 4)))
        kwargs = dict(dim=int(rng.integers(-len(shape), len(shape)))) if with_dim else {}
        return dict(np_fn=np_fn, torch_fn=torch_fn, args=[normal(rng, shape, dtype)],
                    kwargs=kwargs, poison=[0])
    return build


def conv2d_reference(x, w, b, **kwargs):
    """torch's conv2d through its float64 (im2col) kernel, rounded back to the input dtype.

    An inf weight over zero padding gives ``inf * 0 = NaN`` in torch's reference
    kernels (and here), but torch's float32 oneDNN kernel skips padded taps and gives a
    finite value: torch's own answer depends on its backend. The reference kernel is
    the one whose arithmetic is the formula's.
    """
    dtype = x.dtype
    return TF.conv2d(x.double(), w.double(), b.double(), **kwargs).to(dtype)


def _plant(rng, a, density):
    """Replace a ``density`` share of ``a``'s entries by NaN, +-inf or +-0."""
    a = np.array(a, copy=True)
    hit = rng.random(a.shape) < density
    a[hit] = rng.choice(POISON, size=int(hit.sum()))
    return a


def non_finite_forward_and_backward_match_torch(build, seed, density, grad_density, dtype):
    """One drawn non-finite case: poisoned arguments and upstream gradient give torch's answer."""
    rng = np.random.default_rng(seed)
    spec = build(rng, np.dtype(dtype))
    args = list(spec["args"])
    torch_args = spec.get("torch_args")
    torch_args = None if torch_args is None else list(torch_args)
    for i in spec["poison"]:
        args[i] = _plant(rng, args[i], density)
        if torch_args is not None:  # a plain tensor stays one: torch does not differentiate it
            torch_args[i] = plain_tensor(args[i]) if isinstance(torch_args[i], torch.Tensor) else args[i]

    def grad_out(shape, out_dtype):
        return _plant(rng, rng.standard_normal(shape).astype(out_dtype), grad_density)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        check_op(spec["np_fn"], spec["torch_fn"], args, spec.get("kwargs"),
                 torch_args=torch_args, grad_out=grad_out)


#: What hypothesis draws for :func:`non_finite_forward_and_backward_match_torch`.
NON_FINITE_DRAWS = dict(seed=st.integers(0, 2**32 - 1), density=st.sampled_from([0.0, 0.1, 0.3, 1.0]),
                        grad_density=st.sampled_from([0.0, 0.2, 0.5, 1.0]),
                        dtype=st.sampled_from([np.float32, np.float64]))


def grads(fn, args, g, **kwargs):
    """``(out, gradients)`` of one call of ``fn`` for the upstream gradient ``g``."""
    out, backward = F.vjp(fn, *args, **kwargs)
    return out, backward(g)
