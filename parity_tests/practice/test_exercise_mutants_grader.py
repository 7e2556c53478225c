"""The grader cannot be fooled: planted mistakes of the kinds issue 25's learner got through.

Every mutant here passed the grader before the layouts, the argument checks, the SGD
schedule and the return-value checks: it reads memory in storage order (wrong for a
transposed, Fortran-ordered, reversed or step-sliced array), writes into an argument,
keeps the learning rate inside its momentum buffer, returns something that is not
``(out, backward)`` of arrays, or raises ``NotImplementedError`` on a case inside the
core scope. Each one must fail, with a report that says which of these it is.
Together with ``test_exercise_mutants.py`` there are at least 80 planted mutants.
"""
from pathlib import Path

import numpy as np
import pytest
from numpy.lib.stride_tricks import as_strided

from scratchnet.exercise import catalogue
from scratchnet.exercise.grader import grade, report
from scratchnet.exercise.reference import sgd_momentum as sgd_ref
from scratchnet.testing.strategies import as_pair

HERE = Path(__file__)


def ref(name):
    return catalogue.exercise_of(name).reference(name)


def c_order(x):
    """``x`` read in storage order as if it were C-ordered: the learner's as_strided mistake.

    (With negative strides that read would leave the buffer: memory order is read instead.)
    """
    x = np.asarray(x)
    if x.ndim == 0:
        return x
    if any(s < 0 for s in x.strides):
        return k_order(x)
    strides = tuple(int(np.prod(x.shape[i + 1:])) * x.itemsize for i in range(x.ndim))
    return as_strided(x, x.shape, strides).copy()


def k_order(x):
    """``x.ravel(order='K')`` reshaped: storage order again, without as_strided."""
    x = np.asarray(x)
    return x.ravel(order="K").reshape(x.shape)


def reads_storage(name, where="input", how=k_order):
    """The reference op fed its argument ``where`` (or the upstream gradient) read in storage order."""
    def mutant(*args, **kwargs):
        args = list(args)
        if where == "grad_out":
            out, backward = ref(name)(*args, **kwargs)
            return out, lambda g: backward(how(g))
        i = {"input": 0, "weight": 1, "target": 1}[where]
        args[i] = how(args[i])
        return ref(name)(*args, **kwargs)
    return mutant


def writes(name, target, change):
    """The reference op that then writes ``change`` into ``target`` (an argument or grad_out)."""
    def mutant(*args, **kwargs):
        out, backward = ref(name)(*args, **kwargs)
        if target == "forward-input":
            change(args[0])
            return out, backward

        def bw(g):
            grads = backward(g)
            change(g if target == "grad_out" else args[{"input": 0, "weight": 1}[target]])
            return grads
        return out, bw
    return mutant


def returns(name, shape_result):
    """The reference op whose whole result goes through ``shape_result(out, backward)``."""
    def mutant(*args, **kwargs):
        out, backward = ref(name)(*args, **kwargs)
        return shape_result(out, backward)
    return mutant


def not_implemented_when(name, when, in_backward=False):
    def mutant(*args, **kwargs):
        out, backward = ref(name)(*args, **kwargs)
        if when(args, kwargs) and not in_backward:
            raise NotImplementedError("later")

        def bw(g):
            if when(args, kwargs):
                raise NotImplementedError("later")
            return backward(g)
        return out, bw
    return mutant


# --------------------------------------------------------------------------- hand-written mutants
def max_pool_as_strided(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                        return_indices=False):
    """Issue 25's learner: windows by as_strided with strides computed from the shape."""
    k, s, p = kernel_size, stride or kernel_size, padding
    x = np.pad(input, ((0, 0), (0, 0), (p, p), (p, p)), constant_values=-np.inf) if p else input
    n, c, h, w = x.shape
    ho, wo = (h - k) // s + 1, (w - k) // s + 1
    x = c_order(x)
    it = x.itemsize
    win = as_strided(x, (n, c, ho, wo, k, k), (c * h * w * it, h * w * it, s * w * it, s * it, w * it, it))
    flat = win.reshape(n, c, ho, wo, k * k)
    arg = flat.argmax(-1)
    out = np.take_along_axis(flat, arg[..., None], -1)[..., 0]

    def backward(g):
        dx = np.zeros((n, c, h, w), input.dtype)
        a, b = np.divmod(arg, k)
        for i in range(ho):
            for j in range(wo):
                for nn in range(n):
                    for cc in range(c):
                        dx[nn, cc, i * s + a[nn, cc, i, j], j * s + b[nn, cc, i, j]] += g[nn, cc, i, j]
        return {"input": dx[:, :, p:p + input.shape[2], p:p + input.shape[3]]}
    return out, backward


