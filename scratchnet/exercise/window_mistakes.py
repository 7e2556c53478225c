"""The window ops' named mistakes: max and average pooling, conv2d's col2im.

Each function yields ``(mistake, wrong answer, format fields)`` for
:func:`scratchnet.exercise.diagnoses.find`: the answer a solution with that mistake
returns on the very same case (gradient routed to every tied maximum, windows placed
with stride = kernel, ``=`` where ``+=`` belongs, padding cropped from the corner,
zero padding in max pooling, the missing 1/(kH*kW), a flipped kernel).
"""
from __future__ import annotations

import numpy as np

from .oracle import reference_call
from ..testing.strategies import as_pair


def _geometry(x, kw_):
    k = as_pair(kw_.get("kernel_size", 1))
    s = as_pair(kw_.get("stride") or k)
    p = as_pair(kw_.get("padding", 0))
    return k, s, p


def conv_variants(ctx, quantity, expected):
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
            yield "col2im_overwrite", _scatter(dwin, x.shape, s, p, order).astype(x.dtype), {}
        if any(p):
            yield "col2im_corner", _scatter(dwin, x.shape, s, p, "corner").astype(x.dtype), {}
    elif quantity == "weight" and x.shape[0] > 1:
        for n in (0, x.shape[0] - 1):
            one = list(case.args)
            one[0] = x[n:n + 1]
            _, bw = reference_call("conv2d", tuple(one), kw_)
            yield "one_sample", bw(g[n:n + 1])["weight"], {}


def _scatter(dwin, x_shape, s, p, how):
    """col2im of per-window gradients ``dwin`` (n, c, kh, kw, Ho, Wo), done wrong ``how``:

    ``'tap'`` / ``'window'``: ``=`` instead of ``+=``, per kernel tap or per output window
    (the last write wins); ``'corner'``: added right, the padding cropped from the corner.
    """
    n, c, kh, kw, ho, wo = dwin.shape
    h, w = x_shape[2:]
    dxp = np.zeros((n, c, h + 2 * p[0] + s[0] * 2, w + 2 * p[1] + s[1] * 2))
    if how == "tap":
        for a in range(kh):
            for b in range(kw):
                dxp[:, :, a:a + s[0] * (ho - 1) + 1:s[0], b:b + s[1] * (wo - 1) + 1:s[1]] = dwin[:, :, a, b]
    else:
        for i in range(ho):
            for j in range(wo):
                window = dxp[:, :, i * s[0]:i * s[0] + kh, j * s[1]:j * s[1] + kw]
                if how == "corner":
                    window += dwin[..., i, j]
                else:
                    window[...] = dwin[..., i, j]
    if how == "corner":
        return dxp[:, :, :h, :w]
    return dxp[:, :, p[0]:p[0] + h, p[1]:p[1] + w]


def avg_pool_variants(ctx, quantity, expected):
    case, g = ctx.case, ctx.g
    x, kw_ = case.args[0], case.kwargs
    (kh, kw), s, p = _geometry(x, kw_)
    if kh * kw > 1:
        yield "pool_no_divisor", expected * (kh * kw), dict(n=kh * kw)
    if quantity == "output":
        if any(p):
            yield "count_exclude_pad", reference_call("avg_pool2d", (x,), dict(kw_, count_include_pad=False))[0], {}
        return
    if any(p):
        _, bw = reference_call("avg_pool2d", (x,), dict(kw_, count_include_pad=False))
        yield "count_exclude_pad", bw(g)["input"], {}
    share = g.astype(np.float64) / (kh * kw)
    dwin = np.broadcast_to(share[:, :, None, None], share.shape[:2] + (kh, kw) + share.shape[2:])
    for how in ("tap", "window") + (("corner",) if any(p) else ()):
        yield "col2im_overwrite" if how != "corner" else "col2im_corner", \
            _scatter(dwin, x.shape, s, p, how).astype(x.dtype), {}


def max_pool_variants(ctx):
    case, g = ctx.case, ctx.g
    x = case.args[0]
    if x.ndim != 4:
        return
    k, s, p = _geometry(x, case.kwargs)
    for rule in ("all", "split", "last"):
        yield f"ties_{rule}", max_pool_route(x, g, k, s, p, rule, "right"), {}
    if s != k:
        yield "wrong_window", max_pool_route(x, g, k, s, p, "first", "stride=kernel"), dict(how="with stride = kernel")
    if any(p):
        yield "wrong_window", max_pool_route(x, g, k, s, p, "first", "no padding"), dict(how="without the padding offset")
    if any(sk < kk for sk, kk in zip(s, k)):
        yield "window_overwrite", max_pool_route(x, g, k, s, p, "first", "right", assign=True), {}


def max_pool_route(x, g, k, s, p, rule, origin, assign=False):
    """A max-pool input gradient routed by ``rule`` over windows placed by ``origin``
    (``assign``: ``=`` instead of ``+=``, the last window that picks a pixel wins)."""
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
                        at = (n, c, rows[hidx // len(cols)], cols[hidx % len(cols)])
                        dx[at] = share if assign else dx[at] + share
    return dx.astype(x.dtype)


def zero_padding_variant(ctx, quantity, expected):
    """max_pool2d over the input padded with zeros (padding 0 for the pool itself)."""
    case = ctx.case
    x = case.args[0]
    if case.function != "max_pool2d" or x.ndim != 4:
        return
    _, _, p = _geometry(x, case.kwargs)
    if not any(p):
        return
    xp = np.pad(x, ((0, 0), (0, 0), (p[0], p[0]), (p[1], p[1])))
    out, backward = reference_call("max_pool2d", (xp,), dict(case.kwargs, padding=0))
    if quantity == "output":
        yield "zero_padding", out, {}
    elif quantity == "input":
        h, w = x.shape[2:]
        yield "zero_padding", backward(ctx.g)["input"][:, :, p[0]:p[0] + h, p[1]:p[1] + w], {}
