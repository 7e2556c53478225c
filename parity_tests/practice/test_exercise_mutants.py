"""The grader is honest: planted wrong solutions are failed, and named when the mistake is known.

Every mutant is scratchnet's own solution with one mistake planted (a few written
out where the mistake lives inside a loop). Each test grades one mutant with the
exercise's properties and asserts that some property fails and, for a named mistake,
that the failure carries that diagnosis. Subtle ones are here on purpose: a float32
error of 1e-3 relative, mistakes that show only for stride > 1, only with padding,
only for tied maxima, only where windows overlap.
"""
from pathlib import Path

import numpy as np
import pytest

from scratchnet.exercise import catalogue
from scratchnet.exercise.grader import grade
from scratchnet.exercise.reference import sgd_momentum as sgd_ref
from scratchnet.testing.strategies import as_pair

HERE = Path(__file__)


def ref(name):
    return catalogue.exercise_of(name).reference(name)


def on_grads(name, change):
    """The reference op whose backward's dict goes through ``change(grads, args, kwargs, g, out)``."""
    def mutant(*args, **kwargs):
        out, backward = ref(name)(*args, **kwargs)
        return out, lambda g: change(dict(backward(g)), args, kwargs, g, out)
    return mutant


def on_out(name, change):
    """The reference op with its output replaced by ``change(out, args, kwargs)``."""
    def mutant(*args, **kwargs):
        out, backward = ref(name)(*args, **kwargs)
        return change(out, args, kwargs), backward
    return mutant


def with_kwargs(name, **extra):
    """The reference op always called with ``extra`` options (a wrong default)."""
    def mutant(*args, **kwargs):
        return ref(name)(*args, **{**kwargs, **extra})
    return mutant


def replace(d, key, value):
    d[key] = value
    return d


def like(x, c):
    """``c`` in ``x``'s dtype: each mutant carries its one bug only, also under numpy 1.x,
    where a Python number against a 0-d float32 array gives float64."""
    return np.asarray(c, dtype=x.dtype)


# --------------------------------------------------------------------------- hand-written mutants
def relu_ge(input, inplace=False):
    out = np.maximum(input, like(input, 0))
    return out, lambda g: {"input": np.where(input >= 0, g, 0).astype(input.dtype)}


def sigmoid_from_input(input):
    out, _ = ref("sigmoid")(input)
    return out, lambda g: {"input": g * input * (like(input, 1) - input)}


def tanh_from_input(input):
    out = np.tanh(input)
    return out, lambda g: {"input": g * (like(input, 1) - input * input)}


def tanh_in_place(input):
    out = np.tanh(input, out=input)
    return out, lambda g: {"input": g * (like(out, 1) - out * out)}


def softmax_in_place(input, dim=None, _stacklevel=3, dtype=None):
    input -= input.max(axis=dim, keepdims=True)
    e = np.exp(input)
    s = e / e.sum(axis=dim, keepdims=True)
    return s, lambda g: {"input": g * s - s * np.sum(g * s, axis=dim, keepdims=True)}


def softmax_unshifted(input, dim=None, _stacklevel=3, dtype=None):
    e = np.exp(input)
    s = e / e.sum(axis=dim, keepdims=True)
    return s, lambda g: {"input": g * s - s * np.sum(g * s, axis=dim, keepdims=True)}


def softmax_axis0(input, dim=None, _stacklevel=3, dtype=None):
    return ref("softmax")(input, 0)


def log_softmax_naive(input, dim=None, _stacklevel=3, dtype=None):
    e = np.exp(input)
    out = np.log(e / e.sum(axis=dim, keepdims=True))
    return out, lambda g: {"input": g - np.exp(out) * g.sum(axis=dim, keepdims=True)}


def linear_unsummed_weight(input, weight, bias=None):
    out, backward = ref("linear")(input, weight, bias)

    def bw(g):
        grads = dict(backward(g))
        grads["weight"] = np.einsum("no,ni->noi", g, input)
        return grads
    return out, bw


