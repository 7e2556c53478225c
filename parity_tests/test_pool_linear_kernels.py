"""The tuned pooling and linear kernels (scratchnet/functional/fast/) equal their textbook ops.

Every kernel is run against the textbook op (``with F.textbook():``), the naive loops and
torch, on both sides of each threshold and route: linear at 1 row (the two-pass outer
product), 255/256 rows (weight-major GEMMs) and 257/1000 rows (the textbook's X W^T);
max pooling's mask route (tiling windows, batch-innermost input, unique maxima) and its
tap route, tiling and overlapping windows, ties, NaN, -inf windows, padding, ceil mode,
dilation, return_indices, unbatched and empty input, and non-contiguous inputs and
upstream gradients. The textbook ops are also checked against torch on their own.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import scratchnet.functional as F
from scratchnet.functional.fast import linear as fast_linear
from scratchnet.functional.fast import pooling as fast_pool
from scratchnet.functional.pooling import avg_pool2d_naive, max_pool2d_naive

from helpers import assert_close, check_op
from scratchnet.testing.strategies import pool_cases

TF = torch.nn.functional
DTYPES = [np.float32, np.float64]
#: Kernel vs textbook where only the order of a sum differs.
CLOSE = {np.dtype(np.float64): dict(rtol=1e-7, atol=1e-12), np.dtype(np.float32): dict(rtol=1e-4, atol=1e-5)}


def test_the_kernels_are_registered():
    assert F.kernel_of(F.linear) is fast_linear.linear_kernel
    assert F.kernel_of(F.max_pool2d) is fast_pool.max_pool2d_kernel
    assert F.kernel_of(F.avg_pool2d) is fast_pool.avg_pool2d_kernel
    with F.textbook():
        assert F.dispatch(F.linear).forward is F.registration(F.linear).forward
    assert F.dispatch(F.linear).forward is fast_linear.linear_kernel


def _kernel_and_textbook(fn, args, kwargs, g, **backward_kwargs):
    """``((out, grads), (out, grads))``: the kernel's, then the textbook's, for one call and ``g``."""
    runs = []
    for textbook in (False, True):
        if textbook:
            with F.textbook():
                out, backward = F.vjp(fn, *args, **kwargs)
        else:
            out, backward = F.vjp(fn, *args, **kwargs)
        runs.append((out, backward(g)))
    return runs


# ===================================================================================== linear
def _linear_loops(x, w, b, g):
    """Reference linear by loops over rows and outputs (2-D weight, 2-D input)."""
    m, (o, _) = x.shape[0], w.shape
    out = np.empty((m, o), x.dtype)
    gx, gw = np.zeros_like(x), np.zeros_like(w)
    for r in range(m):
        for k in range(o):
            out[r, k] = np.dot(x[r], w[k]) + (b[k] if b is not None else 0)
            gx[r] += g[r, k] * w[k]
            gw[k] += g[r, k] * x[r]
    gb = g.sum(axis=0) if b is not None else None
    return out, (gx, gw, gb)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("rows", [1, 2, 64, 255, 256, 257, 1000])
def test_linear_kernel_equals_textbook_loops_and_torch_on_both_sides_of_256_rows(rows, dtype):
    rng = np.random.default_rng(rows)
    x = rng.standard_normal((rows, 37)).astype(dtype)
    w = rng.standard_normal((23, 37)).astype(dtype)
    b = rng.standard_normal(23).astype(dtype)
    g = rng.standard_normal((rows, 23)).astype(dtype)
    (out, grads), (ref, ref_grads) = _kernel_and_textbook(F.linear, (x, w, b), {}, g)
    assert out.dtype == ref.dtype == dtype
    tol = CLOSE[np.dtype(dtype)]
    assert_close(out, ref, what="output", **tol)
    for name, a, e in zip(("input", "weight", "bias"), grads, ref_grads):
        assert_close(a, e, what=name, **tol)
    loop_out, loop_grads = _linear_loops(x, w, b, g)
    assert_close(out, loop_out, what="output vs loops", **tol)
    for name, a, e in zip(("input", "weight", "bias"), grads, loop_grads):
        assert_close(a, e, what=f"{name} vs loops", **tol)
    # Both paths against torch: past 256 rows the kernel takes the textbook's X W^T.
    check_op(F.linear, TF.linear, (x, w, b))
    with F.textbook():
        check_op(F.linear, TF.linear, (x, w, b))


@pytest.mark.parametrize("rows", [255, 256, 257])
def test_linear_kernel_routes_at_the_threshold(rows):
    # WEIGHT_MAJOR_ROWS is the last row count of the weight-major route; its output is
    # then the transposed product, batch innermost in memory.
    assert fast_linear.WEIGHT_MAJOR_ROWS == 256
    x = np.random.default_rng(0).standard_normal((rows, 5))
    w = np.random.default_rng(1).standard_normal((3, 5))
    out = F.linear(x, w)
    assert out.flags.f_contiguous == (rows <= 256) and out.flags.c_contiguous == (rows > 256)
    with F.textbook():
        assert F.linear(x, w).flags.c_contiguous


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("xshape,wshape,bshape", [
    ((300,), (200, 300), (200,)),            # 1-D input: one row, the outer product
    ((1, 300), (200, 300), (200,)),
    ((2, 1, 300), (200, 300), (200,)),       # 3-D input, 2 rows
    ((2, 130, 11), (7, 11), (7,)),           # 3-D input, 260 rows: past the threshold
    ((4, 64, 11), (7, 11), None),            # 256 rows exactly, no bias
    ((5, 3), (3,), None),                    # vector weight
    ((300, 3), (3,), None),                  # vector weight past the threshold
    ((3,), (3,), ()),                        # vector weight, 1-D input, 0-d bias
    ((0, 4), (3, 4), (3,)),                  # no rows
])
def test_linear_kernel_equals_textbook_and_torch_for_every_shape(xshape, wshape, bshape, dtype):
    rng = np.random.default_rng(len(xshape) * 10 + len(wshape))
    x = rng.standard_normal(xshape).astype(dtype)
    w = rng.standard_normal(wshape).astype(dtype)
    b = None if bshape is None else rng.standard_normal(bshape).astype(dtype)
    out_shape = F.linear(x, w, b).shape
    g = rng.standard_normal(out_shape).astype(dtype)
    (out, grads), (ref, ref_grads) = _kernel_and_textbook(F.linear, (x, w, b), {}, g)
    tol = CLOSE[np.dtype(dtype)]
    assert_close(out, ref, what="output", **tol)
    for a, e in zip(grads, ref_grads):
        assert (a is None) == (e is None)
        if a is not None:
            assert_close(a, e, what="grad", **tol)
    check_op(F.linear, TF.linear, (x, w, b))
    with F.textbook():
        check_op(F.linear, TF.linear, (x, w, b))


@pytest.mark.parametrize("rows", [1, 100, 300])
def test_linear_kernel_skips_the_input_gradient_as_the_textbook_does(rows):
    rng = np.random.default_rng(rows)
    x, w, b = rng.standard_normal((rows, 6)), rng.standard_normal((4, 6)), rng.standard_normal(4)
    g = rng.standard_normal((rows, 4))
    for textbook in (False, True):
        reg = F.registration(F.linear) if textbook else F.dispatch(F.linear)
        _, backward = reg.forward(x, w, b)
        grads = backward(g, needs_input_grad=False)
        assert set(grads) == {"weight", "bias"}
        np.testing.assert_allclose(grads["weight"], g.T @ x, rtol=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
def test_linear_kernel_with_non_contiguous_operands(dtype):
    rng = np.random.default_rng(5)
    base = rng.standard_normal((600, 40)).astype(dtype)
    w = np.asfortranarray(rng.standard_normal((9, 20)).astype(dtype))
    for x in (base[::2, ::2], base[::-1, :20], base[:300, :20].T.copy().T, np.asfortranarray(base[:257, :20])):
        g = np.ascontiguousarray(rng.standard_normal((9, x.shape[0])).astype(dtype)).T  # transposed
        (out, grads), (ref, ref_grads) = _kernel_and_textbook(F.linear, (x, w), {}, g)
        assert_close(out, ref, what="output", **CLOSE[np.dtype(dtype)])
        for a, e in zip(grads, ref_grads):
            assert_close(a, e, what="grad", **CLOSE[np.dtype(dtype)])
        check_op(F.linear, TF.linear, (x, w))


@given(rows=st.integers(0, 600), fin=st.integers(1, 9), fout=st.integers(1, 9), bias=st.booleans(),
       dtype=st.sampled_from(DTYPES), seed=st.integers(0, 2**16))
def test_linear_textbook_and_kernel_match_torch(rows, fin, fout, bias, dtype, seed):
    rng = np.random.default_rng(seed)
    args = (rng.standard_normal((rows, fin)).astype(dtype), rng.standard_normal((fout, fin)).astype(dtype),
            rng.standard_normal(fout).astype(dtype) if bias else None)
    check_op(F.linear, TF.linear, args, seed=seed)
    with F.textbook():
        check_op(F.linear, TF.linear, args, seed=seed)


# Moved from test_fastpaths.py: the batch-1 weight gradient (the kernel's outer product).
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 300), (300,), (2, 1, 300)])
def test_linear_single_row_weight_gradient_matches_torch(shape, dtype):
    rng = np.random.default_rng(1)
    x = rng.standard_normal(shape).astype(dtype)
    w = rng.standard_normal((200, 300)).astype(dtype)
    b = rng.standard_normal(200).astype(dtype)
    check_op(F.linear, TF.linear, (x, w, b))


@pytest.mark.parametrize("dtype", DTYPES)
def test_linear_single_row_outer_product_in_two_passes_equals_the_broadcast_product(dtype):
    rng = np.random.default_rng(2)
    g = rng.standard_normal(37).astype(dtype)
    x = rng.standard_normal(53).astype(dtype)
    g[3], x[5], x[7] = 0.0, np.inf, np.nan  # 0 * inf is NaN, as torch's outer product gives
    with np.errstate(invalid="ignore"):
        got, ref = fast_linear._outer(g, x), np.multiply(g[:, None], x)
    assert got.dtype == dtype and got.flags.c_contiguous
    np.testing.assert_array_equal(got, ref)
    assert np.isnan(got[3, 5])


# ==================================================================================== pooling
def _chwn(a):
    """``a`` (N, C, H, W) copied into (C, H, W, N) memory, as a conv's output lies."""
    return np.ascontiguousarray(a.transpose(1, 2, 3, 0)).transpose(3, 0, 1, 2)


