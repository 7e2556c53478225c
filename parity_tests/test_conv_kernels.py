"""conv2d's tuned kernel (functional/fast/conv.py) equals the textbook conv2d and the loops.

The kernel runs by default; ``with F.textbook():`` runs the page's im2col + GEMM. Every
route of the kernel is checked on both sides of its threshold: one GEMM (more than
``SLICED_MAX_CHANNELS`` filters per group), im2col in one slice, im2col in several slices
(inputs large enough that ``_row_slices`` returns more than one); with inputs and upstream
gradients in every layout the kernel treats differently (batch-innermost CHWN memory, as a
previous conv leaves it, C order, Fortran order, transposed, step-sliced, negative
strides), groups, dilation, stride, padding, 'same', unbatched input, empty batches,
``needs_input_grad=False`` and a second backward (the kernel recycles its im2col memory); the
unsliced routes' input gradient tap by tap and through col2im (both sides of
``TAPWISE_MIN_COLUMNS``).
The textbook conv2d is also checked against torch. The same for LeNet's sparse C3.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given

import scratchnet.functional as F
from scratchnet import nn
from scratchnet.testing.strategies import conv_cases
from scratchnet.functional import conv as textbook_conv
from scratchnet.functional.conv import conv2d_naive
from scratchnet.functional.fast import _memo, conv as fast_conv
from scratchnet.functional.sparse_conv import sparse_conv2d, sparse_conv2d_naive
from scratchnet.models import LECUN_C3_TABLE

from helpers import assert_close, check_op

TF = torch.nn.functional
DTYPES = [np.float32, np.float64]

# torch warns that 'same' with an even kernel pads a copy of the input; that is the case under test.
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same':UserWarning")


def _tol(dtype):
    """Kernel vs textbook vs loops: the same products summed in another order."""
    return dict(rtol=1e-7, atol=1e-12) if dtype == np.float64 else dict(rtol=1e-4, atol=1e-5)


def _chwn(a):
    """``a`` (N, C, H, W) with the same values, lying in memory as (C, H, W, N): a conv's output."""
    return np.ascontiguousarray(a.transpose(1, 2, 3, 0)).transpose(3, 0, 1, 2)


def _layouts(a):
    """``a``'s values in every memory layout the kernel distinguishes, by name."""
    layouts = {"C": np.ascontiguousarray(a), "fortran": np.asfortranarray(a)}
    if a.ndim == 4:
        layouts["chwn"] = _chwn(a)
        layouts["transposed"] = np.ascontiguousarray(a.transpose(3, 2, 0, 1)).transpose(2, 3, 1, 0)
    big = np.zeros(tuple(2 * s for s in a.shape), a.dtype)
    big[(slice(None, None, 2),) * a.ndim] = a
    layouts["step-sliced"] = big[(slice(None, None, 2),) * a.ndim]
    flipped = np.ascontiguousarray(a[..., ::-1, ::-1])
    layouts["negative strides"] = flipped[..., ::-1, ::-1]
    for name, view in layouts.items():
        np.testing.assert_array_equal(view, a, err_msg=name)
    return layouts


def _route(monkeypatch):
    """Spy on the kernel's sliced route: returns the list of slice counts it ran with."""
    calls, real = [], fast_conv._conv2d_sliced
    monkeypatch.setattr(fast_conv, "_conv2d_sliced", lambda *a: calls.append(len(a[-1])) or real(*a))
    return calls


def _slices_for(x, w, kwargs):
    """How many row slices the kernel's rule gives this call (1: im2col in one piece)."""
    x4, _, w4, _, geo = textbook_conv._setup("conv2d", x, w, None, kwargs.get("stride", 1),
                                             kwargs.get("padding", 0), kwargs.get("dilation", 1),
                                             kwargs.get("groups", 1))
    return len(fast_conv._row_slices(geo, x4.shape[0], w4[0].size, x.itemsize))


