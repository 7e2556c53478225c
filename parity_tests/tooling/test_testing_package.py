"""scratchnet.testing: the comparison, the oracles, the tolerance table and the layouts that the
parity suite and the practice grader share, and the path rule of which modules may import torch."""
import ast
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import helpers
import scratchnet.functional as F
import scratchnet.testing as T
from scratchnet.exercise import grader, judge, oracle
from scratchnet.testing.finite_differences import FiniteDifferenceOracle, inner_product, numeric_gradient
from scratchnet.testing.strategies import LAYOUTS, in_layout
from scratchnet.testing.torch_oracle import TorchOracle, torch_vjp

ROOT = Path(__file__).resolve().parents[2]
F64, F32 = np.dtype(np.float64), np.dtype(np.float32)


# --------------------------------------------------------------------------- one table, one compare
def test_suite_and_grader_read_the_very_same_table_and_compare():
    assert helpers.TOL is T.TOLERANCES
    assert oracle.make_oracle("torch").tolerances is T.TOLERANCES
    assert oracle.make_oracle("fd").tolerances is T.FINITE_DIFFERENCE_TOLERANCES
    assert judge.compare is T.compare and helpers.assert_close is T.assert_close
    assert isinstance(oracle.make_oracle("fd"), T.FiniteDifferenceOracle)


def test_the_table_holds_the_standards_and_cannot_be_loosened_in_place():
    assert T.TOLERANCES[F64]["rtol"] <= 1e-7
    assert T.TOLERANCES[F32]["rtol"] == 1e-4 and 0 < T.TOLERANCES[F32]["atol"] <= 1e-5
    assert T.FINITE_DIFFERENCE_TOLERANCES[F64]["rtol"] <= 1e-6
    with pytest.raises(TypeError):
        T.TOLERANCES[F64]["rtol"] = 1e-3
    with pytest.raises(TypeError):
        T.TOLERANCES[np.dtype(np.float16)] = {"rtol": 1e-2, "atol": 1e-2}


def test_compare_reports_the_largest_difference_where_and_how_many():
    expected = np.zeros((3, 4))
    got = expected.copy()
    got[0, 1] = 1e-3
    got[2, 3] = -5e-2
    m = T.compare("gradient of weight", got, expected)
    assert (m.count, m.size, m.index) == (2, 12, (2, 3))
    assert m.largest == pytest.approx(5e-2) and m.got == -5e-2 and m.expected == 0.0
    assert m.lines[0] == ("gradient of weight: 2 of 12 values differ; the largest difference is "
                          "0.05 at (2, 3) (got -0.05, expected 0; tolerance rtol 1e-07, atol 1e-10 x 1)")
    assert m.lines[1].split() == ["expected", "got"]  # small arrays side by side


def test_compare_judges_at_the_tolerance_scaled_by_the_largest_magnitude():
    expected = np.array([1000.0, 1.0])
    rtol, atol = T.TOLERANCES[F64]["rtol"], T.TOLERANCES[F64]["atol"]
    limit = atol * 1000.0 + rtol * 1.0  # for the second value: scale 1000, |expected| 1
    assert T.compare("x", expected + [0, 0.9 * limit], expected) is None
    m = T.compare("x", expected + [0, 1.1 * limit], expected)
    assert m.index == (1,) and m.tolerance == (rtol, atol, 1000.0)
    assert T.compare("x", expected + [0, 1e-3], expected, rtol=1e-2) is None  # a knob at the call


def test_compare_matches_nan_with_nan_and_reports_nan_against_a_number():
    expected = np.array([np.nan, 1.0, np.inf, -np.inf], dtype=np.float32)
    assert T.compare("out", expected.copy(), expected) is None
    got = np.array([np.nan, np.nan, np.inf, np.inf], dtype=np.float32)
    m = T.compare("out", got, expected)
    assert m.count == 2 and m.largest == np.inf  # NaN for 1, and +inf for -inf
    assert m.index == (1,) and np.isnan(m.got) and m.expected == 1.0  # the first of the worst
    got = expected.copy()
    got[0] = 0.0  # a number where NaN is expected is a difference too
    assert T.compare("out", got, expected).index == (0,)


