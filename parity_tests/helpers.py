"""One small helper runs every op against torch, forward and backward (tinygrad style).

``check_op`` evaluates ``scratchnet.functional.vjp(np_fn, *args)`` and the same call
in torch autograd, feeds both a random upstream gradient (never all ones: that hides
bugs such as softmax's backward, which is then identically zero) and compares the
output and the gradient of every floating-point argument.

``check_fd`` is the oracle that does not trust torch: central finite differences of
``<out, g>`` in float64.

``check_raises`` insists that an input torch rejects is rejected by scratchnet too.

An op with a tuned kernel (:mod:`scratchnet.functional.fast`) is checked twice by each
helper: as it runs by default, and as its page reads (``with F.textbook():``), so the
textbook version a learner reads meets every case the kernel meets.

They are thin: the oracles, the tolerance table and the comparison are
:mod:`scratchnet.testing`'s, the very ones the practice grader uses. Tolerances are
explicit knobs; the default ``atol`` is scaled by the largest magnitude in the
reference array, so a float32 sum of a thousand terms is compared at float32's
resolution for its size, not at an absolute 1e-5.
"""
from __future__ import annotations

import contextlib

import numpy as np

import scratchnet.functional as F
from scratchnet.testing import TOLERANCES as TOL  # noqa: F401 (the tests' tolerance table)
from scratchnet.testing import FD_DIRECTIONAL, FD_EPS, assert_close
from scratchnet.testing.finite_differences import central_difference, inner_product, numeric_gradient
from scratchnet.testing.strategies import LAYOUTS, in_layout
from scratchnet.testing.strategies import randn  # noqa: F401 (the tests' array maker)
from scratchnet.testing.torch_oracle import to_torch, torch_vjp


def _tolerances(args, rtol, atol):
    dtypes = [a.dtype for a in args if isinstance(a, np.ndarray) and a.dtype.kind == "f"]
    base = TOL[dtypes[0]] if dtypes else TOL[np.dtype(np.float64)]
    return (base["rtol"] if rtol is None else rtol, base["atol"] if atol is None else atol)


def check_op(np_fn, torch_fn, args, kwargs=None, *, torch_args=None, torch_kwargs=None,
             rtol=None, atol=None, grad=True, grad_rtol=None, grad_atol=None, seed=0,
             grad_out=None, layout=None):
    """Compare ``np_fn(*args, **kwargs)`` with ``torch_fn`` forward and backward.

    ``torch_args``/``torch_kwargs`` override what torch receives (for ops whose torch
    spelling differs); arrays are converted to tensors, everything else passes as is.
    ``grad_out``, if given, is a function of the output's shape and dtype returning the
    upstream gradient (to plant non-finite values in it); the default is random normal.
    ``layout`` (one of :data:`~scratchnet.testing.strategies.LAYOUTS`) is the memory
    layout of scratchnet's array arguments (keywords too) and upstream gradient, the
    same values in any case; by default it follows ``seed`` (seed 0: C order), so a
    hypothesis-drawn seed draws every layout. Returns scratchnet's output and
    gradients for further checks.
    """
    layout = LAYOUTS[seed % len(LAYOUTS)] if layout is None else layout
    args = [in_layout(a, layout) if isinstance(a, np.ndarray) else a for a in args]
    kwargs = {k: in_layout(v, layout) if isinstance(v, np.ndarray) else v for k, v in (kwargs or {}).items()}
    torch_kwargs = dict(kwargs if torch_kwargs is None else torch_kwargs)
    rtol, atol = _tolerances(args, rtol, atol)
    grad_rtol = rtol if grad_rtol is None else grad_rtol
    grad_atol = atol if grad_atol is None else grad_atol

    targs = list(args if torch_args is None else torch_args)
    wrt = range(len(targs)) if grad else ()
    t_out, t_backward = torch_vjp(torch_fn, targs, torch_kwargs, wrt=wrt)

    t_backward = _once(t_backward)  # torch's graph can be walked back once; every side reuses it
    upstream = _upstream(seed, grad_out)
    results = [_check_side(np_fn, args, kwargs, t_out, t_backward, rtol, atol, grad, grad_rtol,
                           grad_atol, upstream, layout, engine)
               for engine in _engines(np_fn)]
    return results[0]


