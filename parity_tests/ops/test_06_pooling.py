"""max_pool2d and avg_pool2d, the lectures' pooling, against torch and against themselves.

What this file proves, in order:

1. torch parity (forward, indices, backward), finite differences, the naive loop oracles,
   torch's tie/NaN/ceil-mode/divisor rules, torch's errors on bad input, the lectures'
   identities.
2. readable == fast: every kernel (functional/fast/pooling.py) is run against the textbook
   op (``with F.textbook():``), the naive loops and torch, on both sides of each route:
   max pooling's mask route (tiling windows, batch-innermost or small input, ties) and its
   tap route, tiling and overlapping windows, ties, NaN, -inf windows, padding, ceil mode,
   dilation, return_indices, unbatched and empty input, and non-contiguous inputs and
   upstream gradients. The textbook ops are also checked against torch on their own.
3. empty shapes and non-finite values (NaN, +-inf) in the input and in the upstream
   gradient: torch's answer or torch's refusal (the shared checks of ``edge_cases.py``);
   an unselected inf gradient gives exactly 0.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import assume, given, strategies as st

import scratchnet.functional as F
from scratchnet.functional.fast import pooling as fast_pool
from scratchnet.functional.pooling import avg_pool2d_naive, max_pool2d_naive

import edge_cases as edge
from helpers import assert_close, check_fd, check_op, check_raises, kernel_and_textbook, randn
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


# ============================ the tuned kernels equal the textbook pools and the loops
DTYPES = [np.float32, np.float64]


#: Kernel vs textbook where only the order of a sum differs.
CLOSE = {np.dtype(np.float64): dict(rtol=1e-7, atol=1e-12), np.dtype(np.float32): dict(rtol=1e-4, atol=1e-5)}


def test_the_pooling_kernels_are_registered():
    assert F.kernel_of(F.max_pool2d) is fast_pool.max_pool2d_kernel
    assert F.kernel_of(F.avg_pool2d) is fast_pool.avg_pool2d_kernel


def _chwn(a):
    """``a`` (N, C, H, W) copied into (C, H, W, N) memory, as a conv's output lies."""
    return np.ascontiguousarray(a.transpose(1, 2, 3, 0)).transpose(3, 0, 1, 2)


def _layout(a, name):
    """The same values as ``a`` in another memory layout (a view where one exists)."""
    if name == "c":
        return np.ascontiguousarray(a)
    if name == "batch_innermost":
        return _chwn(a)
    if name == "fortran":
        return np.asfortranarray(a)
    if name == "transposed":  # H and W swapped in memory
        return np.ascontiguousarray(np.swapaxes(a, -1, -2)).swapaxes(-1, -2)
    if name == "step_sliced":
        big = np.zeros(a.shape[:-2] + (2 * a.shape[-2], 3 * a.shape[-1]), a.dtype)
        big[..., ::2, ::3] = a
        return big[..., ::2, ::3]
    if name == "negative":
        return np.ascontiguousarray(a[..., ::-1, ::-1])[..., ::-1, ::-1]
    raise ValueError(name)


LAYOUTS = ["c", "batch_innermost", "fortran", "transposed", "step_sliced", "negative"]


def _data(rng, shape, dtype, kind):
    if kind == "random":
        return rng.standard_normal(shape).astype(dtype)
    x = rng.integers(-2, 3, shape).astype(dtype)  # small integers: ties in most windows
    if kind == "nan":
        x[rng.random(shape) < 0.1] = np.nan
    if kind == "-inf":
        x[rng.random(shape) < 0.4] = -np.inf
    return x


MAX_CASES = [
    dict(kernel_size=2),                                          # tiling
    dict(kernel_size=(3, 2)),                                     # tiling, 6 x 4 input
    dict(kernel_size=2, stride=1),                                # overlapping
    dict(kernel_size=3, stride=2, padding=1),                     # windows in padding
    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
    dict(kernel_size=2, stride=2, padding=1, ceil_mode=True),
    dict(kernel_size=(3, 2), stride=1, padding=(1, 0), dilation=(1, 2)),
    dict(kernel_size=2, stride=1, padding=1, dilation=2),
    dict(kernel_size=1, stride=2),
]


