"""``explain conv2d``: pad, the window view, im2col, the GEMM; backward through col2im.

It follows the forward a call runs by default, the tuned kernel
:mod:`scratchnet.functional.fast.conv` (batch-innermost columns, every stride and byte
of it); the textbook version's steps are the same with columns ordered ``(n, i, j)``.
"""
from __future__ import annotations

import numpy as np

from .. import functional as F
from ..functional import conv as _conv
from ..functional.fast import conv as _kernel
from .recorder import Recorder, nbytes, size_line, validated


def explain_conv2d(r: Recorder, *, input, weight, bias=True, stride=1, padding=0,
                    dilation=1, groups=1):
    x = r.data(input, -3, 3)
    w = r.data(weight, -2, 2)
    b = r.data((weight[0],), -2, 2) if bias and len(weight) >= 1 else None
    out_op, backward_op = validated("conv2d", F.conv2d, x, w, b, stride=stride, padding=padding,
                                     dilation=dilation, groups=groups)
    x4, unbatched, w, b, geo = _conv._setup("conv2d", x, w, b, stride, padding, dilation, groups)
    n, c = x4.shape[:2]
    o = w.shape[0]
    og, cg = o // groups, c // groups
    (kh, kwd), (sh, sw), (dh, dw), (ho, wo) = geo.kernel, geo.stride, geo.dilation, geo.out_hw
    top, bottom, left, right = geo.pad
    k_rows, m = cg * kh * kwd, ho * wo * n
    r.limit(input=x.shape, weight=w.shape, **{"im2col matrix": (groups, k_rows, m)},
            output=(n, o, ho, wo), **{"padded input": (n, c) + geo.padded_hw})
    it = x.dtype.itemsize

    r.step("forward", "output size (torch's formula)", [
        size_line("H", geo.in_hw[0], kh, sh, top, bottom, dh, ho),
        size_line("W", geo.in_hw[1], kwd, sw, left, right, dw, wo),
        f"groups={groups}: each of the {o} filters sees {cg} of the {c} input channels",
    ], shapes={"input": x.shape, "weight": w.shape, **({"bias": b.shape} if b is not None else {}),
               "output": (n, o, ho, wo)}, arrays={"input": x, "weight": w, **({"bias": b} if b is not None else {})})

    buf, windows = _kernel._window_view(x4, geo, groups)
    copied = not np.shares_memory(buf, x4)
    text = [f"zero padding (top, bottom, left, right) = {geo.pad}, laid out as (C, Hp, Wp, N) "
            "memory, the sample fastest (batch-innermost)"]
    if not any(geo.pad):
        text[0] = ("no padding; the input is laid out as (C, H, W, N) memory, the sample fastest"
                   + ("" if copied else " (it already is: no copy)"))
    r.step("forward", "pad", text, shapes={"padded (C, Hp, Wp, N)": buf.shape},
           strides={"padded (C, Hp, Wp, N)": buf.strides},
           read=x.nbytes if copied else 0,
           written=(buf.nbytes + (x.nbytes if any(geo.pad) else 0)) if copied else 0,
           arrays={"padded input, shown as (N, C, Hp, Wp)": buf.transpose(3, 0, 1, 2)})

    s_h, s_w = buf.strides[1:3]
    r.step("forward", "window view (as_strided, zero-copy)", [
        "windows[g, c, a, b, i, j, n] = padded[g*C/g + c, i*s_h + a*d_h, j*s_w + b*d_w, n]",
        f"a tap step moves d = ({dh}, {dw}) rows/columns ({dh}*{s_h}, {dw}*{s_w} bytes), "
        f"an output step s = ({sh}, {sw}) ({sh}*{s_h}, {sw}*{s_w} bytes)",
    ], shapes={"windows (g, C/g, kh, kw, Ho, Wo, N)": windows.shape},
       strides={"windows (g, C/g, kh, kw, Ho, Wo, N)": windows.strides})

    cols = _kernel._im2col(x4, geo, groups)
    r.compare("im2col matrix vs window view", cols.reshape(windows.shape), windows)
    r.step("forward", "im2col (one copy of the view)", [
        f"K = C/g*kh*kw = {cg}*{kh}*{kwd} = {k_rows} rows (c, a, b): row = (c*{kh} + a)*{kwd} + b",
        f"M = Ho*Wo*N = {ho}*{wo}*{n} = {m} columns (i, j, n): column = (i*{wo} + j)*{n} + n",
    ], shapes={"cols (g, K, M)": cols.shape}, read=cols.nbytes, written=cols.nbytes,
       arrays={"cols": cols})

    w_mat = w.reshape(groups, og, k_rows)
    y = np.matmul(w_mat, cols)
    r.step("forward", "GEMM  Y = W_mat @ cols", [
        f"{groups} x ({og} x {k_rows}) @ ({k_rows} x {m}) -> ({og} x {m}): "
        f"FLOPs = 2*g*(O/g)*K*M = 2*{groups}*{og}*{k_rows}*{m}",
    ], shapes={"W_mat (g, O/g, K)": w_mat.shape, "cols (g, K, M)": cols.shape, "Y (g, O/g, M)": y.shape},
       flops=2 * groups * og * k_rows * m, read=nbytes(w_mat, cols), written=y.nbytes,
       arrays={"W_mat": w_mat, "Y": y})
    if b is not None:
        y += b.reshape(groups, og, 1)
        r.step("forward", "bias (in place)", f"Y[g, o, :] += b[g*O/g + o]",
               shapes={"Y (g, O/g, M)": y.shape}, flops=y.size, read=nbytes(y, b), written=y.nbytes,
               arrays={"Y + b": y})
    out = y.reshape(o, ho, wo, n).transpose(3, 0, 1, 2)
    r.step("forward", "output (a view of Y)", [
        "Y is (C_out, Ho, Wo, N) memory: viewed as (N, C_out, Ho, Wo) with no copy",
    ], shapes={"output": out.shape}, strides={"output": out.strides}, arrays={"output": out})
    r.compare("forward output", out[0] if unbatched else out, out_op)

    # ---- backward
    g = r.grad_like(out)
    g_cols = np.ascontiguousarray(g.transpose(1, 2, 3, 0)).reshape(groups, og, m)
    r.step("backward", "upstream gradient G", [
        "G = dL/d(output), random, in the output's memory layout (as the next layer hands it back):",
        "as a (g, O/g, M) matrix it is a view, no copy",
    ], shapes={"G": g.shape, "G as (g, O/g, M)": g_cols.shape}, arrays={"G": g})
    grad_w = np.matmul(cols, g_cols.transpose(0, 2, 1)).transpose(0, 2, 1).reshape(w.shape)
    r.step("backward", "GEMM  dW = G @ cols^T", [
        f"{groups} x ({og} x {m}) @ ({m} x {k_rows}) -> ({og} x {k_rows}), reshaped to the weight's "
        f"shape; FLOPs = 2*{groups}*{og}*{m}*{k_rows}",
        "(computed as cols @ G^T, the faster orientation for OpenBLAS here)",
    ], shapes={"dW": grad_w.shape}, flops=2 * groups * og * m * k_rows,
       read=nbytes(cols, g_cols), written=grad_w.nbytes, arrays={"dW": grad_w})
    w_mat_t = np.ascontiguousarray(w_mat.transpose(0, 2, 1))
    dcols = np.matmul(w_mat_t, g_cols)
    r.step("backward", "GEMM  dcols = W_mat^T @ G", [
        f"{groups} x ({k_rows} x {og}) @ ({og} x {m}) -> ({k_rows} x {m}); "
        f"FLOPs = 2*{groups}*{k_rows}*{og}*{m}",
        "(written into the forward's cols memory, which is no longer needed)",
    ], shapes={"W_mat^T (g, K, O/g)": w_mat_t.shape, "dcols (g, K, M)": dcols.shape},
       flops=2 * groups * k_rows * og * m, read=nbytes(w_mat_t, g_cols), written=dcols.nbytes,
       arrays={"dcols": dcols})
    grad_x = _kernel._col2im(dcols, geo, n, c)
    padded_grad = (c,) + geo.padded_hw + (n,)
    text = [f"{kh * kwd} strided adds, one per kernel tap (a, b): dcols rows (c, a, b) of every "
            f"column, a (C, Ho, Wo, N) slab, += into the strided slice "
            f"padded[:, a*{dh} + {sh}*i, b*{dw} + {sw}*j, :] (i < {ho}, j < {wo})",
            "a tap's slice touches each input position at most once, so overlapping windows "
            "accumulate across taps (col2im is im2col's adjoint, not its inverse);",
            "the input gradient is the interior of the padded gradient (the padding's share is dropped)"]
    routes = []
    if r.numbers:
        routes = _col2im_routes(geo)
        counts = _kernel._col2im(np.ones((groups, k_rows, ho * wo), x.dtype), geo, 1, c)[0, 0]
    r.step("backward", "col2im", text,
           shapes={"padded gradient (C, Hp, Wp, N)": padded_grad, "dx": grad_x.shape},
           strides={"dx": grad_x.strides}, flops=dcols.size,
           read=2 * dcols.nbytes, written=int(np.prod(padded_grad)) * it + dcols.nbytes,
           arrays=({"taps adding into each input position": counts, "dx": grad_x} if r.numbers else {}),
           routes=routes)
    grads = {"input": grad_x[0] if unbatched else grad_x, "weight": grad_w}
    if b is not None:
        grad_b = g_cols.sum(axis=2).reshape(o)
        r.step("backward", "bias gradient", f"db[o] = sum over (n, i, j) of G[n, o, i, j]",
               shapes={"db": grad_b.shape}, flops=g_cols.size, read=g_cols.nbytes,
               written=grad_b.nbytes, arrays={"db": grad_b})
        grads["bias"] = grad_b
    theirs = backward_op(g[0] if unbatched else g)
    for i, name in enumerate(("input", "weight", "bias")):
        if name in grads:
            r.compare(f"{name} gradient", grads[name], theirs[i])
    return "F.conv2d forward and backward (F.vjp)"


