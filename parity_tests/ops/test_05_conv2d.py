"""conv2d, the lectures' convolution, against torch and against itself.

What this file proves, in order:

1. torch parity, forward and backward, on hypothesis-drawn calls; finite differences; the
   naive loop oracle; torch's errors on bad input; the lectures' identities.
2. readable == fast: the tuned kernel (functional/fast/conv.py) equals the textbook conv2d
   and the loops on every route of the kernel, on both sides of its threshold: one GEMM
   (more than ``SLICED_MAX_CHANNELS`` filters per group), im2col in one slice, im2col in
   several slices (inputs large enough that ``_row_slices`` returns more than one); with
   inputs and upstream gradients in every layout the kernel treats differently
   (batch-innermost CHWN memory, as a previous conv leaves it, C order, Fortran order,
   transposed, step-sliced, negative strides), groups, dilation, stride, padding, 'same',
   unbatched input, empty batches, ``needs_input_grad=False`` and a second backward (the
   kernel recycles its im2col memory); the unsliced routes' input gradient tap by tap
   and through col2im (both sides of ``TAPWISE_MIN_COLUMNS`` and ``TAPWISE_MIN_CHANNELS``).
   The textbook conv2d is also checked against torch on its own. The same for LeNet's
   sparse C3 kernel.
3. empty shapes and non-finite values (NaN, +-inf) in every argument and in the upstream
   gradient: torch's answer or torch's refusal (the shared checks of ``edge_cases.py``).
4. ``needs_input_grad=False``: no input gradient, the same parameter gradients.
5. the kernels' memoized argument checks (conv2d's and the pools'): a memoized call gives
   what a fresh one gives, and a bad argument after a valid call still fails.
"""
from __future__ import annotations

import contextlib
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, strategies as st

import scratchnet.functional as F
from scratchnet import nn
from scratchnet.functional import conv as textbook_conv
from scratchnet.functional.conv import conv2d_naive
from scratchnet.functional.fast import _memo, conv as fast_conv
from scratchnet.functional.sparse_conv import sparse_conv2d, sparse_conv2d_naive
from scratchnet.models import LECUN_C3_TABLE
from scratchnet.testing.strategies import conv_cases

import edge_cases as edge
from helpers import assert_close, check_fd, check_op, check_raises, randn

TF = torch.nn.functional

# torch warns that 'same' with an even kernel pads a copy of the input; that is the case under test.
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same':UserWarning")


@pytest.mark.parametrize("forward", ["kernel", "textbook"])
@given(conv_cases())
def test_conv2d_matches_torch(forward, case):
    # The op runs its tuned kernel by default; F.textbook() runs the page's im2col + GEMM.
    args, kwargs = case
    with F.textbook() if forward == "textbook" else contextlib.nullcontext():
        out, grads = check_op(F.conv2d, TF.conv2d, args, kwargs)
    assert out.dtype == args[0].dtype
    assert all(g.dtype == a.dtype for g, a in zip(grads, args))


@given(conv_cases(max_batch=2, max_channels=2, max_kernel=3))
def test_conv2d_fast_equals_naive(case):
    args, kwargs = case
    out, backward = F.vjp(F.conv2d, *args, **kwargs)
    ref, ref_backward = F.vjp(conv2d_naive, *args, **kwargs)
    tol = dict(rtol=1e-10, atol=1e-12) if args[0].dtype == np.float64 else dict(rtol=1e-5, atol=1e-6)
    assert_close(out, ref, what="conv2d output", **tol)
    g = np.random.default_rng(1).standard_normal(out.shape).astype(out.dtype)
    for i, (a, b) in enumerate(zip(backward(g), ref_backward(g))):
        assert_close(a, b, what=f"conv2d grad[{i}]", **tol)


@pytest.mark.parametrize("kwargs", [
    dict(),
    dict(stride=2, padding=1),
    dict(stride=(2, 1), padding=(2, 1), dilation=(2, 1)),
    dict(padding="same", dilation=2),
    dict(groups=2, padding=1),
])
@pytest.mark.parametrize("fn,textbook", [(F.conv2d, False), (F.conv2d, True), (conv2d_naive, False)],
                         ids=["kernel", "textbook", "naive"])
