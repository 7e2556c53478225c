"""``scratchnet.nn.Module``'s API against ``torch.nn.Module``'s: names, state_dict,
load_state_dict, zero_grad, train/eval, dtype casts, reprs, default initialisation,
seeding, errors with the layer's place in the model, hooks and pickling."""
from __future__ import annotations

import math
import pickle
from collections import OrderedDict

import numpy as np
import pytest
import torch
from hypothesis import given, strategies as st

import scratchnet
import scratchnet.nn as nn
from scratchnet.nn import init


def both(build):
    """``build(namespace)`` evaluated with scratchnet.nn and with torch.nn."""
    return build(nn), build(torch.nn)


def lecture_cnn(ns, fc_in=320):
    return ns.Sequential(
        ns.Conv2d(1, 10, kernel_size=5), ns.MaxPool2d(2), ns.ReLU(),
        ns.Conv2d(10, 20, kernel_size=5), ns.MaxPool2d(2), ns.ReLU(),
        ns.Flatten(), ns.Linear(fc_in, 10),
    )


def mlp(ns):
    return ns.Sequential(ns.Flatten(), ns.Linear(784, 50), ns.Tanh(), ns.Linear(50, 10, bias=False),
                         ns.LogSoftmax(dim=1))


def nested(ns):
    return ns.Sequential(OrderedDict(
        features=ns.Sequential(ns.Conv2d(1, 6, 5, padding=2), ns.Sigmoid(), ns.AvgPool2d(2, stride=2)),
        head=ns.Sequential(ns.Flatten(), ns.Linear(6 * 14 * 14, 10)),
    ))


MODELS = [lecture_cnn, mlp, nested]


def shapes(named):
    return [(k, tuple(v.shape)) for k, v in named]


@pytest.mark.parametrize("build", MODELS)
def test_names_and_state_dict_keys_and_shapes_equal_torchs(build):
    m, t = both(build)
    assert shapes(m.named_parameters()) == shapes(t.named_parameters())
    assert shapes(m.state_dict().items()) == shapes(t.state_dict().items())
    assert [n for n, _ in m.named_modules()] == [n for n, _ in t.named_modules()]
    assert [n for n, _ in m.named_children()] == [n for n, _ in t.named_children()]
    assert [type(c).__name__ for c in m.children()] == [type(c).__name__ for c in t.children()]
    assert [type(c).__name__ for c in m.modules()] == [type(c).__name__ for c in t.modules()]
    assert m.num_parameters() == sum(p.numel() for p in t.parameters())
    assert all(v.dtype == np.float32 for v in m.state_dict().values())


@pytest.mark.parametrize("build", MODELS)
def test_load_state_dict_round_trip_torch_numpy_torch(build):
    m, t = both(build)
    # torch -> numpy: tensors are accepted directly and copied into the existing arrays.
    before = [p.data for p in m.parameters()]
    assert repr(m.load_state_dict(t.state_dict())) == "<All keys matched successfully>"
    assert all(p.data is b for p, b in zip(m.parameters(), before))
    for (k, v), tv in zip(m.state_dict().items(), t.state_dict().values()):
        np.testing.assert_array_equal(v, tv.numpy(), err_msg=k)
    # numpy -> torch: a fresh torch model gets back exactly the same numbers.
    t2 = build(torch.nn)
    t2.load_state_dict({k: torch.from_numpy(v) for k, v in m.state_dict().items()})
    for (k, a), b in zip(t.state_dict().items(), t2.state_dict().values()):
        assert torch.equal(a, b), k
    # ... and both compute the same function.
    x = np.random.default_rng(0).standard_normal((2, 1, 28, 28)).astype(np.float32)
    np.testing.assert_allclose(m(x), t(torch.from_numpy(x)).detach().numpy(), rtol=1e-4, atol=1e-5)


def test_state_dict_holds_copies():
    m = nn.Linear(3, 2)
    sd = m.state_dict()
    sd["weight"][...] = 7
    assert not np.any(m.weight.data == 7)
    kept = m.state_dict(keep_vars=True)
    assert kept["weight"] is m.weight


