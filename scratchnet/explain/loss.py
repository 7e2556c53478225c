"""``explain cross_entropy``: log-softmax, then the class-index loss core."""
from __future__ import annotations

import numpy as np

from .. import functional as F
from ..functional import loss as _loss
from ..functional.softmax import _log_softmax, _log_softmax_backward
from .recorder import Recorder, validated
from .trace import ExplainError


def explain_cross_entropy(r: Recorder, *, input, target=None, ignore_index=-100, reduction="mean"):
    x = r.data(input, -3, 3)
    if len(input) == 0:
        raise ExplainError("explain cross_entropy: --input must have at least 1 dimension, (C,) or (N, C, ...)")
    n_classes = input[1] if len(input) > 1 else input[0]
    target_shape = ((input[0],) + tuple(input[2:])) if len(input) > 1 else ()
    if target is None:
        t = r.rng.integers(0, max(n_classes, 1), size=target_shape)
    else:
        t = np.asarray(target, dtype=np.int64)
        if t.size == int(np.prod(target_shape, dtype=np.int64)):
            t = t.reshape(target_shape)
    out_op, backward_op = validated("cross_entropy", F.cross_entropy, x, t,
                                     ignore_index=ignore_index, reduction=reduction)
    r.limit(input=x.shape)
    xl = _loss._class_last(x)
    lp = _log_softmax(xl, -1)
    r.step("forward", "log_softmax over the classes", [
        "l = (x - m) - log(sum(exp(x - m))), m the row max: finite even where softmax rounds to 0",
        f"target (from the seed unless given): {t.tolist()}"
        + (f"; ignore_index = {ignore_index}" if ignore_index != -100 or (t == -100).any() else "")],
        shapes={"input": x.shape, "target": t.shape, "log_probs (class last)": lp.shape},
        flops=5 * x.size, read=3 * x.nbytes, written=2 * lp.nbytes,
        arrays={"input": x, "target": t, "log_probs": lp})
    tt = _loss._index_target("cross_entropy", x, t)
    loss, core_backward = _loss._index_loss("cross_entropy", lp, tt, None, ignore_index, reduction, 0.0)
    kept = tt != ignore_index
    denom = int(kept.sum())
    what = {"mean": f"the mean over the {denom} kept targets (ignored ones leave the numerator and the "
                    "denominator alike)",
            "sum": "the sum over the kept targets", "none": "one loss per position"}[reduction]
    r.step("forward", "pick the target's log-probability", [
        "loss_i = -l[i, t_i] for every kept position i (t_i != ignore_index)", f"loss = {what}"],
        shapes={"loss": np.shape(loss)}, flops=2 * tt.size, read=tt.nbytes + tt.size * x.itemsize,
        written=np.asarray(loss).nbytes, arrays={"loss": loss})
    r.compare("forward output", loss, out_op)

    # A loss ends the graph: dL/dL = 1 (a random upstream gradient per position for 'none').
    g = np.ones((), x.dtype) if reduction != "none" else r.grad_like(np.asarray(loss))
    grad_lp, _ = core_backward(g)
    r.step("backward", "dL/dl", [
        f"upstream gradient {'1 (the loss ends the graph)' if reduction != 'none' else 'G, random'}",
        "dL/dl[i, c] = -a_i [c = t_i] for kept positions, 0 elsewhere; a_i = "
        + ("1/" + str(denom) if reduction == "mean" else "1" if reduction == "sum" else "G_i")],
        shapes={"dL/dl": grad_lp.shape}, flops=tt.size, written=grad_lp.nbytes,
        arrays={"dL/dl": grad_lp})
    gx_last = _log_softmax_backward(grad_lp, lp, -1)
    gx = _loss._class_first(gx_last, x.ndim)
    s = np.exp(lp)
    y = (np.arange(lp.shape[-1]) == tt[..., None]).astype(x.dtype)  # one-hot; none for -100
    with np.errstate(divide="ignore", invalid="ignore"):  # every target ignored: 0/0, as torch
        a = np.broadcast_to(g / x.dtype.type(denom) if reduction == "mean" else g, tt.shape)
        lecture = np.where(kept[..., None], (s - y) * a[..., None], 0).astype(x.dtype)
    r.step("backward", "through log_softmax: dx = dL/dl - s * sum(dL/dl)", [
        "s = exp(l) = softmax(x); for a kept row this is the lectures' (s - y) * a_i, y the one-hot "
        "target; an ignored row gets 0"],
        shapes={"dx": gx.shape}, flops=4 * x.size, read=2 * lp.nbytes + grad_lp.nbytes,
        written=gx.nbytes, arrays={"softmax s": s, "dx": gx})
    r.compare("input gradient", gx, backward_op(g)[0])
    r.compare("the lectures' dx = (s - y) * a", gx_last, lecture, identity=True)
    # and at a random upstream gradient, so a backward that ignored it would be caught
    g2 = r.grad_like(np.asarray(out_op)) + np.asarray(0.5, x.dtype)
    r.compare("input gradient at a random upstream gradient",
              _loss._class_first(_log_softmax_backward(core_backward(g2)[0], lp, -1), x.ndim),
              backward_op(g2)[0])
    return "F.cross_entropy forward and backward (F.vjp)"