def _pool_runs(fn, naive, x, kwargs, g_layout="c", seed=0):
    """Kernel, textbook and naive ``(out, grad)`` of one call, with one random upstream gradient."""
    values = F.max_pool2d(x, **{k: v for k, v in kwargs.items() if k != "return_indices"}) \
        if fn is F.max_pool2d else fn(x, **kwargs)
    g = np.random.default_rng(seed).standard_normal(values.shape).astype(x.dtype)
    g = _layout(g, g_layout) if g.ndim == 4 else g
    runs = kernel_and_textbook(fn, (x,), kwargs, g)
    out, backward = F.vjp(naive, x, **kwargs)
    return runs + [(out, backward(g))]


def _outputs(out):
    return out if isinstance(out, tuple) else (out,)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["random", "ties", "nan", "-inf"])
@pytest.mark.parametrize("kwargs", MAX_CASES)
def test_max_pool_kernel_equals_textbook_and_naive(kwargs, kind, dtype):
    rng = np.random.default_rng(len(str(kwargs)))
    x = _data(rng, (3, 2, 6, 4), dtype, kind)
    kwargs = dict(kwargs, return_indices=True)
    (k_out, k_grad), (t_out, t_grad), (n_out, n_grad) = _pool_runs(F.max_pool2d, max_pool2d_naive, x, kwargs)
    for a, b, c in zip(k_out, t_out, n_out):  # values and indices: exact, as torch's scan
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)
        assert a.dtype == b.dtype == c.dtype
    # Kernel and textbook add the taps in the same order; the naive loop window by window.
    np.testing.assert_array_equal(k_grad[0], t_grad[0])
    assert_close(k_grad[0], n_grad[0], what="grad vs naive", **CLOSE[np.dtype(dtype)])
    with F.textbook():
        check_op(F.max_pool2d, TF.max_pool2d, (x,), kwargs)
    check_op(F.max_pool2d, TF.max_pool2d, (x,), kwargs)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kwargs", [
    dict(kernel_size=2), dict(kernel_size=2, stride=1), dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
    dict(kernel_size=2, stride=2, padding=1, ceil_mode=True),
    dict(kernel_size=(2, 3), stride=1, padding=(1, 1), divisor_override=5),
    dict(kernel_size=(3, 2), divisor_override=-2),
])
def test_avg_pool_kernel_equals_textbook_and_naive(kwargs, dtype):
    x = np.random.default_rng(3).standard_normal((3, 2, 6, 4)).astype(dtype)
    (k_out, k_grad), (t_out, t_grad), (n_out, n_grad) = _pool_runs(F.avg_pool2d, avg_pool2d_naive, x, kwargs)
    tol = CLOSE[np.dtype(dtype)]
    assert k_out.dtype == t_out.dtype == dtype
    assert_close(k_out, t_out, what="output", **tol)
    assert_close(k_out, n_out, what="output vs naive", **tol)
    np.testing.assert_array_equal(k_grad[0], t_grad[0])  # the same shares, added in tap order
    assert_close(k_grad[0], n_grad[0], what="grad vs naive", **tol)
    with F.textbook():
        check_op(F.avg_pool2d, TF.avg_pool2d, (x,), kwargs)