def _layout(a, name):
    """The same values as ``a`` in another memory layout (a view where one exists)."""
    if name == "c":
        return np.ascontiguousarray(a)
    if name == "batch_innermost":
        return _chwn(a)
    if name == "fortran":
        return np.asfortranarray(a)
    if name == "transposed":  # H and W swapped in memory
        return np.ascontiguousarray(np.swapaxes(a, -1, -2)).swapaxes(-1, -2)
    if name == "step_sliced":
        big = np.zeros(a.shape[:-2] + (2 * a.shape[-2], 3 * a.shape[-1]), a.dtype)
        big[..., ::2, ::3] = a
        return big[..., ::2, ::3]
    if name == "negative":
        return np.ascontiguousarray(a[..., ::-1, ::-1])[..., ::-1, ::-1]
    raise ValueError(name)


LAYOUTS = ["c", "batch_innermost", "fortran", "transposed", "step_sliced", "negative"]


def _data(rng, shape, dtype, kind):
    if kind == "random":
        return rng.standard_normal(shape).astype(dtype)
    x = rng.integers(-2, 3, shape).astype(dtype)  # small integers: ties in most windows
    if kind == "nan":
        x[rng.random(shape) < 0.1] = np.nan
    if kind == "-inf":
        x[rng.random(shape) < 0.4] = -np.inf
    return x


