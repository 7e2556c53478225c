"""The Practice track's commands: start never overwrites, check grades scratchnet's own ops as
passing, errors in a learner's file name their file and line, and train --ops swaps the ops
in (or refuses, naming the ones that have not passed)."""
from pathlib import Path

import numpy as np
import pytest

from scratchnet import cli
from scratchnet import functional as F
from scratchnet.exercise import catalogue, workspace
from scratchnet.exercise.grader import grade

EXAMPLES = 3  # the checks here prove the plumbing; the mutants test the grader's power


def own_solution(ex) -> str:
    """A learner file whose functions are scratchnet's own (the reference forwards)."""
    lines = ["from scratchnet.exercise.catalogue import get", f"_ex = get({ex.name!r})"]
    return "\n".join(lines + [f"{f} = _ex.reference({f!r})" for f in ex.functions]) + "\n"


def run(argv, capsys):
    code = cli.main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("name", list(catalogue.BY_NAME))
def test_every_exercise_passes_on_scratchnets_own_implementation(name, tmp_path):
    ex = catalogue.get(name)
    (tmp_path / f"{name}.py").write_text(own_solution(ex))
    functions = workspace.load(ex, tmp_path)
    results = list(grade(ex, functions, tmp_path / f"{name}.py", oracle="torch", max_examples=EXAMPLES))
    assert results and all(r.passed for r in results), [r.failure.headline for r in results if not r.passed]


@pytest.mark.parametrize("name", ["softmax", "cross_entropy", "sgd_momentum"])
def test_full_scope_passes_on_scratchnets_own_implementation(name, tmp_path):
    ex = catalogue.get(name)
    functions = {f: ex.reference(f) for f in ex.functions}
    results = list(grade(ex, functions, tmp_path / "x.py", full=True, oracle="torch", max_examples=EXAMPLES))
    assert all(r.passed for r in results), [r.failure.headline for r in results if not r.passed]


@pytest.mark.parametrize("name", ["activations", "linear", "softmax", "mse_loss", "conv2d", "max_pool2d",
                                  "sequential_backward", "sgd_momentum"])
def test_without_torch_finite_differences_grade_the_same(name, tmp_path):
    ex = catalogue.get(name)
    functions = {f: ex.reference(f) for f in ex.functions}
    results = list(grade(ex, functions, tmp_path / "x.py", oracle="fd", max_examples=2))
    assert all(r.passed for r in results), [r.failure.headline for r in results if not r.passed]
    wrong = dict(functions)
    f = next(iter(ex.functions))
    if f not in ("sequential", "sgd_momentum"):
        ref = ex.reference(f)

        def negated(*a, **k):
            out, backward = ref(*a, **k)
            return out, lambda g: {n: -v for n, v in backward(g).items()}
        wrong[f] = negated
        assert not all(r.passed for r in grade(ex, wrong, tmp_path / "x.py", oracle="fd", max_examples=4))


def test_start_writes_the_skeleton_and_never_overwrites(tmp_path, capsys):
    d = str(tmp_path / "ws")
    code, out, _ = run(["exercise", "start", "softmax", "--dir", d], capsys)
    path = tmp_path / "ws" / "softmax.py"
    assert code == 0 and path.is_file()
    text = path.read_text()
    assert "def softmax(input, dim=None, _stacklevel=3, dtype=None):" in text
    assert "Core scope" in text and "NotImplementedError" in text and "Jacobian" in text
    path.write_text("# my work\n")
    code, _, err = run(["exercise", "start", "softmax", "--dir", d], capsys)
    assert code == 2 and "not overwritten" in err and path.read_text() == "# my work\n"
    code, out, _ = run(["exercise", "start", "softmax", "--dir", d, "--force"], capsys)
    assert code == 0 and (tmp_path / "ws" / "softmax.py.bak").read_text() == "# my work\n"
    run(["exercise", "start", "softmax", "--dir", d, "--force"], capsys)
    assert (tmp_path / "ws" / "softmax.py.bak.1").is_file()  # an older backup is kept too


