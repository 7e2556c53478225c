"""Every public op of ``scratchnet.functional`` has its place on an op page of the docs.

The op pages (``docs/ops/*.rst``) are where a learner finds an op's derivation, code
and tests. This reads their sources (no Sphinx needed): an op added to
``scratchnet.functional.__all__`` without a page entry fails here, not silently in
the rendered site.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

import scratchnet.functional as F
from scratchnet.functional._vjp import _REGISTRY

DOCS = Path(__file__).resolve().parents[2] / "docs"
OPS = DOCS / "ops"

_AUTOFUNCTION = re.compile(r"^\.\. auto(?:function|class):: scratchnet\.functional\.(\w+)\s*$", re.M)
_PYOBJECT = re.compile(
    r"^[ \t]*\.\. literalinclude:: \.\./\.\./scratchnet/functional/(\w+)\.py\s*\n"
    r"(?:[ \t]+:[\w-]+:.*\n)*?[ \t]+:pyobject: (\w+)\s*$",
    re.M,
)


def _pages() -> dict:
    pages = {p.stem: p.read_text(encoding="utf-8") for p in sorted(OPS.glob("*.rst"))}
    assert pages, f"no op pages found under {OPS}"
    return pages


def _documented(pages: dict) -> dict:
    """Op name -> the pages whose reference section documents it."""
    where: dict = {}
    for stem, text in pages.items():
        for name in _AUTOFUNCTION.findall(text):
            where.setdefault(name, []).append(stem)
    return where


def _included_code(pages: dict) -> set:
    found = set()
    for text in pages.values():
        for _module, name in _PYOBJECT.findall(text):
            found.add(name)
    return found


@pytest.mark.parametrize("name", F.__all__)
def test_every_public_op_has_an_op_page(name):
    where = _documented(_pages())
    assert name in where, (
        f"scratchnet.functional.{name} is public (in __all__) but no page under docs/ops/ "
        f"documents it: add '.. autofunction:: scratchnet.functional.{name}' to its op page "
        f"(with its derivation, a worked example, its code and its tests)"
    )
    assert len(where[name]) == 1, f"{name} is documented on several op pages: {where[name]}"


@pytest.mark.parametrize("name", [n for n in F.__all__ if getattr(F, n) in _REGISTRY])
def test_every_differentiable_op_shows_its_code(name):
    assert name in _included_code(_pages()), (
        f"the op page of scratchnet.functional.{name} does not include its source: add "
        f"'.. literalinclude:: ../../scratchnet/functional/<module>.py' with ':pyobject: {name}'"
    )


def test_every_op_page_is_in_the_site():
    index = (DOCS / "index.rst").read_text(encoding="utf-8")
    for stem in _pages():
        assert re.search(rf"^\s+ops/{stem}\s*$", index, re.M), f"docs/ops/{stem}.rst is not in index.rst's toctree"


def test_the_checks_would_catch_a_missing_page():
    # The parser must not pass vacuously: a page set without conv2d's entry loses it.
    pages = _pages()
    assert "conv2d" in _documented(pages) and "conv2d" in _included_code(pages)
    stripped = {k: v.replace("scratchnet.functional.conv2d", "x").replace(":pyobject: conv2d", "")
                for k, v in pages.items()}
    assert "conv2d" not in _documented(stripped)
    assert "conv2d" not in _included_code(stripped)


def test_the_api_reference_lists_every_public_op():
    api = (DOCS / "api.rst").read_text(encoding="utf-8")
    block = api.split(".. currentmodule:: scratchnet.functional", 1)[1].split("\nscratchnet.nn\n", 1)[0]
    listed = set(re.findall(r"^   (\w+)\s*$", block, re.M))
    missing = [name for name in F.__all__ if name not in listed]
    assert not missing, f"docs/api.rst's scratchnet.functional table misses {missing}"


# --------------------------------------------------------------------------- oracles
_SUBMODULE_AUTOFUNCTION = re.compile(
    r"^\.\. autofunction:: scratchnet\.functional\.\w+\.(\w+)\s*$", re.M)


@pytest.mark.parametrize("name", sorted(
    fn.__name__ for fn in _REGISTRY
    if fn.__module__.startswith("scratchnet.functional") and fn.__name__ not in F.__all__))
def test_every_oracle_shows_its_code_and_reference(name):
    """The naive oracles (``conv2d_naive``, ``cross_entropy_naive``, ...) and LeNet's
    sparse conv live outside torch's namespace, but a learner reads them first."""
    pages = _pages()
    assert name in _included_code(pages), (
        f"{name} is a registered op whose code no op page includes (':pyobject: {name}')")
    documented = {n for text in pages.values() for n in _SUBMODULE_AUTOFUNCTION.findall(text)}
    assert name in documented, f"no op page has '.. autofunction:: scratchnet.functional.<module>.{name}'"
