"""Sphinx configuration of the scratchnet documentation.

Everything the site shows comes from the repository itself: the op pages include
the source by object name (``literalinclude :pyobject:``), the API reference is
autodoc over the package, the gallery scripts run at build time, the benchmark
pages include ``benchmarks/results/``. The site works offline, opened from disk:
MathJax is copied from an installed PyPI package into ``_static`` (no CDN).
"""
from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))  # the checkout's scratchnet, also without an editable install
sys.path.insert(0, str(DOCS / "_ext"))

# Gallery scripts and doctests run single-threaded: the build machines have 2 cores.
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "1")

import warnings  # noqa: E402

import scratchnet  # noqa: E402

# numpydoc parses class docstrings twice; the second parse warns about the Shapes
# section that _shapes_as_notes (below) already turned into Notes for the page.
warnings.filterwarnings("ignore", message="Unknown section Shapes", category=UserWarning)

project = "scratchnet"
author = "the scratchnet authors"
copyright = "scratchnet authors, MIT License"
version = release = scratchnet.__version__ if hasattr(scratchnet, "__version__") else "0.1.0"

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.doctest",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "sphinx_copybutton",
    "myst_parser",
    "literalinclude_code",
    "op_figures",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "_ext", "_generated", "gallery/README.rst", "**/GALLERY_HEADER.rst"]
templates_path = []
nitpicky = False

# --- HTML: furo, offline --------------------------------------------------------
html_theme = "furo"
html_title = "scratchnet"
html_static_path = ["_static"]
html_css_files = ["scratchnet.css"]
html_theme_options = {
    "navigation_with_keys": True,
    "source_repository": None,
}
html_show_sourcelink = True
pygments_style = "friendly"
pygments_dark_style = "monokai"

# MathJax 3 from the PyPI package ``sphinx-mathjax-offline`` (its directory is named
# with dashes, hence find_spec), copied into _static/mathjax; never the CDN default.
_mathjax_pkg = importlib.util.find_spec("sphinx-mathjax-offline")
if _mathjax_pkg is None or not _mathjax_pkg.submodule_search_locations:
    raise RuntimeError(
        "docs: the offline MathJax package is missing; install the docs extra: "
        "pip install -c constraints.txt -c docs/constraints.txt -e '.[docs]'"
    )
_mathjax_static = Path(list(_mathjax_pkg.submodule_search_locations)[0]) / "static"
html_static_path.append(str(_mathjax_static))  # provides _static/mathjax/...
mathjax_path = "mathjax/tex-chtml.js"

# --- autodoc + numpydoc ---------------------------------------------------------
autodoc_default_options = {"member-order": "bysource"}
autodoc_typehints = "none"          # numpydoc's Parameters sections carry the types
autosummary_generate = False
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
numpydoc_validation_checks = set()
add_module_names = False

# --- doctest: only the explicit ``.. doctest::`` worked examples of the pages ----
doctest_test_doctest_blocks = ""
doctest_global_setup = """
import numpy as np
np.set_printoptions(precision=4, suppress=True)
import scratchnet.functional as F
"""

# --- sphinx-gallery: the lectures, executed at build time --------------------------
sphinx_gallery_conf = {
    "examples_dirs": ["gallery"],
    "gallery_dirs": ["lectures"],
    "filename_pattern": r"/plot_",
    "within_subsection_order": "FileNameSortKey",
    "download_all_examples": False,
    "remove_config_comments": True,
    "show_memory": False,
    "show_signature": False,
    "line_numbers": False,
    "abort_on_example_error": True,
    "only_warn_on_example_error": False,
    "image_scrapers": ("matplotlib",),
    "matplotlib_animations": False,
    "reference_url": {},
    "backreferences_dir": None,
    "first_notebook_cell": None,
    "capture_repr": ("_repr_html_", "__repr__"),
    # make docs builds from scratch; never reuse a previous run's outputs
    "run_stale_examples": True,
    # its execution-time tables load DataTables and jQuery from a CDN: not offline
    "write_computation_times": False,
}

copybutton_prompt_text = r">>> |\.\.\. |\$ "
copybutton_prompt_is_regexp = True

myst_heading_anchors = 3
suppress_warnings = []


# --- two docstring conventions numpydoc does not know ------------------------------
def _shapes_as_notes(app, what, name, obj, options, lines):
    """numpydoc drops sections it does not know; show a ``Shapes`` section as Notes."""
    headers = {lines[i].strip() for i in range(len(lines) - 1) if set(lines[i + 1].strip()) == {"-"}}
    for i in range(len(lines) - 2):
        if lines[i].strip() == "Shapes" and set(lines[i + 1].strip()) == {"-"}:
            if "Notes" in headers:
                lines[i:i + 2] = [".. rubric:: Shapes", ""]
            else:
                lines[i:i + 2] = ["Notes", "-----", "**Shapes.**", ""]
            break


def _package_index_verbatim(app, what, name, obj, options, lines):
    """``scratchnet.data``'s docstring is a plain-text index (name, then description
    in a column): show it as such instead of as a malformed definition list."""
    if what == "module" and name == "scratchnet.data":
        import inspect

        text = inspect.cleandoc(obj.__doc__ or "")
        lines[:] = ["::", ""] + ["    " + line for line in text.splitlines()] + [""]


def setup(app):
    app.connect("autodoc-process-docstring", _shapes_as_notes, priority=100)
    app.connect("autodoc-process-docstring", _package_index_verbatim, priority=900)
