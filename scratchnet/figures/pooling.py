"""Pooling's figures: max-pool's gradient routing (ties included), avg-pool's 1/k² spread.

The outputs, argmax indices and gradients are those of
:func:`scratchnet.functional.max_pool2d` / ``avg_pool2d`` and their backward.
"""
from __future__ import annotations

import numpy as np

from ..functional._vjp import vjp
from ..functional.pooling import avg_pool2d, max_pool2d
from . import _draw as d

#: The lectures' max-pooling example; its 2x2, stride 2 pool is [[6, 8], [3, 4]].
LECTURE_INPUT = np.array([[1, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]], dtype=float)
#: A plane with ties: the left window's maximum 4 twice, the right window's 2 three times.
TIE_INPUT = np.array([[4, 1, 2, 2], [0, 4, 2, 1]], dtype=float)


def _window_fill(shape, geo_out, kernel, stride, padding=(0, 0), dilation=(1, 1)):
    fill = [[None] * shape[1] for _ in range(shape[0])]
    owner = {}
    for i in range(geo_out[0]):
        for j in range(geo_out[1]):
            for a in range(kernel[0]):
                for b in range(kernel[1]):
                    r = i * stride[0] - padding[0] + a * dilation[0]
                    c = j * stride[1] - padding[1] + b * dilation[1]
                    if 0 <= r < shape[0] and 0 <= c < shape[1] and (r, c) not in owner:
                        owner[r, c] = i * geo_out[1] + j
                        fill[r][c] = d.colour(owner[r, c]) + "40"
    return fill


def _pair(v):
    return tuple(int(t) for t in np.broadcast_to(v, 2))


def draw_max_routing(fig, plane=LECTURE_INPUT, kernel=2, stride=None, padding=0, dilation=1,
                     ceil_mode=False, grad=None, title: str = "") -> None:
    """Input with windows and argmaxes, output linked to them, the gradient landing there."""
    plane = np.asarray(plane, dtype=np.float64)
    h, w = plane.shape
    d.check_small("max_pool2d", 12, height=h, width=w)
    (out, idx), backward = vjp(max_pool2d, plane[None, None], kernel, stride, padding, dilation,
                               ceil_mode, True)
    out, idx = out[0, 0], idx[0, 0]
    ho, wo = out.shape
    g = (np.arange(1, ho * wo + 1, dtype=np.float64).reshape(ho, wo) * 10 if grad is None
         else np.asarray(grad, dtype=np.float64))
    gx = backward(g[None, None])[0][0, 0]
    k, s = _pair(kernel), _pair(kernel if stride is None else stride)
    fill = _window_fill((h, w), (ho, wo), k, s, _pair(padding), _pair(dilation))
    bold = np.zeros((h, w), bool)
    bold.flat[idx.ravel()] = True
    axes = fig.subplots(1, 2, width_ratios=[w + 1.5 + wo, w + 1.5 + wo])
    ax = axes[0]
    d.cell_axes(ax, w + 2 + wo, max(h, ho), "forward: max of each window (bold: its argmax)")
    d.grid(ax, plane, fill=fill, bold=bold)
    x_out, y_out = w + 2, (h - ho) / 2
    d.grid(ax, out, x_out, y_out, fill=[[d.colour(i * wo + j) + "40" for j in range(wo)] for i in range(ho)])
    for i in range(ho):
        for j in range(wo):
            r, c = divmod(int(idx[i, j]), w)
            d.arrow(ax, (c + 0.5, r + 0.5), (x_out + j + 0.5, y_out + i + 0.5), d.colour(i * wo + j),
                    rad=-0.2)
    ax = axes[1]
    d.cell_axes(ax, w + 2 + wo, max(h, ho), "backward: G lands on the argmax, 0 elsewhere")
    d.grid(ax, g, x_out, y_out, fill=[[d.colour(i * wo + j) + "40" for j in range(wo)] for i in range(ho)])
    gfill = [[(d.colour(int(np.flatnonzero(idx.ravel() == r * w + c)[0])) + "40")
              if bold[r, c] else None for c in range(w)] for r in range(h)]
    d.grid(ax, gx, fill=gfill, bold=bold)
    for i in range(ho):
        for j in range(wo):
            r, c = divmod(int(idx[i, j]), w)
            d.arrow(ax, (x_out + j + 0.5, y_out + i + 0.5), (c + 0.5, r + 0.5), d.BACKWARD, rad=0.2)
    fig.suptitle(title or f"max_pool2d, kernel {k[0]}x{k[1]}, stride {s[0]},{s[1]}: "
                 f"{out.astype(int).tolist() if np.all(out == out.astype(int)) else ''}",
                 fontsize=10)


def draw_max_tie(fig) -> None:
    """Ties: torch (and scratchnet) pick the first maximum in row-major order."""
    draw_max_routing(fig, TIE_INPUT, 2, grad=np.array([[1.0, 1.0]]),
                     title="a tie: the whole gradient goes to the FIRST maximum of the window "
                           "(row by row), as torch does")


def draw_avg_spread(fig, plane_shape=(4, 4), kernel=2, stride=None, padding=0, ceil_mode=False,
                    count_include_pad=True, divisor_override=None) -> None:
    """avg_pool2d's backward: each output's gradient spread evenly over its window."""
    h, w = plane_shape
    d.check_small("avg_pool2d", 12, height=h, width=w)
    rng = np.random.default_rng(0)
    plane = rng.integers(0, 9, size=(1, 1, h, w)).astype(np.float64)
    out, backward = vjp(avg_pool2d, plane, kernel, stride, padding, ceil_mode, count_include_pad,
                        divisor_override)
    ho, wo = out.shape[2:]
    g = np.arange(1, ho * wo + 1, dtype=np.float64).reshape(1, 1, ho, wo) * 4
    gx = backward(g)[0]
    k, s = _pair(kernel), _pair(kernel if stride is None else stride)
    fill = _window_fill((h, w), (ho, wo), k, s, _pair(padding))
    ofill = [[d.colour(i * wo + j) + "40" for j in range(wo)] for i in range(ho)]
    axes = fig.subplots(1, 4, width_ratios=[w, wo, wo, w])
    for ax, a, f, title, col in ((axes[0], plane[0, 0], fill, "input x", None),
                                 (axes[1], out[0, 0], ofill, "output: window means", None),
                                 (axes[2], g[0, 0], ofill, "upstream G", d.BACKWARD),
                                 (axes[3], gx[0, 0], fill, f"∂L/∂x: G / {k[0] * k[1]} on every cell", d.BACKWARD)):
        d.cell_axes(ax, a.shape[1], a.shape[0])
        ax.set_title(title, fontsize=9, color=col or "black")
        d.grid(ax, a, fill=f)
    fig.suptitle(f"avg_pool2d, kernel {k[0]}x{k[1]}, stride {s[0]},{s[1]}: each output's gradient "
                 f"is spread as 1/k² over its window", fontsize=10)
