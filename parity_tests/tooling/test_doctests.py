"""Every example in scratchnet's docstrings runs and prints what the docstring shows.

The examples are documentation a reader copies; one that has drifted from the code
is a bug. Each module of the package is one test, so ``make test`` (``pytest
parity_tests``) runs them all, and a module whose examples fail names itself.
Examples marked ``# doctest: +SKIP`` (those that need a file the reader has, such
as Otto's CSV) are shown but not run.
"""
import doctest
import importlib
import pkgutil

import pytest

import scratchnet

#: ``...`` stands for any text, and line breaks in printed arrays may differ.
OPTIONFLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
#: Modules that are the torch side of the project, and what each needs to import (the
#: lowest-versions run has torch without torchvision: those modules skip there).
NEEDS = {"scratchnet.torch_models": ("torch",), "scratchnet.training.torch_engine": ("torch",),
         "scratchnet.training.torch_data": ("torch", "torchvision")}


def _module_names():
    found = [info.name for info in pkgutil.walk_packages(scratchnet.__path__, prefix="scratchnet.")]
    return sorted(["scratchnet"] + found)


MODULES = _module_names()


def _examples(name):
    for package in NEEDS.get(name, ()):
        pytest.importorskip(package)
    module = importlib.import_module(name)
    tests = doctest.DocTestFinder(exclude_empty=True).find(module, name)
    # Only the module's own docstrings: not those of what it imports.
    return [t for t in tests if t.examples]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    report = []
    runner = doctest.DocTestRunner(optionflags=OPTIONFLAGS)
    for test in _examples(name):
        runner.run(test, out=report.append)
    if runner.failures:
        pytest.fail(f"{runner.failures} of {runner.tries} docstring examples in {name} failed:\n"
                    + "".join(report), pytrace=False)


def test_the_examples_are_found():
    """The finder sees examples in decorated ops, modules and packages alike.

    Else the test above would pass on nothing.
    """
    counts = {name: sum(len(t.examples) for t in _examples(name)) for name in (
        "scratchnet.functional.conv", "scratchnet.functional.pooling", "scratchnet.summary",
        "scratchnet.models", "scratchnet.data.loader")}
    assert all(counts.values()), counts
    assert "scratchnet.functional.conv" in MODULES and "scratchnet.nn.module" in MODULES
