"""Named mistakes: a failing answer is tested against the known wrong answers.

For a wrong output or gradient, each mistake that applies to the op computes what a
solution *with that mistake* would have returned on the very same case (the right
answer transposed, scaled by N, summed over another axis, scattered by an overwriting
col2im, routed to every tied maximum, ...). When the learner's answer equals one of
them, the check names the mistake and says why it is one. Nothing here guesses from
the shape of an error: a diagnosis is given only when the wrong answer is reproduced.
When one answer equals several wrong ones (they coincide on this case), only the most
specific is named (:data:`PRIORITY`): a check never prints two contradictory causes.
The window ops' mistakes live in :mod:`.window_mistakes`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .oracle import reference_call
from .window_mistakes import (avg_pool_variants, conv_variants, max_pool_variants,
                              zero_padding_variant)

MISTAKES = {
    "wrong_sign": ("wrong sign", "your {what} is the exact negative of the right one."),
    "float64": ("float64 returned for float32 input",
                "your {what} is float64 although the input is float32: a float64 array (np.zeros "
                "without dtype, np.array of Python floats) crept in; keep the input's dtype."),
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
    "jacobian_diagonal": ("softmax backward with the Jacobian's diagonal only{or_axis}",
                          "your gradient is g * s (1 - s), the diagonal terms ds_i/dx_i alone; "
                          "every s_i depends on every x_k (ds_i/dx_k = -s_i s_k off the "
                          "diagonal): the vector-Jacobian product is g*s - s * sum(g*s) over "
                          "dim.{axis_note}"),
    "log_softmax_term": ("log_softmax backward missing the - exp(l) * sum(g) term",
                         "your gradient is g itself; dl_i/dx_k = delta_ik - s_k gives "
                         "g - softmax(x) * sum(g)."),
    "overflow": ("exp overflowed (no max subtracted)",
                 "your {what} equals the formula computed without subtracting the max: exp({big}) "
                 "is inf in {dtype}, and inf / inf is NaN. Subtract the max along dim first "
                 "(log-sum-exp for log_softmax)."),
    "unshifted_underflow": ("exp underflowed to 0 (no max subtracted)",
                            "your {what} equals the formula computed without subtracting the max: "
                            "every exp(x) of a row rounded to 0 and the log (or the division) met a "
                            "0. Subtract the max along dim first: then the largest term is e^0 = 1."),
    "log_underflow": ("log of an underflowed softmax",
                      "your {what} equals log(softmax(x)) with the max subtracted: where "
                      "softmax(x) rounds to 0 (x - max below about {tiny} in {dtype}) its log "
                      "is -inf, although the true value is finite. Nothing overflowed: the log "
                      "met a 0. Compute it directly, (x - m) - log(sum(exp(x - m)))."),
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
    "ignored_grad_out": ("backward ignores grad_out",
                         "your {what} is the local derivative alone, as if grad_out were all ones: "
                         "the backward gets grad_out = dL/d out and must multiply by it (the chain "
                         "rule).{ratio}"),
    "bias_mean": ("bias gradient averaged instead of summed",
                  "your bias gradient is the right one divided by {n}: the mean of grad_out over "
                  "{over}. The bias is added to every one of those outputs, so each passes its "
                  "whole gradient back: sum them (a mean loss's 1/N is already in grad_out)."),
    "col2im_corner": ("padding cropped from the corner",
                      "your input gradient is the padded gradient's top-left H x W block; the "
                      "input sits in its centre: crop [p:p+H, p:p+W] (p = padding on each side)."),
    "zero_padding": ("max-pool padding with zeros instead of -inf",
                     "your {what} equals max pooling over an input padded with 0: where a window "
                     "that overlaps the padding holds only negative values, 0 wins. torch pads with "
                     "-inf (the padding is never selected)."),
    "window_overwrite": ("gradient assigned (=) where pooling windows overlap",
                         "with stride < kernel a pixel can be the maximum of several windows; it "
                         "gets the sum of their gradients: add (+=) into the input gradient, never "
                         "assign (the last window would win)."),
    "pool_no_divisor": ("each window's mean without its 1/(kH*kW)",
                        "your {what} is kH*kW = {n} times the right one: average pooling divides "
                        "each window's sum by its kH*kW pixels (padding zeros included), and its "
                        "backward hands every pixel of a window G / (kH*kW)."),
    "storage_order": ("{arg!r} read in storage order",
                      "{arg!r} is a non-contiguous view here ({layout}); your {what} equals the op "
                      "applied to {arg}'s memory read in storage order, as `ravel(order='K')`, "
                      "np.frombuffer or as_strided with strides computed from the shape read it. "
                      "Index arrays through their shape (slicing, reshape, np.ascontiguousarray "
                      "first), never through their memory."),
}

#: Which value diagnosis is named when one answer matches several (most specific first):
#: an answer is one wrong answer, so at most one of these is printed.
PRIORITY = (
    "storage_order", "log_underflow", "overflow", "unshifted_underflow", "zero_padding",
    "ties_last", "ties_all", "ties_split", "wrong_window", "window_overwrite", "col2im_corner",
    "col2im_overwrite", "count_exclude_pad", "flipped_kernel", "one_sample", "pool_no_divisor",
    "bias_mean", "batch_mean", "no_mean", "double_mean", "relu_at_zero", "input_not_output",
    "softmax_term", "jacobian_diagonal", "log_softmax_term", "wrong_axis", "transposed", "ignored_grad_out", "wrong_sign",
)


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


def _expected(ctx: Context, quantity: str) -> np.ndarray:
    expected = ctx.expected_out if quantity == "output" else ctx.expected_grads[quantity]
    if isinstance(expected, tuple):
        expected = expected[0]
    return np.asarray(expected)


def _what(quantity: str) -> str:
    return "output" if quantity == "output" else f"gradient of {quantity}"


def find(ctx: Context, quantity: str, got) -> list:
    """The named mistakes whose wrong answer equals ``got`` (``quantity``: 'output' or an argument).

    A dtype or shape diagnosis, and at most one value diagnosis: the first of
    :data:`PRIORITY` whose wrong answer equals ``got`` (when several do, they are the
    same answer on this case, and the most specific one says why).
    """
    case = ctx.case
    got = np.asarray(got)  # a Python float or a list is compared as the array it holds
    expected = _expected(ctx, quantity)
    what = _what(quantity)
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
    return found + _first_match(ctx, quantity, got, _VARIANT_MAKERS)


def _first_match(ctx, quantity, got, makers) -> list:
    """``[(title, text)]`` of the highest-priority variant of ``makers`` equal to ``got``, or ``[]``."""
    got = np.asarray(got)
    expected = _expected(ctx, quantity)
    variants = []
    for make in makers:
        try:
            variants.extend(make(ctx, quantity, expected))
        except (ValueError, TypeError, IndexError, KeyError, ZeroDivisionError):
            continue  # a variant that does not apply to this case's arguments
    variants.sort(key=lambda v: PRIORITY.index(v[0]))
    for key, wrong, fmt in variants:
        try:
            hit = _close(got, wrong, expected.dtype) and not _close(expected, wrong, expected.dtype)
        except (ValueError, TypeError):
            hit = False
        if hit:
            return [named(key, what=_what(quantity), **fmt)]
    return []


def _sign(ctx, quantity, expected):
    if np.any(expected != 0):
        yield "wrong_sign", -expected, {}


def _op_variants(ctx, quantity, expected):
    """``(mistake, wrong answer, format fields)`` for the op's own known mistakes."""
    case, g = ctx.case, ctx.g
    f, args, kw = case.function, case.args, case.kwargs
    x = args[0]
    if f == "linear" and quantity in ("weight", "bias"):
        if quantity == "weight" and expected.ndim == 2:
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
                # A sum over an axis of size 1 gives the diagonal's answer: one diagnosis names both.
                ones = [a for a in others if x.shape[a] == 1]
                yield "jacobian_diagonal", g * out * (1 - out), dict(
                    or_axis=", or summed over the wrong axis" if ones else "",
                    axis_note=f" On this case a sum over dim {ones[0]} (of size 1) instead of dim {dim} "
                              f"gives the same answer." if ones else "")
                for a in others:
                    if x.shape[a] > 1:
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
        yield from conv_variants(ctx, quantity, expected)
    if f == "avg_pool2d":
        yield from avg_pool_variants(ctx, quantity, expected)
    if f == "max_pool2d" and quantity == "input":
        yield from max_pool_variants(ctx)


