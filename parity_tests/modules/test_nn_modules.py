"""Every ``scratchnet.nn`` layer against its ``torch.nn`` twin: forward, input gradient and
every parameter gradient, on hypothesis-drawn shapes and options, plus random
``Sequential`` architectures built identically in both engines.

The scratchnet module is built first (its own init), its ``state_dict`` is loaded into
the torch module, both see the same input and the same random upstream gradient.
"""
from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest
import torch
from hypothesis import assume, given, strategies as st

import scratchnet.nn as nn
from helpers import TOL, assert_close

DTYPES = st.sampled_from([np.float32, np.float64])
SEEDS = st.integers(0, 2**32 - 1)


def tol(dtype):
    """float64: rtol 1e-9 (every layer here is exact to a few ulps); float32: the suite's."""
    if np.dtype(dtype) == np.float64:
        return dict(rtol=1e-9, atol=1e-12)
    return dict(TOL[np.dtype(np.float32)])


def torch_twin(np_module, torch_module, dtype):
    """Give ``torch_module`` scratchnet's weights (through torch's own loader)."""
    torch_module.to(torch.float64 if np.dtype(dtype) == np.float64 else torch.float32)
    torch_module.load_state_dict({k: torch.from_numpy(v) for k, v in np_module.state_dict().items()})
    return torch_module


def check_module(np_module, torch_module, x, *, seed=0, rtol=None, atol=None):
    """Forward, ``backward(g)`` and every parameter's (accumulated) ``.grad`` equal torch's."""
    t = tol(x.dtype)
    rtol = t["rtol"] if rtol is None else rtol
    atol = t["atol"] if atol is None else atol
    rng = np.random.default_rng(seed)
    t_params = dict(torch_module.named_parameters())
    out = np_module(x)
    tx = torch.from_numpy(x.copy()).requires_grad_(True)
    t_out = torch_module(tx)
    if isinstance(out, tuple):
        for o, to in zip(out, t_out):
            assert_close(o, to.detach().numpy(), rtol=rtol, atol=atol, what=f"{np_module} output")
        out, t_out = out[0], t_out[0]
    else:
        assert_close(out, t_out.detach().numpy(), rtol=rtol, atol=atol, what=f"{np_module} output")
    g = rng.standard_normal(out.shape).astype(out.dtype)
    gx = np_module.backward(g)
    t_out.backward(torch.from_numpy(g))
    assert_close(gx, tx.grad.numpy(), rtol=rtol, atol=atol, what=f"{np_module} input grad")
    names = [n for n, _ in np_module.named_parameters()]
    assert names == list(t_params), "parameter names differ from torch's"
    for name, p in np_module.named_parameters():
        tg = t_params[name].grad
        assert p.grad is not None, f"{name}: no gradient"
        assert_close(p.grad, tg.numpy(), rtol=rtol, atol=atol, what=f"{np_module} grad of {name}")
    return out, gx


def randn(rng, shape, dtype):
    return np.asarray(rng.standard_normal(shape), dtype=dtype)


# ----------------------------------------------------------------- single layers
@given(lead=st.lists(st.integers(1, 3), min_size=0, max_size=2).map(tuple), fin=st.integers(1, 6),
       fout=st.integers(1, 6), bias=st.booleans(), dtype=DTYPES, seed=SEEDS)
def test_linear(lead, fin, fout, bias, dtype, seed):
    rng = np.random.default_rng(seed)
    m = nn.Linear(fin, fout, bias=bias, dtype=dtype, generator=rng)
    assert m.weight.dtype == dtype
    tm = torch_twin(m, torch.nn.Linear(fin, fout, bias=bias), dtype)
    out, gx = check_module(m, tm, randn(rng, lead + (fin,), dtype), seed=seed)
    assert out.dtype == dtype and gx.dtype == dtype