@pytest.mark.parametrize("got, expected, line", [
    (np.zeros((2, 3)), np.zeros((3, 2)), "output: shape (2, 3), expected (3, 2)"),
    (np.zeros(2, np.float32), np.zeros(2), "output: dtype float32, expected float64 (keep the input's dtype)"),
    (np.array([0, 1, 7]), np.array([0, 2, 3]), "output: differs at 2 positions, first at (1,)"),
])
def test_compare_names_a_shape_dtype_or_integer_mismatch(got, expected, line):
    m = T.compare("output", got, expected)
    assert m.lines[0] == line
    with pytest.raises(AssertionError, match=r"^output: "):
        T.assert_close(got, expected, what="output")


def test_assert_close_raises_the_report_and_passes_within_tolerance():
    x = np.linspace(-1, 1, 7)
    T.assert_close(x + 1e-12, x)
    with pytest.raises(AssertionError, match=r"1 of 7 values differ; the largest difference is 0\.5 at \(3,\)"):
        y = x.copy()
        y[3] += 0.5
        T.assert_close(y, x, what="v")


# --------------------------------------------------------------------------- finite differences
def test_numeric_gradient_of_a_known_function():
    rng = np.random.default_rng(0)
    x, g = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    phi = inner_product(np.sin, [x], {}, 0, g)
    np.testing.assert_allclose(numeric_gradient(phi, x), np.cos(x) * g, rtol=1e-7, atol=1e-9)


def _square_forward(input):
    return input * input, lambda g: {"input": 2 * input * g}


def _square_wrong_forward(input):  # the classic slip: the factor 2 forgotten
    return input * input, lambda g: {"input": input * g}


def test_check_fd_passes_a_right_gradient_and_catches_a_wrong_one():
    x = np.random.default_rng(1).standard_normal((2, 5))
    big = np.random.default_rng(2).standard_normal((7, 9))  # > 48 elements: random directions
    for arg in (x, big):
        helpers.check_fd(F.differentiable(_square_forward), [arg])
        with pytest.raises(AssertionError, match="finite difference"):
            helpers.check_fd(F.differentiable(_square_wrong_forward), [arg])


def test_finite_difference_oracle_grades_against_central_differences():
    x = np.random.default_rng(3).standard_normal((3, 2))
    fd = FiniteDifferenceOracle(reference=lambda name: _square_forward)
    out, g, grads = fd.run("square", ("input",), (x,), {}, grader.upstream(0))
    np.testing.assert_array_equal(out, x * x)
    assert T.compare("grad", grads["input"], 2 * x * g, fd.tolerances) is None
    assert T.compare("grad", x * g, grads["input"], fd.tolerances) is not None


def test_the_finite_difference_oracle_needs_no_torch():
    code = ("import sys; sys.modules['torch'] = None\n"
            "import numpy as np, scratchnet.testing as T\n"
            "assert 'hypothesis' not in sys.modules\n"
            "phi = T.inner_product(np.exp, [np.zeros(3)], {}, 0, np.ones(3))\n"
            "print(*T.numeric_gradient(phi, np.zeros(3)))\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    np.testing.assert_allclose([float(v) for v in done.stdout.split()], 1.0, rtol=1e-9)


# --------------------------------------------------------------------------- torch
def test_torch_vjp_differentiates_one_op_like_the_formula():
    rng = np.random.default_rng(4)
    x, g = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    out, backward = torch_vjp(torch.tanh, [x], wrt=[0])
    assert backward.differentiable
    T.assert_close(out, np.tanh(x))
    T.assert_close(backward(g)[0], (1 - np.tanh(x) ** 2) * g)


def test_torch_oracle_grades_the_practice_ops_as_check_op_does():
    rng = np.random.default_rng(5)
    x, w, b = rng.standard_normal((3, 4)), rng.standard_normal((2, 4)), rng.standard_normal(2)
    out, g, grads = TorchOracle().run("linear", ("input", "weight", "bias"), (x, w, b), {},
                                      grader.upstream(7))
    T.assert_close(out, x @ w.T + b)
    T.assert_close(grads["input"], g @ w)
    T.assert_close(grads["weight"], g.T @ x)
    T.assert_close(grads["bias"], g.sum(axis=0))
    # cross_entropy's weight: torch does not differentiate it, so it is not graded
    t = np.array([0, 1, 1])
    _, _, grads = TorchOracle().run("cross_entropy", ("input", "target", "weight"),
                                    (x[:, :2], t, np.ones(2)), {}, grader.upstream(0))
    assert set(grads) == {"input"}


def test_check_op_catches_a_wrong_backward():
    x = np.random.default_rng(6).standard_normal((2, 3))
    helpers.check_op(F.differentiable(_square_forward), torch.square, [x])
    with pytest.raises(AssertionError, match=r"grad\[0\]: 6 of 6 values differ"):
        helpers.check_op(F.differentiable(_square_wrong_forward), torch.square, [x])


# --------------------------------------------------------------------------- layouts
@pytest.mark.parametrize("layout", LAYOUTS)
def test_every_layout_holds_the_same_values(layout):
    x = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4)
    y = in_layout(x, layout)
    np.testing.assert_array_equal(y, x)
    assert y.dtype == x.dtype and y.shape == x.shape
    assert y.flags.c_contiguous == (layout == "C")
    assert y.flags.f_contiguous == (layout == "F")
    if layout == "negative strides":
        assert all(s < 0 for s in y.strides)
    if layout == "permuted":
        assert y.strides[0] == y.itemsize  # the first axis innermost
    if layout == "step-sliced":
        assert np.isnan(y.base).sum() == y.base.size - y.size  # the gaps it must not read
    for shape in [(), (0, 3), (5,)]:
        np.testing.assert_array_equal(in_layout(np.ones(shape), layout), np.ones(shape))