def test_load_state_dict_casts_to_the_modules_dtype():
    m = nn.Linear(3, 2)
    w = np.arange(6, dtype=np.float64).reshape(2, 3)
    m.load_state_dict({"weight": w, "bias": np.zeros(2)})
    assert m.weight.dtype == np.float32
    np.testing.assert_array_equal(m.weight.data, w.astype(np.float32))


def test_load_state_dict_assign_replaces_arrays():
    m = nn.Linear(3, 2)
    w = np.ones((2, 3))
    m.load_state_dict({"weight": w, "bias": np.zeros(2)}, assign=True)
    assert m.weight.dtype == np.float64 and np.array_equal(m.weight.data, w)


def test_strict_errors_and_incompatible_keys_match_torch():
    def bad_state(ns_state):
        state = OrderedDict(ns_state)
        del state["1.bias"]
        state["9.weight"] = state["1.weight"]
        state["extra"] = state["1.weight"]
        return state

    m, t = both(mlp)
    with pytest.raises(RuntimeError) as ours:
        m.load_state_dict(bad_state(m.state_dict()))
    with pytest.raises(RuntimeError) as theirs:
        t.load_state_dict(bad_state(t.state_dict()))
    assert str(ours.value) == str(theirs.value)
    assert 'Missing key(s) in state_dict: "1.bias"' in str(ours.value)
    assert 'Unexpected key(s) in state_dict: "9.weight", "extra"' in str(ours.value)

    result = m.load_state_dict(bad_state(m.state_dict()), strict=False)
    t_result = t.load_state_dict(bad_state(t.state_dict()), strict=False)
    assert result.missing_keys == t_result.missing_keys == ["1.bias"]
    assert sorted(result.unexpected_keys) == sorted(t_result.unexpected_keys)


def test_size_mismatch_is_an_error_even_when_not_strict():
    m = nn.Sequential(nn.Linear(3, 2))
    for strict in (True, False):
        with pytest.raises(RuntimeError, match=r"size mismatch for 0.weight: copying a param with "
                                               r"shape \(2, 4\) from checkpoint, the shape in current "
                                               r"model is \(2, 3\)"):
            m.load_state_dict({"0.weight": np.zeros((2, 4)), "0.bias": np.zeros(2)}, strict=strict)
    with pytest.raises(TypeError, match="Expected state_dict to be dict-like"):
        m.load_state_dict([("0.weight", np.zeros((2, 3)))])


def test_zero_grad_both_modes():
    m = nn.Sequential(nn.Linear(3, 2), nn.ReLU(), nn.Linear(2, 1))
    x = np.ones((4, 3), np.float32)
    m.backward(np.ones_like(m(x)))
    assert all(p.grad is not None for p in m.parameters())
    grads = [p.grad for p in m.parameters()]
    m.zero_grad(set_to_none=False)
    assert all(p.grad is g and not g.any() for p, g in zip(m.parameters(), grads))
    m.zero_grad()
    assert all(p.grad is None for p in m.parameters())


def test_train_eval_flags_propagate():
    m, t = both(nested)
    assert m.training and all(c.training for c in m.modules())
    assert m.eval() is m
    assert not any(c.training for c in m.modules())
    m.train()
    assert all(c.training for c in m.modules())
    m.head.train(False)
    t.head.train(False)
    assert [c.training for c in m.modules()] == [c.training for c in t.modules()]
    with pytest.raises(ValueError, match="training mode is expected to be boolean"):
        m.train("no")


def test_to_casts_parameters_grads_and_returns_self():
    m = lecture_cnn(nn)
    x = np.zeros((1, 1, 28, 28), np.float32)
    m.backward(np.ones_like(m(x)))
    assert m.to(np.float64) is m
    assert all(p.dtype == np.float64 and p.grad.dtype == np.float64 for p in m.parameters())
    out = m(x.astype(np.float64))
    assert out.dtype == np.float64 and m.backward(np.ones_like(out)).dtype == np.float64
    assert m.float() is m and all(p.dtype == np.float32 for p in m.parameters())
    assert m.to("cpu") is m and m.to(dtype="float64").double() is m
    with pytest.raises(TypeError, match="floating point"):
        m.to(np.int32)
    with pytest.raises(ValueError, match="device"):
        m.to(device="cuda")