MAX_CASES = [
    dict(kernel_size=2),                                          # tiling
    dict(kernel_size=(3, 2)),                                     # tiling, 6 x 4 input
    dict(kernel_size=2, stride=1),                                # overlapping
    dict(kernel_size=3, stride=2, padding=1),                     # windows in padding
    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
    dict(kernel_size=2, stride=2, padding=1, ceil_mode=True),
    dict(kernel_size=(3, 2), stride=1, padding=(1, 0), dilation=(1, 2)),
    dict(kernel_size=2, stride=1, padding=1, dilation=2),
    dict(kernel_size=1, stride=2),
]


def _pool_runs(fn, naive, x, kwargs, g_layout="c", seed=0):
    """Kernel, textbook and naive ``(out, grad)`` of one call, with one random upstream gradient."""
    values = F.max_pool2d(x, **{k: v for k, v in kwargs.items() if k != "return_indices"}) \
        if fn is F.max_pool2d else fn(x, **kwargs)
    g = np.random.default_rng(seed).standard_normal(values.shape).astype(x.dtype)
    g = _layout(g, g_layout) if g.ndim == 4 else g
    runs = _kernel_and_textbook(fn, (x,), kwargs, g)
    out, backward = F.vjp(naive, x, **kwargs)
    return runs + [(out, backward(g))]