# --------------------------------------------------------------------------- issue-25 mistakes
def _ignored_grad_out(ctx, quantity, expected):
    """The backward fed all ones: what a backward that never multiplies by grad_out returns."""
    case = ctx.case
    if quantity == "output" or case.function in ("sequential", "sgd_momentum"):
        return
    _, backward = reference_call(case.function, _copies(case.args), case.kwargs)
    ones = np.ones(np.shape(ctx.g), dtype=np.asarray(ctx.g).dtype)
    elementwise = case.function in ("relu", "sigmoid", "tanh") or np.ndim(ctx.g) == 0
    ratio = " Here expected / got is exactly the upstream gradient." if elementwise else ""
    yield "ignored_grad_out", np.asarray(backward(ones)[quantity]), dict(ratio=ratio)


def _bias_mean(ctx, quantity, expected):
    """grad_out averaged, not summed, over the outputs the bias is added to."""
    f, x = ctx.case.function, ctx.case.args[0]
    if quantity != "bias":
        return
    if f == "linear":
        n = int(np.prod(x.shape[:-1]))
        if n > 1:
            yield "bias_mean", expected / n, dict(n=n, over="the batch")
    elif f in ("conv2d", "conv2d_naive"):
        g = np.asarray(ctx.g)
        n, pixels = g.shape[0], int(np.prod(g.shape[2:]))
        if n * pixels > 1:
            yield "bias_mean", expected / (n * pixels), dict(n=n * pixels, over="the batch and the output pixels")
        if n > 1 and pixels > 1:
            yield "bias_mean", expected / n, dict(n=n, over="the batch")


