"""Named mistakes: a failing answer is tested against the known wrong answers.

For a wrong output or gradient, each mistake that applies to the op computes what a
solution *with that mistake* would have returned on the very same case (the right
answer transposed, scaled by N, summed over another axis, scattered by an overwriting
col2im, routed to every tied maximum, ...). When the learner's answer equals one of
them, the check names the mistake and says why it is one. Nothing here guesses from
the shape of an error: a diagnosis is given only when the wrong answer is reproduced.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..testing.strategies import as_pair
from .oracle import reference_call

MISTAKES = {
    "wrong_sign": ("wrong sign", "your {what} is the exact negative of the right one."),
    "float64": ("float64 returned for float32 input",
                "your {what} is float64 although the input is float32: a float64 array (np.zeros "
                "without dtype, np.array of Python floats) crept in; keep the input's dtype."),
    "in_place": ("input modified in place",
                 "the caller's {name!r} was changed. The backward and the caller still need it: "
                 "compute into new arrays (no `x -= ...`, no out=x)."),
    "missing_gradient": ("gradient missing for an argument",
                         "every float array argument ({name!r} here) needs its gradient in the dict."),
    "transposed": ("transposed weight gradient",
                   "your weight gradient is (dL/dW)^T: dL/dW = G^T X has the weight's shape (out, in), "
                   "X^T G has (in, out)."),
    "unsummed": ("un-summed {name} gradient",
                 "you returned one gradient per sample (shape {shape}); the {name} is shared by the "
                 "whole batch, so its gradient is their sum over the batch axis."),
    "no_mean": ("mean without its 1/N",
                "your {what} is N = {n} times the right one: the 'mean' reduction divides by N, "
                "and so does its gradient."),
    "double_mean": ("1/N applied twice",
                    "your {what} is the right one divided by N = {n} once more: the 1/N is "
                    "already in the upstream gradient path, apply it once."),
    "batch_mean": ("mean over the batch instead of over every element",
                   "mse_loss's mean divides by the number of elements ({n}), not by the batch size."),
    "wrong_axis": ("reduced over the wrong axis",
                   "your {what} equals the right formula with the sum taken over dim {axis} "
                   "instead of dim {dim}."),
    "softmax_term": ("softmax backward missing the - s * sum(g * s) term",
                     "your gradient is g * s. Since ds_i/dx_k = s_i (delta_ik - s_k), the "
                     "vector-Jacobian product is g*s - s * sum(g*s). An all-ones upstream "
                     "gradient (loss = out.sum()) hides the term's role: there the true gradient "
                     "is exactly 0, because the outputs always sum to 1; the grader uses a random one."),
    "log_softmax_term": ("log_softmax backward missing the - exp(l) * sum(g) term",
                         "your gradient is g itself; dl_i/dx_k = delta_ik - s_k gives "
                         "g - softmax(x) * sum(g)."),
    "overflow": ("exp overflowed",
                 "your {what} has inf/NaN where the right one is finite: exp(1e4) overflows. "
                 "Subtract the max along dim first (log-sum-exp for log_softmax)."),
    "off_by_one": ("output size off by one (floor, padding)",
                   "your output is {got} instead of {expected}: H_out = floor((H + 2p - k) / s) + 1, "
                   "with the padding counted on both sides and the division rounded down."),
    "col2im_overwrite": ("col2im overwrites instead of accumulating",
                         "where windows overlap (stride < kernel) a pixel collects a gradient from "
                         "every window that read it: add (+=) into the input gradient, never assign."),
    "ties_all": ("max-pool gradient sent to every tied maximum",
                 "torch sends each window's gradient to one position, the first maximum in "
                 "row-major order; the other equal values get nothing."),
    "ties_split": ("max-pool gradient split among tied maxima",
                   "torch does not share the gradient among equal values: the first maximum gets "
                   "all of it."),
    "ties_last": ("max-pool gradient sent to the last tied maximum",
                  "torch keeps the *first* maximum of the window (a later value replaces it only "
                  "if strictly greater): compare with >, not >=."),
    "wrong_window": ("max-pool gradient sent to the wrong window",
                     "your gradient lands where the windows would be {how}; window (i, j) starts "
                     "at row i*stride - padding, column j*stride - padding."),
    "count_exclude_pad": ("average over the in-bounds pixels only",
                          "torch's default count_include_pad=True divides every window by kh*kw, "
                          "the zero padding included."),
    "flipped_kernel": ("kernel flipped (true convolution)",
                       "deep learning's conv2d is a cross-correlation: w[o, c, a, b] multiplies "
                       "xpad[i*s + a, j*s + b], no flip."),
    "one_sample": ("weight gradient not summed over the batch",
                   "your weight gradient is one sample's contribution; every sample adds its own."),
    "input_not_output": ("derivative evaluated at the input instead of the output",
                         "your gradient is g * {formula} evaluated at x; the formula takes the "
                         "forward's output (y = {op}(x))."),
    "relu_at_zero": ("relu's gradient at 0",
                     "where x == 0 exactly you passed the gradient; torch takes the derivative "
                     "at 0 as 0 (x > 0, not x >= 0)."),
    "overwrite_grad": ("grad overwritten instead of accumulated",
                       "{name} is the gradient of {which}; .grad accumulates like torch's: add "
                       "every use of a shared layer, and add to what .grad already holds."),
    "sgd_variant": ("{title}", "{text}"),
}


def named(key: str, **fmt) -> tuple:
    title, text = MISTAKES[key]
    return title.format(**fmt), text.format(**fmt)


@dataclass
class Context:
    case: object
    g: np.ndarray
    expected_out: object
    expected_grads: dict
    tolerances: dict


def _close(got, wrong, dtype) -> bool:
    got, wrong = np.asarray(got), np.asarray(wrong)
    if got.shape != wrong.shape or wrong.dtype.kind != "f" and got.dtype.kind != "f":
        return False
    rtol = 2e-5 if np.dtype(dtype) == np.float32 else 1e-9
    with np.errstate(all="ignore"):
        w = wrong.astype(np.float64)
        scale = max(float(np.max(np.abs(w[np.isfinite(w)]), initial=1.0)), 1.0)
        return bool(np.allclose(got.astype(np.float64), w, rtol=rtol, atol=rtol * scale, equal_nan=True))


def find(ctx: Context, quantity: str, got: np.ndarray) -> list:
    """The named mistakes whose wrong answer equals ``got`` (``quantity``: 'output' or an argument)."""
    case = ctx.case
    expected = ctx.expected_out if quantity == "output" else ctx.expected_grads[quantity]
    if isinstance(expected, tuple):
        expected = expected[0]
    expected = np.asarray(expected)
    what = "output" if quantity == "output" else f"gradient of {quantity}"
    dtype = expected.dtype
    found = []
    if got.dtype != expected.dtype and expected.dtype == np.float32 and got.dtype == np.float64:
        found.append(named("float64", what=what))
    if got.shape != expected.shape and got.ndim == expected.ndim and got.ndim >= 2 and case.function in (
            "conv2d", "conv2d_naive", "max_pool2d", "avg_pool2d") and quantity == "output":
        diffs = [abs(a - b) for a, b in zip(got.shape[-2:], expected.shape[-2:])]
        if got.shape[:-2] == expected.shape[:-2] and max(diffs) == 1:
            found.append(named("off_by_one", got=tuple(got.shape), expected=tuple(expected.shape)))
    if (case.function == "linear" and quantity in ("weight", "bias") and got.ndim == expected.ndim + 1
            and got.shape[1:] == expected.shape and _close(got.sum(axis=0), expected, dtype)):
        # One gradient per sample: the right one is their sum over the batch.
        found.append(named("unsummed", name=quantity, shape=tuple(got.shape)))
    if np.any(expected != 0) and _close(got, -expected, dtype):
        found.append(named("wrong_sign", what=what))
    for key, wrong, fmt in _variants(ctx, quantity, got, expected):
        try:
            hit = _close(got, wrong, dtype)
        except (ValueError, TypeError):
            hit = False
        if hit and not _close(expected, wrong, dtype):
            found.append(named(key, what=what, **fmt))
    if quantity == "output" and case.function in ("softmax", "log_softmax", "cross_entropy") \
            and np.all(np.isfinite(expected)) and not np.all(np.isfinite(got)):
        found.append(named("overflow", what=what))
    return found


def _variants(ctx, quantity, got, expected):
    """``(mistake, wrong answer, format fields)`` for every mistake that applies here."""
    case, g = ctx.case, ctx.g
    f, args, kw = case.function, case.args, case.kwargs
    x = args[0]
    if f == "linear" and quantity in ("weight", "bias"):
        if quantity == "weight" and got.shape == expected.T.shape:
            yield "transposed", expected.T, {}
    if f in ("softmax", "log_softmax"):
        dim = args[1] % max(x.ndim, 1) if x.ndim else 0
        others = [a for a in range(x.ndim) if a != dim]
        if quantity == "output":
            for a in others:
                yield "wrong_axis", reference_call(f, (x, a), {})[0], dict(axis=a, dim=dim)
        else:
            out = np.asarray(ctx.expected_out)
            if f == "softmax":
                yield "softmax_term", g * out, {}
                for a in others:
                    yield "wrong_axis", g * out - out * np.sum(g * out, axis=a, keepdims=True), dict(axis=a, dim=dim)
            else:
                yield "log_softmax_term", g, {}
                for a in others:
                    yield "wrong_axis", g - np.exp(out) * np.sum(g, axis=a, keepdims=True), dict(axis=a, dim=dim)
    if f in ("cross_entropy", "nll_loss", "mse_loss") and kw.get("reduction", "mean") == "mean":
        n = x.shape[0] if f != "mse_loss" else x.size
        if n > 1:
            yield "no_mean", expected * n, dict(n=n)
            yield "double_mean", expected / n, dict(n=n)
            if f == "mse_loss" and x.ndim > 1 and x.shape[0] != x.size:
                yield "batch_mean", expected * x.size / x.shape[0], dict(n=x.size)
    if f in ("sigmoid", "tanh") and quantity == "input":
        xs = x.astype(np.float64)
        formula = xs * (1 - xs) if f == "sigmoid" else 1 - xs * xs
        yield "input_not_output", g * formula, dict(formula="s(1-s)" if f == "sigmoid" else "(1 - y^2)", op=f)
    if f == "relu" and quantity == "input" and np.any(x == 0):
        yield "relu_at_zero", np.where(x >= 0, g, 0).astype(x.dtype), {}
    if f in ("conv2d", "conv2d_naive"):
        yield from _conv_variants(ctx, quantity, expected)
    if f == "avg_pool2d":
        yield from _avg_pool_variants(ctx, quantity, expected)
    if f == "max_pool2d" and quantity == "input":
        yield from _max_pool_variants(ctx)


# --------------------------------------------------------------------------- windows
def _geometry(x, kw_):
    k = as_pair(kw_.get("kernel_size", 1))
    s = as_pair(kw_.get("stride") or k)
    p = as_pair(kw_.get("padding", 0))
    return k, s, p


def _conv_variants(ctx, quantity, expected):
    case, g = ctx.case, ctx.g
    x, w = case.args[0], case.args[1]
    kw_ = case.kwargs
    s, p = as_pair(kw_.get("stride", 1)), as_pair(kw_.get("padding", 0))
    if quantity == "output":
        flipped = list(case.args)
        flipped[1] = np.ascontiguousarray(w[..., ::-1, ::-1])
        yield "flipped_kernel", reference_call("conv2d", tuple(flipped), kw_)[0], {}
    elif quantity == "input":
        dwin = np.einsum("noij,ocab->ncabij", g.astype(np.float64), w.astype(np.float64))
        for order in ("tap", "window"):
            yield "col2im_overwrite", _overwrite(dwin, x.shape, s, p, order).astype(x.dtype), {}
    elif quantity == "weight" and x.shape[0] > 1:
        for n in (0, x.shape[0] - 1):
            one = list(case.args)
            one[0] = x[n:n + 1]
            _, bw = reference_call("conv2d", tuple(one), kw_)
            yield "one_sample", bw(g[n:n + 1])["weight"], {}


def _overwrite(dwin, x_shape, s, p, order):
    """col2im with ``=`` instead of ``+=``: per kernel tap, or per output window (last wins)."""
    n, c, kh, kw, ho, wo = dwin.shape
    h, w = x_shape[2:]
    dxp = np.zeros((n, c, h + 2 * p[0] + s[0] * 2, w + 2 * p[1] + s[1] * 2))
    if order == "tap":
        for a in range(kh):
            for b in range(kw):
                dxp[:, :, a:a + s[0] * (ho - 1) + 1:s[0], b:b + s[1] * (wo - 1) + 1:s[1]] = dwin[:, :, a, b]
    else:
        for i in range(ho):
            for j in range(wo):
                dxp[:, :, i * s[0]:i * s[0] + kh, j * s[1]:j * s[1] + kw] = dwin[..., i, j]
    return dxp[:, :, p[0]:p[0] + h, p[1]:p[1] + w]


def _avg_pool_variants(ctx, quantity, expected):
    case, g = ctx.case, ctx.g
    x, kw_ = case.args[0], case.kwargs
    (kh, kw), s, p = _geometry(x, kw_)
    if quantity == "output":
        if any(p):
            yield "count_exclude_pad", reference_call("avg_pool2d", (x,), dict(kw_, count_include_pad=False))[0], {}
        if kh * kw > 1:
            yield "no_mean", expected * (kh * kw), dict(n=kh * kw)
        return
    if kh * kw > 1:
        yield "no_mean", expected * (kh * kw), dict(n=kh * kw)
    if any(p):
        _, bw = reference_call("avg_pool2d", (x,), dict(kw_, count_include_pad=False))
        yield "count_exclude_pad", bw(g)["input"], {}
    share = g.astype(np.float64) / (kh * kw)
    dwin = np.broadcast_to(share[:, :, None, None], share.shape[:2] + (kh, kw) + share.shape[2:])
    for order in ("tap", "window"):
        yield "col2im_overwrite", _overwrite(dwin, x.shape, s, p, order).astype(x.dtype), {}


def _max_pool_variants(ctx):
    case, g = ctx.case, ctx.g
    x = case.args[0]
    if x.ndim != 4:
        return
    k, s, p = _geometry(x, case.kwargs)
    for rule in ("all", "split", "last"):
        yield f"ties_{rule}", _route(x, g, k, s, p, rule, "right"), {}
    if s != k:
        yield "wrong_window", _route(x, g, k, s, p, "first", "stride=kernel"), dict(how="with stride = kernel")
    if any(p):
        yield "wrong_window", _route(x, g, k, s, p, "first", "no padding"), dict(how="without the padding offset")


def _route(x, g, k, s, p, rule, origin):
    """A max-pool input gradient routed by ``rule`` over windows placed by ``origin``."""
    n_, c_, h, w = x.shape
    ho, wo = g.shape[2:]
    dx = np.zeros(x.shape, dtype=np.float64)
    for i in range(ho):
        for j in range(wo):
            if origin == "right":
                r0, c0 = i * s[0] - p[0], j * s[1] - p[1]
            elif origin == "stride=kernel":
                r0, c0 = i * k[0] - p[0], j * k[1] - p[1]
            else:
                r0, c0 = i * s[0], j * s[1]
            rows = [r for r in range(r0, r0 + k[0]) if 0 <= r < h]
            cols = [q for q in range(c0, c0 + k[1]) if 0 <= q < w]
            if not rows or not cols:
                continue
            for n in range(n_):
                for c in range(c_):
                    win = x[n, c][np.ix_(rows, cols)]
                    flat = win.reshape(-1)
                    best = np.max(flat)
                    hits = np.flatnonzero(flat == best)
                    if not len(hits):
                        continue
                    if rule == "first" or rule == "last":
                        hits = hits[:1] if rule == "first" else hits[-1:]
                    share = g[n, c, i, j] / len(hits) if rule == "split" else g[n, c, i, j]
                    for hidx in hits:
                        dx[n, c, rows[hidx // len(cols)], cols[hidx % len(cols)]] += share
    return dx.astype(x.dtype)


# --------------------------------------------------------------------------- sequential, sgd
def find_accumulation(case, key, got, per_use, tolerances) -> list:
    pre, uses = per_use
    dtype = got.dtype
    candidates = []
    if len(uses) > 1 or pre is not None:
        candidates.append((uses[0], "its first use alone (the last one the backward reached)"))
    if pre is not None:
        total = sum(uses[1:], uses[0].copy())
        candidates.append((total, "this backward alone, without what .grad held before"))
    for wrong, which in candidates:
        if _close(got, wrong, dtype):
            return [named("overwrite_grad", name=key, which=which)]
    return []


_SGD_VARIANTS = {
    "sign": ("wrong sign", "the parameter moved up the gradient: theta - lr * g, not +."),
    "no_momentum": ("momentum ignored",
                    "your steps are plain SGD: keep the buffer b_t = mu b_(t-1) + (1 - dampening) g_t "
                    "and return it, then step along it."),
    "first_dampened": ("momentum buffer started with (1 - dampening) g",
                       "torch's buffer starts as the first gradient itself, b_1 = g_1, without "
                       "the dampening factor."),
    "decay_after": ("weight decay added after the momentum",
                    "torch adds lambda * theta to the gradient *before* the momentum buffer."),
    "nesterov_buffer": ("Nesterov step along the buffer",
                        "with nesterov=True the step is along g + mu * b_t, not b_t."),
}


def _sgd_rule(variant, param, grad, buf, lr, momentum=0.0, dampening=0.0, weight_decay=0.0,
              nesterov=False, maximize=False):
    g = -grad if maximize else grad
    if weight_decay and variant != "decay_after":
        g = g + weight_decay * param
    new_buf = None
    if momentum and variant != "no_momentum":
        if buf is None:
            new_buf = (1 - dampening) * g if variant == "first_dampened" else g.copy()
        else:
            new_buf = momentum * buf + (1 - dampening) * g
        g = g + momentum * new_buf if nesterov and variant != "nesterov_buffer" else new_buf
    if weight_decay and variant == "decay_after":
        g = g + weight_decay * param
    return (param + lr * g if variant == "sign" else param - lr * g), new_buf


def find_sgd(case, step, got, tolerances) -> list:
    hyper, grads = case.extra["hyper"], case.extra["grads"]
    right = _trajectory(None, case.args[0], grads, hyper)[step - 1]
    found = []
    for variant, (title, text) in _SGD_VARIANTS.items():
        wrong = _trajectory(variant, case.args[0], grads, hyper)[step - 1]
        if _close(got, wrong, got.dtype) and not _close(right, wrong, got.dtype):
            found.append(named("sgd_variant", title=title, text=text))
    return found


def _trajectory(variant, param, grads, hyper):
    out, p, buf = [], param.copy(), None
    for g in grads:
        p, buf = _sgd_rule(variant, p, g, buf, **hyper)
        out.append(np.asarray(p, dtype=param.dtype))
    return out