def _outputs(out):
    return out if isinstance(out, tuple) else (out,)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["random", "ties", "nan", "-inf"])
@pytest.mark.parametrize("kwargs", MAX_CASES)
def test_max_pool_kernel_equals_textbook_and_naive(kwargs, kind, dtype):
    rng = np.random.default_rng(len(str(kwargs)))
    x = _data(rng, (3, 2, 6, 4), dtype, kind)
    kwargs = dict(kwargs, return_indices=True)
    (k_out, k_grad), (t_out, t_grad), (n_out, n_grad) = _pool_runs(F.max_pool2d, max_pool2d_naive, x, kwargs)
    for a, b, c in zip(k_out, t_out, n_out):  # values and indices: exact, as torch's scan
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)
        assert a.dtype == b.dtype == c.dtype
    # Kernel and textbook add the taps in the same order; the naive loop window by window.
    np.testing.assert_array_equal(k_grad[0], t_grad[0])
    assert_close(k_grad[0], n_grad[0], what="grad vs naive", **CLOSE[np.dtype(dtype)])
    with F.textbook():
        check_op(F.max_pool2d, TF.max_pool2d, (x,), kwargs)
    check_op(F.max_pool2d, TF.max_pool2d, (x,), kwargs)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kwargs", [
    dict(kernel_size=2), dict(kernel_size=2, stride=1), dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
    dict(kernel_size=2, stride=2, padding=1, ceil_mode=True),
    dict(kernel_size=(2, 3), stride=1, padding=(1, 1), divisor_override=5),
    dict(kernel_size=(3, 2), divisor_override=-2),
])
def test_avg_pool_kernel_equals_textbook_and_naive(kwargs, dtype):
    x = np.random.default_rng(3).standard_normal((3, 2, 6, 4)).astype(dtype)
    (k_out, k_grad), (t_out, t_grad), (n_out, n_grad) = _pool_runs(F.avg_pool2d, avg_pool2d_naive, x, kwargs)
    tol = CLOSE[np.dtype(dtype)]
    assert k_out.dtype == t_out.dtype == dtype
    assert_close(k_out, t_out, what="output", **tol)
    assert_close(k_out, n_out, what="output vs naive", **tol)
    np.testing.assert_array_equal(k_grad[0], t_grad[0])  # the same shares, added in tap order
    assert_close(k_grad[0], n_grad[0], what="grad vs naive", **tol)
    with F.textbook():
        check_op(F.avg_pool2d, TF.avg_pool2d, (x,), kwargs)