def test_avg_pool_memo_keeps_every_divisor_rule_apart():
    """The kernel remembers each call's divisor with its geometry: calls on one input shape
    that differ only in ``count_include_pad`` or ``divisor_override`` must each get their own."""
    rng = np.random.default_rng(21)
    x = rng.standard_normal((2, 3, 5, 6)).astype(np.float32)
    rules = [dict(count_include_pad=True), dict(count_include_pad=False), dict(divisor_override=3),
             dict(divisor_override=-2), dict(count_include_pad=False, divisor_override=3)]
    for _ in range(2):  # the second round runs on what the first one memoized
        for rule in rules:
            kwargs = dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, **rule)
            g = rng.standard_normal(F.avg_pool2d(x, **kwargs).shape).astype(np.float32)
            (out, grads), (ref, ref_grads) = kernel_and_textbook(F.avg_pool2d, (x,), kwargs, g)
            assert_close(out, ref, what=f"output, {rule}", **CLOSE[x.dtype])  # sums in another order
            np.testing.assert_array_equal(grads[0], ref_grads[0])  # the same shares


@pytest.mark.parametrize("kwargs,uniform", [
    (dict(kernel_size=2), True),                                    # tiling windows: one count
    (dict(kernel_size=3, stride=2, padding=1, count_include_pad=False), False),
    (dict(kernel_size=3, stride=2, padding=1, divisor_override=4), True),
])
def test_avg_pool_divisor_is_shared_read_only_and_0d_when_every_window_has_the_same(kwargs, uniform):
    x = np.ones((2, 2, 6, 6))
    setup = fast_pool._setup("avg_pool2d", x, kwargs["kernel_size"], kwargs.get("stride"),
                             kwargs.get("padding", 0), 1, False, max_pool=False,
                             divisor=(kwargs.get("count_include_pad", True), kwargs.get("divisor_override")))
    divisor = setup[4]
    assert not divisor.flags.writeable
    assert divisor.ndim == (0 if uniform else 2)
    with F.textbook():
        expected = F.avg_pool2d(x, **kwargs)
    assert_close(F.avg_pool2d(x, **kwargs), expected, what="output", **CLOSE[x.dtype])


@pytest.mark.parametrize("g_layout", LAYOUTS)
@pytest.mark.parametrize("x_layout", LAYOUTS)
@pytest.mark.parametrize("kwargs", [dict(kernel_size=2), dict(kernel_size=3, stride=1, padding=1)])
def test_pool_kernels_accept_every_layout_of_input_and_upstream_gradient(kwargs, x_layout, g_layout):
    rng = np.random.default_rng(4)
    x = _layout(rng.standard_normal((3, 2, 6, 4)), x_layout)
    for fn, naive in ((F.max_pool2d, max_pool2d_naive), (F.avg_pool2d, avg_pool2d_naive)):
        (k_out, k_grad), (t_out, t_grad), (n_out, n_grad) = _pool_runs(fn, naive, x, kwargs, g_layout)
        assert_close(k_out, t_out, what="output", rtol=1e-12, atol=1e-14)
        assert_close(k_out, n_out, what="output vs naive", rtol=1e-12, atol=1e-14)
        np.testing.assert_array_equal(k_grad[0], t_grad[0])
        assert_close(k_grad[0], n_grad[0], what="grad vs naive", rtol=1e-12, atol=1e-14)
        assert k_grad[0].shape == x.shape


