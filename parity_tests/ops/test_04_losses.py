"""cross_entropy, nll_loss, mse_loss and binary_cross_entropy_with_logits against torch.

What this file proves, in order:

1. torch parity, forward and backward: hypothesis draws the shapes (unbatched, N = 0 and
   1, K extra dims), the options (weights, ignore_index present or not and possibly a real
   class, label smoothing, probability targets, broadcast weights) and the dtypes; finite
   differences; huge and -inf logits, every target ignored; torch's legacy arguments and
   warnings; torch's errors on bad input.
2. class-index targets of every dtype: torch takes int64 (and uint8) class indices and
   refuses bool, float and the other integer dtypes. scratchnet also takes every other
   integer dtype, since NumPy labels come in all widths, but only when every value
   converts to int64 exactly: a uint64 value above 2**63 - 1 would wrap (2**64 - 100
   becomes -100, the default ``ignore_index``, and its sample would silently leave the
   loss), so it is refused with the value named.
3. ``cross_entropy_naive``, the lectures' formula: on the lectures' case (2-D logits,
   class-index targets, the mean) it gives the fast op's loss and gradient and torch's,
   in float32 and float64, for random upstream gradients, and its finite differences;
   anything else is refused with an error naming the op and pointing to ``cross_entropy``.
4. readable == fast: the class-index loss kernels (functional/fast/loss.py) take their
   dense route only in the lectures' case, ``(N, C)`` logits with every target a class and
   no weights, smoothing or ignored targets; everywhere else they run the textbook
   forward. Both sides of that guard are drawn and compared bit for bit with the textbook
   op (``with F.textbook():``) and with the weighted general path; the textbook op is
   checked against torch on the lectures' case.
5. empty shapes and non-finite values (NaN, +-inf) in every argument and in the upstream
   gradient: torch's answer or torch's refusal (the shared checks of ``edge_cases.py``);
   an ignored row's gradient is exactly 0.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import given, strategies as st

import scratchnet.functional as F
from scratchnet import nn
from scratchnet.functional.fast import loss as fast_loss
from scratchnet.functional.loss import cross_entropy_naive

import edge_cases as edge
from helpers import TOL, assert_close, check_fd, check_op, check_raises
from scratchnet.testing.strategies import (broadcast_partner, classification_shapes, dtypes,
                                           index_case, mse_case, reductions, seeds)

smoothings = st.one_of(st.sampled_from([0.0, 0.0, 0.1, 1.0]), st.floats(0.0, 1.0))


def _t(x):
    """A plain tensor, so torch neither differentiates it nor is asked to."""
    return torch.from_numpy(x.copy())  # not ascontiguousarray: it turns 0-d into (1,)


def _index_args(x, t, weight):
    if weight is None:
        return [x, t], None
    return [x, t, weight], [x, t, _t(weight)]


@given(case=index_case(), smoothing=smoothings, seed=seeds)
def test_cross_entropy_class_indices(case, smoothing, seed):
    x, t, weight, ignore_index, reduction = case
    args, torch_args = _index_args(x, t, weight)
    kwargs = dict(ignore_index=ignore_index, reduction=reduction, label_smoothing=smoothing)
    out, _ = check_op(F.cross_entropy, TF.cross_entropy, args, kwargs, torch_args=torch_args, seed=seed)
    assert isinstance(out, np.ndarray) and out.dtype == x.dtype


@given(case=index_case(), seed=seeds)
def test_nll_loss(case, seed):
    x, t, weight, ignore_index, reduction = case
    args, torch_args = _index_args(x, t, weight)
    kwargs = dict(ignore_index=ignore_index, reduction=reduction)
    out, _ = check_op(F.nll_loss, TF.nll_loss, args, kwargs, torch_args=torch_args, seed=seed)
    assert isinstance(out, np.ndarray) and out.dtype == x.dtype


@given(shapes=classification_shapes(), seed=seeds, dtype=dtypes, reduction=reductions,
       smoothing=smoothings, weighted=st.booleans(), normalised=st.booleans(),
       ignore_index=st.sampled_from([-100, -1]))
def test_cross_entropy_class_probabilities(shapes, seed, dtype, reduction, smoothing, weighted,
                                           normalised, ignore_index):
    """Soft targets: torch differentiates target and weight too, so all three are compared."""
    shape, _, n_classes = shapes
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    p = rng.random(shape)
    if normalised and p.size:
        p = p / p.sum(axis=1 if len(shape) > 1 else 0, keepdims=True)
    args = [x, p.astype(dtype)] + ([(rng.random(n_classes) + 0.05).astype(dtype)] if weighted else [])
    kwargs = dict(reduction=reduction, label_smoothing=smoothing, ignore_index=ignore_index)
    out, _ = check_op(F.cross_entropy, TF.cross_entropy, args, kwargs, seed=seed)
    assert out.dtype == dtype


@given(shapes=mse_case(), seed=seeds, dtype=dtypes, reduction=reductions, weighted=st.booleans())
def test_mse_loss(shapes, seed, dtype, reduction, weighted):
    input_shape, target_shape = shapes
    rng = np.random.default_rng(seed)
    x = np.asarray(rng.standard_normal(input_shape)).astype(dtype)
    y = np.asarray(rng.standard_normal(target_shape)).astype(dtype)
    kwargs = dict(reduction=reduction)
    args = [x, y]
    if weighted:  # torch 2.13's weight comes after the legacy flags and reduction
        weight = np.asarray(rng.random(input_shape) + 0.1).astype(dtype)
        args, kwargs = [x, y, None, None, reduction, weight], {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # both engines warn about the broadcast
        out, grads = check_op(F.mse_loss, TF.mse_loss, args, kwargs, seed=seed)
    assert out.dtype == dtype and grads[0].shape == input_shape and grads[1].shape == target_shape


@given(seed=seeds, dtype=dtypes, reduction=reductions, data=st.data(),
       shape=st.lists(st.integers(0, 4), max_size=3).map(tuple),
       scale=st.sampled_from([1.0, 10.0, 1e4]), hard=st.booleans())
def test_binary_cross_entropy_with_logits(seed, dtype, reduction, data, shape, scale, hard):
    rng = np.random.default_rng(seed)
    x = np.asarray(rng.standard_normal(shape) * scale).astype(dtype)
    y = np.asarray(rng.integers(0, 2, shape) if hard else rng.random(shape)).astype(dtype)
    w = pw = None
    if data.draw(st.booleans(), "weighted"):
        w_shape = data.draw(broadcast_partner(shape), "weight shape")
        w = np.asarray(rng.random(w_shape) + 0.1).astype(dtype)
    if data.draw(st.booleans(), "pos_weighted"):
        pw_shape = data.draw(broadcast_partner(shape), "pos_weight shape")
        pw = np.asarray(rng.random(pw_shape) * 3).astype(dtype)
    args = [x, y, w, None, None, reduction, pw]
    torch_args = [x, y, w if w is None else _t(w), None, None, reduction, pw if pw is None else _t(pw)]
    out, _ = check_op(F.binary_cross_entropy_with_logits, TF.binary_cross_entropy_with_logits,
                      args, torch_args=torch_args, seed=seed)
    assert out.dtype == dtype


# ----------------------------------------------------------------- finite differences


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("shape,positions", [((4, 3), (4,)), ((2, 3, 2, 2), (2, 2, 2)), ((5,), ())])
@pytest.mark.parametrize("smoothing", [0.0, 0.25])
def test_cross_entropy_index_finite_differences(reduction, shape, positions, smoothing):
    """Input and class-weight gradients, with an ignored position and label smoothing."""
    rng = np.random.default_rng(3)
    n_classes = shape[0] if len(shape) == 1 else shape[1]
    x = rng.standard_normal(shape)
    t = np.asarray(rng.integers(0, n_classes, positions))
    if t.ndim:
        t.flat[0] = -100
    w = rng.random(n_classes) + 0.2
    check_fd(F.cross_entropy, [x, t, w], dict(reduction=reduction, label_smoothing=smoothing))


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("smoothing", [0.0, 0.3])
def test_cross_entropy_probability_finite_differences(reduction, smoothing):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, 4, 2))
    p = rng.random((3, 4, 2))
    w = rng.random(4) + 0.2
    check_fd(F.cross_entropy, [x, p, w], dict(reduction=reduction, label_smoothing=smoothing))


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("ignore_index", [-100, 1])
def test_nll_loss_finite_differences(reduction, ignore_index):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((5, 3, 2))
    t = rng.integers(0, 3, (5, 2))
    w = rng.random(3) + 0.2
    check_fd(F.nll_loss, [x, t, w], dict(reduction=reduction, ignore_index=ignore_index))


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("shapes", [((3, 4), (3, 4)), ((3, 1), (4,)), ((4,), (2, 4))])
def test_mse_loss_finite_differences(reduction, shapes):
    rng = np.random.default_rng(6)
    x, y = rng.standard_normal(shapes[0]), rng.standard_normal(shapes[1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_fd(F.mse_loss, [x, y], dict(reduction=reduction))
        check_fd(F.mse_loss, [x, y, None, None, reduction, rng.random(shapes[0]) + 0.1])


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("weight_shape,pos_weight_shape",
                         [((3, 4), (4,)), ((3, 1), (1, 4)), ((), (3, 4))])
def test_bce_with_logits_finite_differences(reduction, weight_shape, pos_weight_shape):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((3, 4)) * 3
    y = rng.random((3, 4))
    w = np.asarray(rng.random(weight_shape) + 0.2)
    pw = np.asarray(rng.random(pos_weight_shape) * 3)
    check_fd(F.binary_cross_entropy_with_logits, [x, y, w, None, None, reduction, pw])
    check_fd(F.binary_cross_entropy_with_logits, [x, y], dict(reduction=reduction))


# ----------------------------------------------------------------------- edge cases


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cross_entropy_huge_logits(dtype):
    x = np.array([[1e30, -1e30, 2.0], [1e4, -1e4, 0.0], [-1e4, 1e4, 1e4]], dtype=dtype)
    t = np.array([1, 0, 2])
    w = np.array([0.5, 2.0, 1.0], dtype=dtype)
    for reduction in ("none", "mean", "sum"):
        for smoothing in (0.0, 0.2):
            out, grads = check_op(F.cross_entropy, TF.cross_entropy, [x, t, w],
                                  dict(reduction=reduction, label_smoothing=smoothing),
                                  torch_args=[x, t, _t(w)], seed=1)
            assert np.all(np.isfinite(out)) and np.all(np.isfinite(grads[0]))
    p = np.array([[0.0, 0.5, 0.5], [1.0, 0.0, 0.0], [0.2, 0.3, 0.5]], dtype=dtype)
    check_op(F.cross_entropy, TF.cross_entropy, [x, p, w], dict(reduction="none"), seed=2)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cross_entropy_minus_infinity_logits(dtype):
    """A class with logit -inf has probability 0: finite loss and gradient unless it is the target."""
    x = np.array([[-np.inf, 1.0, 2.0], [0.5, -np.inf, -1.0]], dtype=dtype)
    t = np.array([1, 2])
    for reduction in ("none", "mean", "sum"):
        w = np.array([1.0, 2.0, 0.5], dtype)
        for args, torch_args in (([x, t], None), ([x, t, w], [x, t, _t(w)])):
            out, grads = check_op(F.cross_entropy, TF.cross_entropy, args, dict(reduction=reduction),
                                  torch_args=torch_args, seed=1)
            assert np.all(np.isfinite(out)) and np.all(np.isfinite(grads[0]))
    # Smoothing puts mass on the -inf class: an infinite loss, as torch's.
    check_op(F.cross_entropy, TF.cross_entropy, [x, t], dict(label_smoothing=0.1), grad=False)


@pytest.mark.parametrize("fn,torch_fn", [(F.cross_entropy, TF.cross_entropy), (F.nll_loss, TF.nll_loss)],
                         ids=["cross_entropy", "nll_loss"])
@pytest.mark.parametrize("weighted", [False, True])
def test_all_targets_ignored(fn, torch_fn, weighted):
    """Mean of nothing is NaN, the sum 0, 'none' all zeros; the input gradient is 0."""
    x = np.random.default_rng(0).standard_normal((3, 4))
    t = np.full(3, -100)
    w = np.linspace(0.5, 2.0, 4)
    args, torch_args = ([x, t, w], [x, t, _t(w)]) if weighted else ([x, t], None)
    extra = [dict(label_smoothing=0.3)] if fn is F.cross_entropy else [{}]
    for kw in [{}] + extra:
        mean, grads = check_op(fn, torch_fn, args, dict(kw), torch_args=torch_args, seed=1)
        assert np.isnan(mean) and np.all(grads[0] == 0)
        total, _ = check_op(fn, torch_fn, args, dict(kw, reduction="sum"), torch_args=torch_args)
        assert total == 0
        per, _ = check_op(fn, torch_fn, args, dict(kw, reduction="none"), torch_args=torch_args)
        np.testing.assert_array_equal(per, 0)


@pytest.mark.parametrize("fn,torch_fn", [(F.cross_entropy, TF.cross_entropy), (F.nll_loss, TF.nll_loss)],
                         ids=["cross_entropy", "nll_loss"])
def test_ignore_index_as_a_valid_class(fn, torch_fn):
    """ignore_index=0 drops every target 0, from the loss and the weighted mean's denominator."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((6, 3))
    t = np.array([0, 1, 2, 0, 2, 1])
    w = np.array([5.0, 1.0, 2.0])
    mean, _ = check_op(fn, torch_fn, [x, t, w], dict(ignore_index=0), torch_args=[x, t, _t(w)])
    kept = t != 0
    manual = fn(x[kept], t[kept], w, reduction="sum") / w[t[kept]].sum()
    np.testing.assert_allclose(mean, manual, rtol=1e-13)
    per = fn(x, t, w, ignore_index=0, reduction="none")
    assert np.all(per[~kept] == 0) and np.all(per[kept] != 0)


