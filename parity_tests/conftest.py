"""Shared pytest configuration for the parity suite (its syllabus: README.md, beside this file).

Hypothesis profiles
-------------------
``ci`` (the default, derandomized: the same examples every run) keeps the whole
suite within a few minutes on 2 cores;
``deep`` runs many more examples for nightly use; ``dev`` is the quickest loop.
Select one with ``HYPOTHESIS_PROFILE=deep make test``.
"""
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

from scratchnet.testing.strategies import PROFILE_EXAMPLES

_common = dict(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    print_blob=True,
)
# CI draws the same examples every run (a red CI always means a real regression);
# the deep profile explores new random examples on every run.
settings.register_profile("ci", max_examples=PROFILE_EXAMPLES["ci"], derandomize=True, **_common)
settings.register_profile("dev", max_examples=PROFILE_EXAMPLES["dev"], **_common)
settings.register_profile("deep", max_examples=PROFILE_EXAMPLES["deep"], **_common)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

try:
    import torch

    # Tests run in parallel workers on a small machine: one intra-op thread per worker
    # keeps them from oversubscribing the cores (results do not depend on it).
    torch.set_num_threads(1)
except ImportError:  # the suite needs torch; make the failure obvious and early
    torch = None


def pytest_collection_modifyitems(config, items):
    cuda = torch is not None and torch.cuda.is_available()
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "cuda" in item.keywords and not cuda:
            item.add_marker(skip)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


# Full MNIST is found through SCRATCHNET_DATA (CI points it at ../shared/mnist). Only
# the tests that ask for `full_mnist_dir` see it: every other test runs as on a machine
# without it, so the embedded-digit tests stay fast and mean the same everywhere.
_FULL_MNIST_DIR = os.environ.get("SCRATCHNET_DATA")


@pytest.fixture(autouse=True)
def _no_default_data_dir(monkeypatch):
    monkeypatch.delenv("SCRATCHNET_DATA", raising=False)


@pytest.fixture(scope="session")
def full_mnist_dir():
    """The directory holding the four full-MNIST files, or skip."""
    from scratchnet.data import find_mnist

    if not _FULL_MNIST_DIR:
        pytest.skip("full MNIST: set SCRATCHNET_DATA to the folder with its four IDX files")
    if find_mnist(_FULL_MNIST_DIR) is None:
        pytest.skip(f"full MNIST: no IDX files in SCRATCHNET_DATA={_FULL_MNIST_DIR}")
    return _FULL_MNIST_DIR
