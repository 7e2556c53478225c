"""conv2d against torch (forward and backward), finite differences, the naive loop oracle,
torch's errors, and the lectures' identities."""
import contextlib
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, strategies as st

import scratchnet.functional as F
from scratchnet.functional.conv import conv2d_naive

from helpers import assert_close, check_fd, check_op, check_raises, randn
from scratchnet.testing.strategies import conv_cases

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