@pytest.mark.parametrize("fn,torch_fn", [(F.cross_entropy, TF.cross_entropy), (F.nll_loss, TF.nll_loss)],
                         ids=["cross_entropy", "nll_loss"])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_unbatched_and_batch_of_one(fn, torch_fn, reduction, dtype):
    rng = np.random.default_rng(3)
    x = rng.standard_normal(5).astype(dtype)
    w = (rng.random(5) + 0.1).astype(dtype)
    kw = dict(reduction=reduction)
    t = np.array(3)
    out, grads = check_op(fn, torch_fn, [x, t, w], kw, torch_args=[x, t, _t(w)], seed=4)
    assert out.shape == () and isinstance(out, np.ndarray) and out.dtype == dtype
    # torch's forward also takes a 1-element target for an unbatched input (not with a
    # weight, and its backward then fails): same value, and the 0-d target's gradient.
    out1, _ = check_op(fn, torch_fn, [x, np.array([3])], kw, grad=False)
    assert out1.shape == () and out1.dtype == dtype
    g = np.asarray(0.7, dtype)
    np.testing.assert_array_equal(F.vjp(fn, x, np.array([3]), **kw)[1](g)[0],
                                  F.vjp(fn, x, np.array(3), **kw)[1](g)[0])
    batched, _ = check_op(fn, torch_fn, [x[None], np.array([3])], kw, seed=4)
    np.testing.assert_allclose(batched.reshape(()), fn(x, np.array(3), reduction=reduction), rtol=1e-6)
    ignored = fn(x, np.array(3), ignore_index=3, reduction=reduction)
    assert np.isnan(ignored) if reduction == "mean" else ignored == 0


