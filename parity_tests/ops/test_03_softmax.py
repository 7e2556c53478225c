"""softmax and log_softmax against torch.

What this file proves, in order:

1. torch parity, forward and backward, at any rank and dim; the ``dtype`` argument;
   torch's implicit dim (and its warning); huge and infinite logits; empty and 0-d input;
   a backward that is not trivially zero; finite differences; bad input (integers, a dim
   out of range, a non-float dtype) refused.
2. empty shapes and non-finite values (NaN, +-inf) in the input and in the upstream
   gradient: torch's answer or torch's refusal (the shared checks of ``edge_cases.py``).
"""
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import given, strategies as st

import scratchnet.functional as F
import edge_cases as edge
from helpers import check_fd, check_op, check_raises
from scratchnet.testing.strategies import shape_and_dim

OPS = [(F.softmax, TF.softmax), (F.log_softmax, TF.log_softmax)]
IDS = ["softmax", "log_softmax"]
dtypes = st.sampled_from([np.float32, np.float64])


@pytest.mark.parametrize("np_fn,torch_fn", OPS, ids=IDS)
@given(sd=shape_and_dim(), seed=st.integers(0, 2**32 - 1), dtype=dtypes,
       scale=st.sampled_from([0.1, 1.0, 10.0, 1e4]))
def test_matches_torch(np_fn, torch_fn, sd, seed, dtype, scale):
    shape, dim = sd
    x = np.asarray(np.random.default_rng(seed).standard_normal(shape) * scale).astype(dtype)
    out, _ = check_op(np_fn, torch_fn, [x, dim], seed=seed)
    assert isinstance(out, np.ndarray) and out.dtype == dtype


@pytest.mark.parametrize("np_fn,torch_fn", OPS, ids=IDS)
@given(sd=shape_and_dim(min_rank=1), seed=st.integers(0, 2**32 - 1))
def test_dtype_argument_casts_before_the_op(np_fn, torch_fn, sd, seed):
    """``dtype=float64`` on float32 input: float64 output, float32 input gradient."""
    shape, dim = sd
    x = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    out, grads = check_op(np_fn, torch_fn, [x, dim], dict(dtype=np.float64),
                          torch_kwargs=dict(dtype=torch.float64), seed=seed)
    assert out.dtype == np.float64 and grads[0].dtype == np.float32


@pytest.mark.parametrize("np_fn,torch_fn", OPS, ids=IDS)
def test_integer_input_with_dtype(np_fn, torch_fn):
    x = np.array([[1, 2, 3], [0, 0, 9]])
    ours = np_fn(x, 1, dtype=np.float64)
    ref = torch_fn(torch.from_numpy(x), 1, dtype=torch.float64).numpy()
    np.testing.assert_allclose(ours, ref, rtol=1e-15)


