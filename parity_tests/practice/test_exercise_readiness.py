"""The capstone cannot surprise: before it trains, every swapped op is judged on the calls the
model makes, and a failing case of a check can be written out as a script that reproduces it.

Issue 25's learner passed conv2d with a correct but transposed output and a max_pool2d
that read its input in storage order; the basic CNN then trained to 9.9%. Here that
workspace is refused before training, naming max_pool2d; the transposed conv2d alone
trains as scratchnet's own ops do.
"""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from scratchnet import cli
from scratchnet import functional as F
from scratchnet.exercise import catalogue, workspace
from scratchnet.exercise.readiness import OpsNotReady, compare_engines, copy_like
from scratchnet.testing.strategies import LAYOUTS, in_layout

ROOT = Path(__file__).resolve().parents[2]
CNN = ["activations", "linear", "log_softmax", "cross_entropy", "max_pool2d", "conv2d"]

TRANSPOSED_CONV = '''import numpy as np
from scratchnet.exercise.catalogue import get

_ref = get("conv2d").reference("conv2d")


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    out, backward = _ref(input, weight, bias, stride, padding)
    return np.ascontiguousarray(out.transpose(2, 3, 0, 1)).transpose(2, 3, 0, 1), backward
'''

# Issue 25's max-pool: windows by as_strided, strides computed from the shape.
AS_STRIDED_POOL = '''import numpy as np
from numpy.lib.stride_tricks import as_strided


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    k, s, p = kernel_size, stride or kernel_size, padding
    x = np.pad(input, ((0, 0), (0, 0), (p, p), (p, p)), constant_values=-np.inf) if p else input
    n, c, h, w = x.shape
    ho, wo = (h - k) // s + 1, (w - k) // s + 1
    it = x.itemsize
    win = as_strided(x, (n, c, ho, wo, k, k), (c * h * w * it, h * w * it, s * w * it, s * it, w * it, it))
    flat = win.reshape(n, c, ho, wo, k * k)
    arg = flat.argmax(-1)
    out = np.take_along_axis(flat, arg[..., None], -1)[..., 0]

    def backward(g):
        dx = np.zeros((n, c, h, w), input.dtype)
        a, b = np.divmod(arg, k)
        for i in range(ho):
            for j in range(wo):
                for m in range(n):
                    for q in range(c):
                        dx[m, q, i * s + a[m, q, i, j], j * s + b[m, q, i, j]] += g[m, q, i, j]
        return {"input": dx[:, :, p:p + input.shape[2], p:p + input.shape[3]]}
    return out, backward
'''


def own_solution(ex) -> str:
    lines = ["from scratchnet.exercise.catalogue import get", f"_ex = get({ex.name!r})"]
    return "\n".join(lines + [f"{f} = _ex.reference({f!r})" for f in ex.functions]) + "\n"


def workspace_with(directory, names, files=None):
    """Passed exercises (their verdicts recorded as a passing check would): scratchnet's own
    solutions, or the texts of ``files``."""
    files = files or {}
    for name in names:
        ex = catalogue.get(name)
        (directory / f"{name}.py").write_text(files.get(name, own_solution(ex)))
        workspace.record(ex, directory, True, "core")


def run(argv, capsys):
    code = cli.main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("layout", LAYOUTS)
def test_copy_like_keeps_values_and_strides(layout):
    x = in_layout(np.arange(24.0).reshape(2, 3, 4), layout)
    y = copy_like(x)
    assert np.array_equal(x, y) and y.strides == x.strides and not np.shares_memory(x, y)


def test_the_issue_25_workspace_is_refused_before_training_naming_max_pool2d(tmp_path, capsys):
    workspace_with(tmp_path, CNN, {"conv2d": TRANSPOSED_CONV, "max_pool2d": AS_STRIDED_POOL})
    code, out, err = run(["train", "--model", "basic-cnn", "--engine", "numpy", "--epochs", "1",
                          "--ops", str(tmp_path), "--quiet"], capsys)
    assert code == 2, out + err
    assert "Traceback" not in out + err
    first = err.splitlines()[0]
    assert "your max_pool2d" in first and f"{tmp_path / 'max_pool2d.py'}, line 5" in first
    assert "training did not start" in first
    assert "a transposed view" in err and "wrong output" in err and "reads memory in storage order" in err
    assert "epoch" not in out  # no training ran