def conv_im2col_from_shape(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """im2col windows by as_strided on the input, strides from its shape."""
    return ref("conv2d")(c_order(input), weight, bias, stride, padding)


def sgd_velocity(param, grad, momentum_buffer, lr, momentum=0.0, dampening=0.0, weight_decay=0.0,
                 nesterov=False, maximize=False):
    """The textbook velocity form: v = mu v + lr g, theta -= v."""
    if not momentum:
        return param - lr * grad, None
    v = lr * grad if momentum_buffer is None else momentum * momentum_buffer + lr * grad
    return param - v, v


def sgd_buffer_in_place(param, grad, momentum_buffer, lr, momentum=0.0, **kw):
    if momentum and momentum_buffer is not None:
        momentum_buffer *= momentum
        momentum_buffer += grad
        return param - lr * momentum_buffer, momentum_buffer
    return sgd_ref(param, grad, momentum_buffer, lr, momentum=momentum, **kw)


def sgd_grad_in_place(param, grad, momentum_buffer, lr, **kw):
    new, buf = sgd_ref(param, grad, momentum_buffer, lr, **kw)
    grad *= lr
    return new, buf


def sgd_storage_order(param, grad, momentum_buffer, lr, **kw):
    return sgd_ref(param, k_order(grad), momentum_buffer, lr, **kw)


def sgd_no_buffer_returned(param, grad, momentum_buffer, lr, **kw):
    new, _ = sgd_ref(param, grad, momentum_buffer, lr, **kw)
    return new, None


def sgd_param_only(param, grad, momentum_buffer, lr, **kw):
    return sgd_ref(param, grad, momentum_buffer, lr, **kw)[0]


def sgd_stale_lr(param, grad, momentum_buffer, lr, momentum=0.0, **kw):
    """lr applied to the gradient before it enters the buffer, torch's buffer returned unscaled."""
    new, buf = sgd_ref(param, grad, momentum_buffer, lr, momentum=momentum, **kw)
    return new, None if buf is None else buf * np.asarray(lr, buf.dtype)


_sequential = catalogue.resolve("scratchnet.exercise.reference:sequential")


def sequential_storage_order(input, layers):
    return _sequential(k_order(input), layers)


def sequential_grad_out_in_place(input, layers):
    out, backward = _sequential(input, layers)

    def bw(g):
        result = backward(g.copy())
        g *= 0
        return result
    return out, bw


def sequential_steps_in_backward(input, layers):
    out, backward = _sequential(input, layers)

    def bw(g):
        result = backward(g)
        for _, params in layers:
            for p in params.values():
                p.data -= 0.1 * p.grad  # an SGD step where only gradients belong
        return result
    return out, bw


def sequential_out_only(input, layers):
    return _sequential(input, layers)[0]


def _k(kw):
    return as_pair(kw["kernel_size"])


# --------------------------------------------------------------------------- the mutants
# (id, exercise, {function: mutant}, a phrase the first failure's report must contain)
STORAGE = "storage order"
MUTANTS = [
    # reads memory in storage order (right for C-ordered arrays only)
    ("relu-storage-order", "activations", {"relu": reads_storage("relu")}, STORAGE),
    ("sigmoid-grad-out-storage-order", "activations",
     {"sigmoid": reads_storage("sigmoid", "grad_out")}, STORAGE),
    ("tanh-as-strided", "activations", {"tanh": reads_storage("tanh", how=c_order)}, STORAGE),
    ("linear-input-as-strided", "linear", {"linear": reads_storage("linear", how=c_order)}, STORAGE),
    ("linear-weight-storage-order", "linear", {"linear": reads_storage("linear", "weight")}, STORAGE),
    ("linear-grad-out-storage-order", "linear", {"linear": reads_storage("linear", "grad_out")}, STORAGE),
    ("softmax-as-strided", "softmax", {"softmax": reads_storage("softmax", how=c_order)}, STORAGE),
    ("log-softmax-grad-out-storage-order", "log_softmax",
     {"log_softmax": reads_storage("log_softmax", "grad_out")}, STORAGE),
    ("cross-entropy-storage-order", "cross_entropy",
     {"cross_entropy": reads_storage("cross_entropy")}, STORAGE),
    ("mse-target-storage-order", "mse_loss", {"mse_loss": reads_storage("mse_loss", "target")}, STORAGE),
    ("max-pool-as-strided-from-shape", "max_pool2d", {"max_pool2d": max_pool_as_strided}, None),
    ("avg-pool-storage-order", "avg_pool2d", {"avg_pool2d": reads_storage("avg_pool2d")}, STORAGE),
    ("avg-pool-grad-out-storage-order", "avg_pool2d",
     {"avg_pool2d": reads_storage("avg_pool2d", "grad_out")}, STORAGE),
    ("conv-im2col-as-strided-from-shape", "conv2d", {"conv2d": conv_im2col_from_shape}, STORAGE),
    ("conv-grad-out-storage-order", "conv2d", {"conv2d": reads_storage("conv2d", "grad_out")}, STORAGE),
    ("conv-naive-weight-storage-order", "conv2d_naive",
     {"conv2d_naive": reads_storage("conv2d_naive", "weight")}, STORAGE),
    ("sequential-input-storage-order", "sequential_backward", {"sequential": sequential_storage_order}, None),
    ("sgd-grad-storage-order", "sgd_momentum", {"sgd_momentum": sgd_storage_order}, None),
    # writes into an argument
    ("relu-zeroes-grad-out", "activations",
     {"relu": writes("relu", "grad_out", lambda g: np.maximum(g, 0, out=g))}, "modified `grad_out` in place"),
    ("softmax-scales-grad-out", "softmax",
     {"softmax": writes("softmax", "grad_out", lambda g: g.__imul__(2))}, "modified `grad_out` in place"),
    ("mse-scales-0d-grad-out", "mse_loss",
     {"mse_loss": writes("mse_loss", "grad_out", lambda g: g.__imul__(3))}, "modified `grad_out` in place"),
    ("nll-negates-input", "cross_entropy",
     {"nll_loss": writes("nll_loss", "forward-input", lambda x: x.__imul__(-1))}, "forward modified `input`"),
    ("linear-backward-writes-weight", "linear",
     {"linear": writes("linear", "weight", lambda w: w.__isub__(0.1))}, "backward modified `weight`"),
    ("max-pool-backward-zeroes-input", "max_pool2d",
     {"max_pool2d": writes("max_pool2d", "input", lambda x: x.fill(0))}, "backward modified `input`"),
    ("avg-pool-divides-grad-out", "avg_pool2d",
     {"avg_pool2d": writes("avg_pool2d", "grad_out", lambda g: g.__itruediv__(4))}, "modified `grad_out`"),
    ("conv-backward-flips-weight", "conv2d",
     {"conv2d": writes("conv2d", "weight", lambda w: w.__imul__(-1))}, "backward modified `weight`"),
    ("sequential-zeroes-grad-out", "sequential_backward",
     {"sequential": sequential_grad_out_in_place}, "modified `grad_out` in place"),
    ("sequential-steps-parameters", "sequential_backward",
     {"sequential": sequential_steps_in_backward}, "(its .data)` in place"),
    ("sgd-buffer-in-place", "sgd_momentum", {"sgd_momentum": sgd_buffer_in_place},
     "modified `momentum_buffer` in place"),
    ("sgd-grad-in-place", "sgd_momentum", {"sgd_momentum": sgd_grad_in_place}, "modified `grad` in place"),
    # the learning rate inside the buffer, and other buffers
    ("sgd-velocity-form", "sgd_momentum", {"sgd_momentum": sgd_velocity}, "the first step where the learning rate changed"),
    ("sgd-buffer-not-returned", "sgd_momentum", {"sgd_momentum": sgd_no_buffer_returned}, "wrong parameter after step 2"),
    ("sgd-buffer-returned-times-lr", "sgd_momentum", {"sgd_momentum": sgd_stale_lr}, "wrong"),
    # return values that are not (out, backward) of arrays
    ("cross-entropy-python-float", "cross_entropy",
     {"cross_entropy": returns("cross_entropy", lambda o, b: (float(o), b))}, "is a Python float"),
    ("softmax-returns-list", "softmax",
     {"softmax": returns("softmax", lambda o, b: (o.tolist(), b))}, "is a list"),
    ("relu-returns-out-only", "activations", {"relu": returns("relu", lambda o, b: o)}, "must return (out, backward)"),
    ("linear-wrong-order", "linear", {"linear": returns("linear", lambda o, b: (b, o))}, "wrong order"),
    ("sigmoid-returns-none", "activations", {"sigmoid": returns("sigmoid", lambda o, b: None)}, "returned None"),
    ("tanh-backward-tuple", "activations",
     {"tanh": returns("tanh", lambda o, b: (o, lambda g: (b(g)["input"],)))}, "must return a dict"),
    ("log-softmax-backward-wrong-key", "log_softmax",
     {"log_softmax": returns("log_softmax", lambda o, b: (o, lambda g: {"x": b(g)["input"]}))},
     "no gradient for 'input'"),
    ("mse-loss-shape-1", "mse_loss", {"mse_loss": returns("mse_loss", lambda o, b: (o.reshape(1), b))},
     "shape (1,), expected ()"),
    ("avg-pool-gradient-list", "avg_pool2d",
     {"avg_pool2d": returns("avg_pool2d", lambda o, b: (o, lambda g: {"input": b(g)["input"].tolist()}))},
     "is a list"),
    ("nll-returns-dict", "cross_entropy",
     {"nll_loss": returns("nll_loss", lambda o, b: {"out": o, "backward": b})}, "a dict with keys"),
    ("conv-output-float64-0d-bias", "conv2d",
     {"conv2d": returns("conv2d", lambda o, b: (o.astype(np.float64), b))}, "dtype"),
    ("sequential-out-only", "sequential_backward", {"sequential": sequential_out_only},
     "must return (out, backward)"),
    ("sgd-param-only", "sgd_momentum", {"sgd_momentum": sgd_param_only}, "must return (new_param"),
    # NotImplementedError inside the core scope
    ("linear-no-bias-not-implemented", "linear",
     {"linear": not_implemented_when("linear", lambda a, k: len(a) < 3 or a[2] is None)}, "NotImplementedError"),
    ("conv-padding-not-implemented", "conv2d",
     {"conv2d": not_implemented_when("conv2d", lambda a, k: as_pair(k.get("padding", 0)) != (0, 0))},
     "NotImplementedError"),
    ("max-pool-overlap-backward-not-implemented", "max_pool2d",
     {"max_pool2d": not_implemented_when("max_pool2d", lambda a, k: k["stride"] not in (None, k["kernel_size"]),
                                         in_backward=True)}, "NotImplementedError"),
    ("softmax-dim0-not-implemented", "softmax",
     {"softmax": not_implemented_when("softmax", lambda a, k: a[1] % max(a[0].ndim, 1) == 0 and a[0].ndim > 1)},
     "NotImplementedError"),
]


def _functions(ex, planted):
    fns = {name: ex.reference(name) for name in ex.functions}
    fns.update(planted)
    return fns


@pytest.mark.parametrize("exercise,planted,phrase", [m[1:] for m in MUTANTS], ids=[m[0] for m in MUTANTS])
def test_mutant_is_failed_and_says_why(exercise, planted, phrase):
    ex = catalogue.get(exercise)
    results = list(grade(ex, _functions(ex, planted), HERE, oracle="torch", stop_at_first=True))
    failed = [r for r in results if not r.passed]
    assert failed, f"mutant passed every property of {exercise}"
    text = "\n".join(report(failed[0].failure) + [n for n, _ in failed[0].failure.diagnoses])
    assert "Traceback" not in text
    if phrase is not None:
        assert phrase in text, text


def test_velocity_form_is_named():
    ex = catalogue.get("sgd_momentum")
    failed = [r for r in grade(ex, {"sgd_momentum": sgd_velocity}, HERE, oracle="torch") if not r.passed]
    assert [r.label for r in failed] == ["sgd_momentum: with momentum, lr and momentum changing between steps"]
    assert any("velocity" in name for name, _ in failed[0].failure.diagnoses)


def test_velocity_form_fails_without_torch_too():
    """The finite-difference mode's reference is scratchnet's sgd_step, over the same schedule."""
    ex = catalogue.get("sgd_momentum")
    failed = [r for r in grade(ex, {"sgd_momentum": sgd_velocity}, HERE, oracle="fd") if not r.passed]
    assert failed and "the first step where the learning rate changed" in failed[0].failure.headline
    assert all(r.passed for r in grade(ex, {"sgd_momentum": sgd_ref}, HERE, oracle="fd", full=True))


def test_a_not_implemented_case_fails_its_property_and_the_others_still_run():
    ex = catalogue.get("conv2d")
    planted = dict(MUTANTS_BY_ID["conv-padding-not-implemented"][2])
    results = list(grade(ex, _functions(ex, planted), HERE, oracle="torch"))
    by_label = {r.label: r for r in results}
    assert by_label["conv2d: stride 1, no padding"].passed and by_label["conv2d: stride > 1"].passed
    bad = by_label["conv2d: padding > 0"].failure
    assert "raised NotImplementedError on every case of this property" in bad.headline
    assert "padding=" in bad.case.describe()
    # Where only some cases of a property raise, the failure says so.
    ex = catalogue.get("softmax")
    planted = dict(MUTANTS_BY_ID["softmax-dim0-not-implemented"][2])
    results = list(grade(ex, _functions(ex, planted), HERE, oracle="torch"))
    failed = [r for r in results if not r.passed]
    assert failed and len(results) == 3  # every property ran
    assert "raised NotImplementedError on a case inside the scope checked" in failed[0].failure.headline


MUTANTS_BY_ID = {m[0]: m for m in MUTANTS}


def test_there_are_at_least_eighty_mutants_in_all():
    from test_exercise_mutants import MUTANTS as NAMED

    assert len(NAMED) + len(MUTANTS) >= 80
    assert len({m[0] for m in NAMED} | {m[0] for m in MUTANTS}) == len(NAMED) + len(MUTANTS)
