"""linear and flatten against torch; the lecture's 320-vs-100 shape error."""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import given, strategies as st

import scratchnet.functional as F
from helpers import check_fd, check_op, check_raises


@given(lead=st.lists(st.integers(0, 4), max_size=3).map(tuple), fin=st.integers(1, 9),
       fout=st.integers(1, 9), bias=st.booleans(), dtype=st.sampled_from([np.float32, np.float64]),
       seed=st.integers(0, 2**32 - 1))
def test_linear_matches_torch(lead, fin, fout, bias, dtype, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(lead + (fin,)).astype(dtype)
    w = rng.standard_normal((fout, fin)).astype(dtype)
    args = [x, w] + ([rng.standard_normal(fout).astype(dtype)] if bias else [])
    check_op(F.linear, TF.linear, args, seed=seed)


def test_linear_bias_by_keyword_lands_in_slot_two():
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal((4, 3)), rng.standard_normal((2, 3)), rng.standard_normal(2)
    out, backward = F.vjp(F.linear, x, w, bias=b)
    g = rng.standard_normal((4, 2))
    np.testing.assert_allclose(backward(g)[2], g.sum(0))
    assert len(backward(g)) == 3


def test_linear_vector_weight():
    rng = np.random.default_rng(1)
    check_op(F.linear, TF.linear, [rng.standard_normal((5, 3)), rng.standard_normal(3)])
    check_op(F.linear, TF.linear, [rng.standard_normal(3), rng.standard_normal(3), rng.standard_normal(())])
    check_raises(F.linear, TF.linear, [rng.standard_normal((5, 3)), rng.standard_normal(3), rng.standard_normal(())])


@pytest.mark.parametrize("bshape", [(1,), (1, 4), (5, 4)])
def test_linear_broadcast_bias(bshape):
    rng = np.random.default_rng(4)
    check_op(F.linear, TF.linear, [rng.standard_normal((5, 3)), rng.standard_normal((4, 3)), rng.standard_normal(bshape)])


def test_linear_none_bias_gets_none_gradient():
    rng = np.random.default_rng(2)
    _, grads = check_op(F.linear, TF.linear, [rng.standard_normal((2, 3)), rng.standard_normal((4, 3)), None])
    assert grads[2] is None


def test_linear_finite_differences():
    rng = np.random.default_rng(3)
    check_fd(F.linear, [rng.standard_normal((2, 3, 4)), rng.standard_normal((5, 4)), rng.standard_normal(5)])


def test_lecture_shape_error_names_both_shapes():
    """The lecture's flatten-size bug: 320 features into a layer built for 100."""
    x = np.zeros((64, 320), np.float32)
    w = np.zeros((10, 100), np.float32)
    err = check_raises(F.linear, TF.linear, [x, w])
    assert "(64, 320)" in str(err) and "(10, 100)" in str(err)


@pytest.mark.parametrize("args", [
    [np.zeros((2, 3)), np.zeros((4, 5))],
    [np.zeros((2, 3)), np.zeros((4, 3)), np.zeros(5)],
    [np.zeros((2, 3), np.float32), np.zeros((4, 3), np.float64)],
    [np.zeros((2, 3)), np.zeros((1, 4, 3))],
], ids=["features", "bias", "dtype", "weight-rank"])
def test_linear_rejects(args):
    check_raises(F.linear, TF.linear, args)


@given(shape=st.lists(st.integers(0, 4), min_size=0, max_size=5).map(tuple), data=st.data())
def test_flatten_matches_torch(shape, data):
    nd = max(len(shape), 1)
    s = data.draw(st.integers(-nd, nd - 1))
    e = data.draw(st.integers(-nd, nd - 1))
    x = np.asarray(np.random.default_rng(len(shape)).standard_normal(shape))
    if (s % nd) > (e % nd):
        check_raises(F.flatten, torch.flatten, [x, s, e])
    else:
        check_op(F.flatten, torch.flatten, [x, s, e])


def test_flatten_lecture_320():
    assert F.flatten(np.zeros((64, 20, 4, 4), np.float32), 1).shape == (64, 320)