def _col2im_routes(geo) -> list:
    """For every input position, which (output pixel, tap) pairs add into it."""
    (sh, sw), (dh, dw), (ho, wo), (h, w) = geo.stride, geo.dilation, geo.out_hw, geo.in_hw
    top, _, left, _ = geo.pad
    into = {}
    lines = ["col2im taps (the same for every sample and channel):"]
    for a, b in geo.taps:
        rows = [i * sh + a * dh - top for i in range(ho)]
        cols = [j * sw + b * dw - left for j in range(wo)]
        lines.append(f"  tap ({a},{b}): windows i = 0..{ho - 1} -> input rows {rows}, j = 0..{wo - 1} -> "
                     f"input cols {cols}" + ("  (negative or past the edge: padding, dropped)"
                                              if min(rows + cols) < 0 or max(rows) >= h or max(cols) >= w else ""))
        for i, u in enumerate(rows):
            for j, v in enumerate(cols):
                into.setdefault((u, v), []).append(f"dcols[tap ({a},{b}), window ({i},{j})]")
    lines.append("what adds into each input position (in every channel c of the tap's rows (c, a, b), "
                 "every sample n):")
    for u in range(h):
        for v in range(w):
            lines.append(f"  dx({u},{v}) = " + (" + ".join(into.get((u, v), [])) or "0 (no window reads it)"))
    return lines
