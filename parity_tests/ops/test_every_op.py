"""Every registered op has its case in each per-op table of hostile input.

Each op file of this folder holds its ops' empty-shape and non-finite cases
(``EMPTY_SHAPE_CASES``, ``NON_FINITE_CASES``) and runs them through the shared checks of
``edge_cases.py``. Here the tables are assembled, and an op registered with a backward
(public or oracle) that no op file covers fails: a new op must join both checks.
"""
import numpy as np

from scratchnet.functional._vjp import _REGISTRY

import test_01_activations
import test_02_linear
import test_03_softmax
import test_04_losses
import test_05_conv2d
import test_06_pooling
import test_07_sparse_conv

OP_FILES = (test_01_activations, test_02_linear, test_03_softmax, test_04_losses,
            test_05_conv2d, test_06_pooling, test_07_sparse_conv)


def _assemble(table):
    """The op files' ``table`` dicts in one (a case name is claimed by one file only)."""
    cases = {}
    for module in OP_FILES:
        for name, case in getattr(module, table).items():
            assert name not in cases, f"{table}: {name!r} in two op files"
            cases[name] = case
    return cases


EMPTY_SHAPE_CASES = _assemble("EMPTY_SHAPE_CASES")
NON_FINITE_CASES = _assemble("NON_FINITE_CASES")


def test_every_op_has_an_empty_shape_case():
    ops = {fn.__name__ for fn in _REGISTRY if fn.__module__.startswith("scratchnet.functional")}
    assert ops <= set(EMPTY_SHAPE_CASES), f"ops without an empty-shape case: {sorted(ops - set(EMPTY_SHAPE_CASES))}"


def test_every_op_has_a_non_finite_case():
    """A new op registered with a backward (public or oracle) must join this hostile check."""
    public = {fn.__name__ for fn in _REGISTRY if fn.__module__.startswith("scratchnet.functional")}
    covered = {build(np.random.default_rng(0), np.dtype(np.float64))["np_fn"].__name__
               for build in NON_FINITE_CASES.values()}
    assert public <= covered, f"ops without a non-finite case: {sorted(public - covered)}"