def _upstream(seed, grad_out):
    """The upstream gradient for an output, made once and fed to every side alike."""
    memo = {}

    def upstream(out):
        if "g" not in memo:
            if grad_out is None:
                rng = np.random.default_rng(seed)
                memo["g"] = rng.standard_normal(out.shape).astype(out.dtype)
            else:
                memo["g"] = np.asarray(grad_out(out.shape, out.dtype), dtype=out.dtype)
        return memo["g"]
    return upstream


def _once(t_backward):
    """``t_backward`` that computes torch's gradients on its first call and returns them after."""
    memo = {}

    def backward(g):
        if "grads" not in memo:
            memo["g"], memo["grads"] = g, t_backward(g)
        assert memo["g"] is g, "every side feeds torch's backward the same upstream gradient"
        return memo["grads"]
    backward.differentiable = t_backward.differentiable
    return backward


def kernel_and_textbook(fn, args, kwargs, g):
    """``[(out, grads), (out, grads)]``: op ``fn`` as it runs (its kernel), then as its page reads."""
    runs = []
    for context in (contextlib.nullcontext, F.textbook):
        with context():
            out, backward = F.vjp(fn, *args, **kwargs)
        runs.append((out, backward(g)))
    return runs


def _engines(np_fn):
    """``(label, context)`` per way to run ``np_fn``: its kernel and its page where a kernel runs."""
    if F.is_op(np_fn) and F.dispatch(np_fn).forward is F.kernel_of(np_fn):
        return [("kernel", contextlib.nullcontext), ("textbook", F.textbook)]
    return [("", contextlib.nullcontext)]


def _check_side(np_fn, args, kwargs, t_out, t_backward, rtol, atol, grad, grad_rtol, grad_atol,
                upstream, layout, engine):
    """scratchnet's side of :func:`check_op`, under ``engine``'s forward, against torch's result."""
    label, context = engine
    name = getattr(np_fn, "__name__", "op") + (f" ({label})" if label else "")
    with context():
        out, backward = F.vjp(np_fn, *args, **kwargs)
    if isinstance(t_out, tuple):
        assert isinstance(out, tuple) and len(out) == len(t_out), f"{name}: output arity"
        for i, (o, t) in enumerate(zip(out, t_out)):
            assert_close(o, t, rtol=rtol, atol=atol, what=f"{name} output[{i}]")
        out_primary = out[0]
    else:
        assert_close(out, t_out, rtol=rtol, atol=atol, what=f"{name} output")
        out_primary = out

    if not grad:
        return out, None
    g = upstream(out_primary)
    grads = backward(in_layout(g, layout))
    assert isinstance(grads, tuple), f"{name}: backward must return a tuple"
    assert len(grads) == len(args), f"{name}: {len(grads)} gradients for {len(args)} positional args"
    if t_backward.differentiable:
        for i, ref in t_backward(g).items():
            if i >= len(args):  # an argument only torch's spelling has
                continue
            assert grads[i] is not None, f"{name}: no gradient for float argument {i}"
            assert_close(grads[i], ref, rtol=grad_rtol, atol=grad_atol, what=f"{name} grad[{i}]")
    for i, a in enumerate(args):
        if not (isinstance(a, np.ndarray) and a.dtype.kind == "f"):
            assert grads[i] is None, f"{name}: gradient for non-float argument {i} should be None"
    return out, grads


def check_fd(np_fn, args, kwargs=None, *, wrt=None, eps=FD_EPS, rtol=FD_DIRECTIONAL["rtol"],
             atol=FD_DIRECTIONAL["atol"], n_directions=12, seed=0):
    """Finite-difference check of every float64 argument's gradient, no torch involved.

    Checks :math:`\\langle \\nabla_x \\langle f(x), g\\rangle, v\\rangle` against
    :math:`(\\langle f(x+\\epsilon v), g\\rangle - \\langle f(x-\\epsilon v), g\\rangle)/2\\epsilon`
    for every basis vector ``v`` of a small argument (the whole numeric gradient), or
    for ``n_directions`` random directions of a large one.
    """
    grads = None
    for label, context in _engines(np_fn):
        with context():
            found = _check_fd_side(np_fn, args, kwargs, wrt, eps, rtol, atol, n_directions, seed, label)
        grads = found if grads is None else grads
    return grads


