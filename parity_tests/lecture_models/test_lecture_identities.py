"""The identities the MNIST lectures derive by hand, checked on scratchnet's ops.

* cross-entropy = NLL of the log-softmax = the one-hot formula
  :math:`\\frac1N\\sum_n -\\sum_c y_{nc} \\log \\mathrm{softmax}(z_n)_c` (1.4689 on the
  lecture's ``torch.manual_seed(1); z = torch.rand(3, 5)``, ``y = [0, 2, 1]``);
* the binary logistic cost :math:`-(y \\log H + (1-y)\\log(1-H))`, :math:`H = \\sigma(z)`,
  is 2-class softmax cross-entropy on the logits :math:`[0, z]`;
* softmax sums to one and ignores a constant added to every logit;
* NLL applied to raw scores instead of log-probabilities can go negative, true
  cross-entropy never does.
"""
import numpy as np
import torch
from hypothesis import given, strategies as st

import scratchnet.functional as F

seeds = st.integers(0, 2**32 - 1)


@st.composite
def logits_and_labels(draw, scale=st.sampled_from([0.1, 1.0, 10.0, 100.0])):
    rng = np.random.default_rng(draw(seeds))
    n, c = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    z = rng.standard_normal((n, c)) * draw(scale)
    return z.astype(draw(st.sampled_from([np.float32, np.float64]))), rng.integers(0, c, n)


def one_hot_cross_entropy(z, y):
    """The lecture's formula, verbatim: ``(y_onehot * -log(softmax(z))).sum(1).mean()``."""
    y_onehot = np.zeros_like(z)
    np.put_along_axis(y_onehot, y[:, None], 1, axis=1)  # zeros_like(z).scatter_(1, y[:, None], 1)
    return (y_onehot * -np.log(F.softmax(z, dim=1))).sum(1).mean()


def test_lecture_value():
    torch.manual_seed(1)
    z = torch.rand(3, 5).numpy()
    y = np.array([0, 2, 1])
    ce = F.cross_entropy(z, y)
    assert round(float(ce), 4) == 1.4689
    np.testing.assert_allclose(F.nll_loss(F.log_softmax(z, dim=1), y), ce, rtol=1e-6)
    np.testing.assert_allclose(one_hot_cross_entropy(z, y), ce, rtol=1e-6)
    assert ce.dtype == np.float32


@given(case=logits_and_labels(scale=st.sampled_from([0.1, 1.0, 10.0])))
def test_cross_entropy_is_nll_of_log_softmax_is_one_hot_formula(case):
    z, y = case
    tol = dict(rtol=1e-5, atol=1e-6) if z.dtype == np.float32 else dict(rtol=1e-12, atol=1e-14)
    ce = F.cross_entropy(z, y)
    np.testing.assert_allclose(F.nll_loss(F.log_softmax(z, dim=1), y), ce, **tol)
    np.testing.assert_allclose(one_hot_cross_entropy(z, y), ce, **tol)
    # And the gradient the lectures derive for it: (softmax(z) - y_onehot) / N.
    g = np.asarray(0.5 + np.random.default_rng(len(y)).random(), z.dtype)
    (grad_z, _) = F.vjp(F.cross_entropy, z, y)[1](g)
    y_onehot = np.zeros_like(z)
    np.put_along_axis(y_onehot, y[:, None], 1, axis=1)
    np.testing.assert_allclose(grad_z, g * (F.softmax(z, dim=1) - y_onehot) / len(y), **tol)


@given(seed=seeds, n=st.integers(1, 8), scale=st.sampled_from([0.1, 1.0, 5.0, 30.0]))
def test_logistic_cost_is_two_class_softmax_cross_entropy(seed, n, scale):
    rng = np.random.default_rng(seed)
    z = rng.standard_normal(n) * scale
    y = rng.integers(0, 2, n)
    h = F.sigmoid(z)
    two_class = np.stack([np.zeros(n), z], axis=1)
    ce = F.cross_entropy(two_class, y)
    bce = F.binary_cross_entropy_with_logits(z, y.astype(np.float64))
    # torch's BCE form (1 - y) z - log sigma(z) cancels to within an ulp of |z|.
    np.testing.assert_allclose(bce, ce, rtol=1e-12, atol=1e-15 * max(1.0, np.abs(z).max()))
    with np.errstate(divide="ignore", invalid="ignore"):  # 0 * log 0 at large |z|
        logistic = np.mean(-(y * np.log(h) + (1 - y) * np.log(1 - h)))
    if scale <= 5.0:
        np.testing.assert_allclose(ce, logistic, rtol=1e-8)
    # As written the formula loses 1 - H to rounding (down to log 0) for large |z|; with
    # log H = logsigmoid(z) and log(1 - H) = logsigmoid(-z) it holds at every scale.
    stable = np.mean(-(y * F.logsigmoid(z) + (1 - y) * F.logsigmoid(-z)))
    np.testing.assert_allclose(ce, stable, rtol=1e-12, atol=1e-15)
    # Same gradient too: d/dz is (sigmoid(z) - y) / n on both sides.
    g = np.asarray(rng.random() + 0.5)
    grad_ce = F.vjp(F.cross_entropy, two_class, y)[1](g)[0][:, 1]
    grad_bce = F.vjp(F.binary_cross_entropy_with_logits, z, y.astype(np.float64))[1](g)[0]
    np.testing.assert_allclose(grad_ce, grad_bce, rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(grad_bce, g * (h - y) / n, rtol=1e-12, atol=1e-15)


@given(case=logits_and_labels(), shift=st.floats(-1e3, 1e3))
def test_softmax_sums_to_one_and_ignores_a_constant(case, shift):
    z, _ = case
    s = F.softmax(z, dim=1)
    tol = 1e-5 if z.dtype == np.float32 else 1e-12
    np.testing.assert_allclose(s.sum(axis=1), 1.0, rtol=tol)
    assert np.all(s >= 0) and np.all(s <= 1)
    shifted = F.softmax(z + np.asarray(shift, z.dtype), dim=1)
    # float32 cannot represent z + 1000 to better than ~6e-5 absolute, hence the atol.
    atol = 1e-3 if z.dtype == np.float32 else 1e-10
    np.testing.assert_allclose(shifted, s, atol=atol)


def test_nll_on_raw_scores_can_be_negative():
    """The lectures' warning: nll_loss expects log-probabilities, it does not normalise."""
    torch.manual_seed(1)
    scores = (torch.rand(3, 5) * 10).numpy()  # large positive raw scores, no log_softmax
    y = np.array([0, 2, 1])
    assert F.nll_loss(scores, y) < 0  # a negative "average loss"
    assert F.cross_entropy(scores, y) >= 0  # the same scores through log_softmax


@given(case=logits_and_labels(), shift=st.floats(0.0, 100.0))
def test_cross_entropy_is_never_negative_unlike_nll_on_raw_scores(case, shift):
    z, y = case
    positive = np.abs(z) + np.asarray(shift + 1.0, z.dtype)
    assert F.cross_entropy(z, y) >= 0 and F.cross_entropy(positive, y) >= 0
    assert np.all(F.cross_entropy(z, y, reduction="none") >= 0)
    assert F.nll_loss(positive, y) < 0  # raw positive scores: a "loss" below zero