def test_dtype_mismatch_between_input_and_layer_is_an_error():
    with pytest.raises(TypeError, match="Linear"):
        nn.Linear(3, 2)(np.ones((1, 3)))  # float64 input, float32 layer: torch refuses too


REPRS = [
    lambda ns: ns.Linear(784, 10),
    lambda ns: ns.Linear(3, 2, bias=False),
    lambda ns: ns.Conv2d(1, 10, 5),
    lambda ns: ns.Conv2d(4, 8, (3, 5), stride=(2, 1), padding=1, dilation=2, groups=2, bias=False),
    lambda ns: ns.Conv2d(3, 3, 3, padding="same"),
    lambda ns: ns.Conv2d(3, 3, 3, padding="valid"),
    lambda ns: ns.MaxPool2d(2),
    lambda ns: ns.MaxPool2d((2, 3), stride=1, padding=1, dilation=2, return_indices=True, ceil_mode=True),
    lambda ns: ns.AvgPool2d(2),
    lambda ns: ns.AvgPool2d(3, 2, 1, ceil_mode=True, count_include_pad=False, divisor_override=2),
    lambda ns: ns.ReLU(),
    lambda ns: ns.ReLU(inplace=True),
    lambda ns: ns.Sigmoid(),
    lambda ns: ns.Tanh(),
    lambda ns: ns.LogSigmoid(),
    lambda ns: ns.Softmax(dim=1),
    lambda ns: ns.Softmax(),
    lambda ns: ns.LogSoftmax(dim=-1),
    lambda ns: ns.Flatten(),
    lambda ns: ns.Flatten(0, 2),
    lambda ns: ns.Identity(54, unused="x"),
    lambda ns: ns.CrossEntropyLoss(label_smoothing=0.1),
    lambda ns: ns.NLLLoss(),
    lambda ns: ns.MSELoss(reduction="sum"),
    lambda ns: ns.BCEWithLogitsLoss(),
    lambda ns: ns.Sequential(),
    lambda ns: ns.ModuleList(),
    lambda ns: ns.ModuleList([ns.Linear(2, 2), ns.Linear(2, 2), ns.Linear(2, 2), ns.ReLU(), ns.Linear(2, 2)]),
    lambda ns: ns.Sequential(ns.ModuleList([ns.ReLU()]), ns.Sequential(ns.Tanh())),
    *MODELS,
]


@pytest.mark.parametrize("build", REPRS)
def test_repr_equals_torchs(build):
    m, t = both(build)
    assert repr(m) == repr(t)


def test_custom_module_registration_and_repr():
    def make(ns):
        class Net(ns.Module):
            def __init__(self):
                super().__init__()
                self.conv1 = ns.Conv2d(1, 10, 5)
                self.pool = ns.MaxPool2d(2)
                self.blocks = ns.ModuleList([ns.Linear(4, 4) for _ in range(2)])
                self.fc = ns.Linear(4, 2)
                self.not_a_layer = 3

            def forward(self, x):
                return x

            def extra_repr(self):
                return "custom=1"

        return Net()

    m, t = both(make)
    assert repr(m) == repr(t)
    assert shapes(m.named_parameters()) == shapes(t.named_parameters())
    assert m.get_submodule("blocks.1") is m.blocks[1]
    assert shapes(m.named_parameters(prefix="net")) == shapes(t.named_parameters(prefix="net"))
    assert [n for n, _ in m.named_parameters(recurse=False)] == []
    with pytest.raises(TypeError, match="cannot assign 'ndarray' as parameter 'weight'"):
        m.fc.weight = np.zeros((2, 4))
    m.fc.bias = None
    assert "fc.bias" not in m.state_dict()
    del m.pool
    assert "pool" not in dict(m.named_children())
    with pytest.raises(AttributeError, match="'Net' object has no attribute 'pool'"):
        m.pool