def test_a_transposed_conv2d_output_trains_as_scratchnets_own_ops(tmp_path, capsys):
    own, mine = tmp_path / "own", tmp_path / "mine"
    own.mkdir(), mine.mkdir()
    workspace_with(own, CNN)
    workspace_with(mine, CNN, {"conv2d": TRANSPOSED_CONV})
    runs = []
    for d in (own, mine):
        out_json = d / "run.json"
        code, out, err = run(["train", "--model", "basic-cnn", "--engine", "numpy", "--epochs", "1",
                              "--ops", str(d), "--quiet", "--json", str(out_json)], capsys)
        assert code == 0, out + err
        assert "gave the textbook's numbers" in out
        runs.append(json.loads(out_json.read_text())["runs"][0]["epochs"][0])
    assert runs[1]["correct"] == runs[0]["correct"]
    np.testing.assert_allclose(runs[1]["train_loss"], runs[0]["train_loss"], rtol=1e-6)


def test_an_op_that_raises_inside_the_model_is_named_with_its_line(tmp_path, capsys):
    broken = ("import numpy as np\n\n\ndef relu(input, inplace=False):\n"
              "    if input.ndim == 4:\n        raise ValueError('4-d?')\n"
              "    return np.maximum(input, 0), lambda g: {'input': g * (input > 0)}\n\n\n"
              "from scratchnet.exercise.catalogue import get\n"
              "sigmoid = get('activations').reference('sigmoid')\n"
              "tanh = get('activations').reference('tanh')\n")
    workspace_with(tmp_path, CNN, {"activations": broken})
    code, out, err = run(["train", "--model", "basic-cnn", "--engine", "numpy", "--epochs", "1",
                          "--ops", str(tmp_path), "--quiet"], capsys)
    assert code == 2 and "Traceback" not in err
    assert "your relu raised in its forward" in err and "line 6" in err and "ValueError: 4-d?" in err


def test_tuple_stride_and_padding_reach_the_learner_as_ints(tmp_path, capsys):
    seen = tmp_path / "seen.txt"
    strict = (f"from scratchnet.exercise.catalogue import get\n_ref = get('conv2d').reference('conv2d')\n\n\n"
              f"def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):\n"
              f"    assert isinstance(stride, int) and isinstance(padding, int), (stride, padding)\n"
              f"    open({str(seen)!r}, 'a').write('x')\n"
              f"    return _ref(input, weight, bias, stride, padding)\n")
    workspace_with(tmp_path, CNN, {"conv2d": strict})
    code, out, err = run(["train", "--model", "basic-cnn", "--engine", "numpy", "--epochs", "1",
                          "--ops", str(tmp_path), "--quiet"], capsys)
    assert code == 0, out + err
    assert seen.read_text()


def test_engine_both_names_the_first_layer_that_differs_from_torch():
    pytest.importorskip("torch")
    from scratchnet.cli.run_setup import build_engines
    from scratchnet.training.config import TrainConfig

    cfg = TrainConfig(model="basic-cnn", epochs=1)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 1, 28, 28)).astype(np.float32)
    y = rng.integers(0, 10, 8)
    compare_engines(build_engines(cfg, "both"), x, y)  # scratchnet's own ops: no difference

    def leaky(input, inplace=False):
        out = np.where(input > 0, input, 0.01 * input)
        return out, lambda g: {"input": np.where(input > 0, g, 0.01 * g)}

    with F.override({F.relu: leaky}):
        with pytest.raises(OpsNotReady, match=r"layer .* \(ReLU\) differs from torch's twin.*output"):
            compare_engines(build_engines(cfg, "both"), x, y)

    def wrong_backward(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                       return_indices=False):
        out, backward = F.registration(F.max_pool2d).forward(input, kernel_size, stride, padding)
        return out, lambda g: {"input": 2 * backward(g)["input"]}

    with F.override({F.max_pool2d: wrong_backward}):
        with pytest.raises(OpsNotReady, match="gradient"):
            compare_engines(build_engines(cfg, "both"), x, y)


def test_train_engine_both_with_the_learners_ops_runs(tmp_path, capsys):
    pytest.importorskip("torch")
    workspace_with(tmp_path, ["activations", "linear", "log_softmax", "cross_entropy", "sgd_momentum"])
    code, out, err = run(["train", "--model", "softmax-toy", "--engine", "both", "--epochs", "1",
                          "--ops", str(tmp_path), "--quiet"], capsys)
    assert code == 0, out + err


# --------------------------------------------------------------------------- --repro
SEQUENTIAL_OVERWRITES = '''import numpy as np


def sequential(input, layers):
    steps, x = [], input
    for forward, params in layers:
        x, backward = forward(x, **{k: p.data for k, p in params.items()})
        steps.append((backward, params))

    def backward(g):
        for step, params in reversed(steps):
            grads = step(g)
            for name, p in params.items():
                p.grad = np.array(grads[name], copy=True)
            g = grads["input"]
        return {"input": g}
    return x, backward
'''

