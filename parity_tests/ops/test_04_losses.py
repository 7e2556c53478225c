"""cross_entropy, nll_loss, mse_loss and binary_cross_entropy_with_logits against torch.

Hypothesis draws the shapes (unbatched, N = 0 and 1, K extra dims), the options
(weights, ignore_index present or not and possibly a real class, label smoothing,
probability targets, broadcast weights) and the dtype; arrays come from a NumPy
generator seeded by the drawn seed. Torch cannot differentiate the class ``weight`` of
the index-target losses nor BCE's ``weight``/``pos_weight``: those are handed to torch
as plain tensors and checked by finite differences instead.
"""
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import given, strategies as st

import scratchnet.functional as F
from helpers import check_fd, check_op, check_raises
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