def test_unbatched_probability_target():
    rng = np.random.default_rng(5)
    x, p, w = rng.standard_normal(4), rng.random(4), rng.random(4)
    for reduction in ("none", "mean", "sum"):
        check_op(F.cross_entropy, TF.cross_entropy, [x, p, w],
                 dict(reduction=reduction, label_smoothing=0.2), seed=6)


@pytest.mark.parametrize("dtype", [np.uint8, np.int32, np.int16])
def test_other_integer_target_dtypes(dtype):
    """torch takes int64 and uint8; any integer class index is accepted here, same result."""
    rng = np.random.default_rng(6)
    x = rng.standard_normal((4, 3))
    t = np.array([0, 2, 1, 2])
    for fn in (F.cross_entropy, F.nll_loss):
        np.testing.assert_array_equal(fn(x, t.astype(dtype), reduction="none"),
                                      fn(x, t, reduction="none"))
    check_op(F.cross_entropy, TF.cross_entropy, [x, t.astype(np.uint8)], seed=1)


@pytest.mark.parametrize("size_average", [None, True, False])
@pytest.mark.parametrize("reduce", [None, True, False])
def test_legacy_size_average_and_reduce(size_average, reduce):
    rng = np.random.default_rng(7)
    x, t, w = rng.standard_normal((4, 3)), np.array([0, 2, 1, 2]), rng.random(3)
    xb, yb = rng.standard_normal((4, 3)), rng.random((4, 3))
    index_args = [x, t, w, size_average, -100, reduce]
    index_torch_args = [x, t, _t(w), size_average, -100, reduce]
    cases = [
        (F.cross_entropy, TF.cross_entropy, index_args, index_torch_args),
        (F.nll_loss, TF.nll_loss, index_args, index_torch_args),
        (F.mse_loss, TF.mse_loss, [xb, yb, size_average, reduce], None),
        (F.binary_cross_entropy_with_logits, TF.binary_cross_entropy_with_logits,
         [xb, yb, w, size_average, reduce], [xb, yb, _t(w), size_average, reduce]),
    ]
    legacy = size_average is not None or reduce is not None
    for fn, torch_fn, args, torch_args in cases:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            check_op(fn, torch_fn, args, torch_args=torch_args, seed=2)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fn(*args)
        ours = [str(c.message) for c in caught if str(c.message).startswith(fn.__name__)]
        assert legacy == any("size_average and reduce" in m for m in ours)


def test_elementwise_mean_is_the_deprecated_mean():
    x, y = np.arange(4.0), np.ones(4)
    with pytest.warns(UserWarning, match="elementwise_mean"):
        assert F.mse_loss(x, y, reduction="elementwise_mean") == F.mse_loss(x, y)


def test_mse_broadcast_warns_like_torch():
    x, y = np.zeros((3, 1)), np.ones(3)
    with pytest.warns(UserWarning, match="different to the input size"):
        out = F.mse_loss(x, y, reduction="none")
    assert out.shape == (3, 3)