def _run(x, w, b, kwargs, g, *, textbook=False, fn=F.conv2d):
    """Output and gradients of ``fn``, the kernel or (``textbook``) the page's forward."""
    if textbook:
        with F.textbook():
            assert F.dispatch(F.conv2d).forward is F.registration(F.conv2d).forward
            out, backward = F.vjp(fn, x, w, b, **kwargs)
    else:
        out, backward = F.vjp(fn, x, w, b, **kwargs)
    return (out, *backward(g))


def _assert_all_close(got, want, dtype, what):
    for name, a, e in zip(("output", "input grad", "weight grad", "bias grad"), got, want):
        assert a.dtype == dtype, f"{what} {name}: {a.dtype}"
        assert_close(a, e, what=f"{what} {name}", **_tol(dtype))


# route: "sliced" = filters per group <= SLICED_MAX_CHANNELS and several slices; "one slice"
# = few filters, small input; "one gemm" = more filters than the threshold on an input that
# would need slices.
CASES = [
    ("sliced", (6, 3, 24, 24), (4, 3, 5, 5), dict()),
    ("sliced", (12, 4, 30, 26), (6, 2, 3, 3), dict(groups=2, stride=(2, 1), padding=(1, 2), dilation=(1, 2))),
    ("sliced", (3, 64, 64), (2, 3, 5, 5), dict(padding="same")),                     # unbatched
    ("sliced", (8, 2, 40, 40), (3, 2, 4, 4), dict(padding="same", dilation=2)),
    ("one slice", (2, 3, 9, 9), (4, 3, 3, 3), dict(padding=1)),
    ("one slice", (3, 4, 10, 11), (6, 2, 3, 2), dict(stride=(2, 1), padding=(1, 0), groups=2)),
    ("one slice", (3, 7, 8), (2, 3, 5, 5), dict(padding="same")),                     # unbatched
    ("one slice", (5, 2, 6, 11), (3, 2, 1, 1), dict(stride=3)),                       # 1x1 kernel
    ("one slice", (0, 3, 8, 8), (4, 3, 3, 3), dict(padding=1)),                       # empty batch
    ("one gemm", (6, 3, 24, 24), (13, 3, 5, 5), dict()),
    ("one gemm", (8, 8, 40, 40), (26, 4, 5, 5), dict(groups=2, stride=2, padding=2, dilation=2)),
    ("one gemm", (0, 2, 5, 5), (14, 2, 3, 3), dict()),                                # empty batch
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("route,shape,weight,kwargs", CASES)
def test_kernel_equals_textbook_and_loops_on_every_route_and_layout(monkeypatch, route, shape, weight,
                                                                     kwargs, dtype):
    rng = np.random.default_rng(sum(shape) + sum(weight))
    x = rng.standard_normal(shape).astype(dtype)
    w = rng.standard_normal(weight).astype(dtype)
    b = rng.standard_normal(weight[0]).astype(dtype)
    og = weight[0] // kwargs.get("groups", 1)
    slices = _slices_for(x, w, kwargs)
    assert (og <= fast_conv.SLICED_MAX_CHANNELS) == (route != "one gemm")
    assert (slices > 1) == (route != "one slice") or shape[-4:-3] == (0,), slices
    calls = _route(monkeypatch)

    out = F.conv2d(x, w, b, **kwargs)
    g = rng.standard_normal(out.shape).astype(dtype)
    textbook = _run(x, w, b, kwargs, g, textbook=True)
    naive = _run(x, w, b, kwargs, g, fn=conv2d_naive)
    _assert_all_close(textbook, naive, dtype, "textbook vs loops")
    for x_name, x_view in _layouts(x).items():
        for g_name, g_view in _layouts(g).items():
            got = _run(x_view, w, b, kwargs, g_view)
            _assert_all_close(got, textbook, dtype, f"kernel ({x_name} input, {g_name} grad) vs textbook")
    assert calls == ([slices] * len(calls) if route == "sliced" else [])
    # Every kernel call above took the route: the first output, then each layout pair.
    assert len(calls) == (1 + len(_layouts(x)) * len(_layouts(g)) if route == "sliced" else 0)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("route,shape,weight,kwargs", [c for c in CASES if c[1][0] != 0])
def test_kernel_skips_the_input_gradient_and_runs_backward_twice(route, shape, weight, kwargs, dtype):
    rng = np.random.default_rng(7)
    x = _chwn(rng.standard_normal(shape).astype(dtype)) if len(shape) == 4 else rng.standard_normal(shape).astype(dtype)
    w = rng.standard_normal(weight).astype(dtype)
    b = rng.standard_normal(weight[0]).astype(dtype)
    kernel, page = F.kernel_of(F.conv2d), F.registration(F.conv2d).forward
    assert kernel is fast_conv._conv2d_kernel and page is not kernel
    out, backward = kernel(x, w, b, **kwargs)
    ref_out, ref_backward = page(x, w, b, **kwargs)
    g = rng.standard_normal(out.shape).astype(dtype)
    assert_close(out, ref_out, what="output", **_tol(dtype))
    ref = ref_backward(g)
    ref_no_input = ref_backward(g, needs_input_grad=False)
    assert "input" not in ref_no_input
    for name in ("weight", "bias"):
        np.testing.assert_array_equal(ref_no_input[name], ref[name])
    # The kernel's first backward recycles its im2col memory; the second rebuilds it.
    first, second = backward(g), backward(g)
    third = backward(g, needs_input_grad=False)
    assert set(first) == set(second) == {"input", "weight", "bias"} and set(third) == {"weight", "bias"}
    for name in first:
        np.testing.assert_array_equal(second[name], first[name], err_msg=name)
        assert_close(first[name], ref[name], what=name, **_tol(dtype))
    for name in third:
        np.testing.assert_array_equal(third[name], first[name], err_msg=name)
    grads = [first["input"], first["weight"], first["bias"], ref["input"], ref["weight"], ref["bias"]]
    for i, a in enumerate(grads):  # fresh_grads: no gradient shares memory with an argument or another
        for other in grads[i + 1:] + [x, w, b, g]:
            assert not np.shares_memory(a, other)


def test_the_threshold_filters_per_group_is_where_slicing_starts(monkeypatch):
    """Slices pay only for a memory-bound GEMM (few filters): at the threshold sliced, past it one GEMM."""
    monkeypatch.setattr(fast_conv, "SLICE_BYTES", 1)
    calls = _route(monkeypatch)
    rng = np.random.default_rng(24)
    x = rng.standard_normal((2, 10, 12, 12)).astype(np.float32)
    for filters, sliced in ((fast_conv.SLICED_MAX_CHANNELS + 1, False), (fast_conv.SLICED_MAX_CHANNELS, True)):
        w = rng.standard_normal((filters, 10, 5, 5)).astype(np.float32)
        calls.clear()
        out = F.conv2d(x, w)
        assert bool(calls) == sliced
        with F.textbook():
            assert_close(out, F.conv2d(x, w), what=f"{filters} filters", rtol=1e-4, atol=1e-5)


# -- the unsliced routes' input gradient tap by tap, on both sides of TAPWISE_MIN_COLUMNS ----
TAP_CASES = [
    ((3, 2, 9, 7), (14, 2, 3, 3), dict()),
    ((2, 3, 10, 9), (13, 3, 3, 2), dict(stride=(2, 1), padding=(1, 2), dilation=(1, 2))),
    ((3, 7, 8), (13, 3, 5, 5), dict(padding="same")),                                  # unbatched
    ((2, 4, 8, 8), (16, 4, 4, 4), dict(padding="same", dilation=2)),
    ((4, 5, 6, 11), (13, 5, 1, 1), dict(stride=3)),                                    # 1x1 kernel
    ((1, 2, 12, 12), (13, 2, 5, 5), dict(stride=3, padding=2)),                        # batch 1
    ((2, 3, 9, 9), (4, 3, 3, 3), dict(padding=1)),                    # few filters, im2col in one slice
]


def _tap_spy(monkeypatch):
    """Spy on the tap-wise input gradient: returns the list of calls it served."""
    calls, real = [], fast_conv._input_grad_by_tap
    monkeypatch.setattr(fast_conv, "_input_grad_by_tap", lambda *a: calls.append(a[1].shape) or real(*a))
    return calls


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape, weight, kw", TAP_CASES)
def test_input_gradient_tap_by_tap_equals_col2im_textbook_and_loops(monkeypatch, dtype, shape, weight, kw):
    """At the threshold (Ho*Wo*N columns) the input gradient is computed tap by tap, one column
    fewer it is col2im's: both equal the textbook and the loops, for every upstream layout."""
    rng = np.random.default_rng(31)
    x = rng.standard_normal(shape).astype(dtype)
    w = rng.standard_normal(weight).astype(dtype)
    b = rng.standard_normal(weight[0]).astype(dtype)
    assert weight[0] > fast_conv.SLICED_MAX_CHANNELS or _slices_for(x, w, kw) == 1  # not the sliced route
    out = F.conv2d(x, w, b, **kw)
    columns = out.size // weight[0]  # Ho * Wo * N
    g = rng.standard_normal(out.shape).astype(dtype)
    textbook = _run(x, w, b, kw, g, textbook=True)
    _assert_all_close(textbook, _run(x, w, b, kw, g, fn=conv2d_naive), dtype, "textbook vs loops")
    calls = _tap_spy(monkeypatch)
    for threshold, tap_wise in ((columns, True), (columns + 1, False)):
        monkeypatch.setattr(fast_conv, "TAPWISE_MIN_COLUMNS", threshold)
        for x_name, x_view in _layouts(x).items():
            for g_name, g_view in _layouts(g).items():
                calls.clear()
                got = _run(x_view, w, b, kw, g_view)
                assert bool(calls) == tap_wise, (threshold, columns)
                _assert_all_close(got, textbook, dtype,
                                  f"kernel ({'tap-wise' if tap_wise else 'col2im'}, {x_name} input, "
                                  f"{g_name} grad) vs textbook")
                if tap_wise and got[1].ndim == 4:  # lying in memory as the forward's output, (C, H, W, N)
                    assert got[1].transpose(1, 2, 3, 0).flags.c_contiguous


def test_grouped_convs_never_take_the_tap_wise_input_gradient(monkeypatch):
    monkeypatch.setattr(fast_conv, "TAPWISE_MIN_COLUMNS", 0)
    calls = _tap_spy(monkeypatch)
    rng = np.random.default_rng(32)
    x = rng.standard_normal((3, 4, 9, 9)).astype(np.float64)
    w = rng.standard_normal((26, 2, 3, 3)).astype(np.float64)
    out, backward = F.vjp(F.conv2d, x, w, None, groups=2)
    g = rng.standard_normal(out.shape)
    got = backward(g)
    assert calls == []
    with F.textbook():
        ref = F.vjp(F.conv2d, x, w, None, groups=2)[1](g)
    assert_close(got[0], ref[0], what="input grad", **_tol(np.float64))


# -- slice sizes forced small: 1 and 2 output rows per slice ---------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape, weight, kw", [
    ((3, 2, 9, 7), (4, 2, 3, 3), dict()),
    ((2, 4, 10, 9), (6, 2, 3, 2), dict(stride=(2, 1), padding=(1, 2), dilation=(1, 2), groups=2)),
    ((3, 7, 8), (2, 3, 5, 5), dict(padding="same")),           # unbatched
    ((2, 1, 12, 12), (3, 1, 5, 5), dict(stride=3, padding=2)),
])
@pytest.mark.parametrize("rows_per_slice", [1, 2])
def test_conv_in_row_slices_equals_the_oracle_and_the_single_gemm(monkeypatch, dtype, shape, weight, kw,
                                                                  rows_per_slice):
    rng = np.random.default_rng(21)
    x = rng.standard_normal(shape).astype(dtype)
    w = rng.standard_normal(weight).astype(dtype)
    b = rng.standard_normal(weight[0]).astype(dtype)
    tol = dict(rtol=1e-4, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-12)
    calls = _route(monkeypatch)
    results = {}
    for sliced in (True, False):
        n = 1 if len(shape) == 3 else shape[0]
        wo = conv2d_naive(x, w, b, **kw).shape[-1]
        # Bytes of one output row's columns times the rows wanted per slice (or all of them).
        row_bytes = weight[1] * weight[2] * weight[3] * wo * n * x.itemsize
        monkeypatch.setattr(fast_conv, "SLICE_BYTES", row_bytes * rows_per_slice if sliced else 1 << 40)
        out, backward = F.vjp(F.conv2d, x, w, b, **kw)
        g = np.random.default_rng(22).standard_normal(out.shape).astype(dtype)
        results[sliced] = (out, *backward(g))
    assert len(calls) == 1 and calls[0] > 1  # the sliced path ran once, in several slices
    ref_out, ref_backward = F.vjp(conv2d_naive, x, w, b, **kw)
    g = np.random.default_rng(22).standard_normal(ref_out.shape).astype(dtype)
    for got, single, ref, what in zip(results[True], results[False], (ref_out, *ref_backward(g)),
                                      ("output", "input grad", "weight grad", "bias grad")):
        assert got.dtype == dtype
        assert_close(got, ref, what=what, **tol)
        assert_close(got, single, what=what, **tol)