def test_sequential_container_protocol_matches_torch():
    def make(ns):
        return ns.Sequential(ns.Linear(1, 2), ns.ReLU(), ns.Linear(2, 3), ns.Tanh())

    m, t = both(make)
    assert len(m) == len(t) == 4
    assert type(m[-1]).__name__ == "Tanh"
    assert repr(m[1:3]) == repr(t[1:3])
    for s in (m, t):
        s.append(type(s[1])())
        s.insert(0, type(s[1])())
        del s[2]
        s.extend([type(s[0])()])
    assert repr(m) == repr(t)
    assert [type(a).__name__ for a in m] == [type(a).__name__ for a in t]
    assert repr(m + m[:1]) == repr(t + t[:1])
    assert type(m.pop(0)).__name__ == type(t.pop(0)).__name__ and repr(m) == repr(t)
    with pytest.raises(IndexError):
        m[10]


def test_backward_before_forward_and_after_no_grad_raise():
    m = nn.Sequential(nn.Linear(3, 2), nn.ReLU())
    with pytest.raises(RuntimeError, match=r"Sequential.backward: no forward pass has been recorded"):
        m.backward(np.ones((1, 2), np.float32))
    with pytest.raises(RuntimeError, match=r"Linear\(in_features=3, out_features=2, bias=True\)\.backward"):
        m[0].backward(np.ones((1, 2), np.float32))
    x = np.ones((1, 3), np.float32)
    m(x)
    with nn.no_grad():
        assert not nn.is_grad_enabled()
        y = m(x)  # overwrites the earlier closures: a stale backward would be silently wrong
    assert nn.is_grad_enabled()
    with pytest.raises(RuntimeError, match="no_grad"):
        m.backward(np.ones_like(y))
    criterion = nn.CrossEntropyLoss()
    with nn.no_grad():
        criterion(np.zeros((2, 3), np.float32), np.array([0, 1]))
    with pytest.raises(RuntimeError, match="no_grad"):
        criterion.backward()
    m(x)
    with pytest.raises(ValueError, match=r"grad_out has shape \(2, 2\) but the forward output has shape \(1, 2\)"):
        m.backward(np.ones((2, 2), np.float32))
    assert m.backward(np.ones((1, 2))).dtype == np.float32  # cast to the forward's dtype


def test_no_grad_as_decorator_and_set_grad_enabled():
    @nn.no_grad()
    def infer(model, x):
        return model(x)

    m = nn.Linear(2, 2)
    infer(m, np.ones((1, 2), np.float32))
    assert nn.is_grad_enabled()
    with pytest.raises(RuntimeError, match="no_grad"):
        m.backward(np.ones((1, 2), np.float32))
    with nn.set_grad_enabled(False):
        assert not nn.is_grad_enabled()
    assert nn.is_grad_enabled()


def test_wrong_flatten_size_names_the_layer_and_its_place():
    """The lecture's bug: Linear(100, 10) after a flatten that yields 20x4x4 = 320 features."""
    m = lecture_cnn(nn, fc_in=100)
    x = np.zeros((64, 1, 28, 28), np.float32)
    with pytest.raises(ValueError) as info:
        m(x)
    msg = str(info.value)
    assert msg.startswith("Sequential[7] Linear(in_features=100, out_features=10, bias=True): "
                          "got input of shape (64, 320): linear:")
    assert isinstance(info.value.__cause__, ValueError)  # chained to the op's own error
    with pytest.raises(RuntimeError):  # torch rejects it too
        lecture_cnn(torch.nn, fc_in=100)(torch.zeros(64, 1, 28, 28))


