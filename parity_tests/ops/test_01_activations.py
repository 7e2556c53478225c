"""relu, sigmoid, tanh and logsigmoid, the lectures' activations, against torch.

What this file proves, in order:

1. torch parity, forward and backward, on random shapes, dtypes and scales; the extremes
   and kinks (ReLU at exactly 0, sigmoid and tanh at +-400); finite differences; bad input
   (integers) refused; the dtype kept.
2. empty shapes and non-finite values (NaN, +-inf) in the input and in the upstream
   gradient: torch's answer (the shared checks of ``edge_cases.py``); ReLU's backward is a
   ``where``, not a product with a mask, in place or not.
"""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import given, strategies as st

import scratchnet.functional as F
import edge_cases as edge
from helpers import assert_close, check_fd, check_op, check_raises
from scratchnet.testing.strategies import LAYOUTS, in_layout
from scratchnet.testing.strategies import elementwise_shapes as shapes

ACTIVATIONS = [
    (F.relu, TF.relu),
    (F.sigmoid, torch.sigmoid),
    (F.tanh, torch.tanh),
    (F.logsigmoid, TF.logsigmoid),
]
IDS = [a.__name__ for a, _ in ACTIVATIONS]


@pytest.mark.parametrize("np_fn,torch_fn", ACTIVATIONS, ids=IDS)
@given(shape=shapes, seed=st.integers(0, 2**32 - 1), dtype=st.sampled_from([np.float32, np.float64]),
       scale=st.sampled_from([0.1, 1.0, 30.0, 400.0]))
def test_matches_torch(np_fn, torch_fn, shape, seed, dtype, scale):
    x = np.asarray(np.random.default_rng(seed).standard_normal(shape) * scale).astype(dtype)
    check_op(np_fn, torch_fn, [x], seed=seed)


@pytest.mark.parametrize("np_fn,torch_fn", ACTIVATIONS, ids=IDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_extremes_and_kinks(np_fn, torch_fn, dtype):
    """±400 saturates without overflow warnings; the derivative at exactly 0 is torch's."""
    x = np.array([-400.0, -88.0, -30.0, -1e-30, 0.0, 1e-30, 30.0, 88.0, 400.0], dtype=dtype)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        out, grads = check_op(np_fn, torch_fn, [x], seed=3)
    assert np.all(np.isfinite(out)) and np.all(np.isfinite(grads[0]))


def test_relu_gradient_at_zero_is_zero():
    out, backward = F.vjp(F.relu, np.array([0.0, -0.0, 1.0]))
    np.testing.assert_array_equal(backward(np.array([7.0, 8.0, 9.0]))[0], [0.0, 0.0, 9.0])


def test_relu_inplace_overwrites_input_and_keeps_gradient():
    x = np.array([-1.0, 0.5, 2.0])
    out, backward = F.vjp(F.relu, x, inplace=True)
    assert out is x
    np.testing.assert_array_equal(x, [0.0, 0.5, 2.0])
    np.testing.assert_array_equal(backward(np.array([1.0, 2.0, 3.0]))[0], [0.0, 2.0, 3.0])


def test_saturated_values():
    assert 0.0 < F.sigmoid(np.array([-400.0]))[0] < 1e-170  # float64 still resolves it
    assert F.sigmoid(np.array([400.0]))[0] == 1.0
    np.testing.assert_allclose(F.logsigmoid(np.array([-400.0])), [-400.0], rtol=1e-15)
    assert -1e-170 < F.logsigmoid(np.array([400.0]))[0] < 0.0


@pytest.mark.parametrize("np_fn", [a for a, _ in ACTIVATIONS], ids=IDS)
def test_finite_differences(np_fn):
    rng = np.random.default_rng(11)
    x = rng.standard_normal((3, 7)) * 3
    x[np.abs(x) < 1e-3] = 0.5  # keep relu's kink out of the difference quotient
    check_fd(np_fn, [x])


@pytest.mark.parametrize("np_fn,torch_fn", ACTIVATIONS, ids=IDS)
def test_rejects_integer_input(np_fn, torch_fn):
    with pytest.raises(TypeError, match=np_fn.__name__):
        np_fn(np.arange(3))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_preserved(dtype):
    x = np.linspace(-3, 3, 7).astype(dtype)
    for fn, _ in ACTIVATIONS:
        out, backward = F.vjp(fn, x)
        assert out.dtype == dtype and backward(np.ones_like(x) * 0.3)[0].dtype == dtype


# ======================================================================== empty shapes
EMPTY_SHAPE_CASES = {
    "relu": edge.unary(F.relu, TF.relu),
    "sigmoid": edge.unary(F.sigmoid, torch.sigmoid),
    "tanh": edge.unary(F.tanh, torch.tanh),
    "logsigmoid": edge.unary(F.logsigmoid, TF.logsigmoid),
}


@pytest.mark.parametrize("case", sorted(EMPTY_SHAPE_CASES))
@given(data=st.data())
def test_zero_size_dimensions_follow_torch(case, data):
    edge.zero_size_dimensions_follow_torch(*data.draw(EMPTY_SHAPE_CASES[case]))


# =================================================================== non-finite values
NON_FINITE_CASES = {
    "relu": edge.non_finite_unary(F.relu, TF.relu),
    "sigmoid": edge.non_finite_unary(F.sigmoid, torch.sigmoid),
    "tanh": edge.non_finite_unary(F.tanh, torch.tanh),
    "logsigmoid": edge.non_finite_unary(F.logsigmoid, TF.logsigmoid),
}


@pytest.mark.parametrize("case", sorted(NON_FINITE_CASES))
@given(**edge.NON_FINITE_DRAWS)
def test_non_finite_forward_and_backward_match_torch(case, seed, density, grad_density, dtype):
    edge.non_finite_forward_and_backward_match_torch(NON_FINITE_CASES[case], seed, density,
                                                     grad_density, dtype)


def test_relu_backward_is_a_where():
    x = np.array([-1.0, 0.0, -0.0, np.nan, 2.0, np.inf, -np.inf])
    g = np.array([np.inf, np.nan, -np.inf, 3.0, 4.0, np.nan, np.inf])
    _, (gx,) = edge.grads(F.relu, [x], g)
    tx = torch.tensor(x, requires_grad=True)
    torch.relu(tx).backward(torch.tensor(g))
    assert_close(gx, tx.grad.numpy(), rtol=0, atol=0, what="relu grad")
    np.testing.assert_array_equal(gx[:3], 0.0)  # x <= 0: exactly 0 whatever g holds
    assert gx[3] == 3.0  # a NaN input passes the gradient


def test_relu_inplace_backward_matches_too():
    x = np.array([-1.0, np.nan, 0.0, 5.0])
    g = np.array([np.inf, 2.0, np.nan, 1.0])
    _, (gx,) = edge.grads(F.relu, [x.copy()], g, inplace=True)
    np.testing.assert_array_equal(gx, [0.0, 2.0, 0.0, 1.0])


# ------------------------------------------------ the tuned kernels against this page's code
@pytest.mark.parametrize("op", [F.relu, F.sigmoid, F.tanh])
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(), (1,), (3, 4, 5)])
@pytest.mark.parametrize("finite", [True, False], ids=["finite-grad", "inf-nan-grad"])
def test_kernel_equals_textbook_bit_for_bit(op, layout, dtype, shape, finite):
    """Both sides of relu's route (a product for a finite gradient, a select otherwise) and
    sigmoid's and tanh's scratch-array backwards give exactly the textbook's numbers."""
    assert F.kernel_of(op) is not None
    rng = np.random.default_rng(7)
    x = (rng.standard_normal(shape) * 3).astype(dtype)
    if x.size:
        x.flat[0] = 0.0  # relu at exactly 0
    g = rng.standard_normal(shape).astype(dtype)
    if not finite and g.size:
        g.flat[0], g.flat[-1] = np.inf, np.nan
    x, g = in_layout(np.asarray(x), layout), in_layout(np.asarray(g), layout)
    out_k, back_k = F.vjp(op, x)
    with F.textbook():
        out_t, back_t = F.vjp(op, x)
    np.testing.assert_array_equal(out_k, out_t)
    (gk,), (gt,) = back_k(g), back_t(g)
    assert gk.dtype == gt.dtype == dtype
    np.testing.assert_array_equal(gk, gt)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("shape", [(), (0, 3), (1,), (3, 4, 5), (2, 1, 3, 4)])
