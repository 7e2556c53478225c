"""Zero-size dimensions anywhere, for every op: torch's result (forward and backward) or an error.

For each op hypothesis draws a call whose every size (batch, channels, features,
classes, spatial sizes, extra dimensions) may be 0. If torch refuses the call,
scratchnet must refuse it with an error naming the op; if torch computes it,
scratchnet must return the same output and gradients (an empty-feature ``linear`` is
the broadcast bias, its weight gradient an empty matrix; a sum over nothing is 0, a
mean over nothing NaN).
"""
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import given, strategies as st

import scratchnet.functional as F
from scratchnet import models
from scratchnet import torch_models as tm
from scratchnet.functional._vjp import _REGISTRY
from scratchnet.functional.conv import conv2d_naive
from scratchnet.functional.loss import cross_entropy_naive
from scratchnet.functional.pooling import avg_pool2d_naive, max_pool2d_naive
from scratchnet.functional.sparse_conv import sparse_conv2d, sparse_conv2d_naive

from helpers import check_op
from test_sparse_conv import torch_sparse_conv2d

sizes = st.sampled_from([0, 0, 1, 2, 3])
dtypes = st.sampled_from([np.float32, np.float64])


def _normal(rng, shape, dtype):
    return np.asarray(rng.standard_normal(shape)).astype(dtype)


@st.composite
def unary(draw, np_fn, torch_fn, with_dim=False):
    shape = tuple(draw(st.lists(sizes, min_size=0, max_size=4)))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    kwargs = {}
    if with_dim:
        kwargs["dim"] = draw(st.integers(-max(len(shape), 1), max(len(shape), 1) - 1))
    return np_fn, torch_fn, [_normal(rng, shape, draw(dtypes))], kwargs, None


@st.composite
def flatten_case(draw):
    np_fn, torch_fn, args, _, _ = draw(unary(F.flatten, torch.flatten))
    ndim = max(args[0].ndim, 1)
    start = draw(st.integers(-ndim, ndim - 1))
    end = draw(st.integers(-ndim, ndim - 1))
    return np_fn, torch_fn, args, dict(start_dim=start, end_dim=end), None


@st.composite
def linear_case(draw):
    lead = tuple(draw(st.lists(sizes, min_size=0, max_size=2)))
    n_in, n_out = draw(sizes), draw(sizes)
    rng, dtype = np.random.default_rng(draw(st.integers(0, 2**16))), draw(dtypes)
    vector_weight = draw(st.integers(0, 4)) == 0
    x = _normal(rng, lead + (n_in,), dtype)
    w = _normal(rng, (n_in,) if vector_weight else (n_out, n_in), dtype)
    args = [x, w]
    # A bias with a 1-D weight and a batched input: torch's answer depends on the bias's
    # shape and the input's rank (its addmm path refuses, its matmul path computes);
    # scratchnet refuses it with a clear error (test below), so it is not drawn here.
    if draw(st.booleans()) and not (vector_weight and lead):
        args.append(_normal(rng, () if vector_weight else (n_out,), dtype))
    return F.linear, TF.linear, args, {}, None


@st.composite
def conv_case(draw, np_fn=F.conv2d):
    n, c, o = draw(sizes), draw(sizes), draw(sizes)
    k = draw(st.integers(1, 2))
    h, w = draw(sizes), draw(sizes)
    rng, dtype = np.random.default_rng(draw(st.integers(0, 2**16))), draw(dtypes)
    shape = (c, h, w) if draw(st.integers(0, 4)) == 0 else (n, c, h, w)  # unbatched too
    args = [_normal(rng, shape, dtype), _normal(rng, (o, c, k, k), dtype)]
    if draw(st.booleans()):
        args.append(_normal(rng, (o,), dtype))
    return np_fn, TF.conv2d, args, dict(padding=draw(st.integers(0, 1))), None


@st.composite
def sparse_conv_case(draw, np_fn=sparse_conv2d):
    """LeNet-5's sparse C3 with an empty batch or empty images (channels and maps stay real:
    the connection table names them)."""
    n, c, maps = draw(sizes), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    table = [tuple(draw(st.permutations(range(c)))[:draw(st.integers(1, c))]) for _ in range(maps)]
    k = draw(st.integers(1, 2))
    h, w = draw(sizes), draw(sizes)
    rng, dtype = np.random.default_rng(draw(st.integers(0, 2**16))), draw(dtypes)
    args = [_normal(rng, (n, c, h, w), dtype), _normal(rng, (sum(map(len, table)), k, k), dtype),
            _normal(rng, (maps,), dtype), table]
    return np_fn, torch_sparse_conv2d, args, dict(padding=draw(st.integers(0, 1))), None


