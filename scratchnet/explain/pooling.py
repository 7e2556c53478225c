"""``explain max_pool2d`` and ``explain avg_pool2d``: the tap stack, the argmax, the divisors."""
from __future__ import annotations

import numpy as np

from .. import functional as F
from ..functional import pooling as _pool
from ..functional.fast import pooling as _fast_pool
from .recorder import Recorder, size_line, validated

#: The lectures' 4x4 max-pooling example (its 2x2, stride 2 pool is [[6, 8], [3, 4]]).
LECTURE_POOL_INPUT = np.array([[1, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]], dtype=float)


def _scatter_bytes(geo, dxp, slab, extra_read=0) -> dict:
    """Memory of a pool backward's per-tap writes, as the op does them.

    Windows that tile the input write each tap's slab once into an unfilled buffer;
    otherwise the buffer is zeroed and every tap reads and adds into its slice.
    """
    taps = len(geo.taps)
    if _fast_pool._windows_tile_input(geo):
        return {"read": taps * (slab.nbytes + extra_read), "written": taps * slab.nbytes}
    return {"read": taps * (2 * slab.nbytes + extra_read), "written": dxp.nbytes + taps * slab.nbytes}


def _pool_input(r: Recorder, shape, lecture: bool) -> np.ndarray:
    shape = tuple(shape)
    if lecture and r.numbers and shape in ((1, 1, 4, 4), (1, 4, 4)):
        return LECTURE_POOL_INPUT.reshape(shape).astype(r.dtype)
    return r.data(shape, -4, 9)


def _tap_lines(geo) -> list:
    (sh, sw), (dh, dw) = geo.stride, geo.dilation
    (ho, wo) = geo.out_hw
    return [f"tap (a, b) of every window = padded[..., a*{dh} + {sh}*i, b*{dw} + {sw}*j] "
            f"(i < {ho}, j < {wo}): one strided view shaped like the output;",
            f"{len(geo.taps)} taps: {', '.join(f'({a},{b})' for a, b in geo.taps)}"]


def explain_max_pool2d(r: Recorder, *, input, kernel, stride=None, padding=0, dilation=1,
                        ceil_mode=False):
    x = _pool_input(r, input, lecture=True)
    opts = dict(kernel_size=kernel, stride=stride, padding=padding, dilation=dilation,
                ceil_mode=ceil_mode)
    out_op, backward_op = validated("max_pool2d", F.max_pool2d, x, **opts)
    _, idx_op = F.max_pool2d(x, return_indices=True, **opts)
    x4, unbatched, geo = _pool._validate("max_pool2d", x, kernel, stride, padding, dilation, ceil_mode,
                                         max_pool=True)
    (kh, kwd), (sh, sw), (dh, dw), (ho, wo), (h, w) = (
        geo.kernel, geo.stride, geo.dilation, geo.out_hw, geo.in_hw)
    top, _, left, _ = geo.pad
    n, c = x4.shape[:2]
    taps = geo.taps
    r.limit(input=x.shape, **{"tap stack": (len(taps), n, c, ho, wo)})
    r.step("forward", "output size (torch's formula)", [
        size_line("H", h, kh, sh, top, top, dh, ho, ceil_mode),
        size_line("W", w, kwd, sw, left, left, dw, wo, ceil_mode),
    ], shapes={"input": x.shape, "output": (n, c, ho, wo)}, arrays={"input": x})
    xp = geo.pad_input(x4, -np.inf)
    if any(geo.pad):
        r.step("forward", "pad with -inf", [
            f"padding (top, bottom, left, right) = {geo.pad}; -inf is never the max "
            "(the bottom/right pad also holds ceil mode's last window)"],
            shapes={"padded": xp.shape}, read=x4.nbytes, written=xp.nbytes + x4.nbytes,
            arrays={"padded": xp})
    view = xp[geo.tap(0, 0)]
    r.step("forward", "tap views (zero-copy)", _tap_lines(geo),
           shapes={"tap (0,0) view": view.shape}, strides={"tap (0,0) view": view.strides})
    windows = _fast_pool._gather_taps(xp, geo)
    r.step("forward", "stack the taps", "one contiguous copy of the taps, so max and argmax are "
           "long branch-free passes", shapes={"windows (taps, N, C, Ho, Wo)": windows.shape},
           read=windows.nbytes, written=windows.nbytes,
           arrays={"windows": windows})
    best = windows.max(axis=0)
    r.step("forward", "max over the taps", "y = max over axis 0 of the stack (a NaN wins, as torch)",
           shapes={"output": best.shape}, flops=(len(taps) - 1) * best.size,
           read=windows.nbytes, written=best.nbytes, arrays={"output": best})
    arg = _fast_pool._tap_argmax(windows, best, geo)
    routes = _max_routes(geo, arg, best, forward=True) if r.numbers else []
    r.step("forward", "argmax (kept for the backward)", [
        "the first tap equal to the max, in scan order (ties go to the first maximum; a NaN "
        "window to its last NaN; an all -inf window to its first in-bounds tap)",
        f"window (i, j)'s tap (a, b) is input (i*{sh} - {top} + a*{dh}, j*{sw} - {left} + b*{dw})",
    ], shapes={"argmax (N, C, Ho, Wo)": arg.shape}, flops=windows.size, read=windows.nbytes + best.nbytes,
       written=arg.nbytes, arrays={"argmax tap": arg}, routes=routes)
    out = best[0] if unbatched else best
    r.compare("forward output", out, out_op)
    # The op's own statement of where each max came from (flat index u*W + v).
    u, v = _argmax_positions(geo, arg)
    hit = arg >= 0
    idx4 = idx_op[None] if unbatched else idx_op
    r.compare("argmax positions vs return_indices", (u * w + v)[hit], idx4[hit])

    g = r.grad_like(best)
    r.step("backward", "upstream gradient G", "G = dL/d(output), random",
           shapes={"G": g.shape}, arrays={"G": g})
    dxp = np.zeros((n, c) + geo.padded_hw, x.dtype)
    for t, (a, b) in enumerate(taps):
        dxp[geo.tap(a, b)] += g * (arg == t)
    r.step("backward", "route G to the argmax", [
        f"for each tap t: padded_grad[tap t view] += G * (argmax == t)  ({len(taps)} strided writes)",
        "each output sends its whole gradient to one input position, nothing to the others"
        + ("; overlapping windows add up" if geo.overlapping else ""),
    ], shapes={"padded gradient": dxp.shape}, flops=2 * len(taps) * g.size,
       **_scatter_bytes(geo, dxp, g, extra_read=arg.nbytes),
       arrays={"padded gradient": dxp} if any(geo.pad) else {},
       routes=_max_routes(geo, arg, g, forward=False) if r.numbers else [])
    _crop_and_compare(r, geo, dxp, backward_op, g, unbatched)
    return "F.max_pool2d forward (values and return_indices) and backward (F.vjp)"