def test_conv_in_row_slices_skips_the_input_gradient_when_not_needed(monkeypatch):
    monkeypatch.setattr(fast_conv, "SLICE_BYTES", 1)
    calls = _route(monkeypatch)
    rng = np.random.default_rng(23)
    layer = nn.Conv2d(1, 3, 5, generator=rng)
    x = rng.standard_normal((4, 1, 12, 12)).astype(np.float32)
    out = layer(x)
    assert calls and calls[0] > 1
    g = rng.standard_normal(out.shape).astype(np.float32)
    assert layer.backward(g, needs_input_grad=False) is None
    ref = F.vjp(conv2d_naive, x, layer.weight.data, layer.bias.data)[1](g)
    assert_close(layer.weight.grad, ref[1], rtol=1e-4, atol=1e-5, what="weight grad")
    assert_close(layer.bias.grad, ref[2], rtol=1e-4, atol=1e-5, what="bias grad")


# -- hypothesis: any geometry ----------------------------------------------------------------
@given(conv_cases())
def test_kernel_equals_textbook_on_drawn_cases(case):
    args, kwargs = case
    out, backward = F.vjp(F.conv2d, *args, **kwargs)
    with F.textbook():
        ref, ref_backward = F.vjp(F.conv2d, *args, **kwargs)
    dtype = args[0].dtype
    assert_close(out, ref, what="output", **_tol(dtype))
    g = np.random.default_rng(1).standard_normal(out.shape).astype(dtype)
    for i, (a, e) in enumerate(zip(backward(g), ref_backward(g))):
        if e is None:
            assert a is None
        else:
            assert_close(a, e, what=f"grad[{i}]", **_tol(dtype))