@pytest.mark.parametrize("fn,torch_fn,args", [
    (F.mse_loss, TF.mse_loss, [np.zeros((0, 3)), np.zeros((0, 3))]),
    (F.binary_cross_entropy_with_logits, TF.binary_cross_entropy_with_logits,
     [np.zeros((0, 3)), np.zeros((0, 3))]),
    (F.cross_entropy, TF.cross_entropy, [np.zeros((0, 3)), np.zeros(0, np.int64)]),
    (F.cross_entropy, TF.cross_entropy, [np.zeros((0, 3, 2)), np.zeros((0, 3, 2))]),
    (F.nll_loss, TF.nll_loss, [np.zeros((2, 3, 0)), np.zeros((2, 0), np.int64)]),
], ids=["mse", "bce", "ce", "ce_prob", "nll_kdim"])
def test_empty_batches(fn, torch_fn, args):
    for reduction in ("none", "mean", "sum"):
        out, _ = check_op(fn, torch_fn, args, dict(reduction=reduction))
        if reduction == "mean":
            assert np.isnan(out)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bce_with_logits_extreme_logits(dtype):
    x = np.array([[1e30, -1e30, 1e4], [-1e4, 88.0, -88.0]], dtype=dtype)
    y = np.array([[1.0, 0.0, 1.0], [0.0, 0.5, 0.5]], dtype=dtype)
    pw = np.array([2.0, 0.5, 1.5], dtype=dtype)
    for reduction in ("none", "mean", "sum"):
        out, grads = check_op(F.binary_cross_entropy_with_logits, TF.binary_cross_entropy_with_logits,
                              [x, y, None, None, None, reduction, pw],
                              torch_args=[x, y, None, None, None, reduction, _t(pw)], seed=3)
        assert np.all(np.isfinite(out)) and np.all(np.isfinite(grads[0]))


# ----------------------------------------------------------------------- bad input


X = np.zeros((3, 10))
T = np.array([1, 2, 3])
CLASSIFIERS = [(F.cross_entropy, TF.cross_entropy), (F.nll_loss, TF.nll_loss)]
CLS_IDS = ["cross_entropy", "nll_loss"]


@pytest.mark.parametrize("np_fn,torch_fn", CLASSIFIERS, ids=CLS_IDS)
@pytest.mark.parametrize("args,kwargs,error,match", [
    ([X, np.array([1, 10, 3])], {}, IndexError, r"Target 10 is out of bounds\."),
    ([X, np.array([1, -1, 3])], {}, IndexError, r"Target -1 is out of bounds\."),
    ([X, np.array([1, -100, 3])], dict(ignore_index=0), IndexError, r"Target -100 is out of bounds\."),
    ([np.zeros((2, 10, 3)), np.array([[0, 12, 0], [0, 0, 0]])], {}, IndexError, r"Target 12 is out"),
    ([np.zeros((2, 10, 3, 1)), np.full((2, 3, 1), 10)], dict(reduction="none"), IndexError,
     r"Target 10 is out"),
    ([np.zeros(10), np.array(10)], {}, IndexError, r"Target 10 is out"),
    ([X, np.array([1, 2])], {}, ValueError, r"batch_size \(3\).*batch_size \(2\)"),
    ([X, np.array(1)], {}, ValueError, "batch_size"),
    ([X, np.array([[1], [2], [3]])], {}, ValueError, r"\(3,\)"),
    ([np.zeros((2, 10, 3)), np.zeros((2, 4), np.int64)], {}, ValueError, r"\(2, 3\)"),
    ([np.zeros((2, 10, 3, 2)), np.zeros((2, 3, 3), np.int64)], {}, ValueError, r"\(2, 3, 2\)"),
    ([np.zeros((2, 10, 3, 2)), np.zeros((2, 6), np.int64)], {}, ValueError, r"\(2, 3, 2\)"),
    ([np.zeros((2, 10, 3)), np.zeros(2, np.int64)], {}, ValueError, r"\(2, 3\)"),
    # cross_entropy reads a target of the input's shape as (integer, hence bad) probabilities.
    ([np.zeros(10), np.zeros(10, np.int64)], {}, (ValueError, TypeError), "0-d|probabilities"),
    ([X, T, np.ones(9)], {}, ValueError, r"\(10,\)"),
    ([X, T, np.ones((1, 10))], {}, ValueError, r"\(10,\)"),
    ([X, T, np.ones(10, np.float32)], {}, TypeError, "dtype"),
    ([X.astype(np.int64), T], {}, TypeError, "float32 or float64"),
    ([X, T], dict(reduction="avg"), ValueError, "not a valid value for reduction"),
    ([X, T], dict(reduction=None), ValueError, "not a valid value for reduction"),
    ([np.array(1.0), np.array(0)], {}, ValueError, "0-d"),
], ids=["oob", "negative", "ignore_index_elsewhere", "kdim_oob", "2d_oob_none", "unbatched_oob",
        "batch", "0d_target", "2d_target", "kdim", "kdim4", "kdim4_rank", "kdim_missing",
        "unbatched_1d_target", "weight_len", "weight_2d", "weight_dtype", "int_input", "reduction",
        "reduction_none", "0d_input"])
def test_classification_errors(np_fn, torch_fn, args, kwargs, error, match):
    err = check_raises(np_fn, torch_fn, args, kwargs, match=match)
    assert isinstance(err, error)


@pytest.mark.parametrize("np_fn,torch_fn", CLASSIFIERS, ids=CLS_IDS)
def test_float_class_indices_are_rejected(np_fn, torch_fn):
    err = check_raises(np_fn, torch_fn, [X, T.astype(np.float64)], match="integer")
    assert isinstance(err, TypeError)


@pytest.mark.parametrize("args,kwargs,error,match", [
    ([X, T], dict(label_smoothing=1.5), ValueError, "between 0.0 and 1.0"),
    ([X, np.random.default_rng(0).random((3, 10))], dict(label_smoothing=1.01), ValueError, "between"),
    ([X, np.zeros((3, 9))], {}, ValueError, r"input's shape \(3, 10\)"),
    ([X, np.zeros(10)], {}, ValueError, r"input's shape \(3, 10\)"),
    ([X, np.zeros((3, 10), np.int64)], {}, TypeError, "probabilities"),
    ([X, np.zeros((3, 10))], dict(ignore_index=0), ValueError, "ignore_index"),
    ([X, np.zeros((3, 10)), np.ones(4)], {}, ValueError, r"\(10,\)"),
], ids=["smoothing", "smoothing_prob", "prob_shape", "prob_rank", "prob_int", "prob_ignore_index",
        "prob_weight"])
def test_cross_entropy_errors(args, kwargs, error, match):
    err = check_raises(F.cross_entropy, TF.cross_entropy, args, kwargs, match=match)
    assert isinstance(err, error)


@pytest.mark.parametrize("fn,args", [
    (F.cross_entropy, [X, np.zeros((3, 10), np.float32)]),
    (F.mse_loss, [np.zeros(3), np.zeros(3, np.float32)]),
    (F.binary_cross_entropy_with_logits, [np.zeros(3), np.zeros(3, np.float32)]),
    (F.binary_cross_entropy_with_logits, [np.zeros(3), np.zeros(3), np.ones(3, np.float32)]),
], ids=["ce_prob", "mse", "bce", "bce_weight"])
def test_mixed_float_dtypes_are_rejected(fn, args):
    """torch promotes float32 against float64 here; scratchnet keeps one dtype and says so."""
    with pytest.raises(TypeError, match=fn.__name__ + ".*share one dtype"):
        fn(*args)


