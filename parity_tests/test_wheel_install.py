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

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

pytestmark = pytest.mark.slow


def _run(*cmd, cwd, timeout=600):
    # No PYTHONPATH and a cwd outside the checkout: the venv sees only what it installed.
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "SCRATCHNET_DEBUG", "SCRATCHNET_DATA", "VIRTUAL_ENV")}
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=timeout)


def _ok(result):
    assert result.returncode == 0, f"{result.args}: {result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def user_venv(tmp_path_factory):
    """``venv/bin`` of a fresh venv holding the checkout's wheel and the numpy running these tests."""
    root = tmp_path_factory.mktemp("wheel")
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
    # The numpy of this run (the pinned one, or the lowest declared one), from the package index.
    _ok(_run(bin_dir / "python", "-m", "pip", "install", "-q", wheel, f"numpy=={np.__version__}",
             cwd=root))
    return bin_dir


def test_wheel_installs_numpy_alone(user_venv):
    freeze = _ok(_run(user_venv / "python", "-m", "pip", "list", "--format=json",
                      cwd=user_venv)).stdout
    names = {p["name"].lower() for p in json.loads(freeze)} - {"pip", "setuptools", "wheel"}
    assert names == {"numpy", "scratchnet"}


def test_help_and_exercise_list(user_venv, tmp_path):
    out = _ok(_run(user_venv / "scratchnet", "--help", cwd=tmp_path)).stdout
    for command in ("train", "experiments", "reproduce", "exercise"):
        assert command in out
    out = _ok(_run(user_venv / "scratchnet", "exercise", "list", cwd=tmp_path)).stdout
    assert "softmax" in out


def test_train_on_idx_files_without_torch(user_venv, tmp_path):
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 96), ("t10k", 32)):
        write_idx(tmp_path / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
        write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte", rng.integers(0, 10, n).astype(np.uint8))
    report = tmp_path / "run.json"
    _ok(_run(user_venv / "scratchnet", "train", "--model", "softmax-regression", "--epochs", "1",
             "--engine", "numpy", "--data-dir", tmp_path, "--json", report, "--quiet", cwd=tmp_path))
    (run,) = json.loads(report.read_text())["runs"]
    assert run["engine"] == "numpy" and run["dataset"] == "mnist-full"


@pytest.mark.parametrize("args, extra", [
    (["train", "--engine", "torch", "--epochs", "1"], "scratchnet[torch]"),
    (["train", "--epochs", "1"], "scratchnet[torch]"),  # the default engine is both
    (["train", "--engine", "numpy", "--epochs", "1", "--plot", "p.png"], "scratchnet[plot]"),
    (["exercise", "check", "softmax"], "scratchnet[practice]"),
])
def test_missing_extra_is_one_line(user_venv, tmp_path, args, extra):
    r = _run(user_venv / "scratchnet", *args, cwd=tmp_path)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert r.stderr.startswith("scratchnet: error: ") and f"pip install '{extra}'" in r.stderr