def test_skeleton_fails_as_not_written_and_list_shows_status(tmp_path, capsys):
    d = str(tmp_path)
    run(["exercise", "start", "activations", "--dir", d], capsys)
    code, out, _ = run(["exercise", "check", "activations", "--dir", d], capsys)
    assert code == 1 and "not written yet" in out
    (tmp_path / "linear.py").write_text(own_solution(catalogue.get("linear")))
    assert run(["exercise", "check", "linear", "--dir", d], capsys)[0] == 0
    code, out, _ = run(["exercise", "list", "--dir", d], capsys)
    rows = {line.split()[1]: line for line in out.splitlines()[1:]}
    assert "failing" in rows["activations"] and "passed" in rows["linear"]
    assert "not started" in rows["conv2d"]
    with open(tmp_path / "linear.py", "a") as f:
        f.write("# edited\n")
    assert "changed since passing" in run(["exercise", "list", "--dir", d], capsys)[1]


def test_syntax_error_names_the_learners_file_and_line(tmp_path, capsys):
    (tmp_path / "softmax.py").write_text("import numpy as np\n\ndef softmax(input, dim=None:\n    pass\n")
    code, _, err = run(["exercise", "check", "softmax", "--dir", str(tmp_path)], capsys)
    assert code == 1
    assert f"{tmp_path / 'softmax.py'}, line 3: SyntaxError" in err
    assert "Traceback" not in err and "scratchnet/" not in err


def test_exception_inside_the_op_names_the_learners_file_and_line(tmp_path, capsys):
    (tmp_path / "softmax.py").write_text(
        "import numpy as np\n\n\ndef softmax(input, dim=None, _stacklevel=3, dtype=None):\n"
        "    s = np.exp(input)\n    return s / s.sum(axis=dim, keepdims=True)[7], None\n")
    code, out, err = run(["exercise", "check", "softmax", "--dir", str(tmp_path)], capsys)
    assert code == 1
    assert "IndexError" in out and f"(at {tmp_path / 'softmax.py'}, line 6:" in out
    assert "Traceback" not in out + err


def test_exception_while_importing_names_the_file_and_line(tmp_path, capsys):
    (tmp_path / "linear.py").write_text("import numpy as np\nx = 1 / 0\n")
    code, _, err = run(["exercise", "check", "linear", "--dir", str(tmp_path)], capsys)
    assert code == 1 and "ZeroDivisionError" in err and "line 2" in err


def test_check_prints_a_shrunk_case_with_expected_and_got(tmp_path, capsys):
    (tmp_path / "softmax.py").write_text(
        "import numpy as np\n\n\ndef softmax(input, dim=None, _stacklevel=3, dtype=None):\n"
        "    e = np.exp(input - input.max(axis=dim, keepdims=True))\n"
        "    s = e / e.sum(axis=dim, keepdims=True)\n"
        "    return s, lambda g: {'input': g * s}\n")
    code, out, _ = run(["exercise", "check", "softmax", "--dir", str(tmp_path)], capsys)
    assert code == 1
    assert "smallest failing case (shrunk): softmax(input=<float32 array (1,)>, dim=0)" in out
    assert "expected" in out and "got" in out and "largest difference" in out
    assert "diagnosis: softmax backward missing the - s * sum(g * s) term" in out


def test_hint_is_progressive_and_solution_shows_the_naive_version(tmp_path, capsys):
    d = str(tmp_path)
    first = run(["exercise", "hint", "conv2d", "--dir", d], capsys)[1]
    second = run(["exercise", "hint", "conv2d", "--dir", d], capsys)[1]
    assert first.startswith("hint 1/") and second.startswith("hint 2/") and first != second
    code, out, _ = run(["exercise", "solution", "max_pool2d"], capsys)
    assert code == 0 and "def max_pool2d_naive(" in out and "docs/ops/pooling.html" in out


def _workspace_with(tmp_path, names):
    for name in names:
        ex = catalogue.get(name)
        (tmp_path / f"{name}.py").write_text(own_solution(ex))
        workspace.record(ex, tmp_path, True, "core")


def _count_learner_calls(monkeypatch) -> list:
    """The names of the learner functions called from now on, in order.

    The learner files of :func:`_workspace_with` call ``Exercise.reference`` when
    imported: each function it hands out is wrapped to record its calls.
    """
    calls = []
    original = catalogue.Exercise.reference

    def counting(self, function):
        fn = original(self, function)

        def wrapped(*a, **k):
            calls.append(function)
            return fn(*a, **k)
        return wrapped

    monkeypatch.setattr(catalogue.Exercise, "reference", counting)
    return calls