@st.composite
def pool_case(draw, np_fn, torch_fn):
    shape = tuple(draw(sizes) for _ in range(draw(st.sampled_from([3, 4]))))
    rng, dtype = np.random.default_rng(draw(st.integers(0, 2**16))), draw(dtypes)
    k = draw(st.integers(1, 2))
    return np_fn, torch_fn, [_normal(rng, shape, dtype)], dict(kernel_size=k), None


@st.composite
def classification_case(draw, np_fn, torch_fn):
    n, c = draw(sizes), draw(sizes)
    extra = tuple(draw(st.lists(sizes, max_size=2)))
    rng, dtype = np.random.default_rng(draw(st.integers(0, 2**16))), draw(dtypes)
    x = _normal(rng, (n, c) + extra, dtype)
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
    n, c = draw(sizes), draw(sizes)
    rng, dtype = np.random.default_rng(draw(st.integers(0, 2**16))), draw(dtypes)
    return (cross_entropy_naive, TF.cross_entropy,
            [_normal(rng, (n, c), dtype), rng.integers(0, max(c, 1), n)], {}, None)


@st.composite
def elementwise_loss_case(draw, np_fn, torch_fn):
    shape = tuple(draw(st.lists(sizes, max_size=3)))
    rng, dtype = np.random.default_rng(draw(st.integers(0, 2**16))), draw(dtypes)
    kwargs = dict(reduction=draw(st.sampled_from(["none", "mean", "sum"])))
    return np_fn, torch_fn, [_normal(rng, shape, dtype), rng.random(shape).astype(dtype)], kwargs, None


CASES = {
    "relu": unary(F.relu, TF.relu),
    "sigmoid": unary(F.sigmoid, torch.sigmoid),
    "tanh": unary(F.tanh, torch.tanh),
    "logsigmoid": unary(F.logsigmoid, TF.logsigmoid),
    "softmax": unary(F.softmax, TF.softmax, with_dim=True),
    "log_softmax": unary(F.log_softmax, TF.log_softmax, with_dim=True),
    "flatten": flatten_case(),
    "linear": linear_case(),
    "conv2d": conv_case(),
    "max_pool2d": pool_case(F.max_pool2d, TF.max_pool2d),
    "avg_pool2d": pool_case(F.avg_pool2d, TF.avg_pool2d),
    "conv2d_naive": conv_case(conv2d_naive),
    "max_pool2d_naive": pool_case(max_pool2d_naive, TF.max_pool2d),
    "avg_pool2d_naive": pool_case(avg_pool2d_naive, TF.avg_pool2d),
    "sparse_conv2d": sparse_conv_case(),
    "sparse_conv2d_naive": sparse_conv_case(sparse_conv2d_naive),
    "cross_entropy": classification_case(F.cross_entropy, TF.cross_entropy),
    "cross_entropy_naive": lecture_cross_entropy_case(),
    "nll_loss": classification_case(F.nll_loss, TF.nll_loss),
    "mse_loss": elementwise_loss_case(F.mse_loss, TF.mse_loss),
    "binary_cross_entropy_with_logits": elementwise_loss_case(
        F.binary_cross_entropy_with_logits, TF.binary_cross_entropy_with_logits),
}


def test_every_op_has_a_case():
    ops = {fn.__name__ for fn in _REGISTRY if fn.__module__.startswith("scratchnet.functional")}
    assert ops <= set(CASES), f"ops without an empty-shape case: {sorted(ops - set(CASES))}"


def _torch_refuses(torch_fn, args, kwargs):
    targs = [torch.from_numpy(a.copy()) if isinstance(a, np.ndarray) else a for a in args]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch_fn(*targs, **kwargs)
    except (RuntimeError, ValueError, IndexError, TypeError) as err:
        return err
    return None


