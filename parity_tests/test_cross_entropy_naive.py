"""cross_entropy_naive, the lectures' formula, against the fast cross_entropy and torch.

The naive reference covers the lectures' case (2-D logits, class-index targets, the
mean); on it, it must give the fast op's loss and gradient, forward and backward, in
float32 and float64, for random upstream gradients, and torch's. Anything else is
refused with an error naming the op and pointing to ``cross_entropy``.
"""
import numpy as np
import pytest
import torch.nn.functional as TF
from hypothesis import given, strategies as st

import scratchnet.functional as F
from scratchnet.functional.loss import cross_entropy_naive

from helpers import TOL, assert_close, check_fd, check_op


@st.composite
def lecture_case(draw):
    """Logits ``(N, C)`` (N = 0 included, large and tiny scales) and class indices."""
    n, c = draw(st.integers(0, 6)), draw(st.integers(1, 10))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    dtype = np.dtype(draw(st.sampled_from([np.float32, np.float64])))
    scale = draw(st.sampled_from([1.0, 1.0, 1e-3, 30.0, 1e4]))
    x = np.asarray(rng.standard_normal((n, c)) * scale).astype(dtype)
    return x, rng.integers(0, c, n), rng


@given(case=lecture_case())
def test_naive_equals_fast(case):
    x, t, rng = case
    out, backward = F.vjp(cross_entropy_naive, x, t)
    ref, ref_backward = F.vjp(F.cross_entropy, x, t)
    tol = TOL[x.dtype]
    assert_close(out, ref, **tol, what="loss")
    g = np.asarray(rng.standard_normal(), dtype=x.dtype)  # a random upstream gradient
    gx, gt = backward(g)
    assert gt is None
    assert_close(gx, ref_backward(g)[0], **tol, what="grad input")


@given(case=lecture_case())
def test_naive_matches_torch(case):
    x, t, rng = case
    check_op(cross_entropy_naive, TF.cross_entropy, [x, t], seed=int(rng.integers(2**31)))


def test_naive_finite_differences():
    rng = np.random.default_rng(3)
    check_fd(cross_entropy_naive, [rng.standard_normal((4, 5)), rng.integers(0, 5, 4)])


def test_backward_is_softmax_minus_one_hot():
    """The lectures' identity, element by element: dL/dz = (s - y) g / N."""
    z = np.array([[2.0, 1.0, 0.1], [0.5, 2.5, -1.0]])
    y = np.array([0, 2])
    s = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    out, backward = F.vjp(cross_entropy_naive, z, y)
    np.testing.assert_allclose(out, -np.log(s[[0, 1], y]).mean(), rtol=1e-15)
    one_hot = np.eye(3)[y]
    np.testing.assert_allclose(backward(np.array(3.0))[0], 3.0 * (s - one_hot) / 2, rtol=1e-14)


def test_float32_stays_float32_and_huge_logits_stay_finite():
    x = np.array([[1e4, 0.0, -1e4], [0.0, 1e30, 0.0]], dtype=np.float32)
    out, backward = F.vjp(cross_entropy_naive, x, np.array([0, 2]))
    assert out.dtype == np.float32 and out.shape == ()
    np.testing.assert_allclose(out, F.cross_entropy(x, np.array([0, 2])), rtol=1e-6)
    assert backward(np.float32(1.0))[0].dtype == np.float32


@pytest.mark.parametrize("kwargs,error,words", [
    (dict(reduction="sum"), ValueError, "reduction='mean'"),
    (dict(reduction="none"), ValueError, "reduction='mean'"),
    (dict(weight=np.ones(3)), ValueError, "class weights"),
    (dict(label_smoothing=0.1), ValueError, "label_smoothing"),
    (dict(size_average=False), ValueError, "size_average"),
    (dict(input=np.zeros(3), target=np.array(1)), ValueError, "2-D logits"),
    (dict(input=np.zeros((2, 3, 4)), target=np.zeros((2, 4), int)), ValueError, "2-D logits"),
    (dict(target=np.eye(3)[[0, 1]]), TypeError, "class indices"),
    (dict(target=np.array([0, 1, 2])), ValueError, "shape (2,)"),
    (dict(target=np.array([0, 3])), IndexError, "out of bounds"),
    (dict(target=np.array([0, -100])), IndexError, "ignore_index"),
])
def test_outside_the_lectures_case_is_refused_clearly(kwargs, error, words):
    args = dict(input=np.zeros((2, 3)), target=np.array([0, 1]))
    args.update(kwargs)
    with pytest.raises(error) as info:
        cross_entropy_naive(**args)
    assert "cross_entropy_naive" in str(info.value) and words in str(info.value), info.value
    if error is ValueError and "target" not in kwargs and "input" not in kwargs:
        assert "cross_entropy has it" in str(info.value)