@pytest.mark.parametrize("g_layout", LAYOUTS)
@pytest.mark.parametrize("x_layout", LAYOUTS)
@pytest.mark.parametrize("kwargs", [dict(kernel_size=2), dict(kernel_size=3, stride=1, padding=1)])
def test_pool_kernels_accept_every_layout_of_input_and_upstream_gradient(kwargs, x_layout, g_layout):
    rng = np.random.default_rng(4)
    x = _layout(rng.standard_normal((3, 2, 6, 4)), x_layout)
    for fn, naive in ((F.max_pool2d, max_pool2d_naive), (F.avg_pool2d, avg_pool2d_naive)):
        (k_out, k_grad), (t_out, t_grad), (n_out, n_grad) = _pool_runs(fn, naive, x, kwargs, g_layout)
        assert_close(k_out, t_out, what="output", rtol=1e-12, atol=1e-14)
        assert_close(k_out, n_out, what="output vs naive", rtol=1e-12, atol=1e-14)
        np.testing.assert_array_equal(k_grad[0], t_grad[0])
        assert_close(k_grad[0], n_grad[0], what="grad vs naive", rtol=1e-12, atol=1e-14)
        assert k_grad[0].shape == x.shape


# -- max pool's two routes -------------------------------------------------------------------
@pytest.fixture
def mask_calls(monkeypatch):
    """The results of the kernel's :func:`_max_mask` calls (``None``: the mask was refused)."""
    taken = []
    real = fast_pool._max_mask
    monkeypatch.setattr(fast_pool, "_max_mask", lambda *a: taken.append(real(*a)) or taken[-1])
    return taken


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layout", ["nchw", "chwn", "unbatched"])
@pytest.mark.parametrize("data", ["unique", "ties", "nan", "inf_grad"])
def test_tiling_max_pool_mask_route_equals_the_naive_oracle(mask_calls, dtype, layout, data):
    rng = np.random.default_rng(11)
    x = rng.standard_normal((3, 2, 6, 4)).astype(dtype)
    if data == "ties":
        x[0, 0, 2:4, 0:2] = 5.0                    # one window of four equal maxima
    if data == "nan":
        x[0, 1, 0, 3] = np.nan
    x = {"nchw": x, "chwn": _chwn(x), "unbatched": x[0]}[layout]
    kernel = (2, 2) if layout != "chwn" else (3, 2)
    out, backward = F.vjp(F.max_pool2d, x, kernel)
    ref, ref_backward = F.vjp(max_pool2d_naive, x, kernel)
    with F.textbook():
        book, book_backward = F.vjp(F.max_pool2d, x, kernel)
    g = rng.standard_normal(out.shape).astype(dtype)
    if data == "inf_grad":
        g.flat[0], g.flat[-1] = np.inf, -np.inf   # selected or not, torch routes it exactly
    np.testing.assert_array_equal(out, ref)
    np.testing.assert_array_equal(out, book)
    np.testing.assert_array_equal(backward(g)[0], ref_backward(g)[0])
    np.testing.assert_array_equal(backward(g)[0], book_backward(g)[0])
    assert backward(g)[0].strides == x.strides  # the input's memory layout, as before
    # The mask route is tried where the batch is the innermost memory axis (a conv's output).
    tried = [data in ("unique", "inf_grad")] if layout == "chwn" else []
    assert [m is not None for m in mask_calls] == tried