# -- max pool's two routes -------------------------------------------------------------------
@pytest.fixture
def mask_calls(monkeypatch):
    """The results of the kernel's :func:`_max_mask` calls (``None``: the mask was refused)."""
    taken = []
    real = fast_pool._max_mask
    monkeypatch.setattr(fast_pool, "_max_mask", lambda *a: taken.append(real(*a)) or taken[-1])
    return taken


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layout", ["nchw", "chwn", "unbatched"])
@pytest.mark.parametrize("data", ["unique", "ties", "nan", "inf_grad"])
def test_tiling_max_pool_mask_route_equals_the_naive_oracle(mask_calls, dtype, layout, data):
    rng = np.random.default_rng(11)
    x = rng.standard_normal((3, 2, 6, 4)).astype(dtype)
    if data == "ties":
        x[0, 0, 2:4, 0:2] = 5.0                    # one window of four equal maxima
    if data == "nan":
        x[0, 1, 0, 3] = np.nan
    x = {"nchw": x, "chwn": _chwn(x), "unbatched": x[0]}[layout]
    kernel = (2, 2) if layout != "chwn" else (3, 2)
    out, backward = F.vjp(F.max_pool2d, x, kernel)
    ref, ref_backward = F.vjp(max_pool2d_naive, x, kernel)
    with F.textbook():
        book, book_backward = F.vjp(F.max_pool2d, x, kernel)
    g = rng.standard_normal(out.shape).astype(dtype)
    if data == "inf_grad":
        g.flat[0], g.flat[-1] = np.inf, -np.inf   # selected or not, torch routes it exactly
    np.testing.assert_array_equal(out, ref)
    np.testing.assert_array_equal(out, book)
    np.testing.assert_array_equal(backward(g)[0], ref_backward(g)[0])
    np.testing.assert_array_equal(backward(g)[0], book_backward(g)[0])
    assert backward(g)[0].strides == x.strides  # the input's memory layout, as before
    # The mask route is tried where the batch is the innermost memory axis (a conv's
    # output) or, as here, the input is small; it is refused where a window's max is NaN
    # (ties stay on it: the first maximum keeps the mark).
    assert x.size <= fast_pool.MASK_ROUTE_MAX_ELEMENTS
    assert [m is not None for m in mask_calls] == [data != "nan"]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("g_layout", ["batch_innermost", "c"])
@pytest.mark.parametrize("kernel", [2, (3, 2), (1, 2)])
def test_tied_windows_of_a_large_batch_innermost_input_stay_on_the_mask_route(mask_calls, dtype, g_layout,
                                                                              kernel):
    # A conv over blank background gives its bias in every tap of a window: real images
    # tie in many windows. A conv output's layout (batch innermost), too large for the
    # small-input rule, with ties in most windows and one window of four equal -inf.
    rng = np.random.default_rng(13)
    x = rng.integers(-2, 3, (16, 3, 24, 18)).astype(dtype)
    x[1, 2, 0:3, 0:2] = -np.inf
    x = _chwn(x)
    assert x.size > fast_pool.MASK_ROUTE_MAX_ELEMENTS and fast_pool._batch_innermost(x)
    kwargs = dict(kernel_size=kernel, return_indices=True)
    (k_out, k_grad), (t_out, t_grad), (n_out, n_grad) = _pool_runs(F.max_pool2d, max_pool2d_naive, x,
                                                                   kwargs, g_layout)
    for a, b, c in zip(k_out, t_out, n_out):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)
    np.testing.assert_array_equal(k_grad[0], t_grad[0])  # the first maximum of each window, bit for bit
    np.testing.assert_array_equal(k_grad[0], n_grad[0])  # tiling windows: one term per pixel
    assert k_grad[0].strides == x.strides
    assert len(mask_calls) == 1 and mask_calls[0] is not None
    check_op(F.max_pool2d, TF.max_pool2d, (x,), kwargs)