def test_train_ops_is_refused_naming_the_ops_that_have_not_passed(tmp_path, capsys):
    _workspace_with(tmp_path, ["activations", "linear"])
    code, _, err = run(["train", "--model", "basic-cnn", "--engine", "numpy", "--epochs", "1",
                        "--ops", str(tmp_path)], capsys)
    assert code == 2
    for op in ("conv2d", "max_pool2d", "log_softmax", "nll_loss"):
        assert op in err
    assert "relu (" not in err and "linear (" not in err


def test_train_ops_runs_the_learners_ops(tmp_path, capsys, monkeypatch):
    names = ["activations", "linear", "log_softmax", "cross_entropy", "sgd_momentum"]
    _workspace_with(tmp_path, names)
    calls = _count_learner_calls(monkeypatch)
    code, out, _ = run(["train", "--model", "softmax-toy", "--engine", "numpy", "--epochs", "2",
                        "--ops", str(tmp_path), "--quiet"], capsys)
    assert code == 0, out
    assert "replace scratchnet's" in out
    assert "linear" in calls and "sgd_momentum" in calls  # SGD stepped with the learner's rule
    # Outside the run, scratchnet's own ops are back, and SGD's own rule.
    assert F.registration(F.linear).forward.__module__ == "scratchnet.functional.linear"
    x = np.ones((1, 2))
    assert F.linear(x, np.ones((3, 2))).shape == (1, 3)
    from scratchnet import nn, optim

    calls.clear()
    p = nn.Parameter(np.ones(2))
    p.grad = np.ones(2)
    optim.SGD([p], lr=0.5).step()
    assert calls == [] and np.array_equal(p.data, np.full(2, 0.5))


def test_train_ops_chains_the_backwards_with_the_learners_sequential(tmp_path, capsys, monkeypatch):
    """With sequential_backward passed, nn.Sequential runs the learner's chain, and training
    gives the numbers scratchnet's own Sequential gives."""
    from scratchnet import nn

    names = ["activations", "linear", "log_softmax", "cross_entropy", "max_pool2d", "conv2d"]
    _workspace_with(tmp_path, names)
    plain = tmp_path / "plain.json"
    code, out, _ = run(["train", "--model", "basic-cnn", "--engine", "numpy", "--epochs", "1",
                        "--ops", str(tmp_path), "--quiet", "--json", str(plain)], capsys)
    assert code == 0, out
    assert "sequential_backward" not in out

    _workspace_with(tmp_path, ["sequential_backward"])
    calls = _count_learner_calls(monkeypatch)
    chained = tmp_path / "chained.json"
    own_forward = nn.Sequential.forward
    code, out, _ = run(["train", "--model", "basic-cnn", "--engine", "numpy", "--epochs", "1",
                        "--ops", str(tmp_path), "--quiet", "--json", str(chained)], capsys)
    assert code == 0, out
    assert "sequential_backward" in out and "sequential" in calls
    assert nn.Sequential.forward is own_forward  # restored after the run
    import json

    a, b = (json.loads(p.read_text())["runs"][0]["epochs"][0] for p in (plain, chained))
    # The same gradients added in the same order: the same training, to float32 rounding.
    assert b["correct"] == a["correct"]
    np.testing.assert_allclose(b["train_loss"], a["train_loss"], rtol=1e-6)
    np.testing.assert_allclose(b["test_loss"], a["test_loss"], rtol=1e-6)


def test_list_start_hint_and_a_finite_difference_check_never_import_torch(tmp_path):
    import subprocess
    import sys

    (tmp_path / "linear.py").write_text(own_solution(catalogue.get("linear")))
    code = (
        "import sys\nfrom scratchnet import cli\n"
        f"d = {str(tmp_path)!r}\n"
        "for argv in (['exercise', 'list', '--dir', d], ['exercise', 'start', 'softmax', '--dir', d],\n"
        "             ['exercise', 'hint', 'softmax', '--dir', d],\n"
        "             ['exercise', 'check', 'linear', '--dir', d, '--oracle', 'fd']):\n"
        "    assert cli.main(argv) == 0, argv\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    env = {**__import__("os").environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
