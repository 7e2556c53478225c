"""The tuned class-index loss kernels (scratchnet/functional/fast/loss.py) equal the textbook ops.

The kernel takes its dense route only in the lectures' case, ``(N, C)`` logits with every
target a class and no weights, smoothing or ignored targets; everywhere else it runs the
textbook forward. Both sides of that guard are drawn here, compared bit for bit with the
textbook op (``with F.textbook():``), and the textbook op is checked against torch on the
lectures' case (the dense route's own torch tests are in test_loss.py).
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import scratchnet.functional as F
from scratchnet.functional.fast import loss as fast_loss

from helpers import check_op

TF = torch.nn.functional
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
])
def test_kernel_rejects_bad_input_with_the_textbooks_error(fn, args, kwargs):
    with pytest.raises(Exception) as ours:
        fn(*args, **kwargs)
    with F.textbook():
        with pytest.raises(Exception) as book:
            fn(*args, **kwargs)
    assert type(ours.value) is type(book.value) and str(ours.value) == str(book.value)


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
