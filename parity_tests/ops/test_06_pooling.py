"""max_pool2d and avg_pool2d against torch (forward, indices, backward), finite differences,
the naive loop oracles, torch's tie/NaN/ceil-mode/divisor rules, errors, lecture identities."""
import numpy as np
import pytest
import torch
from hypothesis import assume, given, strategies as st

import scratchnet.functional as F
from scratchnet.functional.pooling import avg_pool2d_naive, max_pool2d_naive

from helpers import assert_close, check_fd, check_op, check_raises, randn
from scratchnet.testing.strategies import as_pair as _as_pair, pool_cases

TF = torch.nn.functional


@given(pool_cases(max_pool=True))
def test_max_pool2d_matches_torch(case):
    x, kwargs = case
    out, grads = check_op(F.max_pool2d, TF.max_pool2d, (x,), kwargs)
    values = out[0] if kwargs["return_indices"] else out
    assert values.dtype == x.dtype and grads[0].dtype == x.dtype
    if kwargs["return_indices"]:
        assert out[1].dtype == np.int64


@given(pool_cases(max_pool=False))
def test_avg_pool2d_matches_torch(case):
    x, kwargs = case
    out, grads = check_op(F.avg_pool2d, TF.avg_pool2d, (x,), kwargs)
    assert out.dtype == x.dtype and grads[0].dtype == x.dtype


def _compare_with_naive(fast, naive, x, kwargs):
    out, backward = F.vjp(fast, x, **kwargs)
    ref, ref_backward = F.vjp(naive, x, **kwargs)
    tol = dict(rtol=1e-12, atol=1e-14) if x.dtype == np.float64 else dict(rtol=1e-6, atol=1e-7)
    for a, b in zip(out if isinstance(out, tuple) else (out,), ref if isinstance(ref, tuple) else (ref,)):
        assert_close(a, b, what="output", **tol)
    g = np.random.default_rng(2).standard_normal((out[0] if isinstance(out, tuple) else out).shape).astype(x.dtype)
    assert_close(backward(g)[0], ref_backward(g)[0], what="grad", **tol)


@given(pool_cases(max_pool=True))
def test_max_pool2d_fast_equals_naive(case):
    _compare_with_naive(F.max_pool2d, max_pool2d_naive, *case)


@given(pool_cases(max_pool=False))
def test_avg_pool2d_fast_equals_naive(case):
    _compare_with_naive(F.avg_pool2d, avg_pool2d_naive, *case)


@pytest.mark.parametrize("fn", [max_pool2d_naive, avg_pool2d_naive])
def test_naive_pools_match_torch(fn):
    rng = np.random.default_rng(3)
    x = randn(rng, (2, 3, 7, 6))
    torch_fn = TF.max_pool2d if fn is max_pool2d_naive else TF.avg_pool2d
    check_op(fn, torch_fn, (x,), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True))


# ----------------------------------------------------------------------------- finite differences


def _distinct(rng, shape):
    """Values at least 0.1 apart: no ties, so max pooling is differentiable at x."""
    return (rng.permutation(int(np.prod(shape))).reshape(shape) * 0.1
            + rng.uniform(0, 0.01, shape))


@pytest.mark.parametrize("kwargs", [
    dict(kernel_size=2),
    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
    dict(kernel_size=(3, 2), stride=1, padding=(1, 0), dilation=(1, 2)),
])
@pytest.mark.parametrize("fn", [F.max_pool2d, max_pool2d_naive], ids=["fast", "naive"])
def test_max_pool2d_finite_differences(fn, kwargs):
    check_fd(fn, (_distinct(np.random.default_rng(4), (2, 2, 6, 5)),), kwargs)


@pytest.mark.parametrize("kwargs", [
    dict(kernel_size=2),
    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
    dict(kernel_size=(2, 3), stride=1, padding=(1, 1), divisor_override=5),
])
@pytest.mark.parametrize("fn", [F.avg_pool2d, avg_pool2d_naive], ids=["fast", "naive"])
def test_avg_pool2d_finite_differences(fn, kwargs):
    check_fd(fn, (np.random.default_rng(5).standard_normal((2, 2, 6, 5)),), kwargs)


# ----------------------------------------------------------------------------- torch's rules


@pytest.mark.parametrize("fn", [F.max_pool2d, max_pool2d_naive], ids=["fast", "naive"])
def test_ties_pick_the_first_max_and_get_the_whole_gradient(fn):
    x = np.ones((1, 1, 4, 4))
    (values, idx), grads = check_op(fn, TF.max_pool2d, (x,), dict(kernel_size=2, return_indices=True))
    np.testing.assert_array_equal(idx[0, 0], [[0, 2], [8, 10]])  # each window's top-left
    g = np.arange(1.0, 5.0).reshape(1, 1, 2, 2)
    _, backward = F.vjp(fn, x, kernel_size=2)
    expected = np.zeros((4, 4))
    expected[::2, ::2] = g[0, 0]
    np.testing.assert_array_equal(backward(g)[0][0, 0], expected)