def _softmax_numerics(ctx, quantity, expected):
    """log(softmax) with the max subtracted (log of 0), and the formulas without the max."""
    case = ctx.case
    f, x = case.function, case.args[0]
    if quantity != "output" or f not in ("softmax", "log_softmax", "cross_entropy") or x.ndim == 0:
        return
    dim = 1 if f == "cross_entropy" else case.args[1] % x.ndim
    dt = x.dtype
    with np.errstate(all="ignore"):
        e = np.exp(x)
        shifted = np.exp(x - np.max(x, axis=dim, keepdims=True))
        forms = {"unshifted": [e / np.sum(e, axis=dim, keepdims=True)]}
        if f != "softmax":
            forms = {"unshifted": [np.log(forms["unshifted"][0]), x - np.log(np.sum(e, axis=dim, keepdims=True))],
                     "log": [np.log(shifted / np.sum(shifted, axis=dim, keepdims=True))]}
    overflowed = bool(np.any(np.isinf(e)))
    tiny = {np.dtype(np.float32): "-103", np.dtype(np.float64): "-745"}.get(np.dtype(dt), "-745")
    fmt = dict(dtype=dt.name, tiny=tiny, big=f"{float(np.max(x)):.4g}")
    for form, arrays in forms.items():
        key = "log_underflow" if form == "log" else "overflow" if overflowed else "unshifted_underflow"
        for a in arrays:
            a = a.astype(dt)
            if f == "cross_entropy":
                t = case.args[1]
                with np.errstate(all="ignore"):
                    a = np.asarray(-np.mean(np.take_along_axis(a, t[:, None].astype(np.intp), 1)), dtype=dt)
            yield key, a, fmt


def _storage_order(ctx, quantity, expected):
    """The op on an argument (or grad_out) read from memory in storage order instead of by index."""
    case = ctx.case
    if case.function in ("sequential", "sgd_momentum"):
        return
    arrays = list(zip(case.names, case.args))
    if quantity != "output":
        arrays.append(("grad_out", ctx.g))
    for i, (name, a) in enumerate(arrays):
        for read in storage_reads(a):
            args = _copies(case.args)
            if name != "grad_out":
                args[i] = read
            out, backward = reference_call(case.function, tuple(args), case.kwargs)
            if quantity == "output":
                wrong = out
            else:
                wrong = backward(read if name == "grad_out" else np.copy(ctx.g))[quantity]
            yield "storage_order", np.asarray(wrong), dict(arg=name, layout=layout_of(a))


