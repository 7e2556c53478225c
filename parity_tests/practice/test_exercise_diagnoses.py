"""The named mistakes, called as the grader calls them: each is named when (and only when) the
learner's answer is that mistake's answer, and one answer never gets two causes."""
import numpy as np
import pytest

from scratchnet.exercise import catalogue, diagnoses
from scratchnet.exercise.oracle import reference_call
from scratchnet.exercise.properties import Case, _names

RNG = np.random.default_rng(7)


def context(function, args, kwargs=None, g=None):
    kwargs = kwargs or {}
    ex = catalogue.exercise_of(function)
    case = Case(function, tuple(args), dict(kwargs), _names(ex, function)[:len(args)])
    out, backward = reference_call(function, tuple(a.copy() if isinstance(a, np.ndarray) else a for a in args),
                                   kwargs)
    if g is None:
        g = RNG.standard_normal(np.shape(out)).astype(np.asarray(out).dtype)
    return diagnoses.Context(case, g, out, backward(g.copy()), {})


def titles(found):
    return [t for t, _ in found]


# --------------------------------------------------------------------------- storage order
def _layouts(base):
    return {"transposed or permuted": base.transpose(0, 1, 3, 2),
            "Fortran order": np.asfortranarray(base),
            "negative strides": base[..., ::-1],
            "sliced with a step": base[..., ::2]}


@pytest.mark.parametrize("layout", ["transposed or permuted", "Fortran order", "negative strides",
                                    "sliced with a step"])
def test_a_storage_order_read_of_a_non_contiguous_input_is_named_with_its_layout(layout):
    x = _layouts(RNG.standard_normal((2, 3, 6, 6)))[layout]
    assert diagnoses.layout_of(x) == layout
    ctx = context("max_pool2d", (x,), {"kernel_size": 2})
    reads = diagnoses.storage_reads(x)
    assert reads
    for read in reads:
        got = reference_call("max_pool2d", (read,), {"kernel_size": 2})[0]
        found = diagnoses.find(ctx, "output", got)
        assert titles(found) == ["'input' read in storage order"], found
        assert layout in found[0][1]
        assert diagnoses.storage_order_read(ctx, "output", got) == found
    # The right answer is never taken for that mistake, and a C-ordered input has no such read.
    assert diagnoses.storage_order_read(ctx, "output", ctx.expected_out) == []
    assert diagnoses.storage_reads(np.ascontiguousarray(x)) == []


def test_a_grad_out_read_in_storage_order_is_named():
    x = RNG.standard_normal((3, 4))
    g = RNG.standard_normal((4, 3)).T  # a transposed upstream gradient
    ctx = context("tanh", (x,), g=g)
    _, backward = reference_call("tanh", (x,), {})
    got = backward(np.ravel(g, order="K").reshape(g.shape))["input"]
    assert titles(diagnoses.find(ctx, "input", got)) == ["'grad_out' read in storage order"]


# --------------------------------------------------------------------------- one cause only
def test_log_of_a_softmax_that_underflowed_is_not_called_an_overflow():
    x = np.array([[-800.0, 0.0, 1.0]])
    ctx = context("log_softmax", (x, 1))
    shifted = np.exp(x - x.max(1, keepdims=True))
    with np.errstate(divide="ignore"):
        got = np.log(shifted / shifted.sum(1, keepdims=True))
        # Here the unshifted formula gives the same answer: still one diagnosis, the cause.
        e = np.exp(x)
        np.testing.assert_allclose(np.log(e / e.sum(1, keepdims=True)), got, rtol=1e-15)
    found = diagnoses.find(ctx, "output", got)
    assert titles(found) == ["log of an underflowed softmax"], found
    assert "overflow" not in found[0][1].replace("Nothing overflowed", "")
    assert diagnoses.softmax_numerics(ctx, "output", got) == found


def test_an_unshifted_exp_that_overflowed_is_named_so():
    x = np.array([[0.0, 800.0, 1.0]])
    ctx = context("log_softmax", (x, 1))
    with np.errstate(all="ignore"):
        e = np.exp(x)
        got = np.log(e / e.sum(1, keepdims=True))
    assert titles(diagnoses.find(ctx, "output", got)) == ["exp overflowed (no max subtracted)"]


def test_avg_pool_without_its_divisor_is_named_in_pooling_words_only():
    x = RNG.standard_normal((1, 1, 4, 4)).astype(np.float32)
    kw = {"kernel_size": 2, "stride": 2}
    ctx = context("avg_pool2d", (x,), kw)
    for quantity, got in (("output", ctx.expected_out * 4), ("input", ctx.expected_grads["input"] * 4)):
        assert titles(diagnoses.find(ctx, quantity, got)) == ["each window's mean without its 1/(kH*kW)"]