def test_nested_error_paths():
    inner = nn.Sequential(nn.Linear(4, 3), nn.ReLU())
    outer = nn.Sequential(nn.ReLU(), nn.Identity(), nn.Sequential(inner))
    with pytest.raises(ValueError, match=r"^Sequential\[2\]\.Sequential\[0\]\.Sequential\[0\] Linear\(in_features=4"):
        outer(np.zeros((2, 5), np.float32))

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(nn.Conv2d(1, 2, 3))

        def forward(self, x):
            return self.features(x)

    with pytest.raises(ValueError, match=r"^Net\.features\.Sequential\[0\] Conv2d\(1, 2, kernel_size=\(3, 3\), "
                                         r"stride=\(1, 1\)\): got input of shape \(1, 3, 8, 8\): conv2d"):
        Net()(np.zeros((1, 3, 8, 8), np.float32))
    with pytest.raises(TypeError, match=r"^Sequential\[0\] Linear.*got input of type list"):
        nn.Sequential(nn.Linear(2, 2))([[1.0, 2.0]])


def test_constructor_validation_matches_torch():
    for kwargs, match in [
        (dict(groups=0), "groups must be a positive integer"),
        (dict(groups=3), "in_channels must be divisible by groups"),
        (dict(padding="full"), "Invalid padding string 'full'"),
        (dict(padding="same", stride=2), "padding='same' is not supported for strided convolutions"),
        (dict(padding_mode="mirror"), "padding_mode must be one of"),
    ]:
        with pytest.raises(ValueError, match=match):
            nn.Conv2d(4, 4, 3, **kwargs)
        with pytest.raises(ValueError, match=match):
            torch.nn.Conv2d(4, 4, 3, **kwargs)
    with pytest.raises(ValueError, match="padding_mode='reflect' is not supported by scratchnet"):
        nn.Conv2d(1, 1, 3, padding_mode="reflect")
    with pytest.raises(ValueError, match="in_features must be non-negative"):
        nn.Linear(-1, 2)
    with pytest.raises(TypeError, match="float32 or float64"):
        nn.Linear(2, 2, dtype=np.int64)
    with pytest.raises(TypeError, match="generator"):
        nn.Linear(2, 2, generator=0)


# ------------------------------------------------------------------- init
def ks_statistic(samples, low, high):
    """Kolmogorov-Smirnov distance between the samples and U(low, high)."""
    u = np.sort((samples.ravel().astype(np.float64) - low) / (high - low))
    n = u.size
    return max(np.max(np.arange(1, n + 1) / n - u), np.max(u - np.arange(n) / n))


@pytest.mark.parametrize("build, fan_in", [
    (lambda ns: ns.Linear(784, 50), 784),
    (lambda ns: ns.Linear(50, 400), 50),
    (lambda ns: ns.Conv2d(10, 20, 5), 250),
    (lambda ns: ns.Conv2d(6, 16, (3, 5), groups=2), 45),
])
def test_default_init_is_torchs_distribution(build, fan_in):
    # Both generators seeded: a statistical check must not depend on test order.
    scratchnet.manual_seed(0)
    torch.manual_seed(0)
    m, t = both(build)
    bound = 1 / math.sqrt(fan_in)
    assert init.calculate_fan_in_and_fan_out(m.weight) == torch.nn.init._calculate_fan_in_and_fan_out(t.weight)
    assert init.calculate_fan_in_and_fan_out(m.weight)[0] == fan_in
    for p, tp in ((m.weight, t.weight), (m.bias, t.bias)):
        assert np.abs(p.data).max() <= bound
        # 1.63 / sqrt(n) is the Kolmogorov-Smirnov test's 1% critical value.
        assert ks_statistic(p.data, -bound, bound) < 1.63 / math.sqrt(p.size)
        # torch's own default init: same support, same (uniform) distribution.
        assert tp.abs().max().item() <= bound
        assert ks_statistic(tp.detach().numpy(), -bound, bound) < 1.63 / math.sqrt(p.size)


