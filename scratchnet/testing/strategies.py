"""The hypothesis strategies that draw the ops' arguments: one copy, two users.

The parity suite (``parity_tests/``) draws its cases from these strategies to compare
scratchnet with torch, and the exercise grader draws from the same ones, restricted
to an exercise's scope, to compare a learner's op with torch. Every keyword that
restricts a strategy (``full=False``, a fixed ``stride`` strategy, ...) leaves the
draws of the unrestricted strategy exactly as they were, so the parity suite's
derandomized examples do not change.

An op must give the same numbers whatever the memory layout of its arguments:
:func:`layouts` draws one of :data:`LAYOUTS` (C order, Fortran order, axes permuted,
negative strides, a step-sliced view) and :func:`in_layout` puts an array's values in
it; the suite's ``check_op`` lays out its inputs and upstream gradient that way.

The example counts of the project's three hypothesis profiles live here too: the
suite's ``conftest.py`` registers them, the grader runs ``dev`` by default and
``deep`` with ``--thorough``.

This module imports hypothesis (a test dependency): import it only when grading.
"""
from __future__ import annotations

import numpy as np
from hypothesis import assume, strategies as st

#: max_examples of the hypothesis profiles: ``ci`` (the suite's default, derandomized),
#: ``dev`` (the quick loop, and an exercise check) and ``deep`` (nightly, ``--thorough``).
PROFILE_EXAMPLES = {"ci": 30, "dev": 8, "deep": 600}

seeds = st.integers(0, 2**32 - 1)
dtypes = st.sampled_from([np.float32, np.float64])
reductions = st.sampled_from(["none", "mean", "sum"])


def randn(rng, shape, dtype=np.float64, scale=1.0):
    """Standard normal numbers of ``shape`` and ``dtype`` from ``rng``."""
    return (rng.standard_normal(shape) * scale).astype(dtype)


def as_pair(v):
    """``k`` -> ``(k, k)``; a pair stays as it is."""
    return (v, v) if isinstance(v, int) else tuple(v)


# --------------------------------------------------------------------------- memory layouts
#: The memory layouts an op must accept, each holding the same values: C order, Fortran
#: order, the first axis stored innermost (a transposed view: NCHW stored as CHWN),
#: every axis reversed in memory (negative strides) and every second element of a
#: larger buffer (a view sliced with a step, NaN in the gaps it must not read).
LAYOUTS = ("C", "F", "permuted", "negative strides", "step-sliced")


def in_layout(x, layout: str):
    """A new array with ``x``'s values (shape, dtype) in the memory ``layout`` of :data:`LAYOUTS`."""
    x = np.asarray(x)
    every = (slice(None, None, -1),) * x.ndim
    if layout == "C" or x.ndim == 0:
        return np.array(x, order="C", copy=True)
    if layout == "F":
        return np.array(x, order="F", copy=True)
    if layout == "permuted":  # stored with axis 0 last, viewed back in the original order
        return np.moveaxis(np.ascontiguousarray(np.moveaxis(x, 0, -1)), -1, 0)
    if layout == "negative strides":
        return np.ascontiguousarray(x[every])[every]
    if layout == "step-sliced":
        gap = np.nan if x.dtype.kind in "fc" else 0
        buffer = np.full(tuple(2 * n for n in x.shape), gap, dtype=x.dtype)
        view = buffer[(slice(None, None, 2),) * x.ndim]
        view[...] = x
        return view
    raise ValueError(f"in_layout: unknown layout {layout!r}; expected one of {LAYOUTS}")


def layouts():
    """A strategy of a layout name of :data:`LAYOUTS` (apply it with :func:`in_layout`)."""
    return st.sampled_from(LAYOUTS)


# --------------------------------------------------------------------------- element-wise
#: Shapes of an element-wise op's input: rank 0 to 4, sizes 0 to 5.
elementwise_shapes = st.lists(st.integers(0, 5), min_size=0, max_size=4).map(tuple)


@st.composite
def shape_and_dim(draw, min_rank=0, min_size=0):
    """A shape (rank ``min_rank`` to 4) and a valid ``dim`` of it, negative ones included."""
    shape = tuple(draw(st.lists(st.integers(min_size, 4), min_size=min_rank, max_size=4)))
    size = max(len(shape), 1)
    return shape, draw(st.integers(-size, size - 1))


