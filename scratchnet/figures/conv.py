r"""conv2d's figures: the window geometry, im2col, the GEMM, col2im's overlap-add.

Every number drawn comes from :mod:`scratchnet.functional.conv` itself: the window
geometry from its argument checks (``_setup``), the columns from ``im2col``, the
overlap counts and input gradients from ``col2im`` and the op's backward.
"""
from __future__ import annotations

import numpy as np

from ..functional import conv as _conv
from ..functional._vjp import vjp
from ..functional.conv import conv2d
from . import _draw as d


def _geometry(input_shape, weight_shape, stride=1, padding=0, dilation=1, groups=1):
    """``(x, w, geo)``: small-integer data of these shapes, and the op's own geometry."""
    rng = np.random.default_rng(0)
    x = rng.integers(0, 10, size=input_shape).astype(np.float64)
    w = np.ones(weight_shape)
    x4, _, w, _, geo = _conv._setup("conv2d", x, w, None, stride, padding, dilation, groups)
    return x4, w, geo


def _padded_plane(x4, geo):
    """The first sample's first channel in its padded buffer, and which cells are padding."""
    plane = geo.pad_input(x4[:1, :1], 0)[0, 0]
    top, _, left, _ = geo.pad
    h, w = geo.in_hw
    is_pad = np.ones(plane.shape, bool)
    is_pad[top:top + h, left:left + w] = False
    return plane, is_pad


def _size_text(geo) -> str:
    """The output-size formula per dimension, with its floor and the numbers put in."""
    lines = []
    for dim, n, k, s, d_, p0, p1, out in (
            ("H", geo.in_hw[0], geo.kernel[0], geo.stride[0], geo.dilation[0], *geo.pad[:2], geo.out_hw[0]),
            ("W", geo.in_hw[1], geo.kernel[1], geo.stride[1], geo.dilation[1], *geo.pad[2:], geo.out_hw[1])):
        lines.append(rf"$%s_{{out}} = \lfloor ({n} + {p0 + p1} - {d_}\cdot({k}-1) - 1)/{s} \rfloor + 1 = {out}$"
                     % dim)
    return "\n".join(lines)


def draw_geometry(fig, input_shape=(1, 1, 5, 5), weight_shape=(1, 1, 3, 3), stride=2, padding=1,
                  dilation=1, groups=1) -> None:
    """The padded input with every window, the output grid, each cell linked to its window.

    The output is ``conv2d`` of the first channel with an all-ones kernel, so each
    output number is the sum of the window it is linked to.
    """
    x4, _, geo = _geometry(input_shape, weight_shape, stride, padding, dilation, groups)
    plane, is_pad = _padded_plane(x4, geo)
    hp, wp = plane.shape
    ho, wo = geo.out_hw
    d.check_small("conv2d geometry", 14, padded_height=hp, padded_width=wp)
    d.check_small("conv2d geometry", 8, output_height=ho, output_width=wo)
    out = conv2d(plane[None, None], np.ones((1, 1) + geo.kernel), stride=geo.stride,
                 dilation=geo.dilation)[0, 0]
    ax = fig.add_subplot()
    gap = 2.5
    d.cell_axes(ax, wp + gap + wo, max(hp, ho) + 0.3)
    fill = [[d.PAD_GREY if is_pad[r, c] else None for c in range(wp)] for r in range(hp)]
    d.grid(ax, plane, fill=fill, fontsize=8)
    (kh, kw), (sh, sw), (dh, dw) = geo.kernel, geo.stride, geo.dilation
    x_out, y_out = wp + gap, (hp - ho) / 2
    out_fill = [[None] * wo for _ in range(ho)]
    for i in range(ho):
        for j in range(wo):
            k = i * wo + j
            out_fill[i][j] = d.PALETTE[k % 10] + "55"
            inset = 0.06 + 0.05 * (k % 4)
            for a in range(kh):
                for b in range(kw):
                    d.outline(ax, j * sw + b * dw, i * sh + a * dh, 1, 1, d.colour(k), lw=1.6, inset=inset)
            cy, cx = i * sh + dh * (kh - 1) / 2 + 0.5, j * sw + dw * (kw - 1) / 2 + 0.5
            d.arrow(ax, (x_out + j + 0.5, y_out + i + 0.5), (cx, cy), d.colour(k), lw=0.9,
                    rad=0.15, alpha=0.8)
    d.grid(ax, out, x_out, y_out, fill=out_fill, fontsize=9)
    ax.text(wp / 2, -0.5, f"padded input {hp}x{wp} (grey: padding {geo.pad[0]},{geo.pad[2]})",
            ha="center", fontsize=9)
    ax.text(x_out + wo / 2, y_out - 0.5, f"output {ho}x{wo}", ha="center", fontsize=9)
    fig.suptitle(f"conv2d windows: kernel {kh}x{kw}, stride {sh},{sw}, dilation {dh},{dw}; "
                 f"each output = sum of its window (all-ones kernel)", fontsize=10)
    ax.text((wp + gap + wo) / 2, max(hp, ho) + 0.4, _size_text(geo), ha="center", va="top", fontsize=10)
    ax.set_ylim(max(hp, ho) + 1.9, -0.9)