SGD_VELOCITY = '''def sgd_momentum(param, grad, momentum_buffer, lr, momentum=0.0, dampening=0.0, weight_decay=0.0,
                 nesterov=False, maximize=False):
    if not momentum:
        return param - lr * grad, None
    v = lr * grad if momentum_buffer is None else momentum * momentum_buffer + lr * grad
    return param - v, v
'''

SOFTMAX_IN_PLACE = '''import numpy as np


def softmax(input, dim=None, _stacklevel=3, dtype=None):
    e = np.exp(input - input.max(axis=dim, keepdims=True))
    s = e / e.sum(axis=dim, keepdims=True)

    def backward(grad_out):
        grad_out *= s
        return {"input": grad_out - s * grad_out.sum(axis=dim, keepdims=True)}
    return s, backward
'''


@pytest.mark.parametrize("name,text,shown", [
    ("max_pool2d", AS_STRIDED_POOL, "output"),
    ("softmax", SOFTMAX_IN_PLACE, "grad_out (backward) was modified in place"),
    ("sequential_backward", SEQUENTIAL_OVERWRITES, ".grad"),
    ("sgd_momentum", SGD_VELOCITY, "parameter after step"),
])
def test_repro_writes_a_script_that_reproduces_the_failure(name, text, shown, tmp_path, capsys):
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / f"{name}.py").write_text(text)
    script = tmp_path / "repro.py"
    code, out, err = run(["exercise", "check", name, "--dir", str(ws), "--repro", str(script)], capsys)
    assert code == 1 and f"the case above is in {script}" in out
    if name == "sequential_backward":
        assert "layer 0:" in out and ".grad before=" in out and "upstream gradient =" in out
    if name == "sgd_momentum":
        assert "step 1: lr=" in out and "step 3: lr=" in out
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300,
                            cwd=tmp_path, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert result.returncode == 1, result.stdout + result.stderr
    assert "reproduced:" in result.stdout and shown in result.stdout, result.stdout


def test_repro_of_a_passing_file_says_there_is_no_case(tmp_path, capsys):
    (tmp_path / "linear.py").write_text(own_solution(catalogue.get("linear")))
    script = tmp_path / "repro.py"
    code, out, _ = run(["exercise", "check", "linear", "--dir", str(tmp_path), "--repro", str(script)], capsys)
    assert code == 0 and "no failing case" in out and not script.exists()


def test_an_op_right_on_its_own_calls_but_stateful_in_the_model_is_named(tmp_path):
    """A tanh that keeps its output in a global is right call by call, wrong in a chain."""
    from scratchnet import nn
    from scratchnet.exercise.readiness import check_ops

    state = {}

    def tanh(input):
        state["out"] = np.tanh(input)
        return state["out"], lambda g: {"input": g * (1 - state["out"] ** 2)}

    def step():
        model = nn.Sequential(nn.Tanh(), nn.Tanh(), nn.Tanh())
        x = np.random.default_rng(0).standard_normal((3, 4))
        model(x)
        model.backward(np.random.default_rng(1).standard_normal((3, 4)))

    path = tmp_path / "activations.py"
    with pytest.raises(OpsNotReady, match=r"the gradient arriving at tanh \(call 1 of the step\) differs"):
        check_ops("a chain", step, {"tanh": tanh}, {"tanh": path}, log=lambda s: None)
    right = F.registration(F.tanh).forward
    check_ops("a chain", step, {"tanh": right}, {"tanh": path}, log=lambda s: None)


# --------------------------------------------------------------------------- the check's messages
FLOAT_LOSS = '''import numpy as np


def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
                  reduction="mean", label_smoothing=0.0):
    m = input.max(axis=1, keepdims=True)
    l = input - m - np.log(np.exp(input - m).sum(axis=1, keepdims=True))
    n = input.shape[0]

    def backward(g):
        s = np.exp(l)
        s[np.arange(n), target] -= 1
        return {"input": g * s / n}
    return float(-l[np.arange(n), target].mean()), backward


def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
             reduction="mean"):
    n = input.shape[0]
    out = np.asarray(-input[np.arange(n), target].mean(), dtype=input.dtype)

    def backward(g):
        g -= 0  # harmless-looking, but it writes into the caller's array
        d = np.zeros_like(input)
        d[np.arange(n), target] = -g / n
        g *= 2
        return {"input": d}
    return out, backward
'''


def test_a_float_loss_and_an_in_place_grad_out_get_messages_not_tracebacks(tmp_path, capsys):
    (tmp_path / "cross_entropy.py").write_text(FLOAT_LOSS)
    code, out, err = run(["exercise", "check", "cross_entropy", "--dir", str(tmp_path)], capsys)
    assert code == 1 and "Traceback" not in out + err
    assert "cross_entropy: the output is a Python float" in out
    assert "nll_loss: your backward modified `grad_out` in place (1 of 1 values changed, the largest " \
           "change at ():" in out