def mse_batch_mean(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    d = input - target
    n = input.shape[0]
    out = np.asarray((d * d).sum() / n, dtype=input.dtype)
    return out, lambda g: {"input": 2 * g * d / n, "target": -2 * g * d / n}


def max_pool_route(rule, origin="right"):
    """max_pool2d whose backward routes by ``rule`` ('all', 'split', 'last') or the wrong window."""
    from scratchnet.exercise.window_mistakes import max_pool_route as _route

    def mutant(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
        out, _ = ref("max_pool2d")(input, kernel_size, stride, padding)
        k, s, p = as_pair(kernel_size), as_pair(stride or kernel_size), as_pair(padding)
        return out, lambda g: {"input": _route(input, g, k, s, p, rule, origin)}
    return mutant


def conv_scatter(stride_in_start=True, crop_offset=True, overwrite=False, name="conv2d"):
    """conv2d whose input gradient is scattered by hand, with one planted mistake."""
    def mutant(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
        out, backward = ref(name)(input, weight, bias, stride, padding)
        s, p = as_pair(stride), as_pair(padding)

        def bw(g):
            grads = dict(backward(g))
            n, c, h, w = input.shape
            kh, kw = weight.shape[2:]
            dxp = np.zeros((n, c, h + 2 * p[0] + 8, w + 2 * p[1] + 8), dtype=input.dtype)
            for i in range(g.shape[2]):
                for j in range(g.shape[3]):
                    r = i * s[0] if stride_in_start else i
                    q = j * s[1] if stride_in_start else j
                    win = np.einsum("no,ocab->ncab", g[:, :, i, j], weight)
                    if overwrite:
                        dxp[:, :, r:r + kh, q:q + kw] = win
                    else:
                        dxp[:, :, r:r + kh, q:q + kw] += win
            r0, c0 = (p if crop_offset else (0, 0))
            grads["input"] = dxp[:, :, r0:r0 + h, c0:c0 + w].copy()
            return grads
        return out, bw
    return mutant


def conv_last_sample_weight(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    out, backward = ref("conv2d")(input, weight, bias, stride, padding)

    def bw(g):
        grads = dict(backward(g))
        _, last = ref("conv2d")(input[-1:], weight, bias, stride, padding)
        grads["weight"] = last(g[-1:])["weight"]
        return grads
    return out, bw


def conv_flipped(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    return ref("conv2d")(input, np.ascontiguousarray(weight[..., ::-1, ::-1]), bias, stride, padding)


def conv_ceil(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Output size rounded up: one extra row/column of zeros when the stride does not divide."""
    out, backward = ref("conv2d")(input, weight, bias, stride, padding)
    s, p = as_pair(stride), as_pair(padding)
    extra = [int((n + 2 * pp - k) % ss != 0) for n, pp, k, ss in zip(input.shape[2:], p, weight.shape[2:], s)]
    big = np.zeros(out.shape[:2] + (out.shape[2] + extra[0], out.shape[3] + extra[1]), out.dtype)
    big[:, :, :out.shape[2], :out.shape[3]] = out
    return big, lambda g: backward(np.ascontiguousarray(g[:, :, :out.shape[2], :out.shape[3]]))


def sequential_overwrite(input, layers):
    steps, x = [], input
    for forward, params in layers:
        x, backward = forward(x, **{k: p.data for k, p in params.items()})
        steps.append((backward, params))

    def backward(g):
        for step, params in reversed(steps):
            grads = step(g)
            for name, p in params.items():
                p.grad = np.array(grads[name], copy=True)
            g = grads["input"]
        return {"input": g}
    return x, backward


def sequential_no_input(input, layers):
    out, backward = catalogue.resolve("scratchnet.exercise.reference:sequential")(input, layers)

    def bw(g):
        backward(g)
        return {}
    return out, bw


def sgd_sign(param, grad, momentum_buffer, lr, **kw):
    new, buf = sgd_ref(param, grad, momentum_buffer, lr, **kw)
    return param + (param - new), buf


def sgd_no_momentum(param, grad, momentum_buffer, lr, momentum=0.0, **kw):
    return param - lr * grad, None


def sgd_in_place(param, grad, momentum_buffer, lr, **kw):
    new, buf = sgd_ref(param, grad, momentum_buffer, lr, **kw)
    param[...] = new
    return param, buf


def sgd_first_dampened(param, grad, momentum_buffer, lr, momentum=0.0, dampening=0.0, **kw):
    if momentum_buffer is None and momentum:
        momentum_buffer = np.zeros_like(grad)  # the textbook's b_0 = 0
    return sgd_ref(param, grad, momentum_buffer, lr, momentum=momentum, dampening=dampening, **kw)


def sigmoid_ignores_grad_out(input):
    out, _ = ref("sigmoid")(input)
    return out, lambda g: {"input": out * (1 - out)}


def cross_entropy_ignores_grad_out(input, target, weight=None, size_average=None, ignore_index=-100,
                                   reduce=None, reduction="mean", label_smoothing=0.0):
    out, _ = ref("cross_entropy")(input, target)
    s, _ = ref("softmax")(input, 1)
    onehot = np.zeros_like(s)
    onehot[np.arange(len(target)), target] = 1
    return out, lambda g: {"input": ((s - onehot) / len(target)).astype(input.dtype)}


def max_pool_zero_padding(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                          return_indices=False):
    """Padding written as np.pad's zeros, then pooled without padding."""
    p = as_pair(padding)
    h, w = input.shape[2:]
    padded = np.pad(input, ((0, 0), (0, 0), (p[0], p[0]), (p[1], p[1])))
    out, backward = ref("max_pool2d")(padded, kernel_size, stride, 0)
    return out, lambda g: {"input": backward(g)["input"][:, :, p[0]:p[0] + h, p[1]:p[1] + w].copy()}


def max_pool_assign(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                    return_indices=False):
    """The gradient stored with = at each window's maximum: the last window to pick a pixel wins."""
    from scratchnet.exercise.window_mistakes import max_pool_route as _route

    out, _ = ref("max_pool2d")(input, kernel_size, stride, padding)
    k, s, p = as_pair(kernel_size), as_pair(stride or kernel_size), as_pair(padding)
    return out, lambda g: {"input": _route(input, g, k, s, p, "first", "right", assign=True)}


def avg_pool_crop_corner(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
                         divisor_override=None):
    """Each window's share added into a padded gradient, cropped from its top-left corner."""
    out, _ = ref("avg_pool2d")(input, kernel_size, stride, padding)
    k, s, p = as_pair(kernel_size), as_pair(stride or kernel_size), as_pair(padding)

    def backward(g):
        n, c, h, w = input.shape
        dxp = np.zeros((n, c, h + 2 * p[0] + k[0], w + 2 * p[1] + k[1]), dtype=input.dtype)
        for i in range(g.shape[2]):
            for j in range(g.shape[3]):
                dxp[:, :, i * s[0]:i * s[0] + k[0], j * s[1]:j * s[1] + k[1]] += g[:, :, i, j, None, None] / (k[0] * k[1])
        return {"input": dxp[:, :, :h, :w].copy()}
    return out, backward


def log_softmax_of_softmax(input, dim=None, _stacklevel=3, dtype=None):
    """log(softmax(x)) with the max subtracted: -inf where softmax underflows to 0."""
    s, _ = ref("softmax")(input, dim)
    out = np.log(s)
    return out, lambda g: {"input": g - s * g.sum(axis=dim, keepdims=True)}


def cross_entropy_log_of_softmax(input, target, weight=None, size_average=None, ignore_index=-100,
                                 reduce=None, reduction="mean", label_smoothing=0.0):
    s, _ = ref("softmax")(input, 1)
    logs = np.log(s)
    n = len(target)
    out = np.asarray(-logs[np.arange(n), target].mean(), dtype=input.dtype)
    onehot = np.zeros_like(s)
    onehot[np.arange(n), target] = 1
    return out, lambda g: {"input": (g * (s - onehot) / n).astype(input.dtype)}


def relu_writes_grad_out(input, inplace=False):
    out = np.maximum(input, like(input, 0))

    def backward(g):
        g[input <= 0] = 0  # the caller's grad_out, changed
        return {"input": g}
    return out, backward


def f32_only(change):
    return lambda out, args, kwargs: change(out) if out.dtype == np.float32 else out


# --------------------------------------------------------------------------- the mutants
# (id, exercise, {function: mutant}, diagnosis title expected (a substring) or None, full scope)
MUTANTS = [
    ("relu-grad-at-zero", "activations", {"relu": relu_ge}, "relu's gradient at 0", False),
    ("relu-wrong-sign", "activations",
     {"relu": on_grads("relu", lambda d, a, k, g, o: {"input": -d["input"]})}, "wrong sign", False),
    ("relu-float32-1e-3", "activations",
     {"relu": on_out("relu", f32_only(lambda o: o * np.float32(1.001)))}, None, False),
    ("sigmoid-from-input", "activations", {"sigmoid": sigmoid_from_input}, "at the input", False),
    ("sigmoid-float64", "activations",
     {"sigmoid": on_out("sigmoid", lambda o, a, k: o.astype(np.float64))}, "float64", False),
    ("sigmoid-no-gradient", "activations",
     {"sigmoid": on_grads("sigmoid", lambda d, a, k, g, o: {})}, "gradient missing", False),
    ("tanh-from-input", "activations", {"tanh": tanh_from_input}, "at the input", False),
    ("tanh-in-place", "activations", {"tanh": tanh_in_place}, "in place", False),
    ("linear-weight-transposed", "linear",
     {"linear": on_grads("linear", lambda d, a, k, g, o: replace(d, "weight", d["weight"].T.copy()))},
     "transposed", False),
    ("linear-weight-unsummed", "linear", {"linear": linear_unsummed_weight}, "un-summed weight", False),
    ("linear-bias-unsummed", "linear",
     {"linear": on_grads("linear", lambda d, a, k, g, o: replace(d, "bias", g.copy()) if "bias" in d else d)},
     "un-summed bias", False),
    ("linear-input-sign", "linear",
     {"linear": on_grads("linear", lambda d, a, k, g, o: replace(d, "input", -d["input"]))},
     "wrong sign", False),
    ("linear-no-bias-gradient", "linear",
     {"linear": on_grads("linear", lambda d, a, k, g, o: {n: v for n, v in d.items() if n != "bias"})},
     "gradient missing", False),
    ("linear-weight-float64", "linear",
     {"linear": on_grads("linear", lambda d, a, k, g, o: replace(d, "weight", d["weight"].astype(np.float64)))},
     "float64", False),
    ("softmax-missing-term", "softmax",
     {"softmax": on_grads("softmax", lambda d, a, k, g, o: {"input": g * o})}, "missing the - s * sum", False),
    ("softmax-backward-axis0", "softmax",
     {"softmax": on_grads("softmax", lambda d, a, k, g, o: {
         "input": g * o - o * np.sum(g * o, axis=0, keepdims=True)})}, "wrong axis", False),
    ("softmax-forward-axis0", "softmax", {"softmax": softmax_axis0}, "wrong axis", False),
    ("softmax-in-place-shift", "softmax", {"softmax": softmax_in_place}, "in place", False),
    ("softmax-unshifted", "softmax", {"softmax": softmax_unshifted}, "overflowed", False),
    ("log-softmax-missing-term", "log_softmax",
     {"log_softmax": on_grads("log_softmax", lambda d, a, k, g, o: {"input": g.copy()})},
     "missing the - exp(l)", False),
    ("log-softmax-naive", "log_softmax", {"log_softmax": log_softmax_naive}, "overflowed", False),
    ("log-softmax-sign", "log_softmax",
     {"log_softmax": on_grads("log_softmax", lambda d, a, k, g, o: {"input": -d["input"]})},
     "wrong sign", False),
    ("cross-entropy-no-1/N", "cross_entropy",
     {"cross_entropy": on_grads("cross_entropy", lambda d, a, k, g, o: replace(d, "input", d["input"] * like(d["input"], a[0].shape[0])))},
     "without its 1/N", False),
    ("cross-entropy-1/N-twice", "cross_entropy",
     {"cross_entropy": on_grads("cross_entropy", lambda d, a, k, g, o: replace(d, "input", d["input"] / a[0].shape[0]))},
     "applied twice", False),
    ("nll-sum-not-mean", "cross_entropy",
     {"nll_loss": on_out("nll_loss", lambda o, a, k: o * like(o, a[0].shape[0]))}, "without its 1/N", False),
    ("nll-wrong-sign", "cross_entropy",
     {"nll_loss": on_grads("nll_loss", lambda d, a, k, g, o: replace(d, "input", -d["input"]))},
     "wrong sign", False),
    ("cross-entropy-float64", "cross_entropy",
     {"cross_entropy": on_out("cross_entropy", lambda o, a, k: o.astype(np.float64))}, "float64", False),
    ("mse-no-1/N", "mse_loss",
     {"mse_loss": on_grads("mse_loss", lambda d, a, k, g, o: {n: v * like(v, a[0].size) for n, v in d.items()})},
     "without its 1/N", False),
    ("mse-batch-mean", "mse_loss", {"mse_loss": mse_batch_mean}, "mean over the batch", False),
    ("mse-no-target-gradient", "mse_loss",
     {"mse_loss": on_grads("mse_loss", lambda d, a, k, g, o: {"input": d["input"]})}, "gradient missing", False),
    ("mse-no-factor-2", "mse_loss",
     {"mse_loss": on_grads("mse_loss", lambda d, a, k, g, o: {n: v / like(v, 2) for n, v in d.items()})}, None, False),
    ("max-pool-every-tie", "max_pool2d", {"max_pool2d": max_pool_route("all")}, "every tied maximum", False),
    ("max-pool-split-ties", "max_pool2d", {"max_pool2d": max_pool_route("split")}, "split among tied", False),
    ("max-pool-last-tie", "max_pool2d", {"max_pool2d": max_pool_route("last")}, "last tied maximum", False),
    ("max-pool-stride-is-kernel", "max_pool2d", {"max_pool2d": max_pool_route("first", "stride=kernel")},
     "wrong window", False),
    ("max-pool-padding-ignored", "max_pool2d", {"max_pool2d": max_pool_route("first", "no padding")},
     "wrong window", False),
    ("max-pool-ceil-size", "max_pool2d", {"max_pool2d": with_kwargs("max_pool2d", ceil_mode=True)},
     "off by one", False),
    ("avg-pool-exclude-pad", "avg_pool2d", {"avg_pool2d": with_kwargs("avg_pool2d", count_include_pad=False)},
     "in-bounds pixels only", False),
    ("avg-pool-no-1/k2", "avg_pool2d",
     {"avg_pool2d": on_grads("avg_pool2d", lambda d, a, k, g, o: {"input": d["input"] * int(np.prod(as_pair(k["kernel_size"])))})},
     "without its 1/(kH*kW)", False),
    ("conv-naive-flipped-kernel", "conv2d_naive",
     {"conv2d_naive": lambda *a, **k: conv_flipped(*a, **k)}, "kernel flipped", False),
    ("conv-naive-stride-forgotten-in-backward", "conv2d_naive",
     {"conv2d_naive": conv_scatter(stride_in_start=False, name="conv2d_naive")}, None, False),
    ("conv-naive-crop-ignores-padding", "conv2d_naive",
     {"conv2d_naive": conv_scatter(crop_offset=False, name="conv2d_naive")}, "from the corner", False),
    ("conv-naive-weight-one-sample", "conv2d_naive", {"conv2d_naive": conv_last_sample_weight},
     "not summed over the batch", False),
    ("conv2d-written-as-loops", "conv2d", {"conv2d": ref("conv2d_naive")}, None, False),
    ("conv-col2im-overwrites", "conv2d", {"conv2d": conv_scatter(overwrite=True)}, "col2im overwrites", False),
    ("conv-output-size-ceil", "conv2d", {"conv2d": conv_ceil}, "off by one", False),
    ("conv-input-grad-float64", "conv2d",
     {"conv2d": on_grads("conv2d", lambda d, a, k, g, o: replace(d, "input", d["input"].astype(np.float64)))},
     "float64", False),
    ("conv-bias-unsummed-over-pixels", "conv2d",
     {"conv2d": on_grads("conv2d", lambda d, a, k, g, o: replace(d, "bias", g.sum(axis=(0, 2))[:, 0].copy())
                         if "bias" in d else d)}, None, False),
    ("sequential-overwrites-grad", "sequential_backward", {"sequential": sequential_overwrite},
     "grad overwritten", False),
    ("sequential-no-input-gradient", "sequential_backward", {"sequential": sequential_no_input},
     "gradient missing", False),
    ("sgd-wrong-sign", "sgd_momentum", {"sgd_momentum": sgd_sign}, "wrong sign", False),
    ("sgd-momentum-ignored", "sgd_momentum", {"sgd_momentum": sgd_no_momentum}, "momentum ignored", False),
    ("sgd-in-place", "sgd_momentum", {"sgd_momentum": sgd_in_place}, "in place", False),
    ("sgd-first-buffer-dampened", "sgd_momentum", {"sgd_momentum": sgd_first_dampened},
     "started with (1 - dampening)", True),
    # issue 25's mistakes
    ("sigmoid-ignores-grad-out", "activations", {"sigmoid": sigmoid_ignores_grad_out}, "ignores grad_out", False),
    ("cross-entropy-ignores-grad-out", "cross_entropy", {"cross_entropy": cross_entropy_ignores_grad_out},
     "ignores grad_out", False),
    ("linear-bias-averaged", "linear",
     {"linear": on_grads("linear", lambda d, a, k, g, o: replace(d, "bias", g.mean(axis=0)) if "bias" in d else d)},
     "averaged instead of summed", False),
    ("conv-bias-averaged", "conv2d",
     {"conv2d": on_grads("conv2d", lambda d, a, k, g, o: replace(d, "bias", g.mean(axis=(0, 2, 3)))
                         if "bias" in d else d)}, "averaged instead of summed", False),
    ("conv-col2im-crops-the-corner", "conv2d", {"conv2d": conv_scatter(crop_offset=False)}, "from the corner", False),
    ("max-pool-zero-padding", "max_pool2d", {"max_pool2d": max_pool_zero_padding}, "zeros instead of -inf", False),
    ("max-pool-assigns-where-windows-overlap", "max_pool2d", {"max_pool2d": max_pool_assign},
     "assigned (=) where pooling windows overlap", False),
    ("log-softmax-log-of-softmax", "log_softmax", {"log_softmax": log_softmax_of_softmax},
     "log of an underflowed softmax", False),
    ("cross-entropy-log-of-softmax", "cross_entropy", {"cross_entropy": cross_entropy_log_of_softmax},
     "log of an underflowed softmax", False),
    ("softmax-jacobian-diagonal", "softmax",
     {"softmax": on_grads("softmax", lambda d, a, k, g, o: {"input": g * o * (1 - o)})}, "diagonal only", False),
    ("avg-pool-crops-the-corner", "avg_pool2d", {"avg_pool2d": avg_pool_crop_corner}, "from the corner", False),
    ("avg-pool-forward-no-1/k2", "avg_pool2d",
     {"avg_pool2d": on_out("avg_pool2d", lambda o, a, k: o * int(np.prod(as_pair(k["kernel_size"]))))},
     "without its 1/(kH*kW)", False),
    # Caught by the grader's check that no argument changed:
    ("relu-writes-grad-out", "activations", {"relu": relu_writes_grad_out}, "'grad_out' modified", False),
]

def _functions(ex, planted):
    fns = {name: ex.reference(name) for name in ex.functions}
    fns.update(planted)
    return fns


@pytest.mark.parametrize("exercise,planted,diagnosis,full", [m[1:] for m in MUTANTS],
                         ids=[m[0] for m in MUTANTS])
def test_mutant_is_failed_and_named(exercise, planted, diagnosis, full):
    ex = catalogue.get(exercise)
    results = list(grade(ex, _functions(ex, planted), HERE, full=full, oracle="torch", stop_at_first=True))
    failed = [r for r in results if not r.passed]
    assert failed, f"mutant passed every property of {exercise}"
    names = [name for name, _ in failed[0].failure.diagnoses]
    if diagnosis is not None:
        assert any(diagnosis in n for n in names), (
            f"expected the diagnosis {diagnosis!r}, got {names}: {failed[0].failure.headline}")
    # One cause: a dtype diagnosis may come with one value diagnosis, never two value ones.
    assert len([n for n in names if "float64" not in n]) <= 1, names


def test_there_are_at_least_sixty_mutants_over_every_exercise():
    assert len(MUTANTS) >= 60
    assert {m[1] for m in MUTANTS} == set(catalogue.BY_NAME)