def test_negative_label_smoothing_is_rejected():
    """torch silently treats a negative label_smoothing as 0; scratchnet refuses it."""
    with pytest.raises(ValueError, match=r"cross_entropy: label_smoothing must be between 0.0 and 1.0"):
        F.cross_entropy(X, T, label_smoothing=-0.1)


@pytest.mark.parametrize("args,kwargs,match", [
    ([np.zeros((3, 4)), np.zeros(5)], {}, "broadcast"),
    ([np.zeros(3, np.int64), np.zeros(3, np.int64)], {}, "float32 or float64"),
    ([np.zeros((3, 4)), np.zeros((3, 4)), None, None, "mean", np.ones(4)], {}, "same size"),
    ([np.zeros(3), np.zeros(3)], dict(reduction="x"), "not a valid value"),
])
def test_mse_loss_errors(args, kwargs, match):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_raises(F.mse_loss, TF.mse_loss, args, kwargs, match=match)


@pytest.mark.parametrize("args,kwargs,match", [
    ([np.zeros((3, 5)), np.zeros(5)], {}, "must be the same as input size"),
    ([np.zeros(5), np.zeros(5), np.ones((3, 5))], {}, "weight of shape"),
    ([np.zeros((3, 5)), np.zeros((3, 5)), None, None, None, "mean", np.ones(3)], {}, "pos_weight"),
    ([np.zeros(5), np.zeros(5), None, None, None, "mean", np.ones((3, 5))], {}, "pos_weight of shape"),
    ([np.zeros(3, np.int64), np.zeros(3)], {}, "float32 or float64"),
    ([np.zeros(3), np.zeros(3, np.int64)], {}, "float32 or float64"),
    ([np.zeros(3), np.zeros(3)], dict(reduction="x"), "not a valid value"),
])
def test_bce_with_logits_errors(args, kwargs, match):
    check_raises(F.binary_cross_entropy_with_logits, TF.binary_cross_entropy_with_logits, args, kwargs,
                 match=match)


# ================================================== class-index targets of every dtype
INT_DTYPES = [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64]
LOSSES = [(F.cross_entropy, TF.cross_entropy), (F.nll_loss, TF.nll_loss)]


@pytest.mark.parametrize("fn,tfn", LOSSES)
@given(seed=st.integers(0, 2**32 - 1), dtype=st.sampled_from(INT_DTYPES),
       n=st.integers(0, 5), n_classes=st.integers(1, 6),
       ignore=st.sampled_from([None, -100, 0, 2]),
       reduction=st.sampled_from(["none", "mean", "sum"]))
