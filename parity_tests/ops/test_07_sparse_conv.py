"""sparse_conv2d (LeNet-5's sparse C3) against torch, its per-map oracle and finite differences.

torch has no sparse convolution; its reference here is the definition itself: one
``conv2d`` per output map over the input maps it reads, concatenated.
"""
import numpy as np
import pytest
import torch
from hypothesis import given, strategies as st

import scratchnet.functional as F
from scratchnet.functional.sparse_conv import sparse_conv2d, sparse_conv2d_naive
from scratchnet.models import LECUN_C3_TABLE

from helpers import assert_close, check_fd, check_op, randn

TF = torch.nn.functional


def torch_sparse_conv2d(input, weight, bias, table, stride=1, padding=0, dilation=1):
    outs, start = [], 0
    for j, inputs in enumerate(table):
        kernels = weight[start:start + len(inputs)].unsqueeze(0)
        start += len(inputs)
        b = None if bias is None else bias[j:j + 1]
        outs.append(TF.conv2d(input[..., list(inputs), :, :], kernels, b, stride, padding, dilation))
    return torch.cat(outs, dim=-3)


@st.composite
def sparse_cases(draw, max_channels=4, max_maps=5):
    """A valid sparse_conv2d call: (x, w, b, table, kwargs) on small shapes."""
    c_in = draw(st.integers(1, max_channels))
    table = [tuple(draw(st.permutations(range(c_in)))[:draw(st.integers(1, c_in))])
             for _ in range(draw(st.integers(1, max_maps)))]
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    stride = draw(st.one_of(st.integers(1, 2), st.tuples(st.integers(1, 2), st.integers(1, 2))))
    dilation = draw(st.one_of(st.just(1), st.tuples(st.integers(1, 2), st.integers(1, 2))))
    padding = draw(st.one_of(st.integers(0, 2), st.tuples(st.integers(0, 1), st.integers(0, 2)),
                             st.just("valid"), st.just("same") if stride in (1, (1, 1)) else st.just(0)))
    dh, dw = (dilation, dilation) if isinstance(dilation, int) else dilation
    h = draw(st.integers(dh * (kh - 1) + 1, 7))  # the kernel fits even without padding
    w = draw(st.integers(dw * (kw - 1) + 1, 7))
    batch = draw(st.integers(0, 3))
    unbatched = draw(st.booleans())
    shape = (c_in, h, w) if unbatched else (batch, c_in, h, w)
    bias = draw(st.booleans())
    seed = draw(st.integers(0, 2**16))
    return dict(c_in=c_in, table=table, kernel=(kh, kw), shape=shape, bias=bias, seed=seed,
                kwargs=dict(stride=stride, padding=padding, dilation=dilation))


def _arrays(case, dtype, scale=1.0):
    rng = np.random.default_rng(case["seed"])
    n_conn = sum(len(t) for t in case["table"])
    x = randn(rng, case["shape"], dtype, scale)
    w = randn(rng, (n_conn,) + case["kernel"], dtype)
    b = randn(rng, (len(case["table"]),), dtype) if case["bias"] else None
    return x, w, b


@pytest.mark.filterwarnings("ignore:Using padding='same':UserWarning")
@given(case=sparse_cases())
def test_matches_torch_float64(case):
    x, w, b = _arrays(case, np.float64)
    check_op(sparse_conv2d, torch_sparse_conv2d, (x, w, b, case["table"]), case["kwargs"],
             seed=case["seed"])


@pytest.mark.filterwarnings("ignore:Using padding='same':UserWarning")
@given(case=sparse_cases())
def test_matches_torch_float32(case):
    x, w, b = _arrays(case, np.float32, scale=10.0)
    check_op(sparse_conv2d, torch_sparse_conv2d, (x, w, b, case["table"]), case["kwargs"],
             rtol=1e-4, atol=1e-5, seed=case["seed"])


@given(case=sparse_cases())
def test_fast_path_equals_the_per_map_oracle(case):
    x, w, b = _arrays(case, np.float64)
    args = (x, w, b, case["table"])
    out, backward = F.vjp(sparse_conv2d, *args, **case["kwargs"])
    ref, ref_backward = F.vjp(sparse_conv2d_naive, *args, **case["kwargs"])
    np.testing.assert_allclose(out, ref, rtol=1e-12, atol=1e-12)
    g = np.random.default_rng(case["seed"] + 1).standard_normal(out.shape)
    for got, want in zip(backward(g), ref_backward(g)):
        assert (got is None) == (want is None)
        if got is not None:
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("fn", [sparse_conv2d, sparse_conv2d_naive])
@pytest.mark.parametrize("kwargs", [dict(), dict(stride=2, padding=1), dict(padding="same", dilation=2)])
def test_finite_differences(fn, kwargs):
    rng = np.random.default_rng(3)
    table = [(0, 2), (1,), (2, 0, 1)]
    x, w, b = rng.standard_normal((2, 3, 5, 6)), rng.standard_normal((6, 3, 2)), rng.standard_normal(3)
    check_fd(fn, (x, w, b, table), kwargs)


