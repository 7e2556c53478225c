r"""Softmax's Jacobian and vector-Jacobian product; cross-entropy's gradient :math:`s - y`.

The Jacobian is assembled column by column from :func:`scratchnet.functional.softmax`'s
own backward (``J^T e_k``), and checked against the formula
:math:`\operatorname{diag}(s) - s s^\top` before it is drawn.
"""
from __future__ import annotations

import numpy as np

from ..functional._vjp import vjp
from ..functional.loss import cross_entropy
from ..functional.softmax import softmax
from . import _draw as d

LOGITS = np.array([2.0, 1.0, 0.1, -1.0])


def jacobian(z) -> tuple:
    """``(s, J)`` for logits ``z`` (1-D), ``J`` from the op's backward, one basis vector at a time."""
    z = np.asarray(z, dtype=np.float64)
    s, backward = vjp(softmax, z, dim=0)
    jac = np.stack([backward(e)[0] for e in np.eye(z.size)])  # row k: J^T e_k = J e_k (J symmetric)
    formula = np.diag(s) - np.outer(s, s)
    if not np.allclose(jac, formula, rtol=1e-12, atol=1e-15):
        raise RuntimeError("figures: softmax's backward disagrees with diag(s) - s s^T")
    return s, jac


def draw_softmax(fig, logits=LOGITS, grad=None) -> None:
    """Heat map of the Jacobian with its numbers; the VJP ``J^T g`` as bars."""
    z = np.asarray(logits, dtype=np.float64).ravel()
    d.check_small("softmax", 12, classes=z.size)
    s, jac = jacobian(z)
    g = np.linspace(1.0, -1.0, z.size) if grad is None else np.asarray(grad, dtype=np.float64)
    _, backward = vjp(softmax, z, dim=0)
    vjp_g = backward(g)[0]
    ax1, ax2 = fig.subplots(1, 2, width_ratios=[1.1, 1])
    lim = np.abs(jac).max()
    im = ax1.imshow(jac, cmap="RdBu_r", vmin=-lim, vmax=lim)
    for (r, c), v in np.ndenumerate(jac):
        ax1.text(c, r, f"{v:.3f}", ha="center", va="center", fontsize=8)
    labels = [f"{i}\ns={p:.2f}" for i, p in enumerate(s)]
    ax1.set_xticks(range(z.size), [str(i) for i in range(z.size)], fontsize=8)
    ax1.set_yticks(range(z.size), labels, fontsize=8)
    ax1.set_title("Jacobian ∂s_i/∂z_k = diag(s) − s sᵀ\n(from the op's backward)", fontsize=9)
    fig.colorbar(im, ax=ax1, shrink=0.8)
    pos = np.arange(z.size)
    ax2.bar(pos - 0.2, g, 0.4, label="upstream g", color="#999999")
    ax2.bar(pos + 0.2, vjp_g, 0.4, label="Jᵀg = s ⊙ (g − Σ g·s)", color=d.BACKWARD)
    ax2.axhline(0, color="black", linewidth=0.6)
    ax2.set_xticks(pos, [str(i) for i in pos])
    ax2.set_xlabel("class", fontsize=9)
    ax2.set_title(f"the VJP: one backward call, no Jacobian built\n(Σ of Jᵀg = {vjp_g.sum():.1e}: "
                  f"shifting all z changes nothing)", fontsize=9)
    ax2.legend(fontsize=8)
    fig.suptitle(f"softmax of z = {np.array2string(z, precision=2)}", fontsize=10)


def draw_cross_entropy(fig, logits=None, target=None, ignore_index=-100, reduction="mean") -> None:
    """Bars of ``s``, the one-hot ``y`` and the gradient ``s - y`` for the first samples (at most 4).

    The gradient is :func:`scratchnet.functional.cross_entropy`'s backward, fed the
    upstream gradient that undoes the reduction's scale (the number of kept samples
    for ``'mean'``), so each bar is exactly :math:`s - y` (0 for an ignored target).
    """
    z = np.atleast_2d(np.asarray(LOGITS if logits is None else logits, dtype=np.float64))
    n, c = z.shape
    d.check_small("cross_entropy", 12, classes=c)
    t = np.ones(n, dtype=np.int64) if target is None else np.asarray(target, dtype=np.int64).reshape(n)
    loss, backward = vjp(cross_entropy, z, t, ignore_index=ignore_index, reduction=reduction)
    kept = t != ignore_index
    if reduction == "none":
        g = np.ones(n)
    else:
        g = np.array(float(max(kept.sum(), 1)) if reduction == "mean" else 1.0)
    grad = backward(g)[0]
    s = softmax(z, dim=1)
    shown = min(n, 4)
    axes = fig.subplots(1, shown, squeeze=False, sharey=True)[0]
    pos = np.arange(c)
    for i, ax in enumerate(axes):
        y = np.eye(c)[t[i]] if kept[i] else np.zeros(c)
        ax.bar(pos - 0.27, s[i], 0.27, label="s = softmax(z)", color=d.colour(0))
        ax.bar(pos, y, 0.27, label="y (one-hot)", color="#999999")
        ax.bar(pos + 0.27, grad[i], 0.27, label="gradient = s − y", color=d.BACKWARD)
        ax.axhline(0, color="black", linewidth=0.6)
        ax.set_xticks(pos, [str(k) for k in pos])
        what = (f"target {t[i]}, −log s = {-np.log(s[i, t[i]]):.3f}" if kept[i]
                else f"target {t[i]} ignored: no gradient")
        ax.set_title(f"sample {i}: {what}", fontsize=9)
        ax.set_xlabel("class", fontsize=9)
    axes[0].legend(fontsize=8)
    more = f" (first {shown} of {n} samples)" if shown < n else ""
    scale = {"mean": f"×{float(np.max(g)):g} (the mean's 1/N undone)", "sum": "×1",
             "none": "×1 per sample"}
    fig.suptitle(f"cross_entropy's backward{more}, upstream {scale[reduction]}: "
                 f"the bars s − y", fontsize=10)