def test_every_integer_dtype_gives_the_int64_answer(fn, tfn, seed, dtype, n, n_classes, ignore,
                                                    reduction):
    """Values that fit are the same classes whatever the dtype: torch's int64 answer."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, n_classes))
    t = rng.integers(0, n_classes, n)
    kwargs = dict(reduction=reduction)
    if ignore is not None and (ignore >= 0 or np.dtype(dtype).kind == "i"):
        t[rng.random(n) < 0.3] = ignore
        kwargs["ignore_index"] = ignore
    check_op(fn, tfn, [x, t.astype(dtype)], kwargs, torch_args=[x, t], seed=seed)


@pytest.mark.parametrize("fn,tfn", LOSSES)
@pytest.mark.parametrize("value", [2**64 - 100, 2**64 - 1, 2**63])
def test_uint64_beyond_int64_is_refused_naming_the_value(fn, tfn, value):
    x = np.zeros((3, 4))
    t = np.array([1, value, 2], dtype=np.uint64)
    with pytest.raises(IndexError, match=rf"{fn.__name__}: target value {value} at index \(1,\)"):
        fn(x, t)
    # torch refuses a uint64 target altogether
    with pytest.raises(RuntimeError):
        tfn(_t(x), _t(t))


@pytest.mark.parametrize("fn", [F.cross_entropy, F.nll_loss])
def test_uint64_that_fits_is_taken(fn):
    x = np.random.default_rng(0).standard_normal((3, 4))
    t = np.array([1, 0, 2**63 - 1], dtype=np.uint64)
    with pytest.raises(IndexError, match=f"Target {2**63 - 1} is out of bounds"):
        fn(x, t)  # a plain out-of-range class, reported as such, not wrapped
    np.testing.assert_array_equal(fn(x[:2], t[:2], reduction="none"),
                                  fn(x[:2], np.array([1, 0]), reduction="none"))


@pytest.mark.parametrize("fn,tfn", LOSSES)
@pytest.mark.parametrize("target", [
    np.array([True, False, True]),
    np.array([1.0, 0.0, 2.0]),
    np.array([1.0, 0.0, 2.0], dtype=np.float32),
], ids=["bool", "float64", "float32"])
def test_non_integer_class_targets_are_refused(fn, tfn, target):
    check_raises(fn, tfn, [np.zeros((3, 4)), target], match="target")


@pytest.mark.parametrize("fn", [F.cross_entropy, F.nll_loss])
def test_object_targets_are_refused(fn):
    """Python ints in an object array (what ``np.array([2**64, 1])`` gives) are no index."""
    with pytest.raises(TypeError, match=f"{fn.__name__}: target .* got dtype object"):
        fn(np.zeros((2, 4)), np.array([2**64, 1]))


@pytest.mark.parametrize("fn,tfn", LOSSES)
@pytest.mark.parametrize("ignore_index", [2**63, -2**63 - 1, 2**64 - 100])
def test_ignore_index_beyond_int64_is_refused(fn, tfn, ignore_index):
    x = np.zeros((3, 4))
    t = np.array([1, 0, 2])
    check_raises(fn, tfn, [x, t], dict(ignore_index=ignore_index), match="ignore_index")


def test_modules_refuse_a_wrapping_target_too():
    x = np.zeros((2, 3), np.float32)
    t = np.array([2**64 - 100, 1], dtype=np.uint64)
    for criterion in (nn.CrossEntropyLoss(), nn.NLLLoss()):
        with pytest.raises(IndexError, match=str(2**64 - 100)):
            criterion(x, t)


# ========================================== cross_entropy_naive, the lectures' formula
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


# ========================================= the tuned kernels equal the textbook losses
DTYPES = [np.float32, np.float64]
OPS = [(F.cross_entropy, TF.cross_entropy), (F.nll_loss, TF.nll_loss)]


def test_the_kernels_are_registered():
    assert F.kernel_of(F.cross_entropy) is fast_loss.cross_entropy_kernel
    assert F.kernel_of(F.nll_loss) is fast_loss.nll_loss_kernel


def _both(fn, args, kwargs, g_seed=0):
    """``[(out, grads), (out, grads)]``: the kernel's, then the textbook's, for one random ``g``."""
    runs = []
    for textbook in (False, True):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the legacy flags' deprecation warning
            if textbook:
                with F.textbook():
                    out, backward = F.vjp(fn, *args, **kwargs)
            else:
                out, backward = F.vjp(fn, *args, **kwargs)
        g = np.random.default_rng(g_seed).standard_normal(out.shape).astype(out.dtype)
        runs.append((out, backward(g)))
    return runs


def _assert_same(runs):
    (out, grads), (ref, ref_grads) = runs
    assert out.dtype == ref.dtype
    np.testing.assert_array_equal(out, ref)
    for a, b in zip(grads, ref_grads):
        assert (a is None) == (b is None)
        if a is not None:
            assert a.dtype == b.dtype
            np.testing.assert_array_equal(a, b)


@given(n=st.integers(1, 6), c=st.integers(1, 5), reduction=st.sampled_from(["none", "mean", "sum"]),
       dtype=st.sampled_from(DTYPES), nll=st.booleans(), layout=st.sampled_from(["c", "fortran", "reversed"]),
       target_dtype=st.sampled_from([np.int64, np.int32, np.uint8]), seed=st.integers(0, 10_000))
def test_dense_route_equals_the_textbook_bit_for_bit(n, c, reduction, dtype, nll, layout, target_dtype, seed):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((n, c)) * 3).astype(dtype)
    x = {"c": x, "fortran": np.asfortranarray(x), "reversed": np.ascontiguousarray(x[::-1])[::-1]}[layout]
    t = rng.integers(0, c, n).astype(target_dtype)
    _assert_same(_both(F.nll_loss if nll else F.cross_entropy, (x, t), dict(reduction=reduction)))


_GUARD_CASES = [
    dict(),                                               # the dense route
    dict(reduction="sum"), dict(reduction="none"),
    dict(size_average=False),                             # legacy flags: dense route too
    dict(reduce=False),
    dict(ignore_index=2),                                 # ignore_index inside the targets' range
    dict(ignore_index=0),
    dict(ignore_index=7),                                 # outside it: dense route
    dict(weight=True),
]
_SMOOTHING_CASES = [
    dict(label_smoothing=0.2),
    dict(label_smoothing=0),                              # an int zero: dense route
    dict(label_smoothing=np.float64(0.0)),                # not a Python float: the textbook
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("fn,torch_fn,case", [(fn, tfn, case) for fn, tfn in OPS for case in _GUARD_CASES]
                         + [(F.cross_entropy, TF.cross_entropy, case) for case in _SMOOTHING_CASES])
def test_kernel_equals_textbook_on_both_sides_of_the_guard(fn, torch_fn, case, dtype):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((6, 5)).astype(dtype)
    if fn is F.nll_loss:
        x = F.log_softmax(x, dim=1)
    t = np.array([0, 2, 4, 2, 1, 3])
    kwargs = dict(case)
    args, torch_args = (x, t), None
    if kwargs.pop("weight", None):  # by position (its gradient's slot); torch does not differentiate it
        w = rng.random(5).astype(dtype)
        args, torch_args = (x, t, w), [x, t, torch.from_numpy(w)]
    _assert_same(_both(fn, args, kwargs))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for textbook in (False, True):
            if textbook:
                with F.textbook():
                    check_op(fn, torch_fn, args, kwargs, torch_args=torch_args)
            else:
                check_op(fn, torch_fn, args, kwargs, torch_args=torch_args)


@pytest.mark.parametrize("fn,torch_fn", OPS)
@pytest.mark.parametrize("shape,target", [
    ((5,), np.array(3)),                                  # unbatched
    ((2, 5, 3), np.array([[0, 4, 1], [2, 2, 3]])),        # K-dimensional
    ((0, 5), np.zeros(0, np.int64)),                      # empty batch
])
def test_kernel_runs_the_textbook_outside_the_lectures_shapes(fn, torch_fn, shape, target):
    x = np.random.default_rng(4).standard_normal(shape)
    _assert_same(_both(fn, (x, target), {}))


@pytest.mark.parametrize("fn", [F.cross_entropy, F.nll_loss])
@pytest.mark.parametrize("args,kwargs", [
    ((np.zeros((3, 4)), np.array([0, 4, 1])), {}),                 # target out of range
    ((np.zeros((3, 4)), np.array([0, -1, 1])), {}),
    ((np.zeros((3, 4)), np.array([0, 1])), {}),                    # batch mismatch
    ((np.zeros((3, 4)), np.array([0, 1, 1])), dict(reduction="avg")),
    ((np.zeros((3, 4)), np.array([0, 1, 1])), dict(ignore_index=1.0)),
    ((np.zeros((3, 4), np.int64), np.array([0, 1, 1])), {}),
    ((np.zeros((3, 4)), np.array([0.0, 1.0, 1.0])), {}),
    ((np.zeros((3, 4), np.float16), np.array([0, 1, 1])), {}),      # float16 scores
    ((np.zeros((3, 4)), np.array([0, 2**64 - 100, 1], np.uint64)), {}),  # -100 once wrapped to int64
    ((np.zeros((3, 4)), np.array([0, 1, 1], bool)), {}),
])
def test_kernel_rejects_bad_input_with_the_textbooks_error(fn, args, kwargs):
    with pytest.raises(Exception) as ours:
        fn(*args, **kwargs)
    with F.textbook():
        with pytest.raises(Exception) as book:
            fn(*args, **kwargs)
    assert type(ours.value) is type(book.value) and str(ours.value) == str(book.value)


@pytest.mark.parametrize("fn", [F.cross_entropy, F.nll_loss])
@pytest.mark.parametrize("target_dtype", [np.uint64, np.uint8, np.int8, np.int32])
def test_every_integer_target_dtype_gives_the_textbooks_numbers(fn, target_dtype):
    x = np.random.default_rng(6).standard_normal((5, 4))
    t = np.array([0, 3, 1, 1, 2], target_dtype)
    _assert_same(_both(fn, (x, t), {}))


@pytest.mark.parametrize("fn", [F.cross_entropy, F.nll_loss])
@pytest.mark.parametrize("kwargs,message", [
    (dict(size_average=False), "size_average and reduce"),
    (dict(reduction="elementwise_mean"), "elementwise_mean"),
])
def test_deprecation_warnings_point_at_the_callers_line(fn, kwargs, message):
    x, t = np.zeros((3, 4)), np.array([0, 1, 2])
    for textbook in (False, True):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if textbook:
                with F.textbook():
                    fn(x, t, **kwargs)
            else:
                fn(x, t, **kwargs)
        ours = [w for w in caught if message in str(w.message)]
        assert len(ours) == 1 and ours[0].filename == __file__, [(w.filename, str(w.message)) for w in caught]


@pytest.mark.parametrize("dtype", DTYPES)
def test_non_finite_logits_on_the_dense_route(dtype):
    x = np.array([[0.0, np.inf, 1.0], [np.nan, 0.0, 1.0], [-np.inf, 2.0, 0.0], [1e30, -1e30, 0.0]], dtype)
    t = np.array([1, 0, 0, 0])
    with np.errstate(invalid="ignore"):
        for fn in (F.cross_entropy, F.nll_loss):
            for reduction in ("none", "mean"):
                _assert_same(_both(fn, (x, t), dict(reduction=reduction)))


# ------------------------------------------------------------- dense class-index loss
@given(n=st.integers(1, 6), c=st.integers(1, 5), reduction=st.sampled_from(["none", "mean", "sum"]),
       dtype=st.sampled_from(DTYPES), nll=st.booleans(), seed=st.integers(0, 10_000))
def test_dense_index_loss_equals_the_weighted_general_path_bit_for_bit(n, c, reduction, dtype, nll,
                                                                        seed):
    # weight=ones takes the general path with exactly the same arithmetic (w_t = 1).
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((n, c)) * 3).astype(dtype)
    t = rng.integers(0, c, n)
    fn = F.nll_loss if nll else F.cross_entropy
    out, backward = F.vjp(fn, x, t, reduction=reduction)
    ref, ref_backward = F.vjp(fn, x, t, np.ones(c, dtype), reduction=reduction)
    np.testing.assert_array_equal(out, ref)
    assert out.dtype == dtype
    g = rng.standard_normal(out.shape).astype(dtype)
    np.testing.assert_array_equal(backward(g)[0], ref_backward(g)[0])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("fn,torch_fn", [(F.cross_entropy, torch.nn.functional.cross_entropy),
                                         (F.nll_loss, torch.nn.functional.nll_loss)])
def test_ignore_index_inside_the_target_range_takes_the_masked_path(fn, torch_fn, dtype):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 5)).astype(dtype)
    t = np.array([0, 2, 4, 2, 1, 3])  # ignore_index=2 lies between min and max
    check_op(fn, torch_fn, (x, t), dict(ignore_index=2))


# ======================================================================== empty shapes
@st.composite
def classification_case(draw, np_fn, torch_fn):
    n, c = draw(edge.sizes), draw(edge.sizes)
    extra = tuple(draw(st.lists(edge.sizes, max_size=2)))
    rng, dtype = np.random.default_rng(draw(st.integers(0, 2**16))), draw(edge.dtypes)
    x = edge.normal(rng, (n, c) + extra, dtype)
    kwargs = dict(reduction=draw(st.sampled_from(["none", "mean", "sum"])))
    if draw(st.booleans()) and np_fn is F.cross_entropy:
        p = rng.random(x.shape).astype(dtype)
        return np_fn, torch_fn, [x, p], kwargs, None
    t = rng.integers(0, max(c, 1), (n,) + extra)
    args = [x, t]
    torch_args = None
    if draw(st.booleans()):
        weight = rng.random(c).astype(dtype)
        args.append(weight)
        torch_args = [x, t, torch.from_numpy(weight)]  # torch does not differentiate it
    return np_fn, torch_fn, args, kwargs, torch_args


@st.composite
def lecture_cross_entropy_case(draw):
    """cross_entropy_naive's scope: (N, C) logits, class indices, the mean (N = 0: NaN)."""
    n, c = draw(edge.sizes), draw(edge.sizes)
    rng, dtype = np.random.default_rng(draw(st.integers(0, 2**16))), draw(edge.dtypes)
    return (cross_entropy_naive, TF.cross_entropy,
            [edge.normal(rng, (n, c), dtype), rng.integers(0, max(c, 1), n)], {}, None)


