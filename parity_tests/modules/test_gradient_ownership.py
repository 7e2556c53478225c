"""The training-step fast paths agree with the general code they short-cut, and with torch.

Each fast path (the dense class-index loss, a fresh parameter gradient kept without a
copy, the sparse C3 computed input map by input map) is checked against the path it
replaces, bit for bit where the arithmetic is the same, and against torch; and each
guard that sends a call back to the general path is exercised. (The sparse
convolution's own oracle tests are in test_sparse_conv.py; the pooling and linear
kernels' in test_pool_linear_kernels.py; SGD's kernel is proven equal to its textbook
rule in test_sgd_kernel.py.)
"""
from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import scratchnet.functional as F
from scratchnet import models, nn, optim, torch_models
from scratchnet.nn.parameter import Parameter

from helpers import assert_close, check_op

DTYPES = [np.float32, np.float64]


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


# (The batch-1 linear kernel's tests are in test_pool_linear_kernels.py.)


# ------------------------------------------------------------- gradient ownership
class _ParamThroughRelu(nn.Module):
    """A layer whose Parameter is the op's input: its gradient is also the returned one."""

    def __init__(self):
        super().__init__()
        self.p = Parameter(np.array([-1.0, 2.0, 3.0]))

    def forward(self):
        return self._call_functional(F.relu, self.p)


def test_a_gradient_also_returned_to_the_caller_is_copied_not_shared():
    layer = _ParamThroughRelu()
    layer()
    returned = layer.backward(np.array([1.0, 1.0, 1.0]))
    assert not np.shares_memory(returned, layer.p.grad)
    returned[...] = 100.0
    np.testing.assert_array_equal(layer.p.grad, [0.0, 1.0, 1.0])


def test_a_bias_gradient_that_is_a_view_of_grad_out_is_copied():
    layer = nn.Linear(3, 2, dtype=np.float64)
    layer(np.ones(3))  # 1-D input: the bias gradient is grad_out itself, reshaped
    g = np.array([1.0, 2.0])
    layer.backward(g)
    assert not np.shares_memory(g, layer.bias.grad)
    g[...] = 7.0
    np.testing.assert_array_equal(layer.bias.grad, [1.0, 2.0])


@pytest.mark.parametrize("name", ["mlp3", "basic-cnn", "lenet5-original"])
def test_gradients_of_earlier_steps_are_never_overwritten(name):
    model = models.build(name, dtype=np.float64)
    criterion = models.criterion(models.spec(name).loss)
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.5)
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((3, 1, 28, 28)), rng.integers(0, 10, 3)
    history = []
    for _ in range(3):
        opt.zero_grad()
        criterion(model(x), y)
        model.backward(criterion.backward())
        history.append([(p.grad, p.grad.copy()) for p in model.parameters()])
        opt.step()
    grads = [g for step in history for g, _ in step]
    for step in history:
        for held, snapshot in step:
            np.testing.assert_array_equal(held, snapshot)
    # and no two parameters of any two steps share a gradient buffer
    assert len({id(g) for g in grads}) == len(grads)
    for i, a in enumerate(grads):
        for b in grads[i + 1:]:
            assert not np.shares_memory(a, b)


def test_second_backward_accumulates_into_an_adopted_gradient():
    layer = nn.Linear(4, 3, dtype=np.float64)
    x = np.random.default_rng(3).standard_normal((5, 4))
    g = np.random.default_rng(4).standard_normal((5, 3))
    layer(x)
    layer.backward(g)
    first = layer.weight.grad.copy()
    layer.backward(g)
    np.testing.assert_allclose(layer.weight.grad, 2 * first, rtol=1e-15)


# -------------------------------------------------------------- SGD's work array
@pytest.mark.parametrize("momentum,nesterov,dampening,weight_decay,maximize", [
    (0.0, False, 0.0, 0.0, False), (0.9, False, 0.0, 0.0, False), (0.9, True, 0.0, 1e-2, False),
    (0.5, False, 0.3, 0.0, True),
])
def test_sgd_updates_params_of_mixed_sizes_and_dtypes_as_torch(momentum, nesterov, dampening,
                                                               weight_decay, maximize):
    rng = np.random.default_rng(5)
    shapes = [((7, 5), np.float32), ((3,), np.float64), ((20, 11), np.float32), ((4, 4), np.float64)]
    params = [Parameter(rng.standard_normal(s).astype(d)) for s, d in shapes]
    twins = [torch.nn.Parameter(torch.from_numpy(p.data.copy())) for p in params]
    kw = dict(lr=0.05, momentum=momentum, nesterov=nesterov, dampening=dampening,
              weight_decay=weight_decay, maximize=maximize)
    opt, topt = optim.SGD(params, **kw), torch.optim.SGD(twins, **kw)
    for _ in range(4):
        for p, t in zip(params, twins):
            g = rng.standard_normal(p.shape).astype(p.dtype)
            p.grad, t.grad = g, torch.from_numpy(g.copy())
        opt.step()
        topt.step()
    for p, t in zip(params, twins):
        assert p.data.dtype == t.detach().numpy().dtype
        tol = dict(rtol=1e-5, atol=1e-6) if p.dtype == np.float32 else dict(rtol=1e-12, atol=1e-14)
        assert_close(p.data, t.detach().numpy(), what="param", **tol)


