"""Non-finite values (NaN, +inf, -inf) anywhere, for every op, forward and backward, against torch.

Torch's backward passes are ``where``s, not multiplications by 0/1 masks: ReLU's
backward is ``x <= 0 ? 0 : g``, so an upstream ``inf`` where the input is negative
gives exactly 0 (a mask product would give ``inf * 0 = NaN``), and a NaN input passes
its upstream gradient. Every op must reproduce torch's NaN/inf pattern exactly.

Each case of :data:`CASES` builds a valid call of one op from a seeded generator;
hypothesis then plants non-finite values (and exact zeros, the other edge of every
mask) in the op's floating-point data arguments and in the upstream gradient, at
positions and densities it chooses. ``test_every_op_has_a_case`` keeps the table in
step with the ops :mod:`scratchnet.functional` registers.

The arithmetic on NaN and inf raises NumPy's "invalid value" flags on the way; those
RuntimeWarnings are the point of the input here, so each call runs with them silenced.
"""
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import given, strategies as st

import scratchnet.functional as F
from scratchnet.functional._vjp import _REGISTRY
from scratchnet.functional.conv import conv2d_naive
from scratchnet.functional.loss import cross_entropy_naive
from scratchnet.functional.pooling import avg_pool2d_naive, max_pool2d_naive
from scratchnet.functional.sparse_conv import sparse_conv2d, sparse_conv2d_naive

from helpers import assert_close, check_op

POISON = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0])


def _t(x):
    """A plain tensor that torch neither differentiates nor is asked to."""
    return torch.from_numpy(x.copy())


def _normal(rng, shape, dtype):
    return np.asarray(rng.standard_normal(shape)).astype(dtype)


# Every case: (rng, dtype) -> dict(np_fn, torch_fn, args, kwargs=..., torch_args=..., poison=...)
# ``poison`` lists the positions in ``args`` whose values may be replaced; an argument
# torch does not differentiate (class weights, BCE's weights) is given to torch as a
# plain tensor in ``torch_args`` and stays one when poisoned.


def _unary(np_fn, torch_fn, *, with_dim=False):
    def build(rng, dtype):
        shape = tuple(int(d) for d in rng.integers(1, 4, size=rng.integers(1, 4)))
        kwargs = dict(dim=int(rng.integers(-len(shape), len(shape)))) if with_dim else {}
        return dict(np_fn=np_fn, torch_fn=torch_fn, args=[_normal(rng, shape, dtype)],
                    kwargs=kwargs, poison=[0])
    return build


def _linear(rng, dtype):
    lead = tuple(int(d) for d in rng.integers(1, 4, size=rng.integers(0, 3)))
    i, o = (int(d) for d in rng.integers(1, 4, size=2))
    if rng.random() < 0.2:  # a 1-D weight (one output, dropped from the shape)
        return dict(np_fn=F.linear, torch_fn=TF.linear, poison=[0, 1],
                    args=[_normal(rng, lead + (i,), dtype), _normal(rng, (i,), dtype)])
    args = [_normal(rng, lead + (i,), dtype), _normal(rng, (o, i), dtype), _normal(rng, (o,), dtype)]
    return dict(np_fn=F.linear, torch_fn=TF.linear, args=args, poison=[0, 1, 2])


def _conv2d_reference(x, w, b, **kwargs):
    """torch's conv2d through its float64 (im2col) kernel, rounded back to the input dtype.

    An inf weight over zero padding gives ``inf * 0 = NaN`` in torch's reference
    kernels (and here), but torch's float32 oneDNN kernel skips padded taps and gives a
    finite value: torch's own answer depends on its backend. The reference kernel is
    the one whose arithmetic is the formula's.
    """
    dtype = x.dtype
    return TF.conv2d(x.double(), w.double(), b.double(), **kwargs).to(dtype)