def _check_fd_side(np_fn, args, kwargs, wrt, eps, rtol, atol, n_directions, seed, label):
    kwargs = dict(kwargs or {})
    rng = np.random.default_rng(seed)
    out, backward = F.vjp(np_fn, *args, **kwargs)
    out0 = out[0] if isinstance(out, tuple) else out
    g = rng.standard_normal(out0.shape)
    grads = backward(g)
    wrt = [i for i, a in enumerate(args) if isinstance(a, np.ndarray) and a.dtype == np.float64] \
        if wrt is None else wrt

    for i in wrt:
        x = args[i]
        assert grads[i] is not None, f"no gradient for argument {i}"
        phi = inner_product(np_fn, args, kwargs, i, g)
        if x.size <= 48:
            pairs = zip(numeric_gradient(phi, x, eps).reshape(-1), np.reshape(grads[i], -1))
        else:
            directions = [rng.standard_normal(x.shape) for _ in range(n_directions)]
            pairs = ((central_difference(phi, x, v, eps), float(np.sum(grads[i] * v))) for v in directions)
        for numeric, analytic in pairs:
            numeric, analytic = float(numeric), float(analytic)
            tol = atol + rtol * max(abs(numeric), abs(analytic), 1.0)
            assert abs(numeric - analytic) <= tol, (
                f"{getattr(np_fn, '__name__', 'op')}{' (' + label + ')' if label else ''} arg {i}: finite difference {numeric!r} "
                f"vs analytic {analytic!r}"
            )
    return grads


def check_raises(np_fn, torch_fn, args, kwargs=None, *, torch_args=None, match=None):
    """Both engines must reject this input; scratchnet's message must name the op."""
    import pytest

    kwargs = dict(kwargs or {})
    targs = [to_torch(a) for a in (args if torch_args is None else torch_args)]
    with pytest.raises(Exception):
        torch_fn(*targs, **kwargs)
    name = getattr(np_fn, "__name__", "")
    for label, context in reversed(_engines(np_fn)):  # the textbook first, the default last
        with pytest.raises((ValueError, TypeError, IndexError, RuntimeError)) as info, context():
            np_fn(*args, **kwargs)
        assert name.split("_")[0] in str(info.value) or name in str(info.value), (
            f"error message should name the op {name!r}{f' ({label})' if label else ''}: {info.value}"
        )
        if match is not None:
            import re

            assert re.search(match, str(info.value)), f"{info.value!r} does not match {match!r}"
    return info.value


#: ``scratchnet explain``'s cases, one per op and option family, as its options take them
#: (test_explain runs each; test_figures draws each).
EXPLAIN_CASES = [
    ("conv2d", dict(input=(2, 3, 7, 7), weight=(4, 3, 3, 3), stride=2, padding=1)),
    ("conv2d", dict(input=(1, 4, 6, 5), weight=(6, 2, 2, 3), stride=(1, 2), padding=(1, 0),
                    dilation=(2, 1), groups=2, bias=False)),
    ("conv2d", dict(input=(3, 5, 5), weight=(2, 3, 3, 3), padding="same")),  # unbatched
    ("max_pool2d", dict(input=(1, 1, 4, 4), kernel=2)),
    ("max_pool2d", dict(input=(2, 3, 7, 6), kernel=3, stride=2, padding=1, ceil_mode=True)),
    ("max_pool2d", dict(input=(1, 2, 7, 7), kernel=2, stride=1, dilation=2)),
    ("avg_pool2d", dict(input=(2, 2, 5, 5), kernel=3, stride=2, padding=1, count_include_pad=False)),
    ("avg_pool2d", dict(input=(1, 1, 6, 7), kernel=(2, 3), ceil_mode=True, divisor_override=5)),
    ("linear", dict(input=(4, 6), weight=(3, 6))),
    ("linear", dict(input=(2, 3, 5), weight=(4, 5), bias=False)),
    ("softmax", dict(input=(3, 5))),
    ("softmax", dict(input=(2, 4, 3), dim=1)),
    ("cross_entropy", dict(input=(3, 5))),
    ("cross_entropy", dict(input=(4, 3), target=[0, -100, 2, 1], reduction="sum")),
    ("cross_entropy", dict(input=(2, 3, 2, 2), reduction="none")),
    ("cross_entropy", dict(input=(2, 3), target=[-100, -100])),  # the mean of nothing: NaN
    ("cross_entropy", dict(input=(5,), ignore_index=1)),  # unbatched
]
