"""The per-call shortcuts of the kernels and of ``nn``'s mechanism change no result and no error.

Each shortcut skips work only in the usual case (a plain int argument, a C-ordered
buffer, a memo entry, a layer without hooks or without Parameters); every test here runs
a call on both sides of that case against the textbook op or the behaviour before it.
"""
from __future__ import annotations

import numpy as np
import pytest

import scratchnet.functional as F
from helpers import kernel_and_textbook
from scratchnet import nn
from scratchnet.functional.fast import _layout, _memo

DTYPES = [np.float32, np.float64]


def _assert_same(runs):
    (out, grads), (ref, ref_grads) = runs
    np.testing.assert_array_equal(out, ref)
    for a, b in zip(grads, ref_grads):
        assert (a is None) == (b is None)
        if a is not None:
            assert a.dtype == b.dtype and a.flags.c_contiguous == b.flags.c_contiguous
            np.testing.assert_array_equal(a, b)  # NaN where NaN, inf where inf, bit for bit


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layout", ["c", "fortran"])
def test_cross_entropy_dense_backward_with_non_finite_upstream_gradients(dtype, layout):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 4)).astype(dtype)
    x = np.asfortranarray(x) if layout == "fortran" else x
    t = np.array([0, 3, 1, 1, 2])
    g = rng.standard_normal(5).astype(dtype)
    g[1], g[3] = np.inf, np.nan
    with np.errstate(invalid="ignore"):
        _assert_same(kernel_and_textbook(F.cross_entropy, (x, t), dict(reduction="none"), g))
        for reduction in ("mean", "sum"):
            for scalar in (np.inf, -np.inf, np.nan, 0.0, -2.5):
                _assert_same(kernel_and_textbook(F.cross_entropy, (x, t), dict(reduction=reduction), np.asarray(scalar, dtype)))


@pytest.mark.parametrize("fn", [F.cross_entropy, F.nll_loss])
@pytest.mark.parametrize("ignore_index", [-100, 2, np.int64(2), np.int32(-100), 2**63 - 1, -(2**63)])
def test_dense_route_ignore_index_with_and_without_the_plain_int_shortcut(fn, ignore_index):
    x = np.random.default_rng(1).standard_normal((4, 3))
    t = np.array([0, 2, 1, 2])
    g = np.asarray(0.75)
    _assert_same(kernel_and_textbook(fn, (x, t), dict(ignore_index=ignore_index), g))


@pytest.mark.parametrize("fn", [F.cross_entropy, F.nll_loss])
@pytest.mark.parametrize("ignore_index, error", [(2**63, ValueError), (-(2**63) - 1, ValueError),
                                                 (True, TypeError), (1.0, TypeError)])
def test_dense_route_bad_ignore_index_fails_as_the_textbook(fn, ignore_index, error):
    x, t = np.zeros((2, 3)), np.array([0, 1])
    with pytest.raises(error) as kernel_error:
        fn(x, t, ignore_index=ignore_index)
    with F.textbook(), pytest.raises(error) as textbook_error:
        fn(x, t, ignore_index=ignore_index)
    assert str(kernel_error.value) == str(textbook_error.value)


def test_memo_keys_tell_bools_from_ints_inside_tuples():
    x = np.zeros((1, 1, 2, 2))
    assert _memo.memo_key("op", (x,), ((1, 1),)) != _memo.memo_key("op", (x,), ((True, True),))
    assert _memo.memo_key("op", (x,), (1,)) != _memo.memo_key("op", (x,), (True,))
    assert _memo.memo_key("op", (x,), ((1, [1]),)) is None  # a list is not memoizable
    assert _memo.memo_key("op", (x.astype(np.int64),), (1,)) is None


def test_a_memoized_pool_call_does_not_let_a_bool_kernel_size_through():
    x = np.zeros((1, 1, 2, 2))
    F.max_pool2d(x, (1, 1))  # remembered
    with pytest.raises(TypeError) as kernel_error:
        F.max_pool2d(x, (True, True))
    with F.textbook(), pytest.raises(TypeError) as textbook_error:
        F.max_pool2d(x, (True, True))
    assert str(kernel_error.value) == str(textbook_error.value)


def _layout_by_sorting(ref, shape, lead=()):
    """The buffer empty_in_layout made before its C-order shortcut: axes sorted by stride."""
    strides = ref.strides
    perm = sorted(range(ref.ndim), key=lambda a: -abs(strides[a]))
    mem = np.empty(tuple(lead) + tuple(shape[a] for a in perm), dtype=ref.dtype)
    inverse = np.argsort(perm)
    return mem.transpose(tuple(range(len(lead))) + tuple(len(lead) + i for i in inverse))


@pytest.mark.parametrize("make", [
    lambda a: a,                                    # C order: the shortcut
    lambda a: np.asfortranarray(a),                 # the permutation
    lambda a: a.transpose(1, 2, 3, 0).copy().transpose(3, 0, 1, 2),  # batch innermost (a conv's output)
    lambda a: a[:, :, ::-1],                        # negative strides, still outermost first
    lambda a: a[:, :, ::2],                         # a step
])
@pytest.mark.parametrize("lead", [(), (4,)])
def test_empty_in_layout_lays_out_as_before_on_both_sides_of_the_c_order_shortcut(make, lead):
    ref = make(np.zeros((3, 2, 6, 5), np.float32))
    shape = (3, 2, 4, 7)
    got = _layout.empty_in_layout(ref, shape, lead=lead, fill=1.5)
    want = _layout_by_sorting(ref, shape, lead)
    assert got.shape == want.shape and got.strides == want.strides and got.dtype == ref.dtype
    assert (got == 1.5).all()


class _Twice(nn.Module):
    """A layer passing a Parameter by keyword: the kwargs scan the shortcut skips when empty."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(np.array([[2.0]]))

    def forward(self, input):
        return self._call_functional(F.linear, input, weight=self.weight)


def test_parameters_passed_by_keyword_still_get_their_gradient():
    layer = _Twice()
    x = np.array([[3.0]])
    out = layer(x)
    grad_in = layer.backward(np.array([[0.5]]))
    np.testing.assert_array_equal(out, [[6.0]])
    np.testing.assert_array_equal(grad_in, [[1.0]])
    np.testing.assert_array_equal(layer.weight.grad, [[1.5]])


def test_backward_hooks_run_on_layers_with_and_without_parameters():
    seen = []
    model = nn.Sequential(nn.Linear(2, 2), nn.ReLU())
    for m in model:
        m.register_full_backward_hook(lambda m, gi, go: seen.append(type(m).__name__))
    model(np.ones((1, 2), np.float32))
    model.backward(np.ones((1, 2), np.float32))
    assert seen == ["ReLU", "Linear"]
    # A hook's replacement still replaces, without hooks nothing is called.
    relu = nn.ReLU()
    handle = relu.register_full_backward_hook(lambda m, gi, go: (np.full((1, 2), 7.0),))
    relu(np.ones((1, 2)))
    np.testing.assert_array_equal(relu.backward(np.ones((1, 2))), [[7.0, 7.0]])
    handle.remove()
    relu(np.ones((1, 2)))
    np.testing.assert_array_equal(relu.backward(np.ones((1, 2))), [[1.0, 1.0]])
