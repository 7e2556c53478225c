"""Drawing primitives shared by the figures: a grid of numbers, a box, an arrow.

matplotlib is imported here, when a figure is drawn, never when scratchnet is: the
library and its other commands run without it. Figures are ``matplotlib.figure.Figure``
objects saved straight to a file (no pyplot, no global state, no display needed).
Every axes draws in cell units with the y axis pointing down, so that cell ``(r, c)``
of an array is the unit square at column ``c``, row ``r``, as the array prints.
"""
from __future__ import annotations

import os

import numpy as np

#: One colour per window / column / layer (matplotlib's tab10, then tab20's light tones).
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896",
           "#c5b0d5", "#c49c94", "#f7b6d2", "#c7c7c7", "#dbdb8d", "#9edae5")
PAD_GREY = "#e6e6e6"
FORWARD = "#222222"
BACKWARD = "#c0392b"


def colour(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def new_figure(width: float, height: float):
    """A figure of ``width`` x ``height`` inches, laid out by matplotlib's constrained layout."""
    try:
        from matplotlib.figure import Figure
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError("scratchnet.figures needs matplotlib: pip install matplotlib") from None
    return Figure(figsize=(width, height), layout="constrained")


def save(fig, path) -> str:
    """Write ``fig`` to ``path`` (the format from its suffix, PNG at 110 dpi); return the path."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"figures: cannot write {path}: its directory does not exist")
    fig.savefig(path, dpi=110)
    return path


def cell_axes(ax, width: float, height: float, title: str = "") -> None:
    """Set ``ax`` to show ``width`` x ``height`` cells, y pointing down, no ticks."""
    ax.set_xlim(-0.15, width + 0.15)
    ax.set_ylim(height + 0.15, -0.15)
    ax.set_aspect("equal")
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=10)


def fmt_number(v) -> str:
    """A cell's label: integers without a decimal point, others with 3 significant digits."""
    v = float(v)
    if np.isnan(v):
        return "nan"
    if v == int(v) and abs(v) < 1e6:
        return str(int(v))
    return f"{v:.3g}"


def grid(ax, values, x0: float = 0.0, y0: float = 0.0, *, fill=None, labels=None,
         fontsize: float = 9, edge: str = "#555555", bold=None) -> None:
    """Draw a 2-D array as labelled cells with its top-left corner at ``(x0, y0)``.

    ``fill``: an array of colours (or None for white) per cell; ``labels``: strings
    (default: the values, formatted); ``bold``: a boolean array of cells drawn with a
    thick border.
    """
    from matplotlib.patches import Rectangle

    values = np.asarray(values)
    rows, cols = values.shape
    for r in range(rows):
        for c in range(cols):
            face = "white" if fill is None or fill[r][c] is None else fill[r][c]
            thick = bold is not None and bold[r][c]
            ax.add_patch(Rectangle((x0 + c, y0 + r), 1, 1, facecolor=face,
                                   edgecolor="black" if thick else edge,
                                   linewidth=2.4 if thick else 0.6, zorder=2 if thick else 1))
            text = fmt_number(values[r, c]) if labels is None else labels[r][c]
            ax.text(x0 + c + 0.5, y0 + r + 0.5, text, ha="center", va="center",
                    fontsize=fontsize, zorder=3)


def outline(ax, x: float, y: float, w: float, h: float, color: str, *, lw: float = 2.0,
            inset: float = 0.0, style: str = "-") -> None:
    """A rectangle's border (no fill), ``inset`` cells inside ``(x, y, w, h)``."""
    from matplotlib.patches import Rectangle

    ax.add_patch(Rectangle((x + inset, y + inset), w - 2 * inset, h - 2 * inset, fill=False,
                           edgecolor=color, linewidth=lw, linestyle=style, zorder=4))


def arrow(ax, start, end, color: str = FORWARD, *, lw: float = 1.2, rad: float = 0.0,
          style: str = "-|>", alpha: float = 1.0) -> None:
    """An arrow from ``start`` to ``end`` (data coordinates), curved by ``rad``."""
    from matplotlib.patches import FancyArrowPatch

    ax.add_patch(FancyArrowPatch(start, end, arrowstyle=style, mutation_scale=10, color=color,
                                 linewidth=lw, alpha=alpha, zorder=5,
                                 connectionstyle=f"arc3,rad={rad}"))


def box(ax, x: float, y: float, w: float, h: float, text: str, *, face: str = "white",
        fontsize: float = 9, edge: str = "#333333") -> None:
    """A labelled box, the text centred."""
    from matplotlib.patches import FancyBboxPatch

    ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.02,rounding_size=0.08",
                                facecolor=face, edgecolor=edge, linewidth=1.0, zorder=2))
    ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=fontsize, zorder=3)


def check_small(what: str, limit: int, **sizes) -> None:
    """Refuse a figure whose grids would be unreadable: each size at most ``limit``."""
    big = {k: v for k, v in sizes.items() if v > limit}
    if big:
        desc = ", ".join(f"{k} {v}" for k, v in big.items())
        raise ValueError(f"figures: {what}: {desc} is too large to draw readably "
                         f"(at most {limit}); use smaller shapes")