@pytest.mark.parametrize("limit", [None, 10], ids=["shared-buffer", "past-the-limit"])
def test_relu_kernel_zeros_are_read_only_zeros_in_the_inputs_layout(layout, shape, limit, monkeypatch):
    """relu's kernel takes its maximum against zeros_in_layout(x): zeros of x's shape laid out
    as x (a 0-d zero past ZEROS_MAX_ELEMENTS), never written, the output in x's layout."""
    from scratchnet.functional.fast import _layout
    if limit is not None:
        monkeypatch.setattr(_layout, "ZEROS_MAX_ELEMENTS", limit)
    x = in_layout(np.random.default_rng(8).standard_normal(shape), layout)
    zeros = _layout.zeros_in_layout(x)
    assert not zeros.flags.writeable and zeros.dtype == x.dtype and not zeros.any()
    if limit is not None and x.size > limit:
        assert zeros.shape == ()
    else:
        assert zeros.shape == x.shape
        long_axes = [a for a in range(x.ndim) if x.shape[a] > 1]
        by_stride = lambda a: sorted(long_axes, key=lambda i: -abs(a.strides[i]))
        assert by_stride(zeros) == by_stride(x)
    out_k, back_k = F.vjp(F.relu, x)
    with F.textbook():
        out_t, _ = F.vjp(F.relu, x)
    np.testing.assert_array_equal(out_k, out_t)
    assert out_k.strides == np.maximum(x, 0.0).strides  # the textbook's layout (order K)
    inplace = x.copy()
    F.relu(inplace, inplace=True)
    np.testing.assert_array_equal(inplace, out_t)
    assert not _layout.zeros_in_layout(x).any()  # the shared zeros are still zeros


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_sigmoid_kernel_forward_equals_textbook_at_the_extremes(dtype, layout):
    """sigmoid's kernel computes its own forward: the same value, sign and NaN at saturation,
    at both zeros, at the float's limits and past exp's overflow."""
    edges = np.array([-np.inf, -400.0, -104.0, -88.7, -30.0, -1e-30, -0.0, 0.0, 1e-30, 16.7, 30.0,
                      88.8, 400.0, np.inf, np.nan, np.finfo(dtype).max, -np.finfo(dtype).max,
                      np.finfo(dtype).tiny], dtype=dtype)
    x = in_layout(np.tile(edges, (2, 1)), layout)
    out_k, _ = F.vjp(F.sigmoid, x)
    with F.textbook():
        out_t, _ = F.vjp(F.sigmoid, x)
    assert out_k.dtype == out_t.dtype == dtype and out_k.shape == out_t.shape
    np.testing.assert_array_equal(out_k, out_t)
    np.testing.assert_array_equal(np.signbit(out_k), np.signbit(out_t))