def test_seeding_is_deterministic():
    scratchnet.manual_seed(123)
    a = lecture_cnn(nn).state_dict()
    scratchnet.manual_seed(123)
    b = lecture_cnn(nn).state_dict()
    c = lecture_cnn(nn).state_dict()
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["0.weight"], c["0.weight"])
    assert init.initial_seed() == 123
    g1, g2 = np.random.default_rng(5), np.random.default_rng(5)
    scratchnet.manual_seed(0)
    l1 = nn.Linear(3, 4, generator=g1)
    l2 = nn.Linear(3, 4, generator=g2)
    assert np.array_equal(l1.weight.data, l2.weight.data)
    assert scratchnet.manual_seed is nn.manual_seed is init.manual_seed


@given(shape=st.sampled_from([(5, 3), (4, 2, 3, 3), (3, 7, 2)]), a=st.floats(0, 3),
       mode=st.sampled_from(["fan_in", "fan_out"]),
       nonlinearity=st.sampled_from(["leaky_relu", "relu", "tanh", "linear", "sigmoid", "conv2d"]))
def test_init_functions_match_torchs_formulas(shape, a, mode, nonlinearity):
    w = np.empty(shape, np.float32)
    tw = torch.empty(shape)
    assert init.calculate_fan_in_and_fan_out(w) == torch.nn.init._calculate_fan_in_and_fan_out(tw)
    assert init.calculate_gain(nonlinearity, a) == pytest.approx(torch.nn.init.calculate_gain(nonlinearity, a))
    fan = init.calculate_fan_in_and_fan_out(w)[0 if mode == "fan_in" else 1]
    bound = init.calculate_gain(nonlinearity, a) * math.sqrt(3.0 / fan)
    assert init.kaiming_uniform_(w, a=a, mode=mode, nonlinearity=nonlinearity) is w
    assert np.abs(w).max() <= bound * (1 + 1e-6)
    xb = math.sqrt(6.0 / sum(init.calculate_fan_in_and_fan_out(w)))
    p = nn.Parameter(np.empty(shape))
    assert init.xavier_uniform_(p, gain=2.0) is p
    assert np.abs(p.data).max() <= 2 * xb


def test_init_helpers():
    w = np.empty((3, 4))
    assert init.zeros_(w) is w and not w.any()
    init.ones_(w)
    assert (w == 1).all()
    init.constant_(w, 2.5)
    assert (w == 2.5).all()
    init.uniform_(w, -2, -1, generator=np.random.default_rng(0))
    assert ((w >= -2) & (w < -1)).all()
    init.normal_(w, 3.0, 0.0)
    assert (w == 3).all()
    init.kaiming_normal_(w)
    init.xavier_normal_(w)
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        init.kaiming_uniform_(np.empty(3))
    with pytest.raises(ValueError, match="Unsupported nonlinearity"):
        init.calculate_gain("swish")
    with pytest.raises(TypeError, match="floating-point"):
        init.zeros_(np.empty(3, np.int64))
    with pytest.warns(UserWarning, match="zero-element"):
        init.kaiming_uniform_(np.empty((0, 3)))


# ------------------------------------------------------------------- misc
def test_hooks_pickle_and_buffers():
    m = nn.Sequential(nn.Linear(2, 3), nn.ReLU())
    seen = []
    handle = m[0].register_forward_hook(lambda mod, args, out: seen.append(out.shape))
    m(np.ones((4, 2), np.float32))
    handle.remove()
    m(np.ones((4, 2), np.float32))
    assert seen == [(4, 3)]
    clone = pickle.loads(pickle.dumps(m))
    assert all(np.array_equal(a, b) for a, b in zip(clone.state_dict().values(), m.state_dict().values()))
    with pytest.raises(RuntimeError, match="no forward pass"):
        clone.backward(np.ones((4, 3), np.float32))
    m.register_buffer("running", np.zeros(3, np.float32))
    m.register_buffer("scratch", np.zeros(1, np.float32), persistent=False)
    assert list(m.state_dict())[0] == "running" and "scratch" not in m.state_dict()
    assert [n for n, _ in m.named_buffers()] == ["running", "scratch"]
    with pytest.raises(TypeError, match="buffer 'running'"):
        m.running = [1, 2, 3]
    with pytest.raises(KeyError, match="already exists"):
        m.register_parameter("append", nn.Parameter(np.zeros(1)))
