"""Class-index targets of every dtype: torch's answer on exact conversion, a clear error otherwise.

Torch takes int64 (and uint8) class indices and refuses bool, float and the other
integer dtypes. scratchnet also takes every other integer dtype, since NumPy labels come
in all widths, but only when every value converts to int64 exactly: a uint64 value
above 2**63 - 1 would wrap (2**64 - 100 becomes -100, the default ``ignore_index``,
and its sample would silently leave the loss), so it is refused with the value named.
"""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import given, strategies as st

import scratchnet.functional as F
from scratchnet import nn

from helpers import check_op, check_raises

INT_DTYPES = [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64]
LOSSES = [(F.cross_entropy, TF.cross_entropy), (F.nll_loss, TF.nll_loss)]


def _t(x):
    return torch.from_numpy(np.array(x, copy=True))


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