@pytest.mark.parametrize("shape,kwargs,tiles", [
    ((4, 2, 6, 4), dict(kernel_size=2), True),
    ((4, 2, 5, 4), dict(kernel_size=2), False),                 # a row left over
    ((4, 2, 6, 4), dict(kernel_size=2, stride=1), False),       # overlapping
    ((4, 2, 6, 4), dict(kernel_size=2, padding=1), False),      # padded
    ((4, 2, 6, 4), dict(kernel_size=(1, 2), dilation=(2, 1)), False),
    ((1, 2, 6, 4), dict(kernel_size=2), True),                  # batch 1: never batch-innermost
])
def test_max_pool_mask_route_only_where_windows_tile_a_batch_innermost_input(mask_calls, shape, kwargs,
                                                                            tiles):
    rng = np.random.default_rng(12)
    x = _chwn(rng.standard_normal(shape))
    g_shape = F.max_pool2d(x, **kwargs).shape
    g = rng.standard_normal(g_shape)
    (out, grads), (ref, ref_grads) = _kernel_and_textbook(F.max_pool2d, (x,), kwargs, g)
    np.testing.assert_array_equal(out, ref)
    np.testing.assert_array_equal(grads[0], ref_grads[0])
    geo = fast_pool._setup("max_pool2d", x, kwargs["kernel_size"], kwargs.get("stride"),
                           kwargs.get("padding", 0), kwargs.get("dilation", 1), False, max_pool=True)[2]
    assert fast_pool._windows_tile_input(geo) == tiles
    assert len(mask_calls) == (1 if tiles and shape[0] > 1 else 0)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layout", ["c", "batch_innermost"])
def test_max_pool_ties_go_to_the_first_maximum_and_nan_to_the_last_on_every_route(dtype, layout):
    x = np.array([[[[1.0, 1.0, 3.0, np.nan],
                    [1.0, 0.0, np.nan, 2.0]]]], dtype)
    x = _layout(np.concatenate([x, x + 0], axis=0), layout)  # batch 2: the mask route may apply
    for textbook in (False, True):
        if textbook:
            with F.textbook():
                (values, idx), backward = F.vjp(F.max_pool2d, x, 2, return_indices=True)
        else:
            (values, idx), backward = F.vjp(F.max_pool2d, x, 2, return_indices=True)
        np.testing.assert_array_equal(idx[:, 0, 0], [[0, 6], [0, 6]])  # first 1.0; last NaN
        assert values[0, 0, 0, 0] == 1.0 and np.isnan(values[0, 0, 0, 1])
        g = np.array([[[[2.0, 3.0]]], [[[4.0, 5.0]]]], dtype)
        expected = np.zeros(x.shape, dtype)
        expected[:, 0, 0, 0] = [2.0, 4.0]
        expected[:, 0, 1, 2] = [3.0, 5.0]
        np.testing.assert_array_equal(backward(g)[0], expected)
    check_op(F.max_pool2d, TF.max_pool2d, (x,), dict(kernel_size=2, return_indices=True))


def test_a_dilated_window_that_misses_the_input_reports_torchs_start_and_sends_no_gradient():
    # H = 2, k = 2, p = 1, d = 3: window 0 reads rows -1 and 2, neither in the input.
    x = np.random.default_rng(13).standard_normal((2, 1, 2, 5))
    kwargs = dict(kernel_size=2, stride=1, padding=1, dilation=3, return_indices=True)
    (k_out, k_grad), (t_out, t_grad), (n_out, n_grad) = _pool_runs(F.max_pool2d, max_pool2d_naive, x, kwargs)
    assert k_out[0].shape[-2] == 1 and np.all(k_out[0] == -np.inf)
    for a, b, c in zip(k_out, t_out, n_out):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)
    np.testing.assert_array_equal(k_grad[0], 0.0)
    np.testing.assert_array_equal(t_grad[0], 0.0)
    np.testing.assert_array_equal(n_grad[0], 0.0)