def storage_reads(a) -> list:
    """What reading a non-contiguous ``a``'s memory in storage order gives, reshaped to ``a.shape``.

    Two readings: the elements in the order of their addresses (``a.ravel(order='K')``
    for a transposed, permuted or Fortran-ordered view; negative strides read forward),
    and the memory from ``a``'s first byte with C strides computed from the shape
    (``as_strided``, ``np.frombuffer``), this one only where that memory lies inside the
    array's own buffer.
    """
    if not isinstance(a, np.ndarray) or a.dtype.kind not in "fc" or a.flags.c_contiguous or a.size < 2:
        return []
    forward = tuple(slice(None, None, -1) if st < 0 else slice(None) for st in a.strides)
    reads = [np.ravel(a[forward], order="K").reshape(a.shape)]  # 'K' alone keeps negative axes reversed
    owner = a
    while isinstance(owner.base, np.ndarray):
        owner = owner.base
    start = a.__array_interface__["data"][0]
    lo, hi = _byte_bounds(owner)
    if lo <= start and start + a.nbytes <= hi:
        c_strides = tuple(int(np.prod(a.shape[k + 1:])) * a.itemsize for k in range(a.ndim))
        reads.append(np.lib.stride_tricks.as_strided(a, a.shape, c_strides, writeable=False).copy())
    distinct = []
    for r in reads:
        seen = [a] + distinct
        if not any(np.array_equal(r, d, equal_nan=True) for d in seen):
            distinct.append(r)
    return distinct


def _byte_bounds(a):
    if hasattr(np, "byte_bounds"):  # numpy 1.x
        return np.byte_bounds(a)
    from numpy.lib.array_utils import byte_bounds

    return byte_bounds(a)


def layout_of(a) -> str:
    """``'transposed or permuted'``, ``'Fortran order'``, ``'negative strides'``, ``'sliced with a step'``."""
    if a.flags.c_contiguous:
        return "C order"
    if a.ndim > 1 and a.flags.f_contiguous:
        return "Fortran order"
    if any(s < 0 for s in a.strides):
        return "negative strides"
    big = [s for s, n in zip(a.strides, a.shape) if n > 1]
    if big != sorted(big, reverse=True):
        return "transposed or permuted"
    return "sliced with a step"


def _copies(values):
    return [v.copy() if isinstance(v, np.ndarray) else v for v in values]


#: Every maker of wrong answers :func:`find` tries.
_VARIANT_MAKERS = (_op_variants, _sign, _ignored_grad_out, _bias_mean, _softmax_numerics,
                   zero_padding_variant, _storage_order)


def ignored_grad_out(ctx: Context, quantity: str, got) -> list:
    """``[(title, text)]`` if ``got`` is the gradient of a backward that ignores ``grad_out``."""
    return _first_match(ctx, quantity, got, [_ignored_grad_out])


def bias_averaged(ctx: Context, quantity: str, got) -> list:
    """``[(title, text)]`` if ``got`` (a linear/conv2d bias gradient) is the mean of grad_out, not its sum."""
    return _first_match(ctx, quantity, got, [_bias_mean])


def softmax_numerics(ctx: Context, quantity: str, got) -> list:
    """The log of an underflowed softmax, or exp overflow/underflow without the max
    (softmax, log_softmax, cross_entropy)."""
    return _first_match(ctx, quantity, got, [_softmax_numerics])


def max_pool_zero_padding(ctx: Context, quantity: str, got) -> list:
    """``[(title, text)]`` if ``got`` is max_pool2d's output or input gradient with zero padding."""
    return _first_match(ctx, quantity, got, [zero_padding_variant])


def storage_order_read(ctx: Context, quantity: str, got) -> list:
    """``[(title, text)]`` if ``got`` is the op on a non-contiguous argument or grad_out read in storage order."""
    return _first_match(ctx, quantity, got, [_storage_order])


def window_mistakes(ctx: Context, quantity: str, got) -> list:
    """The pooling and conv window mistakes: col2im crop from the corner, ``=`` for ``+=``,
    the missing 1/(kH*kW), ties, windows placed wrong."""
    return _first_match(ctx, quantity, got, [_op_variants])


def modified_argument(name: str, phase: str = "forward", step=None) -> tuple:
    """``(title, text)`` naming the argument ``name`` changed in place during ``phase``.

    ``phase``: 'forward', 'backward' or 'update' (sgd_momentum, with its ``step``).
    """
    when = f"step {step}" if step is not None else f"the {phase}"
    fix = {
        "grad_out": "(`grad_out *= mask`, `grad_out[x <= 0] = 0`, out=grad_out): the caller still "
                    "owns it (a layer used twice, the gradient of another branch). Compute a new "
                    "array: grad_out * mask, np.where(mask, grad_out, 0).",
        "momentum_buffer": "(`buf *= momentum`, `buf += grad`): return a new buffer, "
                           "momentum * buf + grad; the optimizer stores what you return.",
        "param": "(`param -= lr * grad`): return the new value, param - lr * grad; the optimizer "
                 "stores what you return.",
        "grad": "(`grad += weight_decay * param`): the gradient is .grad, which others read: "
                "compute grad + weight_decay * param into a new array.",
    }.get(name, "(`x -= ...`, `x[...] = ...`, out=x): the caller and the backward still need it: "
                "compute into new arrays.")
    return f"{name!r} modified in place during {when}", f"your code changed the {name!r} it was given {fix}"


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
    "velocity": ("the velocity form of momentum (lr inside the buffer)",
                 "your buffer is v_t = mu v_(t-1) + lr g_t and the step theta - v_t: equal to "
                 "torch's while lr stays constant, but when lr changes (a schedule) v still "
                 "carries the old lr's steps. torch keeps b_t = mu b_(t-1) + (1 - dampening) g_t "
                 "without lr and steps theta - lr b_t with the current lr."),
}