@given(conv_cases())
def test_textbook_conv2d_matches_torch(case):
    args, kwargs = case
    with F.textbook():
        out, grads = check_op(F.conv2d, TF.conv2d, args, kwargs)
    assert out.dtype == args[0].dtype
    assert all(g is None or g.dtype == a.dtype for g, a in zip(grads, args))


def test_textbook_im2col_is_the_hints_matrix():
    """X_col is (C*kh*kw, N*Ho*Wo): row (c, a, b), column (n, i, j), read from the padded input."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 3, 6, 5))
    x4, _, _, _, geo = textbook_conv._setup("conv2d", x, np.zeros((1, 3, 3, 2)), None, (2, 1), 1, (1, 2), 1)
    cols = textbook_conv.im2col(x4, geo)
    (ho, wo), (kh, kw) = geo.out_hw, geo.kernel
    assert cols.shape == (3 * kh * kw, 2 * ho * wo)
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    for n in range(2):
        for c in range(3):
            for a in range(kh):
                for b in range(kw):
                    for i in range(ho):
                        for j in range(wo):
                            assert cols[(c * kh + a) * kw + b, (n * ho + i) * wo + j] == xp[n, c, 2 * i + a, j + 2 * b]
    # col2im is its adjoint: <im2col(x), Y> == <x, col2im(Y)> for any Y.
    y = rng.standard_normal(cols.shape)
    np.testing.assert_allclose(np.sum(cols * y), np.sum(x * textbook_conv.col2im(y, geo, x.shape)), rtol=1e-12)


# -- layout the kernel hands on, memo ------------------------------------------------------
def _batch_innermost(a):
    """Whether an (N, C, H, W) array lies in memory as (C, H, W, N): samples adjacent,
    then columns, rows and channels (a padded buffer's interior counts too)."""
    s_n, s_c, s_h, s_w = a.strides
    return s_n == a.itemsize and s_w == a.shape[0] * a.itemsize and s_c > s_h > s_w


@pytest.mark.parametrize("padding", [0, 2])
def test_conv_output_is_batch_innermost_and_pools_and_activations_keep_that_layout(padding):
    # The kernel's speed rests on this layout reaching every layer (fast/conv.py's
    # docstring); values never depend on it, which the second half checks.
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 3, 12, 12)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    b = rng.standard_normal(4).astype(np.float32)
    y, conv_backward = F.vjp(F.conv2d, x, w, b, padding=padding)
    assert _batch_innermost(y)
    chain = [(F.tanh, ()), (F.max_pool2d, (2,)), (F.relu, ()), (F.avg_pool2d, (2,))]
    h, backwards = y, []
    for fn, args in chain:
        h, backward = F.vjp(fn, h, *args)
        assert _batch_innermost(h), fn.__name__
        backwards.append(backward)
    g = rng.standard_normal(h.shape).astype(np.float32)
    for backward in reversed(backwards):
        (g,) = [d for d in backward(g) if d is not None][:1]
        assert _batch_innermost(g)
    assert _batch_innermost(conv_backward(g)[0])

    # The same chain on C-ordered copies gives the same numbers, bit for bit.
    h_c = np.ascontiguousarray(y)
    for fn, args in chain:
        h_c = fn(np.ascontiguousarray(h_c), *args)
    np.testing.assert_array_equal(h, h_c)