# -------------------------------------------------------------- sparse C3, non-finite maps
def _sparse_pair(dtype=np.float64, **kw):
    rng = np.random.default_rng(6)
    layer = models.SparseConv2d(6, 5, models.LECUN_C3_TABLE, dtype=dtype, generator=rng, **kw)
    twin = torch_models.SparseConv2d(6, 5, models.LECUN_C3_TABLE, **kw).to(
        torch.float64 if dtype == np.float64 else torch.float32)
    twin.load_state_dict({k: torch.from_numpy(v) for k, v in layer.state_dict().items()})
    return layer, twin


# inf * 0 in the maps that do read the infinite one: NumPy flags it, on purpose here.
@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
def test_sparse_conv_keeps_an_infinite_map_out_of_outputs_that_do_not_read_it():
    layer, twin = _sparse_pair()
    x = np.random.default_rng(8).standard_normal((2, 6, 14, 14))
    x[:, 5] = np.inf  # outputs 0, 1, 2, 6, 7 and 12 do not read map 5
    out = layer(x)
    t_out = twin(torch.from_numpy(x)).detach().numpy()
    assert_close(out, t_out, rtol=1e-12, atol=1e-14, what="output")
    assert np.isfinite(out[:, [0, 1, 2, 6, 7, 12]]).all()


# inf * 0 in the maps that do read the infinite one: NumPy flags it, on purpose here.
@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
def test_sparse_conv_gradient_with_an_infinite_upstream_map_stays_local():
    layer, twin = _sparse_pair()
    rng = np.random.default_rng(9)
    x = rng.standard_normal((2, 6, 14, 14))
    g = rng.standard_normal((2, 16, 10, 10))
    g[:, 0] = np.inf  # output 0 reads maps 0, 1, 2 only
    layer(x)
    gx = layer.backward(g)
    tx = torch.from_numpy(x.copy()).requires_grad_(True)
    twin(tx).backward(torch.from_numpy(g))
    assert_close(gx, tx.grad.numpy(), rtol=1e-12, atol=1e-14, what="input grad")
    assert np.isfinite(gx[:, 3:]).all()


@pytest.mark.parametrize("dtype", DTYPES)
def test_lenet5_original_training_step_matches_its_torch_twin(dtype):
    name = "lenet5-original"
    model = models.build(name, dtype=dtype)
    twin = torch_models.build(name).to(torch.float64 if dtype == np.float64 else torch.float32)
    twin.load_state_dict({k: torch.from_numpy(v) for k, v in model.state_dict().items()})
    rng = np.random.default_rng(10)
    x, y = rng.standard_normal((4, 1, 28, 28)).astype(dtype), rng.integers(0, 10, 4)
    criterion = models.criterion("cross_entropy")
    loss = criterion(model(x), y)
    model.backward(criterion.backward())
    t_loss = torch.nn.functional.cross_entropy(twin(torch.from_numpy(x)), torch.from_numpy(y))
    t_loss.backward()
    tol = dict(rtol=1e-4, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-12)
    assert_close(loss, t_loss.detach().numpy(), what="loss", **tol)
    t_params = dict(twin.named_parameters())
    for pname, p in model.named_parameters():
        assert p.grad.dtype == dtype
        assert_close(p.grad, t_params[pname].grad.numpy(), what=pname, **tol)


# ------------------------------------------------------------------- grad mode
def test_grad_mode_is_per_thread_and_enabled_by_default_in_a_new_thread():
    seen = []
    with nn.no_grad():
        worker = threading.Thread(target=lambda: seen.append(nn.is_grad_enabled()))
        worker.start()
        worker.join()
        assert not nn.is_grad_enabled()
    assert seen == [True] and nn.is_grad_enabled()