@pytest.mark.parametrize("np_fn,torch_fn", OPS, ids=IDS)
@pytest.mark.parametrize("rank", [0, 1, 2, 3, 4])
def test_implicit_dim_follows_torch_and_warns(np_fn, torch_fn, rank):
    x = np.random.default_rng(rank).standard_normal((2, 3, 4, 5)[:rank])
    with pytest.warns(UserWarning, match="Implicit dimension choice"):
        ours = np_fn(x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = torch_fn(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(ours, ref, rtol=1e-12)


@pytest.mark.parametrize("np_fn,torch_fn", OPS, ids=IDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_huge_and_infinite_logits(np_fn, torch_fn, dtype):
    """1e30 and -inf logits stay finite where torch's do; +inf or all -inf rows are NaN as torch."""
    inf = np.inf
    x = np.array([
        [1e30, -1e30, 2.0, 0.0],
        [1e4, -1e4, 1e4 - 1, 0.0],
        [-inf, 1.0, 2.0, -inf],
        [-1e30, -1e30, -1e30, -1e30],
        [inf, 1.0, 2.0, 3.0],
        [-inf, -inf, -inf, -inf],
    ], dtype=dtype)
    with np.errstate(over="raise", divide="raise", invalid="raise"):  # none leak out of the op
        out, grads = check_op(np_fn, torch_fn, [x, 1], seed=4)
    assert np.all(np.isfinite(out[:2])) and np.all(np.isfinite(grads[0][:4]))
    assert np.all(np.isnan(out[4:]))


@pytest.mark.parametrize("np_fn,torch_fn", OPS, ids=IDS)
@pytest.mark.parametrize("shape,dim",
                         [((3, 0), 1), ((0, 4), 1), ((0, 4), 0), ((2, 0, 3), -1), ((0,), 0)])
def test_empty(np_fn, torch_fn, shape, dim):
    check_op(np_fn, torch_fn, [np.zeros(shape), dim])


@pytest.mark.parametrize("np_fn,torch_fn", OPS, ids=IDS)
def test_zero_dim(np_fn, torch_fn):
    out, grads = check_op(np_fn, torch_fn, [np.array(3.5), -1], seed=2)
    assert out.shape == () and isinstance(out, np.ndarray)


def test_backward_is_not_trivially_zero():
    """With an all-ones upstream gradient softmax's backward is exactly 0; a random one is not."""
    x = np.array([[1.0, 2.0, 3.0]])
    _, backward = F.vjp(F.softmax, x, 1)
    np.testing.assert_allclose(backward(np.ones_like(x))[0], 0.0, atol=1e-15)
    g = np.array([[1.0, 0.0, 0.0]])
    s = F.softmax(x, 1)
    np.testing.assert_allclose(backward(g)[0], s * (g - s[0, 0]), rtol=1e-14)  # s_i (g_i - <g, s>)


@pytest.mark.parametrize("np_fn", [F.softmax, F.log_softmax], ids=IDS)
@pytest.mark.parametrize("shape,dim", [((4, 6), 1), ((4, 6), 0), ((2, 3, 4), -2), ((5,), 0)])
def test_finite_differences(np_fn, shape, dim):
    x = np.random.default_rng(1).standard_normal(shape) * 2
    check_fd(np_fn, [x, dim])


@pytest.mark.parametrize("np_fn,torch_fn", OPS, ids=IDS)
def test_rejects_integer_input(np_fn, torch_fn):
    check_raises(np_fn, torch_fn, [np.arange(4).reshape(2, 2), 1])


@pytest.mark.parametrize("np_fn,torch_fn", OPS, ids=IDS)
@pytest.mark.parametrize("shape,dim", [((2, 3), 2), ((2, 3), -3), ((), 1), ((4,), -2)])
def test_rejects_dim_out_of_range(np_fn, torch_fn, shape, dim):
    err = check_raises(np_fn, torch_fn, [np.zeros(shape), dim])
    assert isinstance(err, IndexError) and "out of range" in str(err)


@pytest.mark.parametrize("np_fn", [F.softmax, F.log_softmax], ids=IDS)
def test_rejects_non_float_dtype_argument(np_fn):
    with pytest.raises(TypeError, match=np_fn.__name__):
        np_fn(np.zeros((2, 2)), 1, dtype=np.int64)


# ======================================================================== empty shapes
EMPTY_SHAPE_CASES = {
    "softmax": edge.unary(F.softmax, TF.softmax, with_dim=True),
    "log_softmax": edge.unary(F.log_softmax, TF.log_softmax, with_dim=True),
}


@pytest.mark.parametrize("case", sorted(EMPTY_SHAPE_CASES))
@given(data=st.data())
def test_zero_size_dimensions_follow_torch(case, data):
    edge.zero_size_dimensions_follow_torch(*data.draw(EMPTY_SHAPE_CASES[case]))


# =================================================================== non-finite values
NON_FINITE_CASES = {
    "softmax": edge.non_finite_unary(F.softmax, TF.softmax, with_dim=True),
    "log_softmax": edge.non_finite_unary(F.log_softmax, TF.log_softmax, with_dim=True),
}


@pytest.mark.parametrize("case", sorted(NON_FINITE_CASES))
@given(**edge.NON_FINITE_DRAWS)
def test_non_finite_forward_and_backward_match_torch(case, seed, density, grad_density, dtype):
    edge.non_finite_forward_and_backward_match_torch(NON_FINITE_CASES[case], seed, density,
                                                     grad_density, dtype)


@pytest.mark.parametrize("np_fn,torch_fn", OPS, ids=IDS)
@pytest.mark.parametrize("dtype", [None, np.float64])
def test_the_implicit_dim_warning_names_the_callers_line(np_fn, torch_fn, dtype):
    """As torch's: the warning points at the line that called the op, with or without dtype."""
    x = np.ones((2, 3))
    with pytest.warns(UserWarning, match="Implicit dimension choice") as record:
        np_fn(x, dtype=dtype)
    assert record[0].filename == __file__


@pytest.mark.parametrize("np_fn,torch_fn", OPS, ids=IDS)
@pytest.mark.parametrize("bad", [[1.0, 2.0], np.array([1 + 2j]), np.array(["a"]), np.array([None])],
                         ids=["list", "complex", "strings", "objects"])
def test_a_dtype_cast_takes_only_arrays_of_numbers(np_fn, torch_fn, bad):
    with pytest.raises(TypeError, match=rf"{np_fn.__name__}: input must be a NumPy array of numbers"):
        np_fn(bad, 0, dtype=np.float64)