@pytest.mark.parametrize("fn", [F.max_pool2d, max_pool2d_naive], ids=["fast", "naive"])
def test_overlapping_windows_accumulate_gradient(fn):
    # One global max covered by all four 3x3 windows (stride 1): it collects every gradient.
    x = np.zeros((1, 1, 4, 4))
    x[0, 0, 1, 2] = 5.0
    out, backward = F.vjp(fn, x, kernel_size=3, stride=1)
    np.testing.assert_array_equal(out[0, 0], np.full((2, 2), 5.0))
    g = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
    grad = backward(g)[0]
    assert grad[0, 0, 1, 2] == 10.0 and grad.sum() == 10.0
    check_op(fn, TF.max_pool2d, (x + np.random.default_rng(6).uniform(0, 0.1, x.shape),),
             dict(kernel_size=3, stride=1))


@pytest.mark.parametrize("fn", [F.max_pool2d, max_pool2d_naive], ids=["fast", "naive"])
def test_nan_wins_and_the_last_nan_is_chosen(fn):
    x = np.array([[[[1.0, np.nan, 3.0, 0.0],
                    [np.nan, 9.0, 2.0, 1.0]]]])
    (values, idx), _ = check_op(fn, TF.max_pool2d, (x,), dict(kernel_size=2, return_indices=True))
    assert np.isnan(values[0, 0, 0, 0]) and values[0, 0, 0, 1] == 3.0
    assert idx[0, 0, 0, 0] == 4  # the NaN at (1, 0), scanned after the one at (0, 1)


@pytest.mark.parametrize("fn", [F.max_pool2d, max_pool2d_naive], ids=["fast", "naive"])
def test_all_minus_inf_window_reports_its_first_in_bounds_pixel(fn):
    x = np.full((1, 1, 2, 2), -np.inf)
    (values, idx), _ = check_op(fn, TF.max_pool2d, (x,),
                                dict(kernel_size=2, stride=1, padding=1, return_indices=True))
    np.testing.assert_array_equal(values, -np.inf)
    np.testing.assert_array_equal(idx[0, 0], [[0, 0, 1], [0, 0, 1], [2, 2, 3]])


@pytest.mark.parametrize("fn", [F.max_pool2d, max_pool2d_naive], ids=["fast", "naive"])
def test_ceil_mode_windows_start_in_padding(fn):
    rng = np.random.default_rng(7)
    x = randn(rng, (1, 2, 5, 5))
    # 5 + 2 - 3 = 4 -> floor 2 + 1 = 3 windows; ceil gives 4 but the 4th (start 6) would
    # begin in the right padding (>= 5 + 1), so torch drops it.
    for kwargs, size in [(dict(kernel_size=3, stride=2, padding=1, ceil_mode=True), 3),
                         (dict(kernel_size=2, stride=2, padding=1, ceil_mode=True), 3),
                         (dict(kernel_size=3, stride=3, ceil_mode=True), 2),
                         (dict(kernel_size=4, stride=3, padding=2, ceil_mode=True), 3)]:
        out, _ = check_op(fn, TF.max_pool2d, (x,), kwargs)
        assert out.shape[-1] == size


@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("fn", [F.avg_pool2d, avg_pool2d_naive], ids=["fast", "naive"])
def test_avg_pool_divisor_rules_with_ceil_mode(fn, count_include_pad):
    # Ones in, so each output *is* (real pixels) / divisor: the divisor rule made visible.
    x = np.ones((1, 1, 5, 5))
    kwargs = dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=count_include_pad)
    out, _ = check_op(fn, TF.avg_pool2d, (x,), kwargs)
    if count_include_pad:
        # Row counts: windows [-1,2), [1,4), [3,6): real 2,3,2 pixels, divisor 3 (clipped at 6 = H+p).
        real = np.array([2, 3, 2])
        np.testing.assert_allclose(out[0, 0], np.outer(real, real) / 9)
    else:
        np.testing.assert_array_equal(out[0, 0], 1.0)