@st.composite
def conv_config(draw):
    groups = draw(st.integers(1, 3))
    cin = groups * draw(st.integers(1, 2))
    cout = groups * draw(st.integers(1, 2))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    kernel = draw(st.sampled_from([(kh, kw), kh])) if kh == kw else (kh, kw)
    dilation = draw(st.sampled_from([1, (1, 2), 2]))
    padding = draw(st.sampled_from([0, 1, (1, 0), (0, 2), "valid", "same"]))
    stride = 1 if padding == "same" else draw(st.sampled_from([1, 2, (2, 1)]))
    return dict(in_channels=cin, out_channels=cout, kernel_size=kernel, stride=stride,
                padding=padding, dilation=dilation, groups=groups, bias=draw(st.booleans()))


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@given(cfg=conv_config(), n=st.integers(1, 2), h=st.integers(4, 7), w=st.integers(4, 7),
       dtype=DTYPES, seed=SEEDS)
def test_conv2d(cfg, n, h, w, dtype, seed):
    rng = np.random.default_rng(seed)
    m = nn.Conv2d(**cfg, dtype=dtype, generator=rng)
    tm = torch.nn.Conv2d(**cfg)
    # Every spatial size is at least the dilated kernel, so the output is never empty.
    kh, kw = m.kernel_size
    dh, dw = m.dilation
    assume(h >= dh * (kh - 1) + 1 and w >= dw * (kw - 1) + 1)
    assert m.weight.shape == tuple(tm.weight.shape)
    check_module(m, torch_twin(m, tm, dtype), randn(rng, (n, cfg["in_channels"], h, w), dtype), seed=seed)


@st.composite
def pool_config(draw, max_pool):
    k = draw(st.sampled_from([1, 2, 3, (2, 3), (3, 2)]))
    kh, kw = (k, k) if isinstance(k, int) else k
    stride = draw(st.sampled_from([None, 1, 2, (1, 2)]))
    padding = draw(st.sampled_from([0, 1, (0, 1), (1, 0)]))
    ph, pw = (padding, padding) if isinstance(padding, int) else padding
    assume(ph <= kh // 2 and pw <= kw // 2)
    cfg = dict(kernel_size=k, stride=stride, padding=padding, ceil_mode=draw(st.booleans()))
    if max_pool:
        cfg["dilation"] = draw(st.sampled_from([1, 2, (1, 2)]))
        cfg["return_indices"] = draw(st.booleans())
    else:
        cfg["count_include_pad"] = draw(st.booleans())
        cfg["divisor_override"] = draw(st.sampled_from([None, 3]))
    return cfg


@given(cfg=pool_config(max_pool=True), h=st.integers(5, 8), w=st.integers(5, 8), dtype=DTYPES, seed=SEEDS)
def test_max_pool2d(cfg, h, w, dtype, seed):
    rng = np.random.default_rng(seed)
    m, tm = nn.MaxPool2d(**cfg), torch.nn.MaxPool2d(**cfg)
    # Distinct values, so that the argmax (and so the gradient's route) is unambiguous.
    x = rng.permutation(2 * 2 * h * w).reshape(2, 2, h, w).astype(dtype)
    check_module(m, torch_twin(m, tm, dtype), x, seed=seed)


@given(cfg=pool_config(max_pool=False), h=st.integers(4, 7), w=st.integers(4, 7), dtype=DTYPES, seed=SEEDS)
def test_avg_pool2d(cfg, h, w, dtype, seed):
    rng = np.random.default_rng(seed)
    m, tm = nn.AvgPool2d(**cfg), torch.nn.AvgPool2d(**cfg)
    check_module(m, torch_twin(m, tm, dtype), randn(rng, (2, 3, h, w), dtype), seed=seed)


ELEMENTWISE = [
    (lambda: nn.ReLU(), lambda: torch.nn.ReLU()),
    (lambda: nn.Sigmoid(), lambda: torch.nn.Sigmoid()),
    (lambda: nn.Tanh(), lambda: torch.nn.Tanh()),
    (lambda: nn.LogSigmoid(), lambda: torch.nn.LogSigmoid()),
    (lambda: nn.Identity(), lambda: torch.nn.Identity()),
]


@pytest.mark.parametrize("make", ELEMENTWISE, ids=["relu", "sigmoid", "tanh", "logsigmoid", "identity"])
@given(shape=st.lists(st.integers(1, 4), min_size=0, max_size=4).map(tuple), dtype=DTYPES, seed=SEEDS,
       scale=st.sampled_from([1.0, 30.0]))
def test_elementwise_activations(make, shape, dtype, seed, scale):
    rng = np.random.default_rng(seed)
    check_module(make[0](), make[1](), np.asarray(randn(rng, shape, dtype) * scale, dtype=dtype), seed=seed)


def test_relu_inplace_overwrites_input_and_still_backpropagates():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 4))
    ref = x.copy()
    m = nn.ReLU(inplace=True)
    out = m(x)
    assert out is x and np.array_equal(x, np.maximum(ref, 0))
    g = rng.standard_normal(x.shape)
    np.testing.assert_array_equal(m.backward(g), g * (ref > 0))