def _sgd_rule(variant, param, grad, buf, lr, momentum=0.0, dampening=0.0, weight_decay=0.0,
              nesterov=False, maximize=False):
    g = -grad if maximize else grad
    if weight_decay and variant != "decay_after":
        g = g + weight_decay * param
    new_buf = None
    if momentum and variant == "velocity":
        new_buf = lr * g if buf is None else momentum * buf + lr * (1 - dampening) * g
        return param - new_buf, new_buf
    if momentum and variant != "no_momentum":
        if buf is None:
            new_buf = (1 - dampening) * g if variant == "first_dampened" else g.copy()
        else:
            new_buf = momentum * buf + (1 - dampening) * g
        g = g + momentum * new_buf if nesterov and variant != "nesterov_buffer" else new_buf
    if weight_decay and variant == "decay_after":
        g = g + weight_decay * param
    return (param + lr * g if variant == "sign" else param - lr * g), new_buf


def _hypers(case) -> list:
    """One dict of hyper-parameters per step: ``case.extra['hypers']`` (a schedule), else ``'hyper'`` each step."""
    grads = case.extra["grads"]
    return list(case.extra.get("hypers") or [case.extra["hyper"]] * len(grads))


def find_sgd(case, step, got, tolerances, buffer=None) -> list:
    """The SGD variants whose parameter after ``step`` (1-based) equals ``got``.

    The case's schedule is ``case.extra['hypers']`` (one dict per step) or its constant
    ``case.extra['hyper']``; with ``buffer``, the returned momentum buffer counts too
    (the velocity form's buffer is lr times torch's).
    """
    param, grads, hypers = case.args[0], case.extra["grads"], _hypers(case)
    right = _trajectory(None, param, grads, hypers)[step - 1]
    for variant, (title, text) in _SGD_VARIANTS.items():
        wrong = _trajectory(variant, param, grads, hypers)[step - 1]
        dt = np.asarray(got).dtype
        same_param = _close(got, wrong[0], dt) and not _close(right[0], wrong[0], dt)
        same_buffer = (buffer is not None and wrong[1] is not None and right[1] is not None
                       and _close(buffer, wrong[1], dt) and not _close(right[1], wrong[1], dt))
        if same_param or same_buffer:
            return [named("sgd_variant", title=title, text=text)]
    return []


def sgd_velocity_form(param, grads, hypers, step, got_param=None, got_buffer=None) -> list:
    """``[(title, text)]`` if the learner's parameter or buffer after ``step`` is the velocity form's.

    ``hypers``: one dict of ``sgd_momentum``'s keyword arguments per step (lr, momentum, ...),
    or one dict for every step. Named only where it differs from torch's (lr changed).
    """
    hypers = [hypers] * len(grads) if isinstance(hypers, dict) else list(hypers)
    right = _trajectory(None, param, grads, hypers)[step - 1]
    wrong = _trajectory("velocity", param, grads, hypers)[step - 1]
    dt = np.asarray(param).dtype
    hits = [got is not None and w is not None and r is not None and _close(got, w, dt) and not _close(r, w, dt)
            for got, w, r in ((got_param, wrong[0], right[0]), (got_buffer, wrong[1], right[1]))]
    title, text = _SGD_VARIANTS["velocity"]
    return [named("sgd_variant", title=title, text=text)] if any(hits) else []


def _trajectory(variant, param, grads, hypers):
    """``[(param, buffer)]`` after each step of the SGD rule with ``variant``."""
    out, p, buf = [], param.copy(), None
    for g, hyper in zip(grads, hypers):
        p, buf = _sgd_rule(variant, p, g, buf, **hyper)
        out.append((np.asarray(p, dtype=param.dtype), buf))
    return out
