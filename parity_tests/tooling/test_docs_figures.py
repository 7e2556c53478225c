"""Every op page shows figures drawn by the build from the real ops, and links its trace.

The sources are checked always: each page under ``docs/ops/`` takes at least one figure
of :data:`scratchnet.figures.SITE_FIGURES` (which ``docs/_ext/op_figures.py`` draws at
build time) and links an ``explain`` trace that the gallery defines. The built HTML is
checked when it is there (CI builds the site before it runs the tests; locally run
``make docs`` first): each op page's images are counted, and each must be a file the
build produced.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from scratchnet import figures

DOCS = Path(__file__).resolve().parents[2] / "docs"
OPS = DOCS / "ops"
HTML = DOCS / "_build" / "html"
PAGES = sorted(p.stem for p in OPS.glob("*.rst"))

_FIGURE = re.compile(r"^\.\. figure:: /_generated/figures/(\w+)\.png\s*$", re.M)
_EXPLAIN_REF = re.compile(r":ref:`(explain-[\w-]+)`")


def _source(stem: str) -> str:
    return (OPS / f"{stem}.rst").read_text(encoding="utf-8")


def test_there_are_op_pages():
    assert {"conv2d", "pooling", "losses", "softmax", "linear", "activations", "vjp"} <= set(PAGES)


@pytest.mark.parametrize("stem", PAGES)
def test_every_op_page_takes_a_generated_figure(stem):
    names = _FIGURE.findall(_source(stem))
    assert names, f"docs/ops/{stem}.rst has no '.. figure:: /_generated/figures/<name>.png'"
    unknown = [n for n in names if n not in figures.SITE_FIGURES]
    assert not unknown, f"docs/ops/{stem}.rst takes figures the build does not draw: {unknown}"


@pytest.mark.parametrize("stem", PAGES)
def test_every_op_page_links_an_explain_trace(stem):
    labels = set(_EXPLAIN_REF.findall(_source(stem)))
    assert labels, f"docs/ops/{stem}.rst links no explain trace (:ref:`explain-<op>`)"
    gallery = (DOCS / "gallery" / "plot_05_explain.py").read_text(encoding="utf-8")
    missing = [label for label in labels if f".. _{label}:" not in gallery]
    assert not missing, f"labels not defined in the explain gallery page: {missing}"


def test_every_explained_op_has_a_trace_on_the_site():
    gallery = (DOCS / "gallery" / "plot_05_explain.py").read_text(encoding="utf-8")
    for op in figures.OPS:
        assert f".. _explain-{op.replace('_', '-')}:" in gallery, op


@pytest.mark.parametrize("stem", PAGES)
def test_the_built_op_page_shows_its_figures(stem):
    page = HTML / "ops" / f"{stem}.html"
    if not page.exists():
        pytest.skip("the site is not built (make docs); CI builds it before the tests")
    html = page.read_text(encoding="utf-8")
    drawn = [src for src in re.findall(r'<img[^>]+src="([^"]+)"', html)
             if Path(src).stem in figures.SITE_FIGURES]
    expected = len(_FIGURE.findall(_source(stem)))
    assert len(drawn) >= max(expected, 1), (
        f"{page} shows {len(drawn)} generated figures, its source takes {expected}")
    for src in drawn:
        image = (page.parent / src).resolve()
        assert image.is_file() and image.stat().st_size > 5_000, f"{src}: no image file in the build"