@pytest.mark.parametrize("log", [False, True])
@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=4).map(tuple), data=st.data(),
       dtype=DTYPES, seed=SEEDS)
def test_softmax_modules(log, shape, data, dtype, seed):
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    rng = np.random.default_rng(seed)
    m = nn.LogSoftmax(dim) if log else nn.Softmax(dim=dim)
    tm = torch.nn.LogSoftmax(dim) if log else torch.nn.Softmax(dim=dim)
    check_module(m, tm, randn(rng, shape, dtype) * 3, seed=seed)


@pytest.mark.filterwarnings("ignore:Implicit dimension choice")
@pytest.mark.parametrize("ndim", [1, 2, 3, 4])
def test_softmax_implicit_dim_is_torchs(ndim):
    x = np.random.default_rng(ndim).standard_normal((2, 3, 4, 5)[:ndim])
    check_module(nn.Softmax(), torch.nn.Softmax(), x)
    check_module(nn.LogSoftmax(), torch.nn.LogSoftmax(), x)


@given(shape=st.lists(st.integers(1, 3), min_size=1, max_size=4).map(tuple), data=st.data(),
       dtype=DTYPES, seed=SEEDS)
def test_flatten(shape, data, dtype, seed):
    start = data.draw(st.integers(-len(shape), len(shape) - 1))
    end = data.draw(st.integers(-len(shape), len(shape) - 1))
    assume(start % len(shape) <= end % len(shape))
    rng = np.random.default_rng(seed)
    check_module(nn.Flatten(start, end), torch.nn.Flatten(start, end), randn(rng, shape, dtype), seed=seed)


# ----------------------------------------------------------------- accumulation
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_two_backward_passes_accumulate_like_torch(dtype):
    rng = np.random.default_rng(1)
    model = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1, generator=rng, dtype=dtype), nn.ReLU(),
                          nn.Flatten(), nn.Linear(3 * 4 * 4, 5, generator=rng, dtype=dtype))
    twin = torch_twin(model, torch.nn.Sequential(torch.nn.Conv2d(2, 3, 3, padding=1), torch.nn.ReLU(),
                                                 torch.nn.Flatten(), torch.nn.Linear(48, 5)), dtype)
    # Different inputs in each pass: the grads must be the sum of both passes' grads.
    check_module(model, twin, randn(rng, (2, 2, 4, 4), dtype))
    check_module(model, twin, randn(rng, (3, 2, 4, 4), dtype), seed=7)


def test_backward_twice_on_one_forward_is_retain_graph():
    rng = np.random.default_rng(2)
    m = nn.Linear(4, 3, dtype=np.float64, generator=rng)
    tm = torch_twin(m, torch.nn.Linear(4, 3), np.float64)
    x = rng.standard_normal((5, 4))
    g = rng.standard_normal((5, 3))
    m(x)
    m.backward(g)
    m.backward(g)
    out = tm(torch.from_numpy(x))
    out.backward(torch.from_numpy(g), retain_graph=True)
    out.backward(torch.from_numpy(g))
    assert_close(m.weight.grad, tm.weight.grad.numpy(), **tol(np.float64))
    assert_close(m.bias.grad, tm.bias.grad.numpy(), **tol(np.float64))


def test_module_reused_twice_in_one_chain():
    """The same Linear twice in a Sequential: both calls' gradients reach it, as in torch."""
    rng = np.random.default_rng(3)
    shared = nn.Linear(4, 4, dtype=np.float64, generator=rng)
    model = nn.Sequential(shared, nn.Tanh(), shared)
    t_shared = torch.nn.Linear(4, 4)
    twin = torch_twin(model, torch.nn.Sequential(t_shared, torch.nn.Tanh(), t_shared), np.float64)
    assert [n for n, _ in model.named_parameters()] == ["0.weight", "0.bias"]
    check_module(model, twin, rng.standard_normal((3, 4)))