def draw_im2col(fig, input_shape=(1, 1, 4, 4), kernel=(2, 2), stride=1, padding=0,
                dilation=1) -> None:
    """Each window of the input as a small picture, and the same colour as its column of X_col.

    The input holds 1, 2, 3, ... so that each entry of the matrix (computed by
    ``im2col``) names the input pixel it was copied from.
    """
    n, c, h, w = input_shape
    x = np.arange(1, n * c * h * w + 1, dtype=np.float64).reshape(input_shape)[:1]
    weight = np.ones((1, c) + tuple(np.broadcast_to(kernel, 2)))
    x4, _, _, _, geo = _conv._setup("conv2d", x, weight, None, stride, padding, dilation, 1)
    cols = _conv.im2col(x4, geo)
    k_rows, m = cols.shape
    d.check_small("im2col", 3, output_height=geo.out_hw[0])
    d.check_small("im2col", 4, output_width=geo.out_hw[1])
    d.check_small("im2col", 18, rows=k_rows)
    d.check_small("im2col", 2, channels=c)
    d.check_small("im2col", 6, height=h, width=w)
    ho, wo = geo.out_hw
    (kh, kw), (sh, sw), (dh, dw) = geo.kernel, geo.stride, geo.dilation
    top, _, left, _ = geo.pad
    hp, wp = geo.padded_hw
    plane_w = c * (wp + 0.6)
    ax = fig.add_subplot(1, 2, 1)
    cell_w, cell_h = plane_w + 0.8, hp + 1.2
    d.cell_axes(ax, wo * cell_w, ho * cell_h)
    padded = geo.pad_input(x4, 0)[0]
    for i in range(ho):
        for j in range(wo):
            k = i * wo + j
            ox, oy = j * cell_w, i * cell_h + 1.0
            for ch in range(c):
                fill = [[None] * wp for _ in range(hp)]
                for a in range(kh):
                    for b in range(kw):
                        fill[i * sh + a * dh][j * sw + b * dw] = d.colour(k)
                labels = [[("" if (r < top or r >= top + h or q < left or q >= left + w)
                            else d.fmt_number(padded[ch, r, q])) for q in range(wp)] for r in range(hp)]
                d.grid(ax, padded[ch], ox + ch * (wp + 0.6), oy, fill=fill, labels=labels, fontsize=6)
            ax.text(ox + plane_w / 2, oy - 0.25, f"window ({i},{j})", ha="center", fontsize=7,
                    color=d.colour(k))
    ax.set_title(f"input {c}x{h}x{w}" + (f", padding {geo.pad[0]},{geo.pad[2]}" if any(geo.pad) else "")
                 + f": the {m} windows of a {kh}x{kw} kernel", fontsize=9)
    ax2 = fig.add_subplot(1, 2, 2)
    d.cell_axes(ax2, m + 3, k_rows + 1)
    fill = [[d.colour(col) + "88" for col in range(m)] for _ in range(k_rows)]
    d.grid(ax2, cols, 3, 1, fill=fill, fontsize=7)
    for r, (ch, a, b) in enumerate((ch, a, b) for ch in range(c) for a in range(kh) for b in range(kw)):
        ax2.text(2.8, 1 + r + 0.5, f"c{ch} ({a},{b})", ha="right", va="center", fontsize=6)
    for col in range(m):
        ax2.text(3 + col + 0.5, 0.75, f"{col // wo},{col % wo}", ha="center", fontsize=6,
                 color=d.colour(col), rotation=90)
    ax2.set_title(f"X_col = im2col(x): K x M = {k_rows} x {m}\n"
                  f"(rows: channel, tap; columns: window)", fontsize=9)


def gemm_shapes(input_shape, weight_shape, stride=1, padding=0, dilation=1, groups=1) -> dict:
    """The GEMM's dimensions for a conv2d call: ``O/g``, ``K = C/g kh kw``, ``M = N Ho Wo``."""
    x = np.zeros(input_shape)
    w = np.zeros(weight_shape)
    x4, _, w, _, geo = _conv._setup("conv2d", x, w, None, stride, padding, dilation, groups)
    n = x4.shape[0]
    return dict(groups=groups, O=w.shape[0] // groups, K=int(np.prod(w.shape[1:])),
                M=geo.out_hw[0] * geo.out_hw[1] * n, out_hw=geo.out_hw, N=n)