def _conv(rng, dtype, np_fn=F.conv2d):
    groups = int(rng.integers(1, 3))
    n, k = int(rng.integers(1, 3)), int(rng.integers(1, 3))
    c, o = groups * int(rng.integers(1, 3)), groups * int(rng.integers(1, 3))
    args = [_normal(rng, (n, c, 5, 5), dtype), _normal(rng, (o, c // groups, k, k), dtype),
            _normal(rng, (o,), dtype)]
    kwargs = dict(stride=int(rng.integers(1, 3)), padding=int(rng.integers(0, 2)),
                  dilation=int(rng.integers(1, 3)), groups=groups)
    return dict(np_fn=np_fn, torch_fn=_conv2d_reference, args=args, kwargs=kwargs, poison=[0, 1, 2])


def _sparse_conv2d_reference(x, w, b, table, **kwargs):
    """LeNet-5's sparse C3 in torch: one float64 reference conv per output map, concatenated."""
    outs, start = [], 0
    for j, inputs in enumerate(table):
        kernels = w[start:start + len(inputs)].unsqueeze(0)
        start += len(inputs)
        outs.append(_conv2d_reference(x[:, list(inputs)], kernels, b[j:j + 1], **kwargs))
    return torch.cat(outs, dim=1)


def _sparse_conv(rng, dtype, np_fn=sparse_conv2d):
    c, maps = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    table = [tuple(int(i) for i in rng.permutation(c)[:int(rng.integers(1, c + 1))]) for _ in range(maps)]
    n, k = int(rng.integers(1, 3)), int(rng.integers(1, 3))
    args = [_normal(rng, (n, c, 5, 5), dtype), _normal(rng, (sum(map(len, table)), k, k), dtype),
            _normal(rng, (maps,), dtype), table]
    kwargs = dict(stride=int(rng.integers(1, 3)), padding=int(rng.integers(0, 2)),
                  dilation=int(rng.integers(1, 3)))
    return dict(np_fn=np_fn, torch_fn=_sparse_conv2d_reference, args=args, kwargs=kwargs, poison=[0, 1, 2])


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


def _classification(np_fn, torch_fn, *, probabilities=False, smoothing=False):
    def build(rng, dtype):
        n, c = int(rng.integers(1, 4)), int(rng.integers(2, 5))
        extra = tuple(int(d) for d in rng.integers(1, 3, size=rng.integers(0, 3)))
        x = _normal(rng, (n, c) + extra, dtype)
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
            torch_args.append(_t(weight))
            poison = poison + [2]
        return dict(np_fn=np_fn, torch_fn=torch_fn, args=args, torch_args=torch_args,
                    kwargs=kwargs, poison=poison)
    return build


def _lecture_cross_entropy(rng, dtype):
    """The naive oracle's scope: (N, C) logits, class indices, the mean."""
    n, c = int(rng.integers(1, 5)), int(rng.integers(2, 5))
    return dict(np_fn=cross_entropy_naive, torch_fn=TF.cross_entropy,
                args=[_normal(rng, (n, c), dtype), rng.integers(0, c, size=n)], poison=[0])


def _elementwise_loss(np_fn, torch_fn):
    def build(rng, dtype):
        shape = tuple(rng.integers(1, 4, size=2))
        target = rng.random(shape).astype(dtype) if np_fn is not F.mse_loss else _normal(rng, shape, dtype)
        reduction = str(rng.choice(["none", "mean", "sum"]))

        def weight(w_shape):
            return (rng.random(w_shape) + 0.1).astype(dtype) if rng.random() < 0.5 else None

        x = _normal(rng, shape, dtype)
        if np_fn is F.mse_loss:  # torch 2.13's weight, after the legacy flags; differentiable
            w = weight(shape)
            args = [x, target] if w is None else [x, target, None, None, reduction, w]
            kwargs = dict(reduction=reduction) if w is None else {}
            return dict(np_fn=np_fn, torch_fn=torch_fn, args=args, kwargs=kwargs,
                        poison=[0, 1] if w is None else [0, 1, 5])
        # BCE's weight and pos_weight: torch does not differentiate them (plain tensors).
        w, pw = weight(shape), weight(shape[-1:])
        args = [x, target, w, None, None, reduction, pw]
        torch_args = [x, target, None if w is None else _t(w), None, None, reduction,
                      None if pw is None else _t(pw)]
        poison = [0, 1] + [i for i in (2, 6) if args[i] is not None]
        return dict(np_fn=np_fn, torch_fn=torch_fn, args=args, torch_args=torch_args, poison=poison)
    return build


CASES = {
    "relu": _unary(F.relu, TF.relu),
    "sigmoid": _unary(F.sigmoid, torch.sigmoid),
    "tanh": _unary(F.tanh, torch.tanh),
    "logsigmoid": _unary(F.logsigmoid, TF.logsigmoid),
    "softmax": _unary(F.softmax, TF.softmax, with_dim=True),
    "log_softmax": _unary(F.log_softmax, TF.log_softmax, with_dim=True),
    "flatten": _unary(F.flatten, torch.flatten),
    "linear": _linear,
    "conv2d": _conv,
    "max_pool2d": _pool(F.max_pool2d, TF.max_pool2d),
    "avg_pool2d": _pool(F.avg_pool2d, TF.avg_pool2d),
    # The loop-by-loop oracles must agree with torch on non-finite input too.
    "conv2d_naive": lambda rng, dtype: _conv(rng, dtype, conv2d_naive),
    "max_pool2d_naive": _pool(max_pool2d_naive, TF.max_pool2d),
    "avg_pool2d_naive": _pool(avg_pool2d_naive, TF.avg_pool2d),
    "sparse_conv2d": _sparse_conv,
    "sparse_conv2d_naive": lambda rng, dtype: _sparse_conv(rng, dtype, sparse_conv2d_naive),
    "cross_entropy": _classification(F.cross_entropy, TF.cross_entropy),
    "cross_entropy_smoothing": _classification(F.cross_entropy, TF.cross_entropy, smoothing=True),
    "cross_entropy_probabilities": _classification(F.cross_entropy, TF.cross_entropy,
                                                   probabilities=True, smoothing=True),
    "cross_entropy_naive": _lecture_cross_entropy,
    "nll_loss": _classification(F.nll_loss, TF.nll_loss),
    "mse_loss": _elementwise_loss(F.mse_loss, TF.mse_loss),
    "binary_cross_entropy_with_logits": _elementwise_loss(
        F.binary_cross_entropy_with_logits, TF.binary_cross_entropy_with_logits),
}


def test_every_op_has_a_case():
    """A new op registered with a backward (public or oracle) must join this hostile check."""
    public = {fn.__name__ for fn in _REGISTRY if fn.__module__.startswith("scratchnet.functional")}
    covered = {build(np.random.default_rng(0), np.dtype(np.float64))["np_fn"].__name__
               for build in CASES.values()}
    assert public <= covered, f"ops without a non-finite case: {sorted(public - covered)}"


def _plant(rng, a, density):
    """Replace a ``density`` share of ``a``'s entries by NaN, +-inf or +-0."""
    a = np.array(a, copy=True)
    hit = rng.random(a.shape) < density
    a[hit] = rng.choice(POISON, size=int(hit.sum()))
    return a


@pytest.mark.parametrize("case", sorted(CASES))
@given(seed=st.integers(0, 2**32 - 1), density=st.sampled_from([0.0, 0.1, 0.3, 1.0]),
       grad_density=st.sampled_from([0.0, 0.2, 0.5, 1.0]),
       dtype=st.sampled_from([np.float32, np.float64]))
def test_non_finite_forward_and_backward_match_torch(case, seed, density, grad_density, dtype):
    rng = np.random.default_rng(seed)
    spec = CASES[case](rng, np.dtype(dtype))
    args = list(spec["args"])
    torch_args = spec.get("torch_args")
    torch_args = None if torch_args is None else list(torch_args)
    for i in spec["poison"]:
        args[i] = _plant(rng, args[i], density)
        if torch_args is not None:  # a plain tensor stays one: torch does not differentiate it
            torch_args[i] = _t(args[i]) if isinstance(torch_args[i], torch.Tensor) else args[i]

    def grad_out(shape, out_dtype):
        return _plant(rng, rng.standard_normal(shape).astype(out_dtype), grad_density)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        check_op(spec["np_fn"], spec["torch_fn"], args, spec.get("kwargs"),
                 torch_args=torch_args, grad_out=grad_out)


# Hand-picked cases, one per rule, that a random placement might miss.

def _grads(fn, args, g, **kwargs):
    out, backward = F.vjp(fn, *args, **kwargs)
    return out, backward(g)


def test_relu_backward_is_a_where():
    x = np.array([-1.0, 0.0, -0.0, np.nan, 2.0, np.inf, -np.inf])
    g = np.array([np.inf, np.nan, -np.inf, 3.0, 4.0, np.nan, np.inf])
    _, (gx,) = _grads(F.relu, [x], g)
    tx = torch.tensor(x, requires_grad=True)
    torch.relu(tx).backward(torch.tensor(g))
    assert_close(gx, tx.grad.numpy(), rtol=0, atol=0, what="relu grad")
    np.testing.assert_array_equal(gx[:3], 0.0)  # x <= 0: exactly 0 whatever g holds
    assert gx[3] == 3.0  # a NaN input passes the gradient


def test_relu_inplace_backward_matches_too():
    x = np.array([-1.0, np.nan, 0.0, 5.0])
    g = np.array([np.inf, 2.0, np.nan, 1.0])
    _, (gx,) = _grads(F.relu, [x.copy()], g, inplace=True)
    np.testing.assert_array_equal(gx, [0.0, 2.0, 0.0, 1.0])


def test_max_pool_unselected_inf_gradient_is_zero():
    x = np.array([[[[1.0, 1.0], [0.0, np.nan]]]])
    _, (gx, _) = _grads(F.max_pool2d, [x, 1], np.array([[[[np.inf, -np.inf], [np.nan, 2.0]]]]))
    np.testing.assert_array_equal(gx, [[[[np.inf, -np.inf], [np.nan, 2.0]]]])
    _, (gx, _) = _grads(F.max_pool2d, [x, 2], np.array([[[[np.inf]]]]))
    np.testing.assert_array_equal(gx, [[[[0.0, 0.0], [0.0, np.inf]]]])  # the NaN wins


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
        _, (gx, _) = _grads(fn, [x, t], g, reduction=reduction)
    np.testing.assert_array_equal(gx[[0, 2]], 0.0)