def test_a_backward_that_ignores_grad_out_is_named_and_a_loss_returned_as_a_float_is_no_traceback():
    x = RNG.standard_normal((3, 4))
    ctx = context("sigmoid", (x,))
    s = 1 / (1 + np.exp(-x))
    assert titles(diagnoses.find(ctx, "input", s * (1 - s))) == ["backward ignores grad_out"]
    assert diagnoses.ignored_grad_out(ctx, "input", s * (1 - s)) == diagnoses.find(ctx, "input", s * (1 - s))
    t = np.array([0, 2, 1])
    ctx = context("cross_entropy", (x, t))
    assert diagnoses.find(ctx, "output", float(ctx.expected_out) * 2) == []
    assert diagnoses.find(ctx, "output", [1.0]) == []


@pytest.mark.parametrize("function", ["linear", "conv2d"])
def test_a_bias_gradient_averaged_instead_of_summed_is_named(function):
    if function == "linear":
        args = (RNG.standard_normal((5, 3)), RNG.standard_normal((2, 3)), RNG.standard_normal(2))
    else:
        args = (RNG.standard_normal((2, 1, 4, 4)), RNG.standard_normal((3, 1, 2, 2)), RNG.standard_normal(3))
    ctx = context(function, args)
    g = np.asarray(ctx.g)
    got = g.mean(axis=0) if function == "linear" else g.mean(axis=(0, 2, 3))
    assert titles(diagnoses.bias_averaged(ctx, "bias", got)) == ["bias gradient averaged instead of summed"]
    assert titles(diagnoses.find(ctx, "bias", got)) == ["bias gradient averaged instead of summed"]
    assert diagnoses.bias_averaged(ctx, "bias", ctx.expected_grads["bias"]) == []


# --------------------------------------------------------------------------- sgd, arguments
def _velocity(param, grads, hypers):
    out, p, v = [], param.copy(), None
    for g, h in zip(grads, hypers):
        v = h["lr"] * g if v is None else h["momentum"] * v + h["lr"] * g
        p = p - v
        out.append((p, v))
    return out


def test_the_velocity_form_of_momentum_is_named_under_a_changing_lr_only():
    param = RNG.standard_normal(4)
    grads = [RNG.standard_normal(4) for _ in range(3)]
    schedule = [{"lr": lr, "momentum": 0.9} for lr in (0.1, 0.05, 0.01)]
    steps = _velocity(param, grads, schedule)
    assert diagnoses.sgd_velocity_form(param, grads, schedule, 1, got_param=steps[0][0]) == []  # = torch's
    found = diagnoses.sgd_velocity_form(param, grads, schedule, 2, got_param=steps[1][0])
    assert titles(found) == ["the velocity form of momentum (lr inside the buffer)"]
    case = Case("sgd_momentum", (param,), {}, ("param",), 0, {"grads": grads, "hypers": schedule})
    assert diagnoses.find_sgd(case, 3, steps[2][0], {}) == found
    constant = [{"lr": 0.1, "momentum": 0.9}] * 3
    steps = _velocity(param, grads, constant)
    assert diagnoses.sgd_velocity_form(param, grads, constant, 3, got_param=steps[2][0]) == []
    # ... but its buffer is lr times torch's from the first step on.
    assert diagnoses.sgd_velocity_form(param, grads, constant, 1, got_buffer=steps[0][1]) == found


def test_the_modified_argument_is_named_with_what_to_do_instead():
    title, text = diagnoses.modified_argument("grad_out", "backward")
    assert title == "'grad_out' modified in place during the backward" and "grad_out * mask" in text
    title, text = diagnoses.modified_argument("momentum_buffer", "update", step=2)
    assert title == "'momentum_buffer' modified in place during step 2" and "return a new buffer" in text
    assert "new arrays" in diagnoses.modified_argument("weight")[1]


def test_a_softmax_backward_with_the_diagonal_only_is_one_diagnosis_even_where_a_wrong_axis_agrees():
    for shape, title in (((2, 3), "softmax backward with the Jacobian's diagonal only"),
                         ((1, 3), "softmax backward with the Jacobian's diagonal only, or summed over the wrong axis")):
        x = RNG.standard_normal(shape)
        ctx = context("softmax", (x, 1))
        s, g = ctx.expected_out, ctx.g
        assert titles(diagnoses.find(ctx, "input", g * s * (1 - s))) == [title]
    x = RNG.standard_normal((2, 3))
    ctx = context("softmax", (x, 1))
    s, g = ctx.expected_out, ctx.g
    wrong_axis = g * s - s * np.sum(g * s, axis=0, keepdims=True)
    assert titles(diagnoses.find(ctx, "input", wrong_axis)) == ["reduced over the wrong axis"]