def test_conv_accepts_any_input_layout_with_the_same_result():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 2, 7, 9))
    w = rng.standard_normal((3, 2, 3, 2))
    g = rng.standard_normal((4, 3, 5, 8))
    ref_out, ref_back = F.vjp(F.conv2d, x, w, stride=1, padding=0)
    for view in (np.asfortranarray(x), np.ascontiguousarray(x.transpose(1, 2, 3, 0)).transpose(3, 0, 1, 2),
                 np.ascontiguousarray(x[:, :, :, ::-1])[:, :, :, ::-1]):
        out, back = F.vjp(F.conv2d, view, w, stride=1, padding=0)
        np.testing.assert_array_equal(out, ref_out)
        for got, want in zip(back(g), ref_back(g)):
            np.testing.assert_array_equal(got, want)


def test_a_memoized_conv_call_gives_what_a_fresh_one_gives():
    rng = np.random.default_rng(3)
    for dtype in DTYPES:
        x = rng.standard_normal((2, 3, 9, 8)).astype(dtype)
        w = rng.standard_normal((4, 3, 3, 3)).astype(dtype)
        g = rng.standard_normal((2, 4, 5, 4)).astype(dtype)
        runs = []
        _memo._MEMO.clear()
        for _ in range(2):  # the second call finds the first one's geometry in the memo
            out, backward = F.vjp(F.conv2d, x, w, None, 2, 1)
            runs.append((out, *backward(g)[:2]))
        assert any(key[0] == "conv2d" for key in _memo._MEMO)
        for a, b in zip(*runs):
            np.testing.assert_array_equal(a, b)
        check_op(F.conv2d, TF.conv2d, (x, w, None, 2, 1))