@pytest.mark.parametrize("fn,naive", [(F.max_pool2d, max_pool2d_naive), (F.avg_pool2d, avg_pool2d_naive)])
@pytest.mark.parametrize("dtype", DTYPES)
def test_pool_kernels_on_unbatched_and_empty_input(fn, naive, dtype):
    rng = np.random.default_rng(14)
    for shape in ((2, 6, 4), (0, 2, 6, 4)):
        x = rng.standard_normal(shape).astype(dtype)
        for kwargs in (dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)):
            (k_out, k_grad), (t_out, t_grad), (n_out, n_grad) = _pool_runs(fn, naive, x, kwargs)
            assert k_out.shape == t_out.shape == n_out.shape and k_out.dtype == t_out.dtype == dtype
            assert_close(k_out, t_out, what="output", **CLOSE[np.dtype(dtype)])
            np.testing.assert_array_equal(k_grad[0], t_grad[0])
            assert k_grad[0].shape == t_grad[0].shape == x.shape
            with F.textbook():
                check_op(fn, getattr(TF, fn.__name__), (x,), kwargs)


@pytest.mark.parametrize("dtype", DTYPES)
def test_max_pool_non_finite_upstream_gradient_on_every_route(dtype):
    x = np.random.default_rng(15).standard_normal((3, 2, 6, 6)).astype(dtype)
    for x_in in (x, _chwn(x)):
        for kwargs in (dict(kernel_size=2), dict(kernel_size=3, stride=1, padding=1)):
            out = F.max_pool2d(x_in, **kwargs)
            g = np.random.default_rng(16).standard_normal(out.shape).astype(dtype)
            g[0, 0, 1, 1], g[1, 1, 0, 2], g[2, 0, 0, 0] = np.inf, np.nan, -np.inf
            (_, grads), (_, ref_grads) = _kernel_and_textbook(F.max_pool2d, (x_in,), kwargs, g)
            np.testing.assert_array_equal(grads[0], ref_grads[0])
            tx = torch.from_numpy(x.copy()).requires_grad_()
            (expected,) = torch.autograd.grad(TF.max_pool2d(tx, **kwargs), [tx], torch.from_numpy(g.copy()))
            assert_close(ref_grads[0], expected.numpy(), what="grad vs torch", **CLOSE[np.dtype(dtype)])


# -- hypothesis: the textbook ops against torch, the kernels against the textbook ops --------
@given(pool_cases(max_pool=True))
def test_max_pool2d_textbook_matches_torch(case):
    x, kwargs = case
    with F.textbook():
        out, grads = check_op(F.max_pool2d, TF.max_pool2d, (x,), kwargs)
    values = out[0] if kwargs["return_indices"] else out
    assert values.dtype == x.dtype and grads[0].dtype == x.dtype


@given(pool_cases(max_pool=False))
def test_avg_pool2d_textbook_matches_torch(case):
    x, kwargs = case
    with F.textbook():
        out, grads = check_op(F.avg_pool2d, TF.avg_pool2d, (x,), kwargs)
    assert out.dtype == x.dtype and grads[0].dtype == x.dtype


@given(pool_cases(max_pool=True), st.sampled_from(LAYOUTS))
def test_max_pool2d_kernel_equals_textbook(case, layout):
    x, kwargs = case
    x = _layout(x, layout) if x.ndim == 4 else x
    values = F.max_pool2d(x, **{k: v for k, v in kwargs.items() if k != "return_indices"})
    g = np.random.default_rng(17).standard_normal(values.shape).astype(x.dtype)
    (out, grads), (ref, ref_grads) = _kernel_and_textbook(F.max_pool2d, (x,), kwargs, g)
    for a, b in zip(_outputs(out), _outputs(ref)):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(grads[0], ref_grads[0])


@given(pool_cases(max_pool=False), st.sampled_from(LAYOUTS))
def test_avg_pool2d_kernel_equals_textbook(case, layout):
    x, kwargs = case
    x = _layout(x, layout) if x.ndim == 4 else x
    g = np.random.default_rng(18).standard_normal(F.avg_pool2d(x, **kwargs).shape).astype(x.dtype)
    (out, grads), (ref, ref_grads) = _kernel_and_textbook(F.avg_pool2d, (x,), kwargs, g)
    assert_close(out, ref, what="output", **CLOSE[x.dtype])
    np.testing.assert_array_equal(grads[0], ref_grads[0])