@pytest.mark.parametrize("fn", [F.avg_pool2d, avg_pool2d_naive], ids=["fast", "naive"])
def test_avg_pool_ceil_window_hanging_past_the_padding(fn):
    # H=4, k=3, s=2, p=1, ceil: windows start at -1, 1, 3; the last covers rows [3, 6) but
    # the padded input ends at 5, so with count_include_pad its rows count 2, not 3.
    x = np.ones((1, 1, 4, 4))
    out, _ = check_op(fn, TF.avg_pool2d, (x,), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True))
    assert out.shape == (1, 1, 3, 3)
    np.testing.assert_allclose(out[0, 0, 2, 1], 3 / (2 * 3))  # 1 real row x 3 columns
    np.testing.assert_allclose(out[0, 0, 2, 2], 1 / (2 * 2))
    np.testing.assert_allclose(out[0, 0, 0, 0], 4 / 9)
    out, _ = check_op(fn, TF.avg_pool2d, (x,), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True,
                                                    count_include_pad=False))
    np.testing.assert_array_equal(out, 1.0)


@pytest.mark.parametrize("divisor", [1, 3, -2, 7])
def test_avg_pool_divisor_override(divisor):
    x = np.random.default_rng(8).standard_normal((2, 3, 6, 6))
    out, _ = check_op(F.avg_pool2d, TF.avg_pool2d, (x,), dict(kernel_size=2, padding=1, divisor_override=divisor))
    # Every 2x2 window of the padded input summed, then divided by the override.
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    sums = sum(xp[..., a::2, b::2][..., :4, :4] for a in (0, 1) for b in (0, 1))
    np.testing.assert_allclose(out, sums / divisor, rtol=1e-12)


@pytest.mark.parametrize("fn,torch_fn", [(F.max_pool2d, TF.max_pool2d), (F.avg_pool2d, TF.avg_pool2d)])
def test_edge_shapes(fn, torch_fn):
    rng = np.random.default_rng(9)
    for dtype in (np.float64, np.float32):
        check_op(fn, torch_fn, (randn(rng, (1, 3, 5, 5), dtype),), dict(kernel_size=2))            # batch 1
        check_op(fn, torch_fn, (randn(rng, (2, 3, 5, 4), dtype),), dict(kernel_size=1))            # 1x1
        check_op(fn, torch_fn, (randn(rng, (2, 3, 5, 4), dtype),), dict(kernel_size=1, stride=2))
        check_op(fn, torch_fn, (randn(rng, (2, 3, 5, 5), dtype),), dict(kernel_size=4, padding=2))  # p = k/2
        check_op(fn, torch_fn, (randn(rng, (2, 3, 5, 5), dtype),), dict(kernel_size=(3, 2), padding=(1, 1), stride=1))
        out, grads = check_op(fn, torch_fn, (randn(rng, (3, 6, 6), dtype),), dict(kernel_size=2))  # unbatched
        assert out.shape == (3, 3, 3) and grads[0].shape == (3, 6, 6)
        out, _ = check_op(fn, torch_fn, (randn(rng, (0, 3, 6, 6), dtype),), dict(kernel_size=2))  # empty batch
        assert out.shape == (0, 3, 3, 3)
        check_op(fn, torch_fn, (randn(rng, (64, 10, 24, 24), dtype),), dict(kernel_size=2))      # lecture


@pytest.mark.parametrize("kwargs", [dict(kernel_size=2), dict(kernel_size=3, stride=1, padding=1)])
def test_max_pool_non_finite_upstream_gradient_reaches_only_the_argmax(kwargs):
    x = np.random.default_rng(12).standard_normal((1, 2, 6, 6))
    out, backward = F.vjp(F.max_pool2d, x, **kwargs)
    g = np.random.default_rng(13).standard_normal(out.shape)
    g[0, 0, 1, 1], g[0, 1, 0, 2] = np.inf, np.nan
    tx = torch.from_numpy(x).requires_grad_()
    (expected,) = torch.autograd.grad(TF.max_pool2d(tx, **kwargs), [tx], torch.from_numpy(g))
    assert_close(backward(g)[0], expected.numpy(), rtol=1e-12, atol=0, what="grad")


def test_return_indices_unbatched_and_vjp_takes_the_values_gradient():
    x = np.random.default_rng(10).standard_normal((2, 5, 5))
    (values, idx), grads = check_op(F.max_pool2d, TF.max_pool2d, (x,),
                                    dict(kernel_size=2, stride=1, return_indices=True))
    assert values.shape == idx.shape == (2, 4, 4) and grads[0].shape == x.shape
    # Indices are flat positions in the input plane: gathering them gives the values.
    np.testing.assert_array_equal(np.take_along_axis(x.reshape(2, -1), idx.reshape(2, -1), 1).reshape(2, 4, 4), values)


# ----------------------------------------------------------------------------- errors