def test_lenet_c3_matches_torch_and_skips_the_input_gradient_on_request():
    rng = np.random.default_rng(4)
    x, w, b = rng.standard_normal((5, 6, 14, 14)), rng.standard_normal((60, 5, 5)), rng.standard_normal(16)
    check_op(sparse_conv2d, torch_sparse_conv2d, (x, w, b, LECUN_C3_TABLE))
    out, backward = F.registration(sparse_conv2d).forward(x, w, b, LECUN_C3_TABLE)
    g = rng.standard_normal(out.shape)
    full, part = backward(g), backward(g, needs_input_grad=False)
    assert "input" in full and "input" not in part
    for k in part:
        np.testing.assert_array_equal(part[k], full[k])


def test_lecture_example_and_an_unread_input_map():
    """Map 1 feeds no output: its gradient is zero, the others' as by hand."""
    x = np.array([[[[1.0, 2.0]], [[5.0, 6.0]], [[3.0, 4.0]]]])  # (1, 3, 1, 2)
    w = np.array([[[2.0]], [[1.0]], [[10.0]]])                  # connections (0,0), (1,0), (1,2)
    out, backward = F.vjp(sparse_conv2d, x, w, np.array([0.5, -1.0]), [(0,), (0, 2)])
    np.testing.assert_array_equal(out, [[[[2.5, 4.5]], [[30.0, 41.0]]]])
    gx, gw, gb, gt = backward(np.array([[[[1.0, 2.0]], [[3.0, 4.0]]]]))
    np.testing.assert_array_equal(gx, [[[[2 + 3, 4 + 4]], [[0.0, 0.0]], [[30.0, 40.0]]]])
    np.testing.assert_array_equal(gw, [[[1 + 4.0]], [[3 + 8.0]], [[9 + 16.0]]])
    np.testing.assert_array_equal(gb, [3.0, 7.0])
    assert gt is None


def test_fresh_gradients_and_a_second_backward():
    rng = np.random.default_rng(5)
    x, w = rng.standard_normal((2, 3, 4, 4)), rng.standard_normal((4, 3, 3))
    out, backward = F.vjp(sparse_conv2d, x, w, None, [(0, 1), (2, 1)])
    g = rng.standard_normal(out.shape)
    first, second = backward(g), backward(g)
    for a, b in zip(first, second):
        if a is not None:
            np.testing.assert_array_equal(a, b)
            assert not np.shares_memory(a, b) and not np.shares_memory(a, g)


@pytest.mark.parametrize("args,kwargs,match", [
    (((2, 3, 6, 6), (5, 3, 3), (2,), [(0, 1), (1, 2, 3)]), {},
     r"sparse_conv2d: output map 1 must see distinct input maps in \[0, 3\), got \(1, 2, 3\) "
     r"\(input of shape \(2, 3, 6, 6\)\)"),
    (((2, 3, 6, 6), (4, 3, 3), None, [(0, 1), (1, 1)]), {}, r"output map 1 must see distinct"),
    (((2, 3, 6, 6), (2, 3, 3), None, [(0, 1), ()]), {}, r"output map 1 must see distinct"),
    (((2, 3, 6, 6), (0, 3, 3), None, []), {}, r"at least one output map"),
    (((2, 3, 6, 6), (4, 3, 3), None, [(0, 1), (1, 2, 0)]), {},
     r"weight must be 3-D \(n_connections, kH, kW\) .* \(5, kH, kW\) here, got \(4, 3, 3\)"),
    (((2, 3, 6, 6), (1, 3, 3, 3), None, [(0, 1, 2)]), {}, r"weight must be 3-D"),
    (((2, 3, 6, 6), (3, 3, 3), (3,), [(0, 1), (2,)]), {}, r"bias must have shape \(2,\)"),
    (((2, 3, 6, 6), (3, 7, 7), None, [(0, 1), (2,)]), {}, r"kernel size can't be greater"),
    (((2, 3, 6, 6), (3, 3, 3), None, [(0, 1), (2,)]), dict(stride=0), r"stride must be positive"),
    (((2, 3, 6, 6), (3, 3, 3), None, [(0, 1), (2,)]), dict(padding="same", stride=2), r"not supported"),
    (((3, 6, 6, 2, 1), (3, 3, 3), None, [(0, 1), (2,)]), {}, r"expected a 3-D .* or 4-D"),
])
def test_bad_input_is_rejected_with_the_op_and_shapes(args, kwargs, match):
    x_shape, w_shape, b_shape, table = args
    x, w = np.zeros(x_shape), np.zeros(w_shape)
    b = None if b_shape is None else np.zeros(b_shape)
    with pytest.raises(ValueError, match=match):
        sparse_conv2d(x, w, b, table, **kwargs)


def test_bad_types_are_rejected():
    x, w = np.zeros((1, 2, 4, 4)), np.zeros((2, 3, 3))
    with pytest.raises(TypeError, match=r"sparse_conv2d: input must be float32 or float64, got dtype int64"):
        sparse_conv2d(np.zeros((1, 2, 4, 4), np.int64), w, None, [(0, 1)])
    with pytest.raises(TypeError, match="share one dtype"):
        sparse_conv2d(x.astype(np.float32), w, None, [(0, 1)])
    with pytest.raises(TypeError, match=r"table must be a sequence of sequences of ints"):
        sparse_conv2d(x, w, None, [(0.0, 1)])
    with pytest.raises(TypeError, match=r"table must be a sequence of sequences of ints"):
        sparse_conv2d(x, w, None, 3)