def _raw_memory_forward(input):  # reads the buffer in memory order: right only for C order
    out = input.ravel(order="K").reshape(input.shape) * 2
    return out, lambda g: {"input": 2 * g}


def test_check_op_lays_out_inputs_and_catches_an_op_that_reads_raw_memory():
    x = np.random.default_rng(8).standard_normal((2, 3, 4))
    op = F.differentiable(_raw_memory_forward)
    helpers.check_op(op, lambda t: 2 * t, [x], layout="C")
    with pytest.raises(AssertionError, match="output"):
        helpers.check_op(op, lambda t: 2 * t, [x], layout="F")
    strides = []

    def recording_forward(input):
        strides.append(input.strides)
        return _square_forward(input)

    op = F.differentiable(recording_forward)
    for seed in range(len(LAYOUTS)):  # the default layout follows the seed: every one appears
        helpers.check_op(op, torch.square, [x], seed=seed)
    assert len(set(strides)) == len(LAYOUTS)


# --------------------------------------------------------------------------- the path rule
#: Where torch may be imported: a file named torch_*.py anywhere, and the testing package.
#: (Today nothing else imports it: run_options.py, run_setup.py and the exercise's oracle
#: only ask importlib.util.find_spec whether it is installed.)
TORCH_ROOTS = {"torch", "torchvision"}


def _may_import_torch(path: Path) -> bool:
    parts = path.relative_to(ROOT / "scratchnet").parts
    return path.name.startswith("torch_") or parts[0] == "testing"


def torch_imports(source: str) -> list:
    """``[(line, what)]`` of every import of torch in ``source``: at module level, in a
    function, or by ``importlib.import_module``/``__import__`` with a literal name."""
    found = []
    for node in ast.walk(ast.parse(source)):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called in ("import_module", "__import__") and isinstance(node.args[0].value, str):
                names = [node.args[0].value]
        found += [(node.lineno, n) for n in names if n.split(".")[0] in TORCH_ROOTS]
    return found


def test_the_path_rule_scanner_sees_every_kind_of_import():
    source = ("import os\nimport torch\nfrom torch.nn import functional\n"
              "def f():\n    import torchvision.transforms as T\n"
              "    importlib.import_module('torch')\n    importlib.util.find_spec('torch')\n"
              "from . import torch_models\nfrom .torch_engine import x\nimport torchaudio_like\n")
    assert sorted(torch_imports(source)) == [(2, "torch"), (3, "torch.nn"), (5, "torchvision.transforms"),
                                     (6, "torch")]


def test_only_torch_named_files_and_the_testing_package_import_torch():
    offenders, allowed_users = [], []
    for path in sorted((ROOT / "scratchnet").rglob("*.py")):
        found = torch_imports(path.read_text(encoding="utf-8"))
        if found and _may_import_torch(path):
            allowed_users.append(path.name)
        elif found:
            offenders += [f"{path.relative_to(ROOT)}:{line} imports {what}" for line, what in found]
    assert not offenders, "only torch_*.py and scratchnet/testing/ may import torch:\n" + "\n".join(offenders)
    assert "torch_models.py" in allowed_users and "torch_oracle.py" in allowed_users  # the scan is real


def test_importing_scratchnet_testing_imports_neither_torch_nor_hypothesis():
    code = ("import sys, scratchnet.testing, scratchnet.exercise.oracle\n"
            "print(sorted(m for m in ('torch', 'hypothesis') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