def draw_gemm(fig, dims: dict, *, title: str = "", names=("W_mat", "X_col", "Y"),
              transposed=("X_colᵀ", "W_matᵀ"), grad="G") -> None:
    """The forward GEMM and the backward's two, as labelled blocks (sides on a square-root scale).

    ``dims``: ``O``, ``K``, ``M`` of the forward ``(O x K)(K x M) = (O x M)``.
    """
    o, k, m = dims["O"], dims["K"], dims["M"]
    ax = fig.add_subplot()
    scale = 4.0 / np.sqrt(max(o, k, m, 1))

    def side(v, least):
        return max(np.sqrt(v) * scale, least)  # at least room for the label

    products = [  # (left (rows, cols, name), right, result, colour)
        ((o, k, names[0]), (k, m, names[1]), (o, m, names[2]), "forward", d.FORWARD),
        ((o, m, grad), (m, k, transposed[0]), (o, k, "∂L/∂" + names[0]), "backward: weight", d.BACKWARD),
        ((k, o, transposed[1]), (o, m, grad), (k, m, "∂L/∂" + names[1]), "backward: input", d.BACKWARD),
    ]
    y = 0.0
    total_w = 0.0
    for left, right, res, label, col in products:
        x = 0.0
        height = max(side(left[0], 0.6), side(right[0], 0.6), side(res[0], 0.6))
        for i, (r, c_, name) in enumerate((left, right, res)):
            w_, h_ = side(c_, 2.0), side(r, 0.6)
            d.box(ax, x, y + (height - h_) / 2, w_, h_, f"{name}\n{r:,} x {c_:,}",
                  face="#f4f6fb" if i < 2 else "#fdf1ec", fontsize=8, edge=col)
            x += w_ + 0.5
            if i == 0:
                ax.text(x - 0.25, y + height / 2, "·", ha="center", va="center", fontsize=16)
            elif i == 1:
                ax.text(x - 0.25, y + height / 2, "=", ha="center", va="center", fontsize=12)
        ax.text(x + 0.1, y + height / 2, label + (f"\n2·{left[0]:,}·{left[1]:,}·{right[1]:,} = "
                                                  f"{2 * left[0] * left[1] * right[1]:,} FLOPs"),
                va="center", fontsize=8, color=col)
        total_w = max(total_w, x + 3.5)
        y += height + 0.6
    ax.set_xlim(-0.2, total_w)
    ax.set_ylim(y, -0.3)
    ax.set_aspect("equal")
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=10)


def draw_conv_gemm(fig, input_shape=(64, 10, 12, 12), weight_shape=(20, 10, 5, 5), stride=1,
                   padding=0, dilation=1, groups=1, title: str = "") -> None:
    dims = gemm_shapes(input_shape, weight_shape, stride, padding, dilation, groups)
    per = f" per group (x{groups})" if groups > 1 else ""
    draw_gemm(fig, dims, title=title or (
        f"conv2d as GEMM{per}: input {input_shape}, weight {weight_shape} -> "
        f"K = {dims['K']:,}, M = N·Ho·Wo = {dims['N']}·{dims['out_hw'][0]}·{dims['out_hw'][1]} "
        f"= {dims['M']:,}"))


def draw_col2im(fig, input_hw=(3, 3), kernel=(2, 2), stride=1) -> None:
    """col2im: windows per pixel (the overlap counts), col2im(im2col(x)) and a gradient flowing back."""
    h, w = input_hw
    kh, kw = np.broadcast_to(kernel, 2)
    rng = np.random.default_rng(1)
    x = rng.integers(1, 6, size=(1, 1, h, w)).astype(np.float64)
    weight = rng.integers(-2, 3, size=(1, 1, kh, kw)).astype(np.float64)
    x4, _, weight, _, geo = _conv._setup("conv2d", x, weight, None, stride, 0, 1, 1)
    cols = _conv.im2col(x4, geo)
    counts = _conv.col2im(np.ones_like(cols), geo, x4.shape)[0, 0]
    round_trip = _conv.col2im(cols, geo, x4.shape)[0, 0]
    out, backward = vjp(conv2d, x, weight, stride=stride)
    g = rng.integers(1, 4, size=out.shape).astype(np.float64)
    gx, _ = backward(g)
    panels = [
        (counts, "windows touching each pixel\n= col2im(im2col of ones)", None),
        (x[0, 0], "x", None),
        (round_trip, "col2im(im2col(x)) = counts ⊙ x\n(the adjoint, not the inverse)", None),
        (g[0, 0], "upstream G", d.BACKWARD),
        (weight[0, 0], "kernel w", None),
        (gx[0, 0], "∂L/∂x = col2im(wᵀ G)", d.BACKWARD),
    ]
    axes = fig.subplots(1, len(panels))
    for ax, (a, title, col) in zip(axes, panels):
        d.cell_axes(ax, a.shape[1], a.shape[0])
        ax.set_title(title, fontsize=8, color=col or "black")
        fill = None
        if a is counts:
            top = counts.max()
            fill = [[d.PALETTE[0] + format(int(40 + 200 * v / top), "02x") for v in row] for row in counts]
        d.grid(ax, a, fill=fill, fontsize=9)
    fig.suptitle(f"col2im for a {kh}x{kw} kernel, stride {stride}, on a {h}x{w} input: "
                 f"each column is added back where it was gathered", fontsize=10)