@pytest.mark.parametrize("shape,kwargs,tiles", [
    ((4, 2, 6, 4), dict(kernel_size=2), True),
    ((4, 2, 5, 4), dict(kernel_size=2), False),                 # a row left over
    ((4, 2, 6, 4), dict(kernel_size=2, stride=1), False),       # overlapping
    ((4, 2, 6, 4), dict(kernel_size=2, padding=1), False),      # padded
    ((4, 2, 6, 4), dict(kernel_size=(1, 2), dilation=(2, 1)), False),
    ((1, 2, 6, 4), dict(kernel_size=2), True),                  # batch 1: never batch-innermost
    ((2, 3, 40, 40), dict(kernel_size=2), True),                # large: only batch-innermost
    ((1, 3, 64, 64), dict(kernel_size=2), True),                # large, batch 1: the tap route
])
@pytest.mark.parametrize("layout", ["chwn", "c"])
def test_max_pool_mask_route_only_where_windows_tile_a_batch_innermost_or_small_input(mask_calls, shape,
                                                                                     kwargs, tiles, layout):
    rng = np.random.default_rng(12)
    x = rng.standard_normal(shape)
    x = _chwn(x) if layout == "chwn" else x
    g_shape = F.max_pool2d(x, **kwargs).shape
    g = rng.standard_normal(g_shape)
    (out, grads), (ref, ref_grads) = kernel_and_textbook(F.max_pool2d, (x,), kwargs, g)
    np.testing.assert_array_equal(out, ref)
    np.testing.assert_array_equal(grads[0], ref_grads[0])
    geo = fast_pool._setup("max_pool2d", x, kwargs["kernel_size"], kwargs.get("stride"),
                           kwargs.get("padding", 0), kwargs.get("dilation", 1), False, max_pool=True)[2]
    assert fast_pool._windows_tile_input(geo) == tiles
    small = x.size <= fast_pool.MASK_ROUTE_MAX_ELEMENTS
    batch_innermost = layout == "chwn" and shape[0] > 1
    assert len(mask_calls) == (1 if tiles and (small or batch_innermost) else 0)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layout", ["c", "batch_innermost"])
def test_max_pool_ties_go_to_the_first_maximum_and_nan_to_the_last_on_every_route(dtype, layout):
    x = np.array([[[[1.0, 1.0, 3.0, np.nan],
                    [1.0, 0.0, np.nan, 2.0]]]], dtype)
    x = _layout(np.concatenate([x, x + 0], axis=0), layout)  # batch 2: the mask route may apply
    for textbook in (False, True):
        if textbook:
            with F.textbook():
                (values, idx), backward = F.vjp(F.max_pool2d, x, 2, return_indices=True)
        else:
            (values, idx), backward = F.vjp(F.max_pool2d, x, 2, return_indices=True)
        np.testing.assert_array_equal(idx[:, 0, 0], [[0, 6], [0, 6]])  # first 1.0; last NaN
        assert values[0, 0, 0, 0] == 1.0 and np.isnan(values[0, 0, 0, 1])
        g = np.array([[[[2.0, 3.0]]], [[[4.0, 5.0]]]], dtype)
        expected = np.zeros(x.shape, dtype)
        expected[:, 0, 0, 0] = [2.0, 4.0]
        expected[:, 0, 1, 2] = [3.0, 5.0]
        np.testing.assert_array_equal(backward(g)[0], expected)
    check_op(F.max_pool2d, TF.max_pool2d, (x,), dict(kernel_size=2, return_indices=True))


def test_a_dilated_window_that_misses_the_input_reports_torchs_start_and_sends_no_gradient():
    # H = 2, k = 2, p = 1, d = 3: window 0 reads rows -1 and 2, neither in the input.
    x = np.random.default_rng(13).standard_normal((2, 1, 2, 5))
    kwargs = dict(kernel_size=2, stride=1, padding=1, dilation=3, return_indices=True)
    (k_out, k_grad), (t_out, t_grad), (n_out, n_grad) = _pool_runs(F.max_pool2d, max_pool2d_naive, x, kwargs)
    assert k_out[0].shape[-2] == 1 and np.all(k_out[0] == -np.inf)
    for a, b, c in zip(k_out, t_out, n_out):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)
    np.testing.assert_array_equal(k_grad[0], 0.0)
    np.testing.assert_array_equal(t_grad[0], 0.0)
    np.testing.assert_array_equal(n_grad[0], 0.0)