def test_the_textbook_conv_keeps_no_memo():
    _memo._MEMO.clear()
    x, w = np.zeros((1, 2, 6, 6)), np.zeros((3, 2, 3, 3))
    with F.textbook():
        F.conv2d(x, w)
    assert _memo._MEMO == {}
    F.conv2d(x, w)
    assert len(_memo._MEMO) == 1


# -- LeNet's sparse C3: its kernel against its textbook version -------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,kwargs", [
    ((5, 6, 14, 14), dict()),
    ((3, 6, 11, 12), dict(stride=(2, 1), padding=(2, 1), dilation=(1, 2))),
    ((6, 9, 9), dict(padding="same")),      # unbatched
    ((0, 6, 14, 14), dict()),               # empty batch
])
def test_sparse_conv_kernel_equals_its_textbook_version_and_loops(shape, kwargs, dtype):
    rng = np.random.default_rng(11)
    x = rng.standard_normal(shape).astype(dtype)
    w = rng.standard_normal((60, 5, 5)).astype(dtype)
    b = rng.standard_normal(16).astype(dtype)
    assert F.kernel_of(sparse_conv2d) is not None
    out = sparse_conv2d(x, w, b, LECUN_C3_TABLE, **kwargs)
    g = rng.standard_normal(out.shape).astype(dtype)
    with F.textbook():
        page_out, page_backward = F.vjp(sparse_conv2d, x, w, b, LECUN_C3_TABLE, **kwargs)
        page = (page_out, *page_backward(g)[:3])
    naive_out, naive_backward = F.vjp(sparse_conv2d_naive, x, w, b, LECUN_C3_TABLE, **kwargs)
    _assert_all_close(page, (naive_out, *naive_backward(g)[:3]), dtype, "textbook vs loops")
    for x_name, x_view in _layouts(x).items():
        for g_name, g_view in (("C", g), ("chwn", _chwn(g) if g.ndim == 4 else g)):
            got_out, backward = F.vjp(sparse_conv2d, x_view, w, b, LECUN_C3_TABLE, **kwargs)
            _assert_all_close((got_out, *backward(g_view)[:3]), page, dtype,
                              f"sparse kernel ({x_name} input, {g_name} grad) vs textbook")
    kernel, textbook = F.kernel_of(sparse_conv2d), F.registration(sparse_conv2d).forward
    for forward in (kernel, textbook):
        _, backward = forward(x, w, b, LECUN_C3_TABLE, **kwargs)
        skipped = backward(g, needs_input_grad=False)
        assert set(skipped) == {"weight", "bias"}
        assert_close(skipped["weight"], page[2], what="weight grad", **_tol(dtype))


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("route,shape,weight,kwargs", [c for c in CASES if c[1][0] != 0])
def test_kernel_equals_textbook_with_non_finite_values_and_a_non_contiguous_weight(route, shape, weight,
                                                                                   kwargs, dtype):
    """inf, -inf and nan planted in the input, the weight and the upstream gradient land in
    the same places (with the same signs) in the kernel's results as in the textbook's."""
    rng = np.random.default_rng(13)
    x = rng.standard_normal(shape).astype(dtype)
    w = np.asfortranarray(rng.standard_normal(weight).astype(dtype))
    b = rng.standard_normal(weight[0]).astype(dtype)
    for a, values in ((x, (np.inf, -np.inf, np.nan)), (w, (np.inf,))):
        flat = a.reshape(-1, order="A")
        flat[rng.choice(flat.size, size=len(values), replace=False)] = values
    out = F.conv2d(x, w, b, **kwargs)
    g = rng.standard_normal(out.shape).astype(dtype)
    g.reshape(-1)[rng.choice(g.size, size=2, replace=False)] = (np.inf, np.nan)
    with F.textbook():
        ref_out, ref_backward = F.vjp(F.conv2d, x, w, b, **kwargs)
    got_out, backward = F.vjp(F.conv2d, x, w, b, **kwargs)
    for got, want, what in zip((got_out, *backward(g)), (ref_out, *ref_backward(g)),
                               ("output", "input grad", "weight grad", "bias grad")):
        for mask in (np.isnan, np.isposinf, np.isneginf):
            np.testing.assert_array_equal(mask(got), mask(want), err_msg=f"{what} {mask.__name__}")
        assert_close(got, want, what=what, **_tol(dtype))
    # Not vacuous: the output and the input gradient hold both finite and non-finite values.
    for a in (got_out, backward(g)[0]):
        assert np.isfinite(a).any() and not np.isfinite(a).all()
