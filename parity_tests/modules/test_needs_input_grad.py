"""backward(..., needs_input_grad=False): torch's requires_grad=False input; parameter grads unchanged."""
import numpy as np
import pytest

import scratchnet.functional as F
from scratchnet import models, nn


def _grads(model):
    return {k: p.grad.copy() for k, p in model.named_parameters()}


@pytest.mark.parametrize("name", ["mlp3", "basic-cnn", "lenet5", "lenet5-original", "binary-linear"])
def test_parameter_gradients_do_not_depend_on_input_grad(name):
    rng = np.random.default_rng(0)
    x = rng.random((5, 1, 28, 28))
    model = models.build(name, dtype=np.float64)
    out = model(x)
    g = rng.standard_normal(out.shape)
    gx = model.backward(g)
    full = _grads(model)
    model.zero_grad()
    model(x)
    assert model.backward(g, needs_input_grad=False) is None
    for k, v in _grads(model).items():
        np.testing.assert_array_equal(v, full[k], err_msg=k)
    assert gx.shape == x.shape


@pytest.mark.parametrize("fn,args", [
    (F.conv2d, [(3, 2, 7, 7), (4, 2, 3, 3), (4,)]),
    (F.linear, [(3, 5), (4, 5), (4,)]),
])
def test_op_backward_can_skip_the_input_gradient(fn, args):
    rng = np.random.default_rng(1)
    arrays = [rng.standard_normal(s) for s in args]
    out, backward = F.registration(fn).forward(*arrays)
    g = rng.standard_normal(out.shape)
    full = backward(g)
    part = backward(g, needs_input_grad=False)
    assert "input" in full and "input" not in part
    for k in part:
        np.testing.assert_array_equal(part[k], full[k])
    assert F.registration(fn).honors_needs_input_grad
    assert not F.registration(F.relu).honors_needs_input_grad


def test_leading_parameter_free_layers_are_skipped():
    """Flatten in front of the first Linear runs no backward when no input gradient is wanted."""
    calls = []

    class Spy(nn.Module):
        def forward(self, x):
            return x

        def backward(self, grad_out):
            calls.append("spy")
            return grad_out

    model = nn.Sequential(Spy(), nn.Flatten(), nn.Linear(12, 3), Spy(), nn.ReLU())
    x = np.random.default_rng(2).standard_normal((2, 3, 4)).astype(np.float32)
    model(x)
    g = np.ones((2, 3), np.float32) * 0.5
    assert model.backward(g, needs_input_grad=False) is None
    assert calls == ["spy"]  # only the one behind the Linear
    model(x)
    assert model.backward(g).shape == x.shape and calls == ["spy", "spy", "spy"]


def test_frozen_first_layer_is_skipped_too():
    model = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2))
    model[0].requires_grad_(False)
    x = np.random.default_rng(3).standard_normal((3, 4)).astype(np.float32)
    model(x)
    model.backward(np.ones((3, 2), np.float32), needs_input_grad=False)
    assert model[0].weight.grad is None and model[2].weight.grad is not None
