"""Who owns a gradient: the engine's no-copy promises, checked against the copies they skip.

A fresh parameter gradient becomes ``.grad`` without a copy (an op's ``fresh_grads``
promise); everything else is copied: a gradient also returned to the caller, a bias
gradient that is a view of ``grad_out``, the gradient of an op without the promise. No
step's gradients are ever overwritten by a later step, a second backward accumulates into
an adopted gradient, grad mode is per thread, and no engine module reads reference
counts. (The ops' own fast paths are proven in their op files under ``ops/``; SGD's in
``optimizers/test_sgd_kernel.py``.)
"""
from __future__ import annotations

import threading

import numpy as np
import pytest

import scratchnet.functional as F
from scratchnet import models, nn, optim
from scratchnet.nn.parameter import Parameter


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