def test_conv2d_finite_differences(fn, textbook, kwargs):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 4, 6, 5))
    w = rng.standard_normal((4, 4 // kwargs.get("groups", 1), 3, 2))
    b = rng.standard_normal(4)
    with F.textbook() if textbook else contextlib.nullcontext():
        check_fd(fn, (x, w, b), kwargs)


@pytest.mark.parametrize("fn", [F.conv2d, conv2d_naive], ids=["fast", "naive"])
def test_conv2d_naive_matches_torch_too(fn):
    rng = np.random.default_rng(4)
    x, w, b = randn(rng, (2, 6, 7, 6)), randn(rng, (9, 2, 3, 3)), randn(rng, (9,))
    check_op(fn, TF.conv2d, (x, w, b), dict(stride=(1, 2), padding=(2, 1), dilation=(1, 2), groups=3))


# ----------------------------------------------------------------------------- edge cases


@pytest.mark.parametrize("kernel", [(2, 2), (4, 3), (2, 5)])
@pytest.mark.parametrize("dilation", [1, 2, (1, 3)])
def test_same_padding_even_kernels_pad_bottom_right(kernel, dilation):
    rng = np.random.default_rng(5)
    x, w = randn(rng, (2, 3, 7, 8)), randn(rng, (2, 3) + kernel)
    out, _ = check_op(F.conv2d, TF.conv2d, (x, w), dict(padding="same", dilation=dilation))
    assert out.shape[2:] == x.shape[2:]
    # 'same' == explicit asymmetric zero padding, the extra row/column after the input.
    dh, dw = (dilation, dilation) if isinstance(dilation, int) else dilation
    th, tw = dh * (kernel[0] - 1), dw * (kernel[1] - 1)
    xp = np.pad(x, ((0, 0), (0, 0), (th // 2, th - th // 2), (tw // 2, tw - tw // 2)))
    np.testing.assert_allclose(out, F.conv2d(xp, w, dilation=dilation), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("groups,cin,cout", [(4, 4, 4), (4, 4, 8), (3, 6, 3)])
def test_depthwise_and_grouped(groups, cin, cout):
    rng = np.random.default_rng(6)
    for dtype in (np.float64, np.float32):
        x, w, b = randn(rng, (3, cin, 6, 6), dtype), randn(rng, (cout, cin // groups, 3, 3), dtype), randn(rng, (cout,), dtype)
        check_op(F.conv2d, TF.conv2d, (x, w, b), dict(groups=groups, padding=1))


def test_unbatched_and_empty_batch():
    rng = np.random.default_rng(7)
    w, b = randn(rng, (5, 3, 3, 3)), randn(rng, (5,))
    out, grads = check_op(F.conv2d, TF.conv2d, (randn(rng, (3, 6, 6)), w, b), dict(padding=1))
    assert out.shape == (5, 6, 6) and grads[0].shape == (3, 6, 6)
    out, grads = check_op(F.conv2d, TF.conv2d, (randn(rng, (0, 3, 6, 6)), w, b), {})
    assert out.shape == (0, 5, 4, 4)
    np.testing.assert_array_equal(grads[1], 0)
    np.testing.assert_array_equal(grads[2], 0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_lecture_shapes_keep_dtype(dtype):
    rng = np.random.default_rng(8)
    for xs, ws, pad in [((4, 1, 28, 28), (10, 1, 5, 5), 0), ((4, 10, 12, 12), (20, 10, 5, 5), 0),
                        ((4, 1, 28, 28), (6, 1, 5, 5), 2), ((4, 6, 14, 14), (16, 6, 5, 5), 0)]:
        args = (randn(rng, xs, dtype), randn(rng, ws, dtype, 0.2), randn(rng, ws[:1], dtype))
        out, grads = check_op(F.conv2d, TF.conv2d, args, dict(padding=pad))
        assert out.dtype == dtype and all(g.dtype == dtype for g in grads)


def test_non_contiguous_input():
    rng = np.random.default_rng(9)
    x = randn(rng, (6, 6, 3, 2)).transpose(3, 2, 0, 1)  # (2, 3, 6, 6), no contiguous axis
    w = randn(rng, (3, 3, 3, 4)).transpose(0, 1, 3, 2)
    check_op(F.conv2d, TF.conv2d, (x, w), dict(stride=2, padding=1))
    check_op(F.conv2d, TF.conv2d, (x, w), dict(padding=1))


# ----------------------------------------------------------------------------- errors


def _x(*shape, dtype=np.float32):
    return np.zeros(shape, dtype=dtype)


@pytest.mark.parametrize("args,kwargs,match", [
    ((_x(1, 2, 4, 4), _x(3, 2, 3)), {}, "4-D"),
    ((_x(4, 4), _x(3, 2, 3, 3)), {}, "3-D"),
    ((_x(1, 3, 4, 4), _x(3, 2, 3, 3)), {}, "3 channels"),
    ((_x(1, 4, 4, 4), _x(3, 2, 3, 3)), dict(groups=2), "multiple of groups"),
    ((_x(1, 2, 4, 4), _x(0, 2, 3, 3)), {}, "output channels"),
    ((_x(1, 2, 4, 4), _x(3, 2, 5, 5)), {}, "can't be greater"),
    ((_x(1, 2, 4, 4), _x(3, 2, 3, 3)), dict(dilation=2), "can't be greater"),
    ((_x(1, 2, 0, 4), _x(3, 2, 1, 1)), {}, "can't be greater"),
    ((_x(1, 2, 4, 4), _x(3, 2, 3, 3)), dict(stride=0), "stride"),
    ((_x(1, 2, 4, 4), _x(3, 2, 3, 3)), dict(stride=(1, 0)), "stride"),
    ((_x(1, 2, 4, 4), _x(3, 2, 3, 3)), dict(padding=-1), "padding"),
    ((_x(1, 2, 4, 4), _x(3, 2, 3, 3)), dict(padding=(1, 2, 3)), "padding"),
    ((_x(1, 2, 4, 4), _x(3, 2, 3, 3)), dict(padding="full"), "padding"),
    ((_x(1, 2, 4, 4), _x(3, 2, 3, 3)), dict(padding="same", stride=2), "strided"),
    ((_x(1, 2, 4, 4), _x(3, 2, 3, 3)), dict(dilation=0), "dilation"),
    ((_x(1, 2, 4, 4), _x(3, 2, 3, 3)), dict(groups=0), "groups"),
    ((_x(1, 2, 4, 4), _x(3, 2, 3, 3), _x(4)), {}, "bias"),
    ((_x(1, 2, 4, 4), _x(3, 2, 3, 3), _x(3, 1)), {}, "bias"),
    ((_x(1, 2, 4, 4), _x(3, 2, 3, 3, dtype=np.float64)), {}, "dtype"),
    ((_x(1, 2, 4, 4), _x(3, 2, 3, 3), _x(3, dtype=np.float64)), {}, "dtype"),
])
@pytest.mark.parametrize("fn", [F.conv2d, conv2d_naive], ids=["fast", "naive"])
def test_conv2d_rejects_what_torch_rejects(fn, args, kwargs, match):
    check_raises(fn, TF.conv2d, args, kwargs, match=match)


@pytest.mark.parametrize("dtype", [np.int64, np.int32, bool])
def test_conv2d_rejects_non_float_input(dtype):
    # torch runs integer convolutions on the CPU; scratchnet keeps to float32/float64.
    with pytest.raises(TypeError, match="conv2d.*float32 or float64"):
        F.conv2d(np.zeros((1, 2, 4, 4), dtype=dtype), _x(3, 2, 3, 3))
    with pytest.raises(TypeError, match="conv2d.*weight"):
        F.conv2d(_x(1, 2, 4, 4), np.zeros((3, 2, 3, 3), dtype=dtype))


def test_conv2d_rejects_an_input_without_channels():
    # torch answers with an empty (N, 0, H_out, W_out) tensor, which matches neither the
    # weight's C_out nor the bias-only result of an empty sum; scratchnet refuses.
    with pytest.raises(ValueError, match="conv2d: input of shape .2, 0, 4, 4. has no channels"):
        F.conv2d(_x(2, 0, 4, 4), _x(3, 0, 3, 3), _x(3))


# ----------------------------------------------------------------------------- lectures


def test_1x1_conv_turns_rgb_into_grayscale():
    rng = np.random.default_rng(10)
    rgb = rng.random((2, 3, 5, 7))
    w = np.array([0.299, 0.587, 0.114]).reshape(1, 3, 1, 1)
    gray = F.conv2d(rgb, w)
    expected = 0.299 * rgb[:, 0] + 0.587 * rgb[:, 1] + 0.114 * rgb[:, 2]
    np.testing.assert_allclose(gray[:, 0], expected, rtol=1e-14)
    check_op(F.conv2d, TF.conv2d, (rgb, w), {})


def test_difference_kernels_compute_finite_differences():
    rng = np.random.default_rng(11)
    x = rng.standard_normal((1, 1, 6, 7))
    horizontal = np.array([-1.0, 1.0]).reshape(1, 1, 1, 2)
    vertical = np.array([-1.0, 1.0]).reshape(1, 1, 2, 1)
    np.testing.assert_allclose(F.conv2d(x, horizontal)[0, 0], x[0, 0, :, 1:] - x[0, 0, :, :-1], rtol=1e-14)
    np.testing.assert_allclose(F.conv2d(x, vertical)[0, 0], x[0, 0, 1:, :] - x[0, 0, :-1, :], rtol=1e-14)


@pytest.mark.parametrize("stride,padding,expected", [(1, 0, 3), (1, 1, 5), (2, 0, 2), (2, 1, 3), (3, 1, 2)])
def test_output_size_formula_on_5x5_image_with_3x3_kernel(stride, padding, expected):
    assert (5 + 2 * padding - 3) // stride + 1 == expected
    out = F.conv2d(np.ones((1, 1, 5, 5)), np.ones((1, 1, 3, 3)), stride=stride, padding=padding)
    assert out.shape == (1, 1, expected, expected)


def test_conv_of_ones_counts_window_pixels():
    # With zero padding, a ones-kernel counts how many real pixels each window covers.
    out = F.conv2d(np.ones((1, 1, 5, 5)), np.ones((1, 1, 3, 3)), padding=1)[0, 0]
    expected = np.full((5, 5), 9.0)
    expected[[0, -1], :] = 6
    expected[:, [0, -1]] = 6
    expected[[0, 0, -1, -1], [0, -1, 0, -1]] = 4
    np.testing.assert_array_equal(out, expected)


def test_public_op_returns_only_the_output():
    out = F.conv2d(_x(1, 2, 4, 4), _x(3, 2, 3, 3))
    assert isinstance(out, np.ndarray) and out.shape == (1, 3, 2, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        F.conv2d(_x(1, 2, 4, 4), _x(3, 2, 2, 2), padding="same")


def test_backward_twice_gives_the_same_gradients():
    # The kernel's backward recycles the saved im2col columns; a second call must rebuild them.
    rng = np.random.default_rng(12)
    for kwargs in (dict(padding=1), dict(stride=2, groups=2)):
        x, w, b = randn(rng, (2, 4, 7, 7)), randn(rng, (6, 4 // kwargs.get("groups", 1), 3, 3)), randn(rng, (6,))
        out, backward = F.vjp(F.conv2d, x, w, b, **kwargs)
        g = randn(rng, out.shape)
        first = backward(g)
        second = backward(g)
        for a, c in zip(first, second):
            np.testing.assert_array_equal(a, c)
        np.testing.assert_array_equal(out, F.conv2d(x, w, b, **kwargs))


# =========================== the tuned kernel equals the textbook conv2d and the loops
DTYPES = [np.float32, np.float64]


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


@pytest.fixture(autouse=True)
def _slices_fit_in_l2(monkeypatch):
    """Every test here sees a machine whose L2 holds slices (where few filters always take
    the sliced route), whatever this one's: the routes below are then the same everywhere.
    ``test_few_filter_convs_are_sliced_where_the_caches_make_it_pay`` runs the other kind."""
    monkeypatch.setitem(fast_conv._L2, "bytes", fast_conv.SLICE_MIN_L2_BYTES)


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


_FEW_FILTER_BYTES = 25 * 8 * 8 * 3 * 4  # the im2col matrix below: K = 25, 8x8 outputs, batch 3, float32


@pytest.mark.parametrize("l2,whole_max,sliced", [
    (fast_conv.SLICE_MIN_L2_BYTES, None, True),          # an L2 that holds slices: always
    (2 * _FEW_FILTER_BYTES, None, True),                 # a smaller one: while the matrix is at most half of it
    (2 * _FEW_FILTER_BYTES - 1, None, False),            # past that, one GEMM over the whole matrix...
    (2 * _FEW_FILTER_BYTES - 1, _FEW_FILTER_BYTES, False),
    (2 * _FEW_FILTER_BYTES - 1, _FEW_FILTER_BYTES - 1, True),  # ...up to WHOLE_MAX_BYTES
    (None, None, False),                                 # an L2 that sysfs does not tell
])
def test_few_filter_convs_are_sliced_where_the_caches_make_it_pay(monkeypatch, l2, whole_max, sliced):
    """The L2 probe and the matrix's size decide the few-filter route; both routes equal the
    textbook conv2d."""
    monkeypatch.setattr(fast_conv, "_L2", {})
    monkeypatch.setattr(fast_conv, "l2_bytes", lambda: l2)
    if whole_max is not None:
        monkeypatch.setattr(fast_conv, "WHOLE_MAX_BYTES", whole_max)
    monkeypatch.setattr(fast_conv, "SLICE_BYTES", 1)
    calls = _route(monkeypatch)
    rng = np.random.default_rng(26)
    x = rng.standard_normal((3, 1, 12, 12)).astype(np.float32)
    w = rng.standard_normal((fast_conv.SLICED_MAX_CHANNELS, 1, 5, 5)).astype(np.float32)
    b = rng.standard_normal(w.shape[0]).astype(np.float32)
    g = rng.standard_normal((3, w.shape[0], 8, 8)).astype(np.float32)
    want = _run(x, w, b, {}, g, textbook=True)
    got = _run(x, w, b, {}, g)
    assert fast_conv.slices_pay(_FEW_FILTER_BYTES) is sliced and bool(calls) == sliced
    _assert_all_close(got, want, np.float32, f"L2 {l2}")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_every_conv_is_sliced_past_the_column_bytes_threshold(monkeypatch, dtype):
    """Many filters per group normally mean one GEMM; a whole im2col matrix past
    SLICED_MIN_BYTES (an evaluation batch of 1000) is sliced all the same. At the
    threshold one GEMM, one byte past it slices, and both equal the textbook conv2d."""
    monkeypatch.setattr(fast_conv, "SLICE_BYTES", 1)
    calls = _route(monkeypatch)
    rng = np.random.default_rng(25)
    x = rng.standard_normal((3, 10, 12, 12)).astype(dtype)
    w = rng.standard_normal((fast_conv.SLICED_MAX_CHANNELS + 8, 10, 5, 5)).astype(dtype)
    b = rng.standard_normal(w.shape[0]).astype(dtype)
    column_bytes = 10 * 5 * 5 * 8 * 8 * 3 * x.itemsize
    g = rng.standard_normal((3, w.shape[0], 8, 8)).astype(dtype)
    want = _run(x, w, b, {}, g, textbook=True)
    for limit, sliced in ((column_bytes, False), (column_bytes - 1, True)):
        monkeypatch.setattr(fast_conv, "SLICED_MIN_BYTES", limit)
        calls.clear()
        got = _run(x, w, b, {}, g)
        assert bool(calls) == sliced, (limit, calls)
        _assert_all_close(got, want, dtype, f"limit {limit}")


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
    """At both thresholds (Ho*Wo*N columns, C input channels) the input gradient is computed
    tap by tap, one column or one channel fewer it is col2im's: both equal the textbook and
    the loops, for every upstream layout."""
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
    channels = x.shape[-3]
    for threshold, min_channels, tap_wise in ((columns, channels, True), (columns + 1, channels, False),
                                              (columns, channels + 1, False)):
        monkeypatch.setattr(fast_conv, "TAPWISE_MIN_COLUMNS", threshold)
        monkeypatch.setattr(fast_conv, "TAPWISE_MIN_CHANNELS", min_channels)
        for x_name, x_view in _layouts(x).items():
            for g_name, g_view in _layouts(g).items():
                calls.clear()
                got = _run(x_view, w, b, kw, g_view)
                assert bool(calls) == tap_wise, (threshold, columns, min_channels, channels)
                _assert_all_close(got, textbook, dtype,
                                  f"kernel ({'tap-wise' if tap_wise else 'col2im'}, {x_name} input, "
                                  f"{g_name} grad) vs textbook")
                if tap_wise and got[1].ndim == 4:  # lying in memory as the forward's output, (C, H, W, N)
                    assert got[1].transpose(1, 2, 3, 0).flags.c_contiguous


@pytest.mark.parametrize("dtype", DTYPES)
def test_tap_wise_input_gradient_on_the_lecture_shapes_is_fresh_and_repeatable(monkeypatch, dtype):
    """With the default thresholds the basic CNN's conv2 (10 channels) at batch 16 takes the
    tap-wise input gradient and LeNet-5's C3 (6 channels) does not; a second backward gives
    the same numbers and no gradient shares memory with anything."""
    calls = _tap_spy(monkeypatch)
    rng = np.random.default_rng(33)
    for shape, weight, tap_wise in (((16, 10, 12, 12), (20, 10, 5, 5), True),
                                    ((16, 6, 14, 14), (16, 6, 5, 5), False)):
        x = _chwn(rng.standard_normal(shape).astype(dtype))
        w = rng.standard_normal(weight).astype(dtype)
        b = rng.standard_normal(weight[0]).astype(dtype)
        calls.clear()
        out, backward = fast_conv._conv2d_kernel(x, w, b)
        g = _chwn(rng.standard_normal(out.shape).astype(dtype))
        first, second = backward(g), backward(g)
        assert len(calls) == (2 if tap_wise else 0)
        with F.textbook():
            ref = F.vjp(F.conv2d, x, w, b)[1](g)
        for name, want in zip(("input", "weight", "bias"), ref):
            np.testing.assert_array_equal(second[name], first[name], err_msg=name)
            assert_close(first[name], want, what=f"{name} grad", **_tol(dtype))
        grads = [first["input"], first["weight"], first["bias"], second["input"]]
        for i, a in enumerate(grads):
            for other in grads[i + 1:] + [x, w, b, g, out]:
                assert not np.shares_memory(a, other)


def test_grouped_convs_never_take_the_tap_wise_input_gradient(monkeypatch):
    monkeypatch.setattr(fast_conv, "TAPWISE_MIN_COLUMNS", 0)
    monkeypatch.setattr(fast_conv, "TAPWISE_MIN_CHANNELS", 1)
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


# ======================================================================== empty shapes
@st.composite
def conv_case(draw, np_fn=F.conv2d):
    n, c, o = draw(edge.sizes), draw(edge.sizes), draw(edge.sizes)
    k = draw(st.integers(1, 2))
    h, w = draw(edge.sizes), draw(edge.sizes)
    rng, dtype = np.random.default_rng(draw(st.integers(0, 2**16))), draw(edge.dtypes)
    shape = (c, h, w) if draw(st.integers(0, 4)) == 0 else (n, c, h, w)  # unbatched too
    args = [edge.normal(rng, shape, dtype), edge.normal(rng, (o, c, k, k), dtype)]
    if draw(st.booleans()):
        args.append(edge.normal(rng, (o,), dtype))
    return np_fn, TF.conv2d, args, dict(padding=draw(st.integers(0, 1))), None


EMPTY_SHAPE_CASES = {
    "conv2d": conv_case(),
    "conv2d_naive": conv_case(conv2d_naive),
}


@pytest.mark.parametrize("case", sorted(EMPTY_SHAPE_CASES))
@given(data=st.data())
def test_zero_size_dimensions_follow_torch(case, data):
    edge.zero_size_dimensions_follow_torch(*data.draw(EMPTY_SHAPE_CASES[case]))


# =================================================================== non-finite values
def _conv(rng, dtype, np_fn=F.conv2d):
    groups = int(rng.integers(1, 3))
    n, k = int(rng.integers(1, 3)), int(rng.integers(1, 3))
    c, o = groups * int(rng.integers(1, 3)), groups * int(rng.integers(1, 3))
    args = [edge.normal(rng, (n, c, 5, 5), dtype), edge.normal(rng, (o, c // groups, k, k), dtype),
            edge.normal(rng, (o,), dtype)]
    kwargs = dict(stride=int(rng.integers(1, 3)), padding=int(rng.integers(0, 2)),
                  dilation=int(rng.integers(1, 3)), groups=groups)
    return dict(np_fn=np_fn, torch_fn=edge.conv2d_reference, args=args, kwargs=kwargs, poison=[0, 1, 2])


NON_FINITE_CASES = {
    "conv2d": _conv,
    # The loop-by-loop oracle must agree with torch on non-finite input too.
    "conv2d_naive": lambda rng, dtype: _conv(rng, dtype, conv2d_naive),
}


@pytest.mark.parametrize("case", sorted(NON_FINITE_CASES))
@given(**edge.NON_FINITE_DRAWS)
def test_non_finite_forward_and_backward_match_torch(case, seed, density, grad_density, dtype):
    edge.non_finite_forward_and_backward_match_torch(NON_FINITE_CASES[case], seed, density,
                                                     grad_density, dtype)


# ==================================================================== needs_input_grad
@pytest.mark.parametrize("fn,args", [
    (F.conv2d, [(3, 2, 7, 7), (4, 2, 3, 3), (4,)]),
])
def test_op_backward_can_skip_the_input_gradient(fn, args):
    rng = np.random.default_rng(1)
    arrays = [rng.standard_normal(s) for s in args]
    out, backward = F.registration(fn).forward(*arrays)
    g = rng.standard_normal(out.shape)
    full = backward(g)
    part = backward(g, needs_input_grad=False)
    assert "input" in full and "input" not in part
    for k in part:
        np.testing.assert_array_equal(part[k], full[k])
    assert F.registration(fn).honors_needs_input_grad
    assert not F.registration(F.relu).honors_needs_input_grad


# ============================================================ memoized argument checks
def test_a_memoized_conv_or_pool_call_gives_what_a_fresh_one_gives():
    from scratchnet.functional.fast import _memo

    rng = np.random.default_rng(3)
    for dtype in DTYPES:
        x = rng.standard_normal((2, 3, 9, 8)).astype(dtype)
        w = rng.standard_normal((4, 3, 3, 3)).astype(dtype)
        g = rng.standard_normal((2, 4, 5, 4)).astype(dtype)
        runs = []
        _memo._MEMO.clear()
        for _ in range(2):  # the second call finds the first one's geometry in the memo
            out, backward = F.vjp(F.conv2d, x, w, None, 2, 1)
            pooled, pool_backward = F.vjp(F.max_pool2d, x, 3, 2, 1)
            runs.append((out, *backward(g)[:2], pooled, pool_backward(np.ones_like(pooled))[0]))
        assert any(key[0] == "conv2d" for key in _memo._MEMO)
        for a, b in zip(*runs):
            np.testing.assert_array_equal(a, b)
        check_op(F.conv2d, torch.nn.functional.conv2d, (x, w, None, 2, 1))


@pytest.mark.parametrize("bad", [1.0, True, np.float64(1.0), [1, 1]])
def test_a_bad_argument_after_a_memoized_valid_call_still_fails(bad):
    x = np.zeros((1, 2, 6, 6), np.float32)
    w = np.zeros((3, 2, 3, 3), np.float32)
    F.conv2d(x, w, None, 1)
    F.max_pool2d(x, 2, 1)
    if isinstance(bad, list):  # a list is a valid pair but not memoizable: computed afresh
        assert F.conv2d(x, w, None, bad).shape == (1, 3, 4, 4)
        assert F.max_pool2d(x, 2, bad).shape == (1, 2, 5, 5)
        return
    with pytest.raises(TypeError, match="conv2d: stride must be an int or a pair of ints"):
        F.conv2d(x, w, None, bad)
    with pytest.raises(TypeError, match="max_pool2d: stride must be an int or a pair of ints"):
        F.max_pool2d(x, 2, bad)
    with pytest.raises(TypeError, match="conv2d: expected all floating-point arguments to share one dtype"):
        F.conv2d(x.astype(np.float64), w, None, 1)


def test_the_memo_starts_over_when_full(monkeypatch):
    from scratchnet.functional.fast import _memo

    monkeypatch.setattr(_memo, "MEMO_LIMIT", 4)
    _memo._MEMO.clear()
    for size in range(4, 12):
        F.max_pool2d(np.zeros((1, 1, size, size), np.float32), 2)
        F.conv2d(np.zeros((1, 1, size, size), np.float32), np.zeros((1, 1, 3, 3), np.float32))
        assert 1 <= len(_memo._MEMO) <= 4
    _memo._MEMO.clear()
