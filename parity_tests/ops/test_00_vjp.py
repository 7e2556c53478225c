"""The mechanism every op file relies on: vjp, and the forward each call runs.

1. the vjp contract that the suite and outside checkers rely on: one gradient entry per
   positional argument, the plain call's output, None for non-float arguments, the
   upstream gradient's shape checked, the engine free of torch;
2. which forward runs: ``override`` (the capstone's swap, undone on the way out),
   ``textbook()`` (the registered forwards only) and ``register_kernel`` (a tuned forward
   that runs by default).
"""
import numpy as np
import pytest

import scratchnet.functional as F


def test_one_entry_per_positional_argument():
    x, w = np.ones((2, 3)), np.ones((4, 3))
    out, backward = F.vjp(F.linear, x, w)
    grads = backward(np.random.default_rng(0).standard_normal(out.shape))
    assert len(grads) == 2 and grads[0].shape == x.shape and grads[1].shape == w.shape


def test_out_equals_plain_call():
    x = np.random.default_rng(0).standard_normal((3, 4))
    out, _ = F.vjp(F.tanh, x)
    np.testing.assert_array_equal(out, F.tanh(x))


def test_non_float_and_none_arguments_get_none():
    x = np.ones((2, 3))
    _, backward = F.vjp(F.flatten, x, 0, -1)
    gx, gs, ge = backward(np.ones(6))
    assert gx.shape == (2, 3) and gs is None and ge is None


def test_grad_out_shape_is_checked():
    _, backward = F.vjp(F.relu, np.ones(3))
    with pytest.raises(ValueError, match="relu"):
        backward(np.ones(4))


def test_unknown_function_is_rejected():
    with pytest.raises(TypeError, match="vjp"):
        F.vjp(np.tanh, np.ones(3))


def test_numpy_engine_does_not_import_torch():
    import subprocess
    import sys

    code = (
        "import sys, scratchnet, scratchnet.functional, scratchnet.nn, scratchnet.optim, "
        "scratchnet.models, scratchnet.data, scratchnet.training.loop, scratchnet.cli, scratchnet.checkpoint; "
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# ------------------------------------------------------- which forward runs: override, kernel
def _leaky(input, inplace=False):
    out = np.where(input > 0, input, 0.1 * input)
    return out, lambda g: {"input": np.where(input > 0, g, 0.1 * g)}


def test_override_runs_the_given_forward_everywhere_and_restores_it():
    from scratchnet import nn
    x = np.array([-2.0, 3.0])
    with F.override({F.relu: _leaky}):
        assert np.array_equal(F.relu(x), [-0.2, 3.0])
        out, backward = F.vjp(F.relu, x)
        assert np.array_equal(backward(np.array([1.0, 1.0]))[0], [0.1, 1.0])
        layer = nn.ReLU()
        assert np.array_equal(layer(x), [-0.2, 3.0])
        assert np.array_equal(layer.backward(np.array([5.0, 7.0])), [0.5, 7.0])
        with F.override({F.relu: lambda input, inplace=False: (input * 0, lambda g: {"input": g})}):
            assert np.array_equal(F.relu(x), [0.0, 0.0])  # nested: the innermost wins
        assert np.array_equal(F.relu(x), [-0.2, 3.0])
    assert np.array_equal(F.relu(x), [0.0, 3.0])


def test_override_is_undone_when_the_block_raises():
    with pytest.raises(RuntimeError, match="inside"):
        with F.override({F.relu: _leaky}):
            raise RuntimeError("inside")
    assert np.array_equal(F.relu(np.array([-2.0])), [0.0])


def test_override_promises_nothing_about_the_backward():
    """A forward from outside gets the gradient alone and its gradients are copied by nn."""
    with F.override({F.linear: F.registration(F.linear).forward}):
        reg = F.dispatch(F.linear)
        assert not reg.honors_needs_input_grad and not reg.fresh_grads
    assert F.dispatch(F.linear).fresh_grads


@pytest.mark.parametrize("bad", [lambda x, y: None, lambda weight, input: None, 3])
def test_override_refuses_a_forward_of_another_form(bad):
    with pytest.raises(TypeError, match="relu"):
        with F.override({F.relu: bad}):
            pass
    with pytest.raises(TypeError, match="not a scratchnet.functional op"):
        with F.override({np.maximum: _leaky}):
            pass


def test_textbook_runs_the_registered_forwards_and_kernels_come_back():
    kernels = [op for op in map(lambda n: getattr(F, n), F.__all__) if F.is_op(op) and F.kernel_of(op)]
    with F.textbook():
        for op in kernels:
            assert F.dispatch(op).forward is F.registration(op).forward
    for op in kernels:
        assert F.dispatch(op).forward is F.kernel_of(op)


def test_register_kernel_makes_the_kernel_run_by_default():
    calls = []

    def op_forward(input):
        return input * 2, lambda g: {"input": g * 2}

    op = F.differentiable(op_forward)

    def kernel(input):
        calls.append(1)
        return op_forward(input)

    F.register_kernel(op, kernel)
    assert np.array_equal(op(np.array([1.0])), [2.0]) and calls == [1]
    with F.textbook():
        op(np.array([1.0]))
    assert calls == [1]
    assert F.kernel_of(op) is kernel and F.registration(op).forward is op_forward
