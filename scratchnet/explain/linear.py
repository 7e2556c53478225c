"""``explain linear``: one GEMM forward, two backward."""
from __future__ import annotations

import numpy as np

from .. import functional as F
from ..checks import shape_str
from .recorder import Recorder, nbytes, validated
from .trace import ExplainError


def explain_linear(r: Recorder, *, input, weight, bias=True):
    x = r.data(input, -3, 3)
    w = r.data(weight, -2, 2)
    if len(weight) != 2:
        raise ExplainError(f"explain linear: --weight must be 2-D (out_features, in_features), "
                           f"got {shape_str(weight)}")
    b = r.data((weight[0],), -2, 2) if bias else None
    out_op, backward_op = validated("linear", F.linear, x, w, b)
    out_f, in_f = w.shape
    x2 = x.reshape(-1, in_f)
    m = x2.shape[0]
    r.limit(input=x.shape, weight=w.shape, output=(m, out_f))
    r.step("forward", "flatten the leading dimensions (a view)",
           f"X = input as ({m} x {in_f}): M = {m} rows, one per sample (or position)",
           shapes={"input": x.shape, "X": x2.shape, "W": w.shape}, arrays={"input": x, "W": w})
    y = x2 @ w.T
    r.step("forward", "GEMM  Y = X @ W^T", f"({m} x {in_f}) @ ({in_f} x {out_f}) -> ({m} x {out_f}); "
           f"FLOPs = 2*M*in*out = 2*{m}*{in_f}*{out_f}", shapes={"Y": y.shape},
           flops=2 * m * in_f * out_f, read=nbytes(x2, w), written=y.nbytes, arrays={"Y": y})
    if b is not None:
        y += b
        r.step("forward", "bias (in place)", "Y[m, :] += b", shapes={"b": b.shape},
               flops=y.size, read=nbytes(y, b), written=y.nbytes, arrays={"b": b, "Y + b": y})
    out = y.reshape(out_op.shape)
    r.compare("forward output", out, out_op)
    g = r.grad_like(out)
    g2 = g.reshape(-1, out_f)
    r.step("backward", "upstream gradient G", f"G = dL/d(output), random, as ({m} x {out_f})",
           shapes={"G": g2.shape}, arrays={"G": g2})
    gx = (g2 @ w).reshape(x.shape)
    r.step("backward", "GEMM  dX = G @ W", f"({m} x {out_f}) @ ({out_f} x {in_f}) -> ({m} x {in_f}); "
           f"FLOPs = 2*{m}*{out_f}*{in_f}", shapes={"dX": gx.shape}, flops=2 * m * out_f * in_f,
           read=nbytes(g2, w), written=gx.nbytes, arrays={"dX": gx})
    gw = np.dot(g2.T, x2)
    r.step("backward", "GEMM  dW = G^T @ X", [
        f"({out_f} x {m}) @ ({m} x {in_f}) -> ({out_f} x {in_f}); FLOPs = 2*{out_f}*{m}*{in_f}",
        "the sum over the M rows is how one weight shared by the batch collects every sample's share"],
        shapes={"dW": gw.shape}, flops=2 * out_f * m * in_f, read=nbytes(g2, x2), written=gw.nbytes,
        arrays={"dW": gw})
    theirs = backward_op(g)
    r.compare("input gradient", gx, theirs[0])
    r.compare("weight gradient", gw, theirs[1])
    if b is not None:
        gb = g2.sum(axis=0)
        r.step("backward", "bias gradient", "db = sum of G over the rows", shapes={"db": gb.shape},
               flops=g2.size, read=g2.nbytes, written=gb.nbytes, arrays={"db": gb})
        r.compare("bias gradient", gb, theirs[2])
    return "F.linear forward and backward (F.vjp)"