# --------------------------------------------------------------------------- convolution
@st.composite
def conv_cases(draw, max_batch=3, max_channels=3, max_kernel=4, *, full=True, stride=None,
               padding=None):
    """A valid conv2d call on small shapes: ``(args, kwargs)``, the data drawn from a seed.

    ``full=False`` is the lectures' scope: one group, no dilation, integer stride and
    padding, batched input with at least one sample. ``stride``/``padding``, if given, are
    strategies that replace the default draws of those options.
    """
    groups = draw(st.integers(1, 3)) if full else 1
    cg = draw(st.integers(1, max_channels))
    og = draw(st.integers(1, max_channels))
    kh, kw = draw(st.integers(1, max_kernel)), draw(st.integers(1, max_kernel))
    if stride is None:
        stride = st.one_of(st.integers(1, 3), st.tuples(st.integers(1, 3), st.integers(1, 3))) \
            if full else st.integers(1, 3)
    stride = draw(stride)
    dilation = draw(st.one_of(st.just(1), st.tuples(st.integers(1, 2), st.integers(1, 2)))) if full else 1
    same_ok = stride in (1, (1, 1))
    if padding is None:
        padding = st.one_of(
            st.integers(0, 2),
            st.tuples(st.integers(0, 2), st.integers(0, 2)),
            st.just("valid"),
            st.just("same") if same_ok else st.just(0),
        ) if full else st.integers(0, 2)
    padding = draw(padding)
    sh, sw = as_pair(stride)
    dh, dw = as_pair(dilation)
    if isinstance(padding, str):
        ph = pw = 0
    else:
        ph, pw = as_pair(padding)
    # Smallest input the (dilated) kernel fits in, plus a few rows/columns.
    h = max(1, dh * (kh - 1) + 1 - 2 * ph) + draw(st.integers(0, 4))
    w = max(1, dw * (kw - 1) + 1 - 2 * pw) + draw(st.integers(0, 4))
    unbatched = draw(st.booleans()) if full else False
    n = draw(st.integers(0 if full else 1, max_batch))
    dtype = draw(dtypes)
    rng = np.random.default_rng(draw(seeds))
    shape = (groups * cg, h, w) if unbatched else (n, groups * cg, h, w)
    x = randn(rng, shape, dtype)
    weight = randn(rng, (groups * og, cg, kh, kw), dtype)
    args = [x, weight]
    if draw(st.booleans()):
        args.append(randn(rng, (groups * og,), dtype))
    kwargs = dict(stride=stride, padding=padding)
    if full:
        kwargs.update(dilation=dilation, groups=groups)
    return tuple(args), kwargs


# --------------------------------------------------------------------------- pooling
def _every_window_touches_input(size, kernel, stride, pad, dilation, out):
    """False if some dilated window skips over the whole input (all its taps in padding).

    Such a window outputs -inf with an index outside the input plane; torch's backward
    then writes outside the plane, so its gradient is not a reference to compare with.
    """
    return all(
        any(0 <= i * stride - pad + a * dilation < size for a in range(kernel)) for i in range(out)
    )


