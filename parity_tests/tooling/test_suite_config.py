"""The suite's own configuration does what pyproject.toml says it does.

A RuntimeWarning raised in scratchnet's code (overflow, invalid value, divide by
zero) fails the test that raised it, so a green run has no such warning in its
summary and a new one cannot slip in as noise; tests that feed infinities on purpose
say which warning they expect (``ops/test_07_sparse_conv.py``).
"""
import warnings

import pytest


def _warn_from(module, message="invalid value encountered in add"):
    warnings.warn_explicit(message, RuntimeWarning, module.replace(".", "/") + ".py", 1, module=module)


@pytest.mark.parametrize("module", ["scratchnet.functional.conv", "scratchnet.models.lenet", "scratchnet"])
def test_a_runtime_warning_from_scratchnet_fails_the_test(module):
    with pytest.raises(RuntimeWarning, match="invalid value"):
        _warn_from(module)


def test_other_libraries_warnings_are_left_to_pytest():
    with pytest.warns(RuntimeWarning):
        _warn_from("numpy.core.fromnumeric", "Mean of empty slice")


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
def test_a_test_can_expect_one_specific_warning():
    _warn_from("scratchnet.functional.conv")  # expected: passes
    with pytest.raises(RuntimeWarning, match="overflow"):
        _warn_from("scratchnet.functional.conv", "overflow encountered in exp")  # any other still fails