def _crop_and_compare(r, geo, dxp, backward_op, g, unbatched) -> None:
    """The pools' last backward step: crop the padding off ``dxp``; check it against the op's."""
    grad = geo.crop(dxp)
    r.step("backward", "crop", "dx = interior of the padded gradient" if any(geo.pad)
           else "no padding: dx is the gradient itself", shapes={"dx": grad.shape},
           read=grad.nbytes if any(geo.pad) else 0, written=grad.nbytes if any(geo.pad) else 0,
           arrays={"dx": grad})
    theirs = backward_op(g[0] if unbatched else g)
    r.compare("input gradient", grad[0] if unbatched else grad, theirs[0])


def _argmax_positions(geo, arg) -> tuple:
    """Input row and column of each window's chosen tap (``arg`` = -1: no tap in bounds)."""
    kw, (dh, dw) = geo.kernel[1], geo.dilation
    rows, cols = geo.window_starts()
    return rows[:, None] + (arg // kw) * dh, cols[None, :] + (arg % kw) * dw


def _max_routes(geo, arg, values, forward: bool) -> list:
    """One line per output: where its max comes from (forward) or its gradient goes."""
    u, v = _argmax_positions(geo, arg)
    kw = geo.kernel[1]
    lines = ["where each output's max comes from:" if forward else "where each output's gradient goes:"]
    for (n, c, i, j), t in np.ndenumerate(arg):
        name = f"{'y' if forward else 'G'}({n},{c},{i},{j}) = {values[n, c, i, j]:g}"
        if t < 0:
            lines.append(f"  {name} -> nowhere (the window misses the input)")
        elif forward:
            lines.append(f"  {name} -> x({n},{c},{u[n, c, i, j]},{v[n, c, i, j]}) "
                         f"(tap ({t // kw},{t % kw}))")
        else:
            lines.append(f"  {name} -> dx({n},{c},{u[n, c, i, j]},{v[n, c, i, j]})")
    return lines


def explain_avg_pool2d(r: Recorder, *, input, kernel, stride=None, padding=0, ceil_mode=False,
                        count_include_pad=True, divisor_override=None):
    x = _pool_input(r, input, lecture=False)
    opts = dict(kernel_size=kernel, stride=stride, padding=padding, ceil_mode=ceil_mode,
                count_include_pad=count_include_pad, divisor_override=divisor_override)
    out_op, backward_op = validated("avg_pool2d", F.avg_pool2d, x, **opts)
    x4, unbatched, geo = _pool._validate("avg_pool2d", x, kernel, stride, padding, 1, ceil_mode,
                                         max_pool=False)
    (kh, kwd), (sh, sw), (ho, wo), (h, w) = geo.kernel, geo.stride, geo.out_hw, geo.in_hw
    top, _, left, _ = geo.pad
    n, c = x4.shape[:2]
    taps = geo.taps
    r.limit(input=x.shape, output=(n, c, ho, wo))
    r.step("forward", "output size (torch's formula)", [
        size_line("H", h, kh, sh, top, top, 1, ho, ceil_mode),
        size_line("W", w, kwd, sw, left, left, 1, wo, ceil_mode),
    ], shapes={"input": x.shape, "output": (n, c, ho, wo)}, arrays={"input": x})
    divisor = _pool._avg_divisor(geo, count_include_pad, divisor_override, x.dtype)
    how = ("divisor_override" if divisor_override is not None else
           "the window's area up to the padding's edge (count_include_pad)" if count_include_pad
           else "the number of real (unpadded) pixels in the window")
    r.step("forward", "divisors", f"D(i, j) = {how}", shapes={"D": divisor.shape},
           arrays={"D": divisor})
    xp = geo.pad_input(x4, 0)
    if any(geo.pad):
        r.step("forward", "pad with 0", f"padding (top, bottom, left, right) = {geo.pad}",
               shapes={"padded": xp.shape}, read=x4.nbytes, written=xp.nbytes + x4.nbytes,
               arrays={"padded": xp})
    view = xp[geo.tap(0, 0)]
    r.step("forward", "tap views (zero-copy)", _tap_lines(geo),
           shapes={"tap (0,0) view": view.shape}, strides={"tap (0,0) view": view.strides})
    total = np.array(xp[geo.tap(*taps[0])], copy=True)
    for a, b in taps[1:]:
        total += xp[geo.tap(a, b)]
    r.step("forward", "sum the taps", f"S = tap(0,0) + ... ({len(taps)} views, in scan order)",
           shapes={"S": total.shape}, flops=(len(taps) - 1) * total.size,
           read=len(taps) * total.nbytes, written=len(taps) * total.nbytes, arrays={"S": total})
    out = total / divisor
    r.step("forward", "divide", "y = S / D", shapes={"output": out.shape}, flops=out.size,
           read=total.nbytes + divisor.nbytes, written=out.nbytes, arrays={"output": out})
    r.compare("forward output", out[0] if unbatched else out, out_op)

    g = r.grad_like(out)
    r.step("backward", "upstream gradient G", "G = dL/d(output), random",
           shapes={"G": g.shape}, arrays={"G": g})
    share = g / divisor
    r.step("backward", "share", "each window spreads G(i, j) / D(i, j) evenly over its taps",
           shapes={"G / D": share.shape}, flops=share.size, read=g.nbytes + divisor.nbytes,
           written=share.nbytes, arrays={"G / D": share})
    dxp = np.zeros((n, c) + geo.padded_hw, x.dtype)
    for a, b in taps:
        dxp[geo.tap(a, b)] += share
    routes = _avg_routes(geo, share) if r.numbers else []
    r.step("backward", "add the share into every tap", [
        f"for each tap: padded_grad[tap view] += G / D  ({len(taps)} strided adds"
        + ("; overlapping windows add up)" if geo.overlapping else ")")],
        shapes={"padded gradient": dxp.shape}, flops=len(taps) * share.size,
        **_scatter_bytes(geo, dxp, share),
        arrays={"padded gradient": dxp} if any(geo.pad) else {}, routes=routes)
    _crop_and_compare(r, geo, dxp, backward_op, g, unbatched)
    return "F.avg_pool2d forward and backward (F.vjp)"


def _avg_routes(geo, share) -> list:
    """One line per output: the input block its share G/D is added to (padding dropped)."""
    (kh, kw), (h, w) = geo.kernel, geo.in_hw
    rows, cols = geo.window_starts()
    lines = ["where each output's gradient goes (G/D to every input position of its window):"]
    for (n, c, i, j), value in np.ndenumerate(share):
        r0, r1 = max(rows[i], 0), min(rows[i] + kh, h)
        c0, c1 = max(cols[j], 0), min(cols[j] + kw, w)
        lines.append(f"  G({n},{c},{i},{j})/D = {value:.4g} -> dx({n},{c},{r0}:{r1},{c0}:{c1})")
    return lines