def test_frozen_parameters_get_no_gradient():
    rng = np.random.default_rng(4)
    model = nn.Sequential(nn.Linear(3, 4, dtype=np.float64, generator=rng), nn.ReLU(),
                          nn.Linear(4, 2, dtype=np.float64, generator=rng))
    twin = torch_twin(model, torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(),
                                                 torch.nn.Linear(4, 2)), np.float64)
    model[0].requires_grad_(False)
    twin[0].requires_grad_(False)
    x = rng.standard_normal((5, 3))
    g = rng.standard_normal((5, 2))
    model(x)
    gx = model.backward(g)
    tx = torch.from_numpy(x).requires_grad_(True)
    twin(tx).backward(torch.from_numpy(g))
    assert model[0].weight.grad is None and twin[0].weight.grad is None
    assert_close(model[2].weight.grad, twin[2].weight.grad.numpy(), **tol(np.float64))
    assert_close(gx, tx.grad.numpy(), **tol(np.float64))
    assert model.num_parameters(trainable_only=True) == 4 * 2 + 2


def test_eval_mode_still_backpropagates():
    """eval() is not no_grad: a trained model's input saliency works, as in torch."""
    rng = np.random.default_rng(5)
    model = nn.Sequential(nn.Linear(3, 2, dtype=np.float64, generator=rng), nn.Sigmoid()).eval()
    twin = torch_twin(model, torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.Sigmoid()), np.float64).eval()
    check_module(model, twin, rng.standard_normal((4, 3)))


# ------------------------------------------------------------------------ losses
@given(n=st.integers(1, 5), c=st.integers(2, 5), dtype=DTYPES, seed=SEEDS,
       reduction=st.sampled_from(["mean", "sum", "none"]), weighted=st.booleans(),
       ignore=st.booleans(), smoothing=st.sampled_from([0.0, 0.1]), log_probs=st.booleans())
def test_classification_losses(n, c, dtype, seed, reduction, weighted, ignore, smoothing, log_probs):
    rng = np.random.default_rng(seed)
    x = randn(rng, (n, c), dtype) * 2
    target = rng.integers(0, c, size=n)
    ignore_index = -100
    if ignore:
        ignore_index = int(target[0])
        assume(reduction != "mean" or (target != ignore_index).any())
    weight = rng.uniform(0.5, 2.0, c).astype(dtype) if weighted else None
    tw = None if weight is None else torch.from_numpy(weight)
    if log_probs:
        x = x - np.log(np.exp(x.astype(np.float64)).sum(1, keepdims=True)).astype(dtype)
        m = nn.NLLLoss(weight=weight, ignore_index=ignore_index, reduction=reduction)
        tm = torch.nn.NLLLoss(weight=tw, ignore_index=ignore_index, reduction=reduction)
    else:
        m = nn.CrossEntropyLoss(weight=weight, ignore_index=ignore_index, reduction=reduction,
                                label_smoothing=smoothing)
        tm = torch.nn.CrossEntropyLoss(weight=tw, ignore_index=ignore_index, reduction=reduction,
                                       label_smoothing=smoothing)
    check_loss(m, tm, x, target, seed)


def check_loss(m, tm, x, target, seed):
    t = tol(x.dtype)
    loss = m(x, target)
    tx = torch.from_numpy(x.copy()).requires_grad_(True)
    t_loss = tm(tx, torch.from_numpy(target))
    assert_close(loss, t_loss.detach().numpy(), **t, what=f"{m} value")
    if loss.ndim == 0:
        grad = m.backward()
        t_loss.backward()
    else:
        g = np.random.default_rng(seed).standard_normal(loss.shape).astype(loss.dtype)
        with pytest.raises(RuntimeError, match="only for scalar outputs"):
            m.backward()
        grad = m.backward(g)
        t_loss.backward(torch.from_numpy(g))
    assert_close(grad, tx.grad.numpy(), **t, what=f"{m} input grad")


@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple), dtype=DTYPES, seed=SEEDS,
       reduction=st.sampled_from(["mean", "sum", "none"]))
