"""backward(..., needs_input_grad=False): torch's requires_grad=False input; parameter grads unchanged.

For every lecture model, and for Sequential, which skips the backward of the
parameter-free or frozen layers in front of the first layer that needs a gradient. (Each
op's own ``needs_input_grad`` test is in its op file under ``ops/``.)
"""
import numpy as np
import pytest

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