@st.composite
def pool_cases(draw, max_pool=True, max_batch=2, *, full=True, kernel=None, stride=None,
               padding=None, styles=None):
    """A valid pooling call: ``(x, kwargs)``, the data drawn from a seed in one of three styles.

    ``full=False`` is the lectures' scope (int kernel, stride and padding; batched
    input; no dilation, ceil mode, indices or divisor options). ``kernel``, ``stride`` and
    ``padding`` (a strategy for the pair of paddings given the kernel pair) replace
    the default draws; ``styles`` restricts the data styles: ``"random"``, ``"ties"``
    (small integers, many equal maxima), ``"special"`` (also NaN and -inf).
    """
    from ..functional import avg_pool2d, max_pool2d

    if kernel is None:
        kernel = st.one_of(st.integers(1, 3), st.tuples(st.integers(1, 3), st.integers(1, 3))) \
            if full else st.integers(1, 3)
    kernel = draw(kernel)
    if stride is None:
        stride = st.one_of(st.none(), st.integers(1, 3), st.tuples(st.integers(1, 3), st.integers(1, 3))) \
            if full else st.one_of(st.none(), st.integers(1, 3))
    stride = draw(stride)
    dilation = draw(st.one_of(st.just(1), st.tuples(st.integers(1, 2), st.integers(1, 2)))) \
        if max_pool and full else 1
    (kh, kw), (dh, dw) = as_pair(kernel), as_pair(dilation)
    effective = (dh * (kh - 1) + 1, dw * (kw - 1) + 1)
    if padding is None:
        padding = (draw(st.integers(0, kh // 2)), draw(st.integers(0, kw // 2)))
    else:
        padding = draw(padding((kh, kw)))
    if not full:  # the lectures' int padding, the same on every side
        padding = padding[0]
    elif padding[0] == padding[1] and draw(st.booleans()):
        padding = padding[0]
    ph, pw = as_pair(padding)
    h = max(1, effective[0] - 2 * ph) + draw(st.integers(0, 4))
    w = max(1, effective[1] - 2 * pw) + draw(st.integers(0, 4))
    ceil_mode = draw(st.booleans()) if full else False
    unbatched = draw(st.booleans()) if full else False
    n = draw(st.integers(0 if full else 1, max_batch))
    dtype = draw(dtypes)
    if styles is None:
        styles = ["random", "ties", "special"] if max_pool else ["random"]
    style = draw(st.sampled_from(styles))
    rng = np.random.default_rng(draw(seeds))
    shape = (2, h, w) if unbatched else (n, 2, h, w)
    if style == "random":
        x = randn(rng, shape, dtype)
    else:  # small integers: many ties; "special" also sprinkles NaN and -inf
        x = rng.integers(-2, 3, shape).astype(dtype)
        if style == "special":
            x[rng.random(shape) < 0.1] = np.nan
            x[rng.random(shape) < 0.15] = -np.inf
    kwargs = dict(kernel_size=kernel, stride=stride, padding=padding)
    if full:
        kwargs["ceil_mode"] = ceil_mode
        if max_pool:
            kwargs.update(dilation=dilation, return_indices=draw(st.booleans()))
        else:
            kwargs.update(count_include_pad=draw(st.booleans()),
                          divisor_override=draw(st.one_of(st.none(), st.integers(-3, 6).filter(bool))))
    sh, sw = as_pair(kernel if stride is None else stride)
    no_indices = {k: v for k, v in kwargs.items() if k != "return_indices"}
    out = max_pool2d(x, **no_indices) if max_pool else avg_pool2d(x, **kwargs)
    assume(_every_window_touches_input(h, kh, sh, ph, dh, out.shape[-2]))
    assume(_every_window_touches_input(w, kw, sw, pw, dw, out.shape[-1]))
    return x, kwargs


# --------------------------------------------------------------------------- losses
@st.composite
def classification_shapes(draw, *, full=True):
    """``(input_shape, position_shape, C)``: unbatched, or N in 0..4 with 0-2 extra dims.

    ``full=False`` (the lectures' scope): a batch ``(N, C)``, N from 1 to 4, C from 2.
    """
    if not full:
        n_classes = draw(st.integers(2, 5))
        n = draw(st.integers(1, 4))
        return (n, n_classes), (n,), n_classes
    n_classes = draw(st.integers(1, 5))
    if draw(st.integers(0, 5)) == 0:
        return (n_classes,), (), n_classes
    n = draw(st.sampled_from([0, 1, 1, 2, 3, 4]))
    extra = tuple(draw(st.lists(st.integers(1, 3), max_size=2)))
    return (n, n_classes) + extra, (n,) + extra, n_classes


@st.composite
def index_case(draw, *, full=True):
    """Logits, class-index targets with some ignored positions, weight and options:
    ``(x, t, weight, ignore_index, reduction)``.

    ``full=False``: no ignored targets, no weight, ``'mean'`` reduction.
    """
    shape, positions, n_classes = draw(classification_shapes(full=full))
    rng = np.random.default_rng(draw(seeds))
    dtype = draw(dtypes)
    scale = draw(st.sampled_from([1.0, 1.0, 10.0, 1e4]))
    x = np.asarray(rng.standard_normal(shape) * scale).astype(dtype)
    t = np.asarray(rng.integers(0, n_classes, positions))
    if not full:
        return x, t, None, -100, "mean"
    # -100 (the default), a real class (which must then vanish), or an unused value.
    ignore_index = draw(st.sampled_from([-100, -100, -1, 0, n_classes - 1, n_classes + 3]))
    t = np.where(rng.random(positions) < draw(st.sampled_from([0.0, 0.3, 1.0])), ignore_index, t)
    weight = (rng.random(n_classes) + 0.05).astype(dtype) if draw(st.booleans()) else None
    return x, np.asarray(t), weight, ignore_index, draw(reductions)


@st.composite
def broadcast_partner(draw, shape):
    """A shape that broadcasts to ``shape``: leading dims dropped, some dims set to 1."""
    kept = shape[draw(st.integers(0, len(shape))):]
    return tuple(1 if draw(st.booleans()) else n for n in kept)


@st.composite
def mse_case(draw, *, full=True):
    """``(input_shape, target_shape)``; ``full=False``: equal shapes, at least one element."""
    if not full:
        shape = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=3)))
        return shape, shape
    shape = tuple(draw(st.lists(st.integers(0, 4), max_size=3)))
    other = draw(broadcast_partner(shape)) if draw(st.booleans()) else shape
    # Either side may be the smaller one; torch broadcasts both ways (and warns).
    return (shape, other) if draw(st.booleans()) else (other, shape)
