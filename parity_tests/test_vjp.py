"""The vjp contract that the suite and outside checkers rely on."""
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
        "scratchnet.models, scratchnet.data, scratchnet.train, scratchnet.cli, scratchnet.checkpoint; "
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