def test_only_a_fresh_gradient_becomes_grad_without_a_copy():
    p = Parameter(np.zeros(3))
    g = np.array([1.0, 2.0, 3.0])
    p.accumulate_grad(g, fresh=True)
    assert p.grad is g
    q = Parameter(np.zeros(3))
    q.accumulate_grad(g)  # no promise: copied
    assert q.grad is not g and not np.shares_memory(q.grad, g)
    g32 = np.ones(3, np.float32)  # another dtype is cast, whatever the promise
    q2 = Parameter(np.zeros(3))
    q2.accumulate_grad(g32, fresh=True)
    assert q2.grad.dtype == np.float64


def test_an_op_without_the_fresh_promise_has_its_gradient_copied():
    @F.differentiable
    def scale_by(input, weight):  # hands grad_out back as weight's gradient
        return input * weight, lambda grad_out: {"input": grad_out * weight, "weight": grad_out}

    class Scale(nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = Parameter(np.ones(3))

        def forward(self, x):
            return self._call_functional(scale_by, x, self.weight)

    layer = Scale()
    layer(np.ones(3))
    g = np.array([1.0, 2.0, 3.0])
    layer.backward(g)
    assert not np.shares_memory(layer.weight.grad, g)
    assert not F.registration(scale_by).fresh_grads
    assert F.registration(F.linear).fresh_grads and F.registration(F.conv2d).fresh_grads


def test_no_engine_module_reads_reference_counts():
    import pathlib
    import scratchnet
    root = pathlib.Path(scratchnet.__file__).parent
    for path in root.rglob("*.py"):
        assert "getrefcount" not in path.read_text(), path


# ------------------------------------------------------------- memoized validation
def test_a_memoized_conv_or_pool_call_gives_what_a_fresh_one_gives():
    from scratchnet.functional.fast import _memo

    rng = np.random.default_rng(3)
    for dtype in DTYPES:
        x = rng.standard_normal((2, 3, 9, 8)).astype(dtype)
        w = rng.standard_normal((4, 3, 3, 3)).astype(dtype)
        g = rng.standard_normal((2, 4, 5, 4)).astype(dtype)
        runs = []
        _memo._MEMO.clear()
        for _ in range(2):  # the second call finds the first one's geometry in the memo
            out, backward = F.vjp(F.conv2d, x, w, None, 2, 1)
            pooled, pool_backward = F.vjp(F.max_pool2d, x, 3, 2, 1)
            runs.append((out, *backward(g)[:2], pooled, pool_backward(np.ones_like(pooled))[0]))
        for a, b in zip(*runs):
            np.testing.assert_array_equal(a, b)
        check_op(F.conv2d, torch.nn.functional.conv2d, (x, w, None, 2, 1))


@pytest.mark.parametrize("bad", [1.0, True, np.float64(1.0), [1, 1]])
def test_a_bad_argument_after_a_memoized_valid_call_still_fails(bad):
    x = np.zeros((1, 2, 6, 6), np.float32)
    w = np.zeros((3, 2, 3, 3), np.float32)
    F.conv2d(x, w, None, 1)
    F.max_pool2d(x, 2, 1)
    if isinstance(bad, list):  # a list is a valid pair but not memoizable: computed afresh
        assert F.conv2d(x, w, None, bad).shape == (1, 3, 4, 4)
        assert F.max_pool2d(x, 2, bad).shape == (1, 2, 5, 5)
        return
    with pytest.raises(TypeError, match="conv2d: stride must be an int or a pair of ints"):
        F.conv2d(x, w, None, bad)
    with pytest.raises(TypeError, match="max_pool2d: stride must be an int or a pair of ints"):
        F.max_pool2d(x, 2, bad)
    with pytest.raises(TypeError, match="conv2d: expected all floating-point arguments to share one dtype"):
        F.conv2d(x.astype(np.float64), w, None, 1)


def test_the_memo_starts_over_when_full(monkeypatch):
    from scratchnet.functional.fast import _memo

    monkeypatch.setattr(_memo, "MEMO_LIMIT", 4)
    _memo._MEMO.clear()
    for size in range(4, 12):
        F.max_pool2d(np.zeros((1, 1, size, size), np.float32), 2)
        F.conv2d(np.zeros((1, 1, size, size), np.float32), np.zeros((1, 1, 3, 3), np.float32))
        assert 1 <= len(_memo._MEMO) <= 4
    _memo._MEMO.clear()
