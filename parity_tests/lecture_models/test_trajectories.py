"""Training trajectories: the NumPy engine and torch train every lecture model identically.

Each test builds a model in both engines with the same weights, then runs 20 SGD
steps (the lecture's learning rate and momentum) on the same mini-batches of real
MNIST digits, through the lecture's loss, ``zero_grad``/``backward``/``step`` exactly
as the lectures' training loop. In float64 the parameters after the last step must
agree to 1e-8 relative: forward, backward and optimizer are then equal to rounding,
step after step. In float32 the per-step losses must agree to 1e-4.

Batches are small (8) so that the whole file runs in seconds.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

import scratchnet.training.experiments as experiments
import scratchnet.models as models
import scratchnet.optim as optim
import scratchnet.torch_models as tm

from helpers import assert_close

STEPS = 20
BATCH = 8
TDTYPE = {np.float32: torch.float32, np.float64: torch.float64}
# The lecture's toy data: 8 samples, 4 features, 3 classes (full batch).
TOY_X = np.array([[1, 2, 1, 1], [2, 1, 3, 2], [3, 1, 3, 4], [4, 1, 5, 5],
                  [1, 7, 5, 5], [1, 2, 5, 6], [1, 6, 6, 6], [1, 7, 7, 7]], dtype=np.float64)
TOY_Y = np.array([2, 2, 2, 1, 1, 1, 0, 0], dtype=np.int64)


@pytest.fixture(scope="module")
def mnist():
    from scratchnet.data.mnist import _embedded_digits  # the same file, read once and fast

    x, y = _embedded_digits()
    return (x / 255.0).reshape(-1, 1, 28, 28), y.astype(np.int64)


def _batches(name, loss, mnist, dtype):
    """``STEPS`` mini-batches ``(x, y)`` for model ``name``, the same for both engines."""
    if name == "softmax-toy":
        return [(TOY_X.astype(dtype), TOY_Y)] * STEPS
    x, y = mnist
    rng = np.random.default_rng(0)
    if loss in ("binary_ce", "binary_mse"):
        mask, signs = models.signs_from_digits(y, dtype=dtype)
        x, y = x[mask], signs
    order = rng.permutation(len(x))[: STEPS * BATCH].reshape(STEPS, BATCH)
    return [(x[i].astype(dtype), y[i]) for i in order]


def _train(name, loss, batches, dtype, make_np_opt, make_t_opt):
    """Run both engines over ``batches``; return both models and both loss curves."""
    np_model = models.build(name, seed=0, dtype=dtype)
    if name == "softmax-toy":  # the lecture starts W and b at zero
        np_model.load_state_dict({k: np.zeros_like(v) for k, v in np_model.state_dict().items()})
    t_model = tm.numpy_to_torch(np_model, tm.build(name, seed=0, dtype=TDTYPE[dtype]))
    crit, t_crit = models.criterion(loss), tm.criterion(loss)
    opt, t_opt = make_np_opt(list(np_model.parameters())), make_t_opt(list(t_model.parameters()))
    np_model.train()
    t_model.train()
    curve, t_curve = [], []
    for x, y in batches:
        opt.zero_grad()
        value = crit(np_model(x), y)
        np_model.backward(crit.backward())
        opt.step()
        curve.append(float(value))

        t_opt.zero_grad()
        t_value = t_crit(t_model(torch.from_numpy(x.copy())), torch.from_numpy(np.array(y)))
        t_value.backward()
        t_opt.step()
        t_curve.append(t_value.item())
        assert value.dtype == dtype
    return np_model, t_model, np.array(curve), np.array(t_curve)


def _compare(np_model, t_model, curve, t_curve, dtype, name):
    if dtype == np.float64:
        np.testing.assert_allclose(curve, t_curve, rtol=1e-9, err_msg=f"{name} loss curve")
        t_state = t_model.state_dict()
        for k, v in np_model.state_dict().items():
            assert v.dtype == np.float64
            assert_close(v, t_state[k].numpy(), rtol=1e-8, atol=1e-12, what=f"{name} {k} after {STEPS} steps")
    else:
        np.testing.assert_allclose(curve, t_curve, rtol=1e-4, atol=1e-4, err_msg=f"{name} loss curve")
        for k, v in np_model.state_dict().items():
            assert v.dtype == np.float32, k


CASES = [(n, loss) for n in models.names() for loss in models.spec(n).losses]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name,loss", CASES)
def test_sgd_trajectory_matches_torch(name, loss, dtype, mnist):
    s = experiments.for_model(name, loss)  # the lecture's learning rate and momentum
    batches = _batches(name, loss, mnist, dtype)
    np_model, t_model, curve, t_curve = _train(
        name, loss, batches, dtype,
        lambda ps: optim.SGD(ps, lr=s.lr, momentum=s.momentum),
        lambda ps: torch.optim.SGD(ps, lr=s.lr, momentum=s.momentum),
    )
    _compare(np_model, t_model, curve, t_curve, dtype, name)
    assert np.all(np.isfinite(curve))
    if name == "softmax-toy":  # zero init: uniform probabilities, so the first cost is ln 3
        np.testing.assert_allclose(curve[0], np.log(3), rtol=1e-6)
        assert curve[-1] < 0.9 * curve[0]


@pytest.mark.parametrize("name,make,make_t", [
    ("basic-cnn", lambda ps: optim.Adam(ps, lr=1e-3, amsgrad=True),
     lambda ps: torch.optim.Adam(ps, lr=1e-3, amsgrad=True)),
    ("lenet5-original", lambda ps: optim.AdamW(ps, lr=2e-3, weight_decay=0.05),
     lambda ps: torch.optim.AdamW(ps, lr=2e-3, weight_decay=0.05)),
    ("mlp3", lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3),
     lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3)),
])
def test_other_optimizer_trajectories_match_torch(name, make, make_t, mnist):
    loss = models.spec(name).losses[0]
    batches = _batches(name, loss, mnist, np.float64)
    np_model, t_model, curve, t_curve = _train(name, loss, batches, np.float64, make, make_t)
    _compare(np_model, t_model, curve, t_curve, np.float64, name)
