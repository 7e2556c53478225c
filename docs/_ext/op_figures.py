"""Draw the op pages' figures at build time, from the real ops (:mod:`scratchnet.figures`).

Before the pages are read, every figure of :data:`scratchnet.figures.SITE_FIGURES` is
drawn into ``docs/_generated/figures/<name>.png`` (git ignores it), where the pages
take it with ``.. figure:: /_generated/figures/<name>.png``. A figure is never
committed, so it cannot be older than the code that computes it.
"""
from __future__ import annotations

from pathlib import Path

OUT = Path("_generated") / "figures"


def draw_figures(app) -> None:
    from scratchnet import figures

    out = Path(app.srcdir) / OUT
    out.mkdir(parents=True, exist_ok=True)
    for name in figures.SITE_FIGURES:
        figures.draw_site_figure(name, out / f"{name}.png")


def setup(app):
    app.connect("builder-inited", draw_figures)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
