"""The learner's workspace: a verdict per scope, files that import each other, templates that
say only what they define or explain."""
import ast
import builtins
import json
import re
import sys

import pytest

from scratchnet import cli
from scratchnet.exercise import catalogue, workspace
from scratchnet.exercise.templates import KIND


def run(argv, capsys):
    code = cli.main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def own(ex) -> str:
    lines = ["from scratchnet.exercise.catalogue import get", f"_ex = get({ex.name!r})"]
    return "\n".join(lines + [f"{f} = _ex.reference({f!r})" for f in ex.functions]) + "\n"


def rows(out):
    return {line.split()[1]: line for line in out.splitlines()[1:] if line.strip()}


# --------------------------------------------------------------------------- a status per scope
def test_core_and_full_are_recorded_apart_and_full_never_replaces_core(tmp_path, capsys):
    ex = catalogue.get("mse_loss")
    (tmp_path / "mse_loss.py").write_text(own(ex))
    workspace.record(ex, tmp_path, True, "core")
    workspace.record(ex, tmp_path, False, "full")  # a --full run that failed
    assert workspace.passed(ex, tmp_path) and workspace.status(ex, tmp_path) == "passed"
    code, out, _ = run(["exercise", "list", "--dir", str(tmp_path)], capsys)
    assert "core: passed  full: failing" in rows(out)["mse_loss"]
    assert "core: not run  full: not run" not in rows(out)["mse_loss"]
    workspace.record(ex, tmp_path, True, "full")
    workspace.record(ex, tmp_path, False, "core")
    assert not workspace.passed(ex, tmp_path)  # the capstone needs core
    assert workspace.status_line(ex, tmp_path) == "core: failing  full: passed"


def test_a_full_check_from_the_command_line_records_full_only(tmp_path, capsys):
    d = str(tmp_path)
    (tmp_path / "mse_loss.py").write_text(own(catalogue.get("mse_loss")))
    assert run(["exercise", "check", "mse_loss", "--dir", d], capsys)[0] == 0
    (tmp_path / "helper_failing.py").write_text("")
    assert run(["exercise", "check", "mse_loss", "--dir", d, "--full"], capsys)[0] == 0
    status = json.loads((tmp_path / workspace.STATUS_FILE).read_text())["mse_loss"]
    assert status["core"]["passed"] and status["full"]["passed"]
    assert "core: passed  full: passed" in rows(run(["exercise", "list", "--dir", d], capsys)[1])["mse_loss"]
    with open(tmp_path / "mse_loss.py", "a") as f:
        f.write("# edited\n")
    assert "core: changed since passing  full: changed since passing" in run(
        ["exercise", "list", "--dir", d], capsys)[1]


def test_an_old_status_file_is_read_as_the_scope_it_recorded(tmp_path):
    softmax, linear = catalogue.get("softmax"), catalogue.get("linear")
    for ex in (softmax, linear):
        (tmp_path / f"{ex.name}.py").write_text(own(ex))
    old = {"softmax": {"sha256": workspace.file_hash(tmp_path / "softmax.py"), "passed": True, "scope": "core"},
           "linear": {"sha256": workspace.file_hash(tmp_path / "linear.py"), "passed": True, "scope": "full"},
           "_hints": {"softmax": 2}}
    (tmp_path / workspace.STATUS_FILE).write_text(json.dumps(old))
    assert workspace.status_line(softmax, tmp_path) == "core: passed  full: not run"
    assert workspace.status_line(linear, tmp_path) == "core: not run  full: passed"
    assert workspace.passed(softmax, tmp_path) and not workspace.passed(linear, tmp_path)
    assert "the capstone needs the core check" in workspace.status(linear, tmp_path)
    workspace.record(linear, tmp_path, True, "core")  # rewritten in today's form, hints kept
    new = json.loads((tmp_path / workspace.STATUS_FILE).read_text())
    assert new["linear"]["full"]["passed"] and new["linear"]["core"]["passed"]
    assert new["softmax"] == {"core": {"sha256": old["softmax"]["sha256"], "passed": True}}
    assert new["_hints"] == {"softmax": 2}
    (tmp_path / workspace.STATUS_FILE).write_text("not json")
    assert workspace.status(softmax, tmp_path) == "not checked"


# --------------------------------------------------------------------------- imports
CROSS_ENTROPY = '''import numpy as np
from log_softmax import log_softmax


def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
             reduction="mean"):
    n = input.shape[0]
    rows = np.arange(n)
    out = np.asarray(-input[rows, target].mean(), dtype=input.dtype)

    def backward(grad_out):
        g = np.zeros_like(input)
        g[rows, target] = -grad_out / n
        return {"input": g}
    return out, backward


def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
                  reduction="mean", label_smoothing=0.0):
    import my_helpers  # an import inside the function: the folder is importable while checking too

    logp, log_softmax_backward = log_softmax(input, 1)
    loss, nll_backward = nll_loss(logp, target)
    return my_helpers.identity(loss), lambda g: log_softmax_backward(nll_backward(g)["input"])
'''

LOG_SOFTMAX = '''import numpy as np


def log_softmax(input, dim=None, _stacklevel=3, dtype=None):
    m = input.max(axis=dim, keepdims=True)
    out = (input - m) - np.log(np.exp(input - m).sum(axis=dim, keepdims=True))

    def backward(grad_out):
        return {"input": SIGN * (grad_out - np.exp(out) * grad_out.sum(axis=dim, keepdims=True))}
    return out, backward
'''


