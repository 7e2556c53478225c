"""``explain conv2d``: pad, im2col (one strided slice per tap), the GEMM; backward through col2im.

It runs the steps of the textbook :func:`scratchnet.functional.conv.conv2d` (the code
the conv2d page shows) with its own helpers, and checks them against that op.
"""
from __future__ import annotations

import numpy as np

from .. import functional as F
from ..functional import conv as _conv
from .recorder import Recorder, nbytes, size_line, validated


def explain_conv2d(r: Recorder, *, input, weight, bias=True, stride=1, padding=0,
                    dilation=1, groups=1):
    x = r.data(input, -3, 3)
    w = r.data(weight, -2, 2)
    b = r.data((weight[0],), -2, 2) if bias and len(weight) >= 1 else None
    with F.textbook():
        out_op, backward_op = validated("conv2d", F.conv2d, x, w, b, stride=stride, padding=padding,
                                         dilation=dilation, groups=groups)
    x4, unbatched, w, b, geo = _conv._setup("conv2d", x, w, b, stride, padding, dilation, groups)
    n, c = x4.shape[:2]
    o = w.shape[0]
    og, cg = o // groups, c // groups
    (kh, kwd), (sh, sw), (dh, dw), (ho, wo) = geo.kernel, geo.stride, geo.dilation, geo.out_hw
    top, bottom, left, right = geo.pad
    k_rows, m = cg * kh * kwd, n * ho * wo
    r.limit(input=x.shape, weight=w.shape, **{"im2col matrix": (c * kh * kwd, m)},
            output=(n, o, ho, wo), **{"padded input": (n, c) + geo.padded_hw})

    r.step("forward", "output size (torch's formula)", [
        size_line("H", geo.in_hw[0], kh, sh, top, bottom, dh, ho),
        size_line("W", geo.in_hw[1], kwd, sw, left, right, dw, wo),
        f"groups={groups}: each of the {o} filters sees {cg} of the {c} input channels",
    ], shapes={"input": x.shape, "weight": w.shape, **({"bias": b.shape} if b is not None else {}),
               "output": (n, o, ho, wo)}, arrays={"input": x, "weight": w, **({"bias": b} if b is not None else {})})

    padded = any(geo.pad)
    xp = np.pad(x4, ((0, 0), (0, 0), (top, bottom), (left, right)))
    r.step("forward", "pad", [
        f"zero padding (top, bottom, left, right) = {geo.pad}: xp = np.pad(x, ...)" if padded
        else "no padding: xp is the input itself",
    ], shapes={"xp (N, C, Hp, Wp)": xp.shape}, read=x.nbytes if padded else 0,
       written=xp.nbytes if padded else 0, arrays={"padded input": xp})

    x_col = _conv.im2col(x4, geo)
    r.step("forward", "im2col (one strided slice per kernel tap)", [
        f"{kh * kwd} taps (a, b), each one slice of every window at once: "
        f"xp[:, :, a*{dh} : a*{dh} + {sh}*(Ho-1)+1 : {sh}, b*{dw} : b*{dw} + {sw}*(Wo-1)+1 : {sw}], "
        f"an (N, C, Ho, Wo) array, copied into rows (c, a, b)",
        f"K = C*kh*kw = {c}*{kh}*{kwd} = {c * kh * kwd} rows (c, a, b): row = (c*{kh} + a)*{kwd} + b",
        f"M = N*Ho*Wo = {n}*{ho}*{wo} = {m} columns (n, i, j): column = (n*{ho} + i)*{wo} + j",
    ], shapes={"X_col (C*kh*kw, N*Ho*Wo)": x_col.shape}, read=x_col.nbytes, written=x_col.nbytes,
       arrays={"X_col": x_col})

    x_col_g = x_col.reshape(groups, k_rows, m)
    w_mat = w.reshape(groups, og, k_rows)
    y = w_mat @ x_col_g
    r.step("forward", "GEMM  Y = W_mat @ X_col", [
        f"{groups} x ({og} x {k_rows}) @ ({k_rows} x {m}) -> ({og} x {m}): one GEMM per group, on its "
        f"{k_rows} rows of X_col; FLOPs = 2*g*(O/g)*(K/g)*M = 2*{groups}*{og}*{k_rows}*{m}",
    ], shapes={"W_mat (g, O/g, K/g)": w_mat.shape, "X_col (g, K/g, M)": x_col_g.shape,
               "Y (g, O/g, M)": y.shape},
       flops=2 * groups * og * k_rows * m, read=nbytes(w_mat, x_col_g), written=y.nbytes,
       arrays={"W_mat": w_mat, "Y": y})
    if b is not None:
        y += b.reshape(groups, og, 1)
        r.step("forward", "bias (in place)", "Y[g, o, :] += b[g*O/g + o]",
               shapes={"Y (g, O/g, M)": y.shape}, flops=y.size, read=nbytes(y, b), written=y.nbytes,
               arrays={"Y + b": y})
    out = y.reshape(o, n, ho, wo).transpose(1, 0, 2, 3)
    r.step("forward", "output (a view of Y)", [
        "Y's rows are the output channels, its columns (n, i, j): Y is (C_out, N, Ho, Wo), "
        "transposed to (N, C_out, Ho, Wo) with no copy",
    ], shapes={"output": out.shape}, strides={"output": out.strides}, arrays={"output": out})
    r.compare("forward output", out[0] if unbatched else out, out_op)

    # ---- backward
    g = r.grad_like(out)
    g_mat = g.transpose(1, 0, 2, 3).reshape(groups, og, m)
    r.step("backward", "upstream gradient G", [
        "G = dL/d(output), random; as Y's matrix (g, O/g, M), its columns ordered (n, i, j) as X_col's",
    ], shapes={"G": g.shape, "G as (g, O/g, M)": g_mat.shape}, arrays={"G": g})
    grad_w = (g_mat @ x_col_g.transpose(0, 2, 1)).reshape(w.shape)
    r.step("backward", "GEMM  dW = G @ X_col^T", [
        f"{groups} x ({og} x {m}) @ ({m} x {k_rows}) -> ({og} x {k_rows}), reshaped to the weight's "
        f"shape; FLOPs = 2*{groups}*{og}*{m}*{k_rows}",
    ], shapes={"dW": grad_w.shape}, flops=2 * groups * og * m * k_rows,
       read=nbytes(x_col_g, g_mat), written=grad_w.nbytes, arrays={"dW": grad_w})
    w_mat_t = w_mat.transpose(0, 2, 1)
    dx_col = w_mat_t @ g_mat
    r.step("backward", "GEMM  dX_col = W_mat^T @ G", [
        f"{groups} x ({k_rows} x {og}) @ ({og} x {m}) -> ({k_rows} x {m}); "
        f"FLOPs = 2*{groups}*{k_rows}*{og}*{m}",
    ], shapes={"W_mat^T (g, K/g, O/g)": w_mat_t.shape, "dX_col (g, K/g, M)": dx_col.shape},
       flops=2 * groups * k_rows * og * m, read=nbytes(w_mat_t, g_mat), written=dx_col.nbytes,
       arrays={"dX_col": dx_col})
    grad_x = _conv.col2im(dx_col.reshape(c * kh * kwd, m), geo, x4.shape)
    padded_grad = (n, c) + geo.padded_hw
    text = [f"{kh * kwd} strided adds, one per kernel tap (a, b): rows (c, a, b) of dX_col, an (N, C, Ho, Wo) "
            f"array, += into the strided slice dxp[:, :, a*{dh} + {sh}*i, b*{dw} + {sw}*j] (i < {ho}, j < {wo})",
            "a tap's slice touches each input position at most once, so overlapping windows "
            "accumulate across taps (col2im is im2col's adjoint, not its inverse);",
            "the input gradient is the interior of the padded gradient (the padding's share is dropped)"]
    routes = []
    if r.numbers:
        routes = _col2im_routes(geo)
        ones = np.ones((c * kh * kwd, ho * wo), x.dtype)
        counts = _conv.col2im(ones, geo, (1, c) + geo.in_hw)[0, 0]
    r.step("backward", "col2im", text,
           shapes={"padded gradient dxp (N, C, Hp, Wp)": padded_grad, "dx": grad_x.shape},
           flops=dx_col.size, read=2 * dx_col.nbytes,
           written=int(np.prod(padded_grad)) * x.dtype.itemsize + dx_col.nbytes,
           arrays=({"taps adding into each input position": counts, "dx": grad_x} if r.numbers else {}),
           routes=routes)
    grads = {"input": grad_x[0] if unbatched else grad_x, "weight": grad_w}
    if b is not None:
        grad_b = g.sum(axis=(0, 2, 3))
        r.step("backward", "bias gradient", "db[o] = sum over (n, i, j) of G[n, o, i, j]",
               shapes={"db": grad_b.shape}, flops=g.size, read=g.nbytes,
               written=grad_b.nbytes, arrays={"db": grad_b})
        grads["bias"] = grad_b
    theirs = backward_op(g[0] if unbatched else g)
    for i, name in enumerate(("input", "weight", "bias")):
        if name in grads:
            r.compare(f"{name} gradient", grads[name], theirs[i])
    return "F.conv2d forward and backward (F.vjp), its textbook code"


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
                into.setdefault((u, v), []).append(f"dX_col[tap ({a},{b}), window ({i},{j})]")
    lines.append("what adds into each input position (in every channel c of the tap's rows (c, a, b), "
                 "every sample n):")
    for u in range(h):
        for v in range(w):
            lines.append(f"  dx({u},{v}) = " + (" + ".join(into.get((u, v), [])) or "0 (no window reads it)"))
    return lines