@pytest.mark.parametrize("fn,naive", [(F.max_pool2d, max_pool2d_naive), (F.avg_pool2d, avg_pool2d_naive)])
@pytest.mark.parametrize("dtype", DTYPES)
def test_pool_kernels_on_unbatched_and_empty_input(fn, naive, dtype):
    rng = np.random.default_rng(14)
    for shape in ((2, 6, 4), (0, 2, 6, 4)):
        x = rng.standard_normal(shape).astype(dtype)
        for kwargs in (dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)):
            (k_out, k_grad), (t_out, t_grad), (n_out, n_grad) = _pool_runs(fn, naive, x, kwargs)
            assert k_out.shape == t_out.shape == n_out.shape and k_out.dtype == t_out.dtype == dtype
            assert_close(k_out, t_out, what="output", **CLOSE[np.dtype(dtype)])
            np.testing.assert_array_equal(k_grad[0], t_grad[0])
            assert k_grad[0].shape == t_grad[0].shape == x.shape
            with F.textbook():
                check_op(fn, getattr(TF, fn.__name__), (x,), kwargs)


@pytest.mark.parametrize("dtype", DTYPES)
def test_max_pool_non_finite_upstream_gradient_on_every_route(dtype):
    x = np.random.default_rng(15).standard_normal((3, 2, 6, 6)).astype(dtype)
    for x_in in (x, _chwn(x)):
        for kwargs in (dict(kernel_size=2), dict(kernel_size=3, stride=1, padding=1)):
            out = F.max_pool2d(x_in, **kwargs)
            g = np.random.default_rng(16).standard_normal(out.shape).astype(dtype)
            g[0, 0, 1, 1], g[1, 1, 0, 2], g[2, 0, 0, 0] = np.inf, np.nan, -np.inf
            (_, grads), (_, ref_grads) = kernel_and_textbook(F.max_pool2d, (x_in,), kwargs, g)
            np.testing.assert_array_equal(grads[0], ref_grads[0])
            tx = torch.from_numpy(x.copy()).requires_grad_()
            (expected,) = torch.autograd.grad(TF.max_pool2d(tx, **kwargs), [tx], torch.from_numpy(g.copy()))
            assert_close(ref_grads[0], expected.numpy(), what="grad vs torch", **CLOSE[np.dtype(dtype)])


# -- hypothesis: the textbook ops against torch, the kernels against the textbook ops --------
@given(pool_cases(max_pool=True))
def test_max_pool2d_textbook_matches_torch(case):
    x, kwargs = case
    with F.textbook():
        out, grads = check_op(F.max_pool2d, TF.max_pool2d, (x,), kwargs)
    values = out[0] if kwargs["return_indices"] else out
    assert values.dtype == x.dtype and grads[0].dtype == x.dtype


@given(pool_cases(max_pool=False))
def test_avg_pool2d_textbook_matches_torch(case):
    x, kwargs = case
    with F.textbook():
        out, grads = check_op(F.avg_pool2d, TF.avg_pool2d, (x,), kwargs)
    assert out.dtype == x.dtype and grads[0].dtype == x.dtype


@given(pool_cases(max_pool=True), st.sampled_from(LAYOUTS))
def test_max_pool2d_kernel_equals_textbook(case, layout):
    x, kwargs = case
    x = _layout(x, layout) if x.ndim == 4 else x
    values = F.max_pool2d(x, **{k: v for k, v in kwargs.items() if k != "return_indices"})
    g = np.random.default_rng(17).standard_normal(values.shape).astype(x.dtype)
    (out, grads), (ref, ref_grads) = kernel_and_textbook(F.max_pool2d, (x,), kwargs, g)
    for a, b in zip(_outputs(out), _outputs(ref)):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(grads[0], ref_grads[0])


@given(pool_cases(max_pool=False), st.sampled_from(LAYOUTS))
def test_avg_pool2d_kernel_equals_textbook(case, layout):
    x, kwargs = case
    x = _layout(x, layout) if x.ndim == 4 else x
    g = np.random.default_rng(18).standard_normal(F.avg_pool2d(x, **kwargs).shape).astype(x.dtype)
    (out, grads), (ref, ref_grads) = kernel_and_textbook(F.avg_pool2d, (x,), kwargs, g)
    assert_close(out, ref, what="output", **CLOSE[x.dtype])
    np.testing.assert_array_equal(grads[0], ref_grads[0])