@st.composite
def elementwise_loss_case(draw, np_fn, torch_fn):
    shape = tuple(draw(st.lists(edge.sizes, max_size=3)))
    rng, dtype = np.random.default_rng(draw(st.integers(0, 2**16))), draw(edge.dtypes)
    kwargs = dict(reduction=draw(st.sampled_from(["none", "mean", "sum"])))
    return np_fn, torch_fn, [edge.normal(rng, shape, dtype), rng.random(shape).astype(dtype)], kwargs, None


EMPTY_SHAPE_CASES = {
    "cross_entropy": classification_case(F.cross_entropy, TF.cross_entropy),
    "cross_entropy_naive": lecture_cross_entropy_case(),
    "nll_loss": classification_case(F.nll_loss, TF.nll_loss),
    "mse_loss": elementwise_loss_case(F.mse_loss, TF.mse_loss),
    "binary_cross_entropy_with_logits": elementwise_loss_case(
        F.binary_cross_entropy_with_logits, TF.binary_cross_entropy_with_logits),
}


@pytest.mark.parametrize("case", sorted(EMPTY_SHAPE_CASES))
@given(data=st.data())
def test_zero_size_dimensions_follow_torch(case, data):
    edge.zero_size_dimensions_follow_torch(*data.draw(EMPTY_SHAPE_CASES[case]))


# =================================================================== non-finite values
def _classification(np_fn, torch_fn, *, probabilities=False, smoothing=False):
    def build(rng, dtype):
        n, c = int(rng.integers(1, 4)), int(rng.integers(2, 5))
        extra = tuple(int(d) for d in rng.integers(1, 3, size=rng.integers(0, 3)))
        x = edge.normal(rng, (n, c) + extra, dtype)
        if np_fn is F.nll_loss:
            x = TF.log_softmax(torch.from_numpy(x), 1).numpy()
        reduction = str(rng.choice(["none", "mean", "sum"]))
        kwargs = dict(reduction=reduction)
        weight = (rng.random(c) + 0.1).astype(dtype) if rng.random() < 0.5 else None
        if smoothing:
            kwargs["label_smoothing"] = float(rng.choice([0.1, 0.5]))
        if probabilities:
            p = rng.random(x.shape).astype(dtype)
            target, poison = p / p.sum(axis=1, keepdims=True), [0, 1]
        else:
            target, poison = rng.integers(0, c, size=(n,) + extra), [0]
            # Ignored rows: their input may hold anything, their gradient must be 0.
            target[rng.random(target.shape) < 0.4] = -100
        args = [x, target]
        torch_args = [x, target]
        if weight is not None:  # torch does not differentiate it: a plain tensor
            args.append(weight)
            torch_args.append(edge.plain_tensor(weight))
            poison = poison + [2]
        return dict(np_fn=np_fn, torch_fn=torch_fn, args=args, torch_args=torch_args,
                    kwargs=kwargs, poison=poison)
    return build