def test_mse_loss(shape, dtype, seed, reduction):
    rng = np.random.default_rng(seed)
    check_loss(nn.MSELoss(reduction=reduction), torch.nn.MSELoss(reduction=reduction),
               randn(rng, shape, dtype), randn(rng, shape, dtype), seed)


@given(n=st.integers(1, 4), c=st.integers(1, 4), dtype=DTYPES, seed=SEEDS,
       reduction=st.sampled_from(["mean", "sum", "none"]), weighted=st.booleans(), pos=st.booleans())
def test_bce_with_logits_loss(n, c, dtype, seed, reduction, weighted, pos):
    rng = np.random.default_rng(seed)
    weight = rng.uniform(0.5, 2, (n, c)).astype(dtype) if weighted else None
    pos_weight = rng.uniform(0.5, 3, c).astype(dtype) if pos else None
    m = nn.BCEWithLogitsLoss(weight=weight, reduction=reduction, pos_weight=pos_weight)
    tm = torch.nn.BCEWithLogitsLoss(
        weight=None if weight is None else torch.from_numpy(weight), reduction=reduction,
        pos_weight=None if pos_weight is None else torch.from_numpy(pos_weight))
    check_loss(m, tm, randn(rng, (n, c), dtype) * 3, rng.uniform(0, 1, (n, c)).astype(dtype), seed)


def test_loss_weight_is_a_buffer_in_state_dict_like_torch():
    w = np.array([1.0, 2.0, 3.0], np.float32)
    m, tm = nn.CrossEntropyLoss(weight=w), torch.nn.CrossEntropyLoss(weight=torch.from_numpy(w))
    assert list(m.state_dict()) == list(tm.state_dict()) == ["weight"]
    assert list(nn.CrossEntropyLoss().state_dict()) == list(torch.nn.CrossEntropyLoss().state_dict()) == []
    assert list(nn.BCEWithLogitsLoss(pos_weight=w).state_dict()) == ["pos_weight"]
    assert m.to(np.float64).weight.dtype == np.float64


def test_legacy_size_average_and_reduce_map_like_torch():
    with pytest.warns(UserWarning, match="reduction='sum'"):
        assert nn.MSELoss(size_average=False).reduction == "sum"
    with pytest.warns(UserWarning, match="reduction='none'"):
        assert nn.NLLLoss(reduce=False).reduction == "none"


