"""``explain softmax``: shift by the max, exponentiate, normalise; the Jacobian-vector product."""
from __future__ import annotations

import numpy as np

from .. import functional as F
from ..checks import normalize_dim
from .recorder import Recorder, nbytes, validated


def explain_softmax(r: Recorder, *, input, dim=-1):
    x = r.data(input, -3, 3)
    out_op, backward_op = validated("softmax", F.softmax, x, dim=dim)
    r.limit(input=x.shape)
    axis = normalize_dim("softmax", dim, x.ndim) if x.ndim else None
    rows = x.size // max(x.shape[axis], 1) if x.ndim else 1
    red = (x.shape[axis] if x.ndim else 1)
    r.step("forward", "max along dim", f"m = max of x along dim {dim} ({rows} slices of {red})",
           shapes={"input": x.shape}, flops=x.size, read=x.nbytes, written=x.nbytes // max(red, 1),
           arrays={"input": x})
    with np.errstate(invalid="ignore"):
        mx = np.max(x, axis=axis, keepdims=True)
        e = np.exp(x - mx)
    r.step("forward", "shift and exp", "e = exp(x - m): the shift cancels in the ratio and keeps "
           "the largest exponent at exp(0) = 1, so huge logits cannot overflow",
           shapes={"e": e.shape}, flops=2 * x.size, read=x.nbytes + mx.nbytes, written=e.nbytes,
           arrays={"m": mx, "e": e})
    total = np.sum(e, axis=axis, keepdims=True)
    out = e / total
    r.step("forward", "normalise", "s = e / sum(e along dim)", shapes={"s": out.shape},
           flops=2 * e.size, read=2 * e.nbytes + total.nbytes, written=total.nbytes + out.nbytes,
           arrays={"sum": total, "s": out})
    r.compare("forward output", out, out_op)
    g = r.grad_like(out)
    gs = g * out
    r.step("backward", "upstream gradient G, times s", "G = dL/ds, random; G*s", shapes={"G": g.shape},
           flops=g.size, read=nbytes(g, out), written=gs.nbytes, arrays={"G": g, "G*s": gs})
    dot = np.sum(gs, axis=axis, keepdims=True)
    gx = gs - out * dot
    r.step("backward", "dx = s * (G - sum(G*s))", [
        "the Jacobian is ds_i/dx_k = s_i (delta_ik - s_k), so dx = G*s - s * sum_j G_j s_j",
        "(an all-ones G gives dx = 0: that is why a test needs a random upstream gradient)"],
        shapes={"dx": gx.shape}, flops=3 * g.size, read=gs.nbytes * 2 + out.nbytes,
        written=dot.nbytes + gx.nbytes, arrays={"sum(G*s)": dot, "dx": gx})
    r.compare("input gradient", gx, backward_op(g)[0])
    return "F.softmax forward and backward (F.vjp)"
