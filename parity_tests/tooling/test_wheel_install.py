"""A user's install: the wheel built from this checkout, in a fresh venv with numpy alone.

The command line must work there as documented (``--help``, ``exercise list``, ``train
--data-dir`` on IDX files) and, where a command needs an extra that is not installed,
say in one line which extra to install, with exit status 2 and no traceback.
"""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from scratchnet.data import write_idx

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

pytestmark = pytest.mark.slow  # about a minute: a wheel build, a venv, a numpy install


def _run(*cmd, cwd, timeout=600):
    # No PYTHONPATH and a cwd outside the checkout: the venv sees only what it installed.
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "SCRATCHNET_DEBUG", "SCRATCHNET_DATA", "VIRTUAL_ENV")}
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=timeout)


def _ok(result):
    assert result.returncode == 0, f"{result.args}: {result.stdout}\n{result.stderr}"
    return result


def _user_venv(root):
    """``venv/bin`` of a fresh venv under ``root`` holding the checkout's wheel and the numpy
    running these tests (the pinned one, or the lowest declared one), from the package index."""
    src = root / "src"
    # A copy of what the wheel is built from, so that building writes no build/ or
    # egg-info into the checkout.
    shutil.copytree(os.path.join(REPO, "scratchnet"), src / "scratchnet",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(os.path.join(REPO, name), src)
    # Built with this venv's setuptools, not the newest from the index: the lowest-versions
    # run thus builds with the build-system floor its requirements pin.
    _ok(_run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
             "-w", root / "dist", src, cwd=root))
    (wheel,) = (root / "dist").glob("scratchnet-*.whl")
    _ok(_run(sys.executable, "-m", "venv", root / "venv", cwd=root))
    bin_dir = root / "venv" / "bin"
    _ok(_run(bin_dir / "python", "-m", "pip", "install", "-q", wheel, f"numpy=={np.__version__}",
             cwd=root))
    return bin_dir


#: Commands that need an extra, and the extra their one-line error must name.
NEEDS_AN_EXTRA = [
    (["train", "--engine", "torch", "--epochs", "1"], "scratchnet[torch]"),
    (["train", "--epochs", "1"], "scratchnet[torch]"),  # the default engine is both
    (["train", "--engine", "numpy", "--epochs", "1", "--plot", "p.png"], "scratchnet[plot]"),
    (["exercise", "check", "softmax"], "scratchnet[practice]"),
]


def test_the_wheel_in_a_fresh_venv_with_numpy_alone(tmp_path):
    # One test, so that the wheel and the venv are built once (not once per xdist worker).
    bin_dir = _user_venv(tmp_path)
    work = tmp_path / "work"
    work.mkdir()

    listed = json.loads(_ok(_run(bin_dir / "python", "-m", "pip", "list", "--format=json",
                                 cwd=work)).stdout)
    assert {p["name"].lower() for p in listed} - {"pip", "setuptools", "wheel"} == {"numpy", "scratchnet"}

    out = _ok(_run(bin_dir / "scratchnet", "--help", cwd=work)).stdout
    for command in ("train", "experiments", "reproduce", "exercise"):
        assert command in out
    assert "softmax" in _ok(_run(bin_dir / "scratchnet", "exercise", "list", cwd=work)).stdout

    rng = np.random.default_rng(0)
    for prefix, n in (("train", 96), ("t10k", 32)):
        write_idx(work / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
        write_idx(work / f"{prefix}-labels-idx1-ubyte", rng.integers(0, 10, n).astype(np.uint8))
    report = work / "run.json"
    _ok(_run(bin_dir / "scratchnet", "train", "--model", "softmax-regression", "--epochs", "1",
             "--engine", "numpy", "--data-dir", work, "--json", report, "--quiet", cwd=work))
    (run,) = json.loads(report.read_text())["runs"]
    assert run["engine"] == "numpy" and run["dataset"] == "mnist-full"

    for args, extra in NEEDS_AN_EXTRA:
        r = _run(bin_dir / "scratchnet", *args, cwd=work)
        assert r.returncode == 2, (args, r.stdout + r.stderr)
        assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, (args, r.stderr)
        assert r.stderr.startswith("scratchnet: error: ") and f"pip install '{extra}'" in r.stderr, (
            args, r.stderr)