# ======================================================================== empty shapes
@st.composite
def pool_case(draw, np_fn, torch_fn):
    shape = tuple(draw(edge.sizes) for _ in range(draw(st.sampled_from([3, 4]))))
    rng, dtype = np.random.default_rng(draw(st.integers(0, 2**16))), draw(edge.dtypes)
    k = draw(st.integers(1, 2))
    return np_fn, torch_fn, [edge.normal(rng, shape, dtype)], dict(kernel_size=k), None


EMPTY_SHAPE_CASES = {
    "max_pool2d": pool_case(F.max_pool2d, TF.max_pool2d),
    "avg_pool2d": pool_case(F.avg_pool2d, TF.avg_pool2d),
    "max_pool2d_naive": pool_case(max_pool2d_naive, TF.max_pool2d),
    "avg_pool2d_naive": pool_case(avg_pool2d_naive, TF.avg_pool2d),
}


@pytest.mark.parametrize("case", sorted(EMPTY_SHAPE_CASES))
@given(data=st.data())
def test_zero_size_dimensions_follow_torch(case, data):
    edge.zero_size_dimensions_follow_torch(*data.draw(EMPTY_SHAPE_CASES[case]))


# =================================================================== non-finite values
def _pool(np_fn, torch_fn):
    def build(rng, dtype):
        k = int(rng.integers(1, 4))
        kwargs = dict(kernel_size=k, stride=int(rng.integers(1, 3)), padding=int(rng.integers(0, k // 2 + 1)),
                      ceil_mode=bool(rng.random() < 0.3))
        if np_fn in (F.max_pool2d, max_pool2d_naive):
            kwargs["dilation"] = 1 if kwargs["padding"] else int(rng.integers(1, 3))
        else:
            kwargs["count_include_pad"] = bool(rng.random() < 0.5)
            kwargs["divisor_override"] = None if rng.random() < 0.7 else int(rng.integers(1, 5))
        # A few distinct values, so that max-pool windows hold ties.
        x = rng.integers(-2, 3, size=(2, 2, 5, 5)).astype(dtype)
        return dict(np_fn=np_fn, torch_fn=torch_fn, args=[x], kwargs=kwargs, poison=[0])
    return build


NON_FINITE_CASES = {
    "max_pool2d": _pool(F.max_pool2d, TF.max_pool2d),
    "avg_pool2d": _pool(F.avg_pool2d, TF.avg_pool2d),
    # The loop-by-loop oracles must agree with torch on non-finite input too.
    "max_pool2d_naive": _pool(max_pool2d_naive, TF.max_pool2d),
    "avg_pool2d_naive": _pool(avg_pool2d_naive, TF.avg_pool2d),
}


@pytest.mark.parametrize("case", sorted(NON_FINITE_CASES))
@given(**edge.NON_FINITE_DRAWS)
def test_non_finite_forward_and_backward_match_torch(case, seed, density, grad_density, dtype):
    edge.non_finite_forward_and_backward_match_torch(NON_FINITE_CASES[case], seed, density,
                                                     grad_density, dtype)


def test_max_pool_unselected_inf_gradient_is_zero():
    x = np.array([[[[1.0, 1.0], [0.0, np.nan]]]])
    _, (gx, _) = edge.grads(F.max_pool2d, [x, 1], np.array([[[[np.inf, -np.inf], [np.nan, 2.0]]]]))
    np.testing.assert_array_equal(gx, [[[[np.inf, -np.inf], [np.nan, 2.0]]]])
    _, (gx, _) = edge.grads(F.max_pool2d, [x, 2], np.array([[[[np.inf]]]]))
    np.testing.assert_array_equal(gx, [[[[0.0, 0.0], [0.0, np.inf]]]])  # the NaN wins