def _x(*shape, dtype=np.float32):
    return np.zeros(shape, dtype=dtype)


_BAD_COMMON = [
    ((_x(4, 4),), dict(kernel_size=2), "3-D"),
    ((_x(2, 0, 4, 4),), dict(kernel_size=2), "non-zero"),
    ((_x(0, 4, 4),), dict(kernel_size=2), "non-zero"),
    ((_x(1, 2, 4, 4),), dict(kernel_size=5), "too small"),
    ((_x(1, 2, 4, 1),), dict(kernel_size=2), "too small"),
    ((_x(1, 2, 4, 4),), dict(kernel_size=0), "kernel_size"),
    ((_x(1, 2, 4, 4),), dict(kernel_size=(2, 2, 2)), "kernel_size"),
    ((_x(1, 2, 4, 4),), dict(kernel_size=2, stride=0), "stride"),
    ((_x(1, 2, 4, 4),), dict(kernel_size=2, stride=(1, 1, 1)), "stride"),
    ((_x(1, 2, 4, 4),), dict(kernel_size=2, padding=-1), "padding"),
    ((_x(1, 2, 4, 4),), dict(kernel_size=3, padding=2), "at most half"),
    ((_x(1, 2, 4, 4),), dict(kernel_size=(3, 4), padding=(1, 3)), "at most half"),
]


@pytest.mark.parametrize("args,kwargs,match", _BAD_COMMON + [
    ((_x(1, 2, 4, 4),), dict(kernel_size=2, dilation=0), "dilation"),
    ((_x(1, 2, 9, 9),), dict(kernel_size=2, dilation=3, padding=3), "effective kernel"),
    # Half the dilated kernel (4 // 2) would allow 2, but torch also bounds it by 2 // 2.
    ((_x(1, 2, 9, 9),), dict(kernel_size=2, dilation=3, padding=2), "at most half of kernel"),
    ((_x(1, 2, 9, 9),), dict(kernel_size=2, dilation=3, padding=2, return_indices=True), "half of kernel"),
])
@pytest.mark.parametrize("fn", [F.max_pool2d, max_pool2d_naive], ids=["fast", "naive"])
def test_max_pool2d_rejects_what_torch_rejects(fn, args, kwargs, match):
    check_raises(fn, TF.max_pool2d, args, kwargs, match=match)


@pytest.mark.parametrize("args,kwargs,match", _BAD_COMMON + [
    ((_x(1, 2, 4, 4),), dict(kernel_size=2, divisor_override=0), "divisor"),
    ((_x(1, 2, 9, 9),), dict(kernel_size=3, padding=2), "at most half of kernel"),
])
@pytest.mark.parametrize("fn", [F.avg_pool2d, avg_pool2d_naive], ids=["fast", "naive"])
def test_avg_pool2d_rejects_what_torch_rejects(fn, args, kwargs, match):
    check_raises(fn, TF.avg_pool2d, args, kwargs, match=match)


@pytest.mark.parametrize("fn", [F.max_pool2d, F.avg_pool2d])
def test_pools_reject_non_float_input(fn):
    # torch max-pools integer tensors; scratchnet keeps to float32/float64 like every op.
    with pytest.raises(TypeError, match=fn.__name__ + ".*float32 or float64"):
        fn(np.zeros((1, 2, 4, 4), dtype=np.int64), 2)


# ----------------------------------------------------------------------------- lectures


def test_lecture_2x2_max_pool_example():
    x = np.array([[1, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]], dtype=np.float64)[None, None]
    np.testing.assert_array_equal(F.max_pool2d(x, 2)[0, 0], [[6, 8], [3, 4]])
    np.testing.assert_array_equal(F.avg_pool2d(x, 2)[0, 0], [[13 / 4, 21 / 4], [2, 2]])
    check_op(F.max_pool2d, TF.max_pool2d, (x,), dict(kernel_size=2, return_indices=True))


@given(
    seed=st.integers(0, 2**32 - 1),
    act=st.sampled_from(["relu", "sigmoid", "tanh", "logsigmoid"]),
    kernel=st.integers(1, 3),
    stride=st.integers(1, 3),
    dtype=st.sampled_from([np.float32, np.float64]),
)
def test_max_pool_commutes_with_non_decreasing_activations(seed, act, kernel, stride, dtype):
    # f(max x) = max f(x) for non-decreasing f: pooling before the activation is cheaper.
    f = getattr(F, act)
    x = randn(np.random.default_rng(seed), (2, 3, 7, 7), dtype, scale=3.0)
    np.testing.assert_array_equal(F.max_pool2d(f(x), kernel, stride), f(F.max_pool2d(x, kernel, stride)))