@pytest.mark.parametrize("case", sorted(CASES))
@given(data=st.data())
def test_zero_size_dimensions_follow_torch(case, data):
    np_fn, torch_fn, args, kwargs, torch_args = data.draw(CASES[case])
    refusal = _torch_refuses(torch_fn, args, kwargs)
    if refusal is None and np_fn in (F.conv2d, conv2d_naive) and args[0].shape[-3] == 0:
        # torch returns an (N, 0, H_out, W_out) tensor for an input without channels,
        # dropping the weight's output channels; the sum over no channels would be the
        # bias, (N, C_out, H_out, W_out). Neither is a sensible layer output: refused.
        with pytest.raises(ValueError, match=f"{np_fn.__name__}: .* has no channels"):
            np_fn(*args, **kwargs)
        return
    if refusal is not None:
        with pytest.raises((ValueError, TypeError, IndexError, RuntimeError)) as info:
            np_fn(*args, **kwargs)
        assert np_fn.__name__ in str(info.value), info.value
        return
    check_op(np_fn, torch_fn, args, kwargs, torch_args=torch_args)


# The issue's own cases, spelled out.

@pytest.mark.parametrize("n_in,n_out", [(0, 3), (4, 0), (0, 0)])
@pytest.mark.parametrize("batch", [(2,), (0,), (2, 3)])
def test_linear_with_no_features(n_in, n_out, batch):
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal(batch + (n_in,)), rng.standard_normal((n_out, n_in)), rng.standard_normal(n_out)
    out, grads = check_op(F.linear, TF.linear, [x, w, b])
    np.testing.assert_array_equal(out, np.broadcast_to(b, batch + (n_out,)) if n_in == 0 else out)
    assert grads[1].shape == (n_out, n_in) and grads[2].shape == (n_out,)


def test_linear_bias_with_a_vector_weight_needs_a_1d_input():
    x, w, b = np.zeros((0, 0, 3)), np.zeros(3), np.zeros(())
    with pytest.raises(ValueError, match=r"linear: a bias needs a 2-D weight .* input \(0, 0, 3\)"):
        F.linear(x, w, b)


@pytest.mark.parametrize("n_in,n_out", [(0, 3), (3, 0)])
def test_linear_module_with_no_features_matches_torch(n_in, n_out):
    from scratchnet import nn

    with pytest.warns(UserWarning, match="zero-element"):
        layer = nn.Linear(n_in, n_out)
    with pytest.warns(UserWarning, match="zero-element"):
        ref = torch.nn.Linear(n_in, n_out).double()
    layer.weight.data = ref.weight.detach().numpy().astype(np.float32)
    layer.bias.data = ref.bias.detach().numpy().astype(np.float32)
    x = np.random.default_rng(0).standard_normal((2, n_in)).astype(np.float32)
    g = np.random.default_rng(1).standard_normal((2, n_out)).astype(np.float32)
    tx = torch.from_numpy(x.astype(np.float64)).requires_grad_()
    ref(tx).backward(torch.from_numpy(g.astype(np.float64)))
    np.testing.assert_array_equal(layer(x), ref(tx).detach().numpy().astype(np.float32))
    np.testing.assert_array_equal(layer.backward(g).shape, tx.grad.shape)
    np.testing.assert_allclose(layer.bias.grad, ref.bias.grad.numpy(), rtol=1e-6)
    assert layer.weight.grad.shape == (n_out, n_in)


@pytest.mark.parametrize("name", models.names())
def test_every_lecture_model_on_an_empty_batch_matches_torch(name):
    """Forward (0, classes), the loss of nothing (NaN for a mean, 0 for a sum), zero gradients."""
    s = models.spec(name)
    np_model = models.build(name, seed=0, dtype=np.float64)
    t_model = tm.build(name, seed=0, dtype=torch.float64)
    tm.numpy_to_torch(np_model, t_model)
    x = np.zeros((0,) + s.input_shape)
    out = np_model(x)
    t_out = t_model(torch.from_numpy(x))
    assert out.shape == tuple(t_out.shape)
    for reduction in ("mean", "sum"):
        target = (np.zeros(0) if s.family == "binary" else np.zeros(0, np.int64))
        criterion, t_criterion = models.criterion(s.loss, reduction), tm.criterion(s.loss, reduction)
        np_model.zero_grad()
        t_model.zero_grad()
        out = np_model(x)
        loss = criterion(out, target)
        t_loss = t_criterion(t_model(torch.from_numpy(x)), torch.from_numpy(target))
        np.testing.assert_array_equal(loss, t_loss.detach().numpy())
        np_model.backward(criterion.backward())
        t_loss.backward()
        for (key, p), (t_key, tp) in zip(np_model.named_parameters(), t_model.named_parameters()):
            assert key == t_key
            np.testing.assert_array_equal(p.grad, tp.grad.numpy(), err_msg=key)