# ---------------------------------------------------------- random architectures
@st.composite
def architecture(draw):
    """A random conv/pool/activation stack, flatten, then linear layers: consistent shapes."""
    c, h, w = draw(st.integers(1, 3)), draw(st.integers(5, 9)), draw(st.integers(5, 9))
    input_shape = (c, h, w)
    specs = []
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(["conv", "conv", "max", "avg", "act"]))
        if kind == "conv":
            k = draw(st.integers(1, 3))
            padding = draw(st.sampled_from([0, 1, "same"]))
            stride = 1 if padding == "same" else draw(st.integers(1, 2))
            pad = padding if isinstance(padding, int) else 0
            if padding != "same" and (h + 2 * pad < k or w + 2 * pad < k):
                continue
            cout = draw(st.integers(1, 4))
            specs.append(("Conv2d", (c, cout, k), dict(stride=stride, padding=padding,
                                                       bias=draw(st.booleans()))))
            if padding != "same":
                h, w = (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1
            c = cout
        elif kind in ("max", "avg"):
            if min(h, w) < 2:
                continue
            specs.append(("MaxPool2d" if kind == "max" else "AvgPool2d", (2,), {}))
            h, w = h // 2, w // 2
        else:
            specs.append((draw(st.sampled_from(["ReLU", "Tanh", "Sigmoid"])), (), {}))
    specs.append(("Flatten", (), {}))
    features = c * h * w
    for _ in range(draw(st.integers(1, 2))):
        out = draw(st.integers(1, 5))
        specs.append(("Linear", (features, out), dict(bias=draw(st.booleans()))))
        specs.append((draw(st.sampled_from(["ReLU", "Tanh", "LogSigmoid", "Identity"])), (), {}))
        features = out
    if draw(st.booleans()):
        specs.append(("LogSoftmax", (), dict(dim=1)))
    return input_shape, specs


def build(module_ns, specs, **param_kwargs):
    layers = []
    for name, args, kwargs in specs:
        extra = param_kwargs if name in ("Conv2d", "Linear") else {}
        layers.append(getattr(module_ns, name)(*args, **kwargs, **extra))
    return layers


@given(arch=architecture(), n=st.integers(1, 3), dtype=DTYPES, seed=SEEDS, nested=st.booleans())
def test_random_architectures_match_torch(arch, n, dtype, seed, nested):
    input_shape, specs = arch
    rng = np.random.default_rng(seed)
    layers = build(nn, specs, dtype=dtype, generator=rng)
    t_layers = build(torch.nn, specs)
    if nested and len(layers) > 2:
        # Same nesting in both engines: state_dict keys such as "1.0.weight" must agree.
        model = nn.Sequential(layers[0], nn.Sequential(*layers[1:-1]), layers[-1])
        twin = torch.nn.Sequential(t_layers[0], torch.nn.Sequential(*t_layers[1:-1]), t_layers[-1])
    else:
        model, twin = nn.Sequential(*layers), torch.nn.Sequential(*t_layers)
    assert list(model.state_dict()) == list(twin.state_dict())
    assert repr(model) == repr(twin)
    rtol = None if np.dtype(dtype) == np.float64 else 1e-3  # deeper float32 chains round more
    check_module(model, torch_twin(model, twin, dtype), randn(rng, (n,) + input_shape, dtype),
                 seed=seed, rtol=rtol)


def test_ordered_dict_sequential_and_custom_module_backward():
    """A named Sequential inside a hand-written module whose backward chains its children."""
    rng = np.random.default_rng(6)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(OrderedDict(
                conv=nn.Conv2d(1, 2, 3, dtype=np.float64, generator=rng), act=nn.ReLU()))
            self.fc = nn.Linear(2 * 3 * 3, 4, dtype=np.float64, generator=rng)

        def forward(self, x):
            h = self.features(x)
            self._shape = h.shape
            return self.fc(h.reshape(h.shape[0], -1))

        def backward(self, grad_out):
            return self.features.backward(self.fc.backward(grad_out).reshape(self._shape))

    class TNet(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.features = torch.nn.Sequential(OrderedDict(conv=torch.nn.Conv2d(1, 2, 3), act=torch.nn.ReLU()))
            self.fc = torch.nn.Linear(18, 4)

        def forward(self, x):
            return self.fc(self.features(x).flatten(1))

    net = Net()
    assert list(net.state_dict()) == ["features.conv.weight", "features.conv.bias", "fc.weight", "fc.bias"]
    check_module(net, torch_twin(net, TNet(), np.float64), rng.standard_normal((2, 1, 5, 5)))


# ------------------------------------------------------ unbatched and K-dim inputs
def test_unbatched_inputs_and_k_dimensional_losses():
    """torch's layers accept unbatched (C, H, W) images and (N, C, d1) logits; so do these."""
    rng = np.random.default_rng(8)
    conv = nn.Conv2d(2, 3, 3, padding=1, dtype=np.float64, generator=rng)
    check_module(conv, torch_twin(conv, torch.nn.Conv2d(2, 3, 3, padding=1), np.float64),
                 rng.standard_normal((2, 5, 5)))
    check_module(nn.MaxPool2d(2), torch.nn.MaxPool2d(2), rng.permutation(50).reshape(2, 5, 5).astype(np.float64))
    check_module(nn.AvgPool2d(2, padding=1), torch.nn.AvgPool2d(2, padding=1), rng.standard_normal((2, 5, 5)))
    lin = nn.Linear(3, 2, dtype=np.float64, generator=rng)
    check_module(lin, torch_twin(lin, torch.nn.Linear(3, 2), np.float64), rng.standard_normal(3))
    probs = rng.dirichlet(np.ones(5), 4)
    check_loss(nn.CrossEntropyLoss(label_smoothing=0.2), torch.nn.CrossEntropyLoss(label_smoothing=0.2),
               rng.standard_normal((4, 5)), probs, 0)
    check_loss(nn.CrossEntropyLoss(reduction="none"), torch.nn.CrossEntropyLoss(reduction="none"),
               rng.standard_normal((2, 4, 3)), rng.integers(0, 4, (2, 3)), 1)
    check_loss(nn.NLLLoss(), torch.nn.NLLLoss(), rng.standard_normal(4), np.array(2), 2)
