"""What pyproject.toml promises is what CI tests.

Every lower bound it declares is pinned by a file a CI run installs: the floors of the
library and its test extras by ``requirements-lowest.txt`` (``make test-lowest``), the
rest (torchvision, the documentation toolchain) by the pins ``make test`` and ``make
docs`` install. In the lowest-versions run (``SCRATCHNET_LOWEST=1``) the installed
versions must be those floors, so that run cannot quietly test something newer.
"""
import importlib.metadata
import os
import re
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def _version(text: str) -> tuple:
    """``"0.22"`` and ``"0.22.0"`` as the same comparable tuple; a local label (``+cpu``) dropped."""
    parts = [int(p) for p in text.split("+")[0].split(".")]
    while parts and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


def _name(text: str) -> str:
    return re.sub(r"[-_.]+", "-", text).lower()


def _pins(path: Path) -> dict:
    """``{name: version}`` of a file's ``name==version`` lines."""
    pins = {}
    for line in path.read_text().splitlines():
        m = re.match(r"\s*([A-Za-z0-9_.-]+)==([0-9][^\s#;]*)", line)
        if m:
            pins[_name(m.group(1))] = m.group(2)
    return pins


def _floors(requirements) -> dict:
    """``{name: floor}`` of ``name>=floor`` requirements; every requirement must have one."""
    floors = {}
    for req in requirements:
        m = re.fullmatch(r"([A-Za-z0-9_.-]+)>=([0-9][0-9.]*)", req.replace(" ", ""))
        assert m, f"pyproject.toml: {req!r} has no lower bound of the form name>=version"
        floors[_name(m.group(1))] = m.group(2)
    return floors


LOWEST = _pins(ROOT / "requirements-lowest.txt")
PINNED = {**_pins(ROOT / "constraints.txt"), **_pins(ROOT / "docs" / "constraints.txt")}
EXTRAS = PYPROJECT["project"]["optional-dependencies"]
#: The library and every extra but the site's: their floors are what make test-lowest installs.
RUNTIME = _floors(PYPROJECT["project"]["dependencies"]
                  + [r for name, reqs in EXTRAS.items() if name != "docs" for r in reqs]
                  + PYPROJECT["build-system"]["requires"])


def test_every_floor_is_a_pinned_version():
    for name, floor in {**RUNTIME, **_floors(EXTRAS["docs"])}.items():
        tested = [pins[name] for pins in (LOWEST, PINNED) if name in pins]
        assert tested, f"{name}>={floor}: no CI run installs a pinned {name}"
        assert _version(floor) in {_version(v) for v in tested}, (
            f"{name}>={floor}: CI tests {name} {' and '.join(tested)}, not the floor")


def test_the_lowest_run_pins_every_runtime_floor():
    # torchvision is the one exception: its PyPI builds need PyPI's CUDA torch (install guide).
    for name, floor in RUNTIME.items():
        if name != "torchvision":
            assert name in LOWEST and _version(LOWEST[name]) == _version(floor), (name, floor)
    assert "torchvision" not in LOWEST


def test_requires_python_is_the_python_ci_runs():
    floor = re.fullmatch(r">=(\d+)\.(\d+)", PYPROJECT["project"]["requires-python"])
    assert floor and sys.version_info[:2] >= (int(floor[1]), int(floor[2]))


@pytest.mark.skipif(not os.environ.get("SCRATCHNET_LOWEST"), reason="only in make test-lowest")
def test_the_lowest_run_has_the_floors_installed():
    floor = re.fullmatch(r">=(\d+)\.(\d+)", PYPROJECT["project"]["requires-python"])
    assert sys.version_info[:2] == (int(floor[1]), int(floor[2]))
    for name, version in LOWEST.items():
        assert _version(importlib.metadata.version(name)) == _version(version), name