def test_an_exercise_file_imports_another_and_edits_are_seen_by_the_next_check(tmp_path, capsys):
    d = str(tmp_path)
    (tmp_path / "cross_entropy.py").write_text(CROSS_ENTROPY)
    (tmp_path / "log_softmax.py").write_text("SIGN = 1\n" + LOG_SOFTMAX)
    (tmp_path / "my_helpers.py").write_text("def identity(x):\n    return x\n")
    # A learner's file with a standard module's name neither breaks the check nor replaces it.
    (tmp_path / "json.py").write_text("raise RuntimeError('the learner json.py was imported')\n")
    before = list(sys.meta_path)
    code, out, err = run(["exercise", "check", "cross_entropy", "--dir", d], capsys)
    assert code == 0, out + err
    assert "note: json.py" in out and "PASSED" in out
    assert sys.meta_path == before and "log_softmax" not in sys.modules and "my_helpers" not in sys.modules
    (tmp_path / "log_softmax.py").write_text("SIGN = -1\n" + LOG_SOFTMAX)  # same size, same second
    code, out, _ = run(["exercise", "check", "cross_entropy", "--dir", d], capsys)
    assert code == 1 and "wrong gradient of 'input'" in out and "wrong sign" in out
    (tmp_path / "log_softmax.py").write_text("SIGN = 1\n" + LOG_SOFTMAX)
    assert run(["exercise", "check", "cross_entropy", "--dir", d], capsys)[0] == 0


def test_an_error_in_an_imported_helper_names_the_helpers_file_and_line(tmp_path, capsys):
    (tmp_path / "mse_loss.py").write_text("from my_helpers import mse_loss\n")
    (tmp_path / "my_helpers.py").write_text("import numpy as np\n\n\ndef mse_loss(input, target, **kw):\n"
                                         "    return 1 / 0, None\n")
    code, out, _ = run(["exercise", "check", "mse_loss", "--dir", str(tmp_path)], capsys)
    assert code == 1 and "ZeroDivisionError" in out and "my_helpers.py, line 5" in out


def test_the_finder_never_shadows_a_standard_or_installed_module(tmp_path):
    for name in ("random", "numpy", "scratchnet", "statistics"):
        (tmp_path / f"{name}.py").write_text("raise RuntimeError('imported the learner file')\n")
    (tmp_path / "mine.py").write_text("VALUE = 3\n")
    assert workspace.shadowed(tmp_path) == ["numpy", "random", "scratchnet", "statistics"]
    with workspace.importable(tmp_path):
        import statistics  # noqa: F401 (Python's, although a learner file has its name)
        import mine
        assert mine.VALUE == 3
        with workspace.importable(tmp_path):  # re-entrant: the inner exit forgets nothing
            pass
        assert "mine" in sys.modules
    assert "mine" not in sys.modules


# --------------------------------------------------------------------------- templates
MATH = {"exp", "log", "sum", "max", "floor", "mean"}


def _explained(name: str, text: str) -> bool:
    """Defined in the text (``def name(``), said what it is (``name(...) is/returns``), or imported."""
    return bool(re.search(rf"def {name}\(|\b{name}\([^()]*\) (is|returns|=)|from \w+ import {name}\b", text))


@pytest.mark.parametrize("name", list(catalogue.BY_NAME))
def test_every_template_compiles_and_names_only_what_it_defines_or_explains(name):
    ex = catalogue.get(name)
    text = workspace.skeleton(ex)
    tree = ast.parse(text)  # compiles
    defined = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    assert set(ex.functions) <= defined
    params = {a.arg for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) for a in n.args.args + n.args.kwonlyargs}
    called = set(re.findall(r"(?<![.\w])([A-Za-z_]\w*)\(", text))
    unknown = {c for c in called - defined - params - MATH - set(dir(builtins)) if not _explained(c, text)}
    assert not unknown, f"{name}'s template names {sorted(unknown)} without defining or explaining them"
    assert "_im2col" not in text and "label_smoothing :" not in text and "Deprecated" not in text
    assert "docs/" + ex.docs in text  # the full semantics one link away
    if KIND.get(name) == "update":
        assert "backward" not in text.replace("no backward", "")
    elif KIND.get(name) is None:
        assert "write the forward and its backward" in text


def test_the_conv2d_template_asks_for_its_own_im2col_and_col2im():
    text = workspace.skeleton(catalogue.get("conv2d"))
    assert "def im2col(" in text and "def col2im(" in text and "(C*kh*kw, N*Ho*Wo)" in text


def test_the_sgd_template_says_no_backward_and_keeps_lr_out_of_the_buffer():
    text = workspace.skeleton(catalogue.get("sgd_momentum"))
    assert "has no backward" in text and "write the forward" not in text
    assert "keep it out of the buffer" in text


def test_train_ops_runs_ops_that_import_each_other_inside_their_functions(tmp_path, capsys):
    for name in ("activations", "linear", "log_softmax", "sgd_momentum"):
        (tmp_path / f"{name}.py").write_text(own(catalogue.get(name)))
    (tmp_path / "cross_entropy.py").write_text(CROSS_ENTROPY)  # `import my_helpers` when called
    (tmp_path / "my_helpers.py").write_text("CALLS = []\n\n\ndef identity(x):\n    CALLS.append(1)\n    return x\n")
    for name in ("activations", "linear", "log_softmax", "sgd_momentum", "cross_entropy"):
        workspace.record(catalogue.get(name), tmp_path, True, "core")
    before = list(sys.meta_path)
    code, out, err = run(["train", "--model", "softmax-toy", "--engine", "numpy", "--epochs", "1",
                          "--ops", str(tmp_path), "--quiet"], capsys)
    assert code == 0, out + err
    assert "cross_entropy" in out and sys.meta_path == before and "my_helpers" not in sys.modules