def _lecture_cross_entropy(rng, dtype):
    """The naive oracle's scope: (N, C) logits, class indices, the mean."""
    n, c = int(rng.integers(1, 5)), int(rng.integers(2, 5))
    return dict(np_fn=cross_entropy_naive, torch_fn=TF.cross_entropy,
                args=[edge.normal(rng, (n, c), dtype), rng.integers(0, c, size=n)], poison=[0])


def _elementwise_loss(np_fn, torch_fn):
    def build(rng, dtype):
        shape = tuple(rng.integers(1, 4, size=2))
        target = rng.random(shape).astype(dtype) if np_fn is not F.mse_loss else edge.normal(rng, shape, dtype)
        reduction = str(rng.choice(["none", "mean", "sum"]))

        def weight(w_shape):
            return (rng.random(w_shape) + 0.1).astype(dtype) if rng.random() < 0.5 else None

        x = edge.normal(rng, shape, dtype)
        if np_fn is F.mse_loss:  # torch 2.13's weight, after the legacy flags; differentiable
            w = weight(shape)
            args = [x, target] if w is None else [x, target, None, None, reduction, w]
            kwargs = dict(reduction=reduction) if w is None else {}
            return dict(np_fn=np_fn, torch_fn=torch_fn, args=args, kwargs=kwargs,
                        poison=[0, 1] if w is None else [0, 1, 5])
        # BCE's weight and pos_weight: torch does not differentiate them (plain tensors).
        w, pw = weight(shape), weight(shape[-1:])
        args = [x, target, w, None, None, reduction, pw]
        torch_args = [x, target, None if w is None else edge.plain_tensor(w), None, None, reduction,
                      None if pw is None else edge.plain_tensor(pw)]
        poison = [0, 1] + [i for i in (2, 6) if args[i] is not None]
        return dict(np_fn=np_fn, torch_fn=torch_fn, args=args, torch_args=torch_args, poison=poison)
    return build


NON_FINITE_CASES = {
    "cross_entropy": _classification(F.cross_entropy, TF.cross_entropy),
    "cross_entropy_smoothing": _classification(F.cross_entropy, TF.cross_entropy, smoothing=True),
    "cross_entropy_probabilities": _classification(F.cross_entropy, TF.cross_entropy,
                                                   probabilities=True, smoothing=True),
    # The lectures' formula must agree with torch on non-finite input too.
    "cross_entropy_naive": _lecture_cross_entropy,
    "nll_loss": _classification(F.nll_loss, TF.nll_loss),
    "mse_loss": _elementwise_loss(F.mse_loss, TF.mse_loss),
    "binary_cross_entropy_with_logits": _elementwise_loss(
        F.binary_cross_entropy_with_logits, TF.binary_cross_entropy_with_logits),
}


@pytest.mark.parametrize("case", sorted(NON_FINITE_CASES))
@given(**edge.NON_FINITE_DRAWS)
def test_non_finite_forward_and_backward_match_torch(case, seed, density, grad_density, dtype):
    edge.non_finite_forward_and_backward_match_torch(NON_FINITE_CASES[case], seed, density,
                                                     grad_density, dtype)


@pytest.mark.parametrize("fn", [F.cross_entropy, F.nll_loss])
@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
def test_ignored_rows_get_exactly_zero_gradient(fn, reduction):
    """An ignored row's gradient is exactly 0 whatever the upstream gradient holds.

    (cross_entropy's row then still goes through log-softmax's backward, which gives
    NaN for a row of NaN logits in torch too; its -inf logits give 0.)
    """
    x = np.array([[-np.inf, 3.0, -np.inf], [0.5, -0.5, 1.0], [-np.inf, -1e30, 7.0]])
    t = np.array([-100, 2, -100])
    g = np.array([np.inf, 1.5, np.nan]) if reduction == "none" else np.array(2.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        check_op(fn, getattr(TF, fn.__name__), [x, t], dict(reduction=reduction),
                 grad_out=lambda shape, dtype: g)
        _, (gx, _) = edge.grads(fn, [x, t], g, reduction=reduction)
    np.testing.assert_array_equal(gx[[0, 2]], 0.0)


@pytest.mark.parametrize("smoothing", [0.0, 0.3, 1.0])
def test_label_smoothing_up_to_one_on_the_lectures_case(smoothing):
    """The kernel's dense route covers only smoothing 0; 1.0 (all mass spread) is torch's
    upper bound and must take the general route, as every value in between."""
    rng = np.random.default_rng(11)
    x, t = rng.standard_normal((6, 4)) * 3, rng.integers(0, 4, 6)
    check_op(F.cross_entropy, TF.cross_entropy, (x, t), dict(label_smoothing=smoothing),
             torch_args=(x, torch.tensor(t)), seed=3)


@pytest.mark.parametrize("op", ["cross_entropy", "nll_loss"])
@pytest.mark.parametrize("ignored", ["smallest", "largest", "absent"])
def test_ignore_index_at_either_end_of_the_targets(op, ignored):
    """The kernel's dense route holds only while no target equals ignore_index: one equal to
    the smallest or the largest target present must still be ignored."""
    rng = np.random.default_rng(12)
    x, t = rng.standard_normal((6, 5)), np.array([1, 3, 2, 1, 3, 2])
    ignore = {"smallest": 1, "largest": 3, "absent": 4}[ignored]
    fn, tfn = getattr(F, op), getattr(TF, op)
    args = (fn_input(op, x), t)
    check_op(fn, tfn, args, dict(ignore_index=ignore), torch_args=(args[0], torch.tensor(t)), seed=5)


def fn_input(op, x):
    """cross_entropy takes scores, nll_loss log-probabilities."""
    return x if op == "cross_entropy" else x - np.log(np.exp(x).sum(1, keepdims=True))
