"""``scratchnet explain``: the steps it reports are the op's, and their numbers are right.

Every expected shape, stride, byte count and FLOP count below is computed here from
the formulas (torch's output size, im2col's K x M, 2MNK per GEMM), never read back
from the module under test; the arrays are checked against the lecture's example and
against torch.
"""
import dataclasses
import json

import numpy as np
import pytest
import torch

import scratchnet.functional as F
from scratchnet import cli
from scratchnet.explain import NUMBERS_LIMIT, OPS, CheckFailed, ExplainError, explain
from scratchnet.functional import _vjp

from helpers import EXPLAIN_CASES as CASES

LECTURE = np.array([[1, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]], dtype=float)


def step(ex, name):
    """The one step whose name starts with ``name``."""
    found = [s for s in ex.steps if s.name.startswith(name)]
    assert len(found) == 1, [s.name for s in ex.steps]
    return found[0]


def out_size(n, k, s, p, d=1):
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


# --------------------------------------------------------------------------- every op


@pytest.mark.parametrize("numbers", [False, True])
@pytest.mark.parametrize("op,options", CASES)
def test_every_op_runs_its_steps_and_checks_them(op, options, numbers):
    ex = explain(op, numbers=numbers, **options)
    assert ex.check["passed"], ex.check
    assert ex.check["max_abs_diff"] == 0  # the same pieces in the same order: bit for bit
    assert any("gradient" in name for name in ex.check["compared"])
    assert {s.phase for s in ex.steps} == {"forward", "backward"}
    assert ex.dtype == ("float64" if numbers else "float32")
    if numbers:  # the data, the output and the input gradient are all shown
        shown = [k for s in ex.steps for k in s.arrays]
        assert "input" in shown and any(k in shown for k in ("dx", "dX"))
    else:
        assert not any(s.arrays or s.routes for s in ex.steps)
    text = ex.render()
    assert f"checked: matches F.{op} forward" in text and "max |diff| = 0" in text


def test_all_six_ops_are_covered():
    assert set(OPS) == {op for op, _ in CASES}


# --------------------------------------------------------------------------- max pooling
def test_lecture_max_pool_example():
    ex = explain("max_pool2d", input=(1, 1, 4, 4), kernel=2, numbers=True)
    np.testing.assert_array_equal(step(ex, "output size").arrays["input"][0, 0], LECTURE)
    np.testing.assert_array_equal(step(ex, "max over").arrays["output"][0, 0], [[6, 8], [3, 4]])
    # backward: each output's gradient lands on its max and nowhere else
    g = step(ex, "upstream").arrays["G"][0, 0]
    dx = step(ex, "crop").arrays["dx"][0, 0]
    expected = np.zeros((4, 4))
    for (i, j), (u, v) in {(0, 0): (1, 1), (0, 1): (1, 3), (1, 0): (2, 0), (1, 1): (3, 3)}.items():
        expected[u, v] = g[i, j]
    np.testing.assert_array_equal(dx, expected)
    assert not np.all(g == 1)
    routes = "\n".join(step(ex, "route").routes)
    for (i, j), (u, v) in {(0, 0): (1, 1), (0, 1): (1, 3), (1, 0): (2, 0), (1, 1): (3, 3)}.items():
        assert f"G(0,0,{i},{j}) = {g[i, j]:g} -> dx(0,0,{u},{v})" in routes
    assert "y(0,0,0,0) = 6 -> x(0,0,1,1)" in "\n".join(step(ex, "argmax").routes)
    # torch agrees on the values and the routing
    xt = torch.tensor(LECTURE[None, None], requires_grad=True)
    yt = torch.nn.functional.max_pool2d(xt, 2)
    yt.backward(torch.tensor(g[None, None]))
    np.testing.assert_array_equal(dx, xt.grad[0, 0].numpy())


def test_max_pool_ties_and_overlap_route_to_the_first_max():
    """Overlapping windows (stride 1) over a constant patch: ties go to the first tap,
    and an input that is the max of several windows collects all their gradients."""
    ex = explain("max_pool2d", input=(1, 1, 4, 4), kernel=2, stride=1, numbers=True)
    x = step(ex, "output size").arrays["input"]
    g = step(ex, "upstream").arrays["G"]
    xt = torch.tensor(x, requires_grad=True)
    torch.nn.functional.max_pool2d(xt, 2, stride=1).backward(torch.tensor(g))
    np.testing.assert_array_equal(step(ex, "crop").arrays["dx"], xt.grad.numpy())
    assert step(ex, "crop").arrays["dx"].sum() == g.sum()  # every window is in bounds


def test_max_pool_padding_is_minus_inf_and_never_chosen():
    ex = explain("max_pool2d", input=(1, 1, 5, 5), kernel=3, stride=2, padding=1, numbers=True)
    padded = step(ex, "pad with -inf").arrays["padded"]
    assert padded.shape == (1, 1, 7, 7) and np.all(padded[..., 0, :] == -np.inf)
    for line in step(ex, "argmax").routes[1:]:
        u, v = (int(t) for t in line.split("x(0,0,")[1].split(")")[0].split(","))
        assert 0 <= u < 5 and 0 <= v < 5


def test_max_pool_window_that_misses_the_input_routes_nowhere():
    """Dilation 2 over a 1-row input padded by 1: each window's taps are rows -1 and 1."""
    ex = explain("max_pool2d", input=(1, 1, 1, 3), kernel=2, dilation=2, padding=1, stride=1,
                 numbers=True)
    assert ex.check["passed"]
    assert np.all(step(ex, "max over").arrays["output"] == -np.inf)
    assert np.all(step(ex, "crop").arrays["dx"] == 0)
    assert "-> nowhere (the window misses the input)" in "\n".join(step(ex, "route").routes)


# --------------------------------------------------------------------------- conv2d
CONV_GEOMETRY = [
    # N, C, H, W, O, kh, kw, stride, padding, dilation, groups
    (2, 3, 7, 7, 4, 3, 3, 2, 1, 1, 1),
    (64, 1, 28, 28, 10, 5, 5, 1, 0, 1, 1),     # the lecture's first layer
    (64, 10, 12, 12, 20, 5, 5, 1, 0, 1, 1),    # and its second
    (3, 6, 14, 14, 16, 5, 5, 1, 0, 1, 2),
    (1, 4, 9, 8, 8, 3, 2, 2, 1, 2, 4),         # depthwise-ish, dilated, non-square
    (5, 2, 6, 11, 3, 1, 1, 3, 0, 1, 1),        # 1x1 kernel, stride 3
]


@pytest.mark.parametrize("n,c,h,w,o,kh,kw,s,p,d,g", CONV_GEOMETRY)
def test_conv2d_shapes_im2col_gemm_flops_and_bytes(n, c, h, w, o, kh, kw, s, p, d, g):
    ex = explain("conv2d", input=(n, c, h, w), weight=(o, c // g, kh, kw), stride=s, padding=p,
                 dilation=d, groups=g)
    assert ex.check["passed"]
    ho, wo = out_size(h, kh, s, p, d), out_size(w, kw, s, p, d)
    # torch's own output shape
    yt = torch.nn.functional.conv2d(torch.zeros(n, c, h, w), torch.zeros(o, c // g, kh, kw),
                                    stride=s, padding=p, dilation=d, groups=g)
    assert tuple(yt.shape) == (n, o, ho, wo)
    assert step(ex, "output size").shapes["output"] == (n, o, ho, wo)
    assert f"H_out = floor(({h} + {2 * p} - {d}*({kh}-1) - 1) / {s}) + 1 = {ho}" in ex.render()

    k, m, it = (c // g) * kh * kw, n * ho * wo, 4
    hp, wp = h + 2 * p, w + 2 * p
    pad = step(ex, "pad")
    assert pad.shapes["xp (N, C, Hp, Wp)"] == (n, c, hp, wp)
    assert pad.bytes == ((n * c * h * w + n * c * hp * wp) * it if p else 0)
    im2col = step(ex, "im2col")
    assert im2col.shapes["X_col (C*kh*kw, N*Ho*Wo)"] == (g * k, m)
    assert im2col.bytes == 2 * g * k * m * it
    # the output is Y (C_out, N, Ho, Wo) viewed as (N, C_out, Ho, Wo): no copy
    assert step(ex, "output (a view").strides["output"] == (ho * wo * it, n * ho * wo * it, wo * it, it)
    gemm = step(ex, "GEMM  Y")
    assert gemm.flops == 2 * o * k * m  # g GEMMs of (O/g x K)(K x M)
    assert gemm.bytes == (o * k + g * k * m + o * m) * it
    assert step(ex, "GEMM  dW").flops == 2 * o * k * m
    assert step(ex, "GEMM  dX_col").flops == 2 * o * k * m
    assert step(ex, "col2im").flops == g * k * m
    assert step(ex, "bias (in place)").flops == o * m
    assert ex.totals("forward")["flops"] == 2 * o * k * m + o * m
    assert ex.totals("backward")["flops"] == 4 * o * k * m + g * k * m + o * m


def test_conv2d_numbers_match_torch_and_col2im_counts():
    ex = explain("conv2d", input=(2, 2, 5, 5), weight=(3, 2, 3, 3), stride=2, padding=1,
                 numbers=True)
    first = step(ex, "output size").arrays
    x, w, b = first["input"], first["weight"], first["bias"]
    assert x.dtype == np.float64 and np.all(x == np.round(x)) and np.abs(x).max() <= 3
    g = step(ex, "upstream").arrays["G"]
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    yt = torch.nn.functional.conv2d(xt, wt, bt, stride=2, padding=1)
    yt.backward(torch.tensor(g))
    np.testing.assert_array_equal(step(ex, "output (a view").arrays["output"], yt.detach().numpy())
    np.testing.assert_array_equal(step(ex, "col2im").arrays["dx"], xt.grad.numpy())
    np.testing.assert_array_equal(step(ex, "GEMM  dW").arrays["dW"], wt.grad.numpy())
    np.testing.assert_array_equal(step(ex, "bias gradient").arrays["db"], bt.grad.numpy())
    # how many (window, tap) pairs read each input position, counted window by window
    counts = np.zeros((5, 5))
    for i in range(3):
        for j in range(3):
            for a in range(3):
                for bb in range(3):
                    u, v = 2 * i + a - 1, 2 * j + bb - 1
                    if 0 <= u < 5 and 0 <= v < 5:
                        counts[u, v] += 1
    col2im = step(ex, "col2im")
    np.testing.assert_array_equal(col2im.arrays["taps adding into each input position"], counts)
    routes = col2im.routes
    centre = next(r for r in routes if r.strip().startswith("dx(1,1) ="))
    assert centre.count("dX_col[") == counts[1, 1] == 4
    assert "dx(0,0) = dX_col[tap (1,1), window (0,0)]" in "\n".join(routes)
    # the im2col matrix: column (n, i, j), row (c, a, b), read straight from the padded input
    cols = step(ex, "im2col").arrays["X_col"]
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    for (i, j, n, c, a, bb) in [(0, 0, 0, 0, 0, 0), (1, 2, 1, 1, 2, 1), (2, 1, 0, 1, 1, 2)]:
        assert cols[(c * 3 + a) * 3 + bb, (n * 3 + i) * 3 + j] == xp[n, c, 2 * i + a, 2 * j + bb]


# --------------------------------------------------------------------------- the others
def test_linear_gemms():
    ex = explain("linear", input=(64, 320), weight=(10, 320))
    assert step(ex, "GEMM  Y").flops == 2 * 64 * 320 * 10
    assert step(ex, "GEMM  Y").bytes == (64 * 320 + 10 * 320 + 64 * 10) * 4
    assert step(ex, "GEMM  dX").flops == step(ex, "GEMM  dW").flops == 2 * 64 * 320 * 10
    assert step(ex, "GEMM  dX").shapes["dX"] == (64, 320)
    assert step(ex, "GEMM  dW").shapes["dW"] == (10, 320)


def test_avg_pool_divisors_and_gradient_against_torch():
    ex = explain("avg_pool2d", input=(1, 2, 5, 5), kernel=3, stride=2, padding=1,
                 count_include_pad=False, numbers=True)
    np.testing.assert_array_equal(step(ex, "divisors").arrays["D"],
                                  [[4, 6, 4], [6, 9, 6], [4, 6, 4]])
    x = step(ex, "output size").arrays["input"]
    g = step(ex, "upstream").arrays["G"]
    xt = torch.tensor(x, requires_grad=True)
    yt = torch.nn.functional.avg_pool2d(xt, 3, 2, 1, count_include_pad=False)
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(step(ex, "divide").arrays["output"], yt.detach().numpy(), rtol=1e-15)
    np.testing.assert_allclose(step(ex, "crop").arrays["dx"], xt.grad.numpy(), rtol=1e-15)
    routes = "\n".join(step(ex, "add the share").routes)
    share = g[0, 1, 1, 1] / 9
    assert f"G(0,1,1,1)/D = {share:.4g} -> dx(0,1,1:4,1:4)" in routes  # the centre window
    assert "G(0,0,0,0)/D" in routes and "-> dx(0,0,0:2,0:2)" in routes  # a corner, half in padding


def test_softmax_and_cross_entropy_numbers():
    ex = explain("softmax", input=(2, 4), numbers=True)
    s = step(ex, "normalise").arrays["s"]
    np.testing.assert_allclose(s.sum(axis=1), 1, rtol=1e-15)
    ex = explain("cross_entropy", input=(3, 5), target=[0, -100, 1], numbers=True)
    x = step(ex, "log_softmax").arrays["input"]
    dx = step(ex, "through log_softmax").arrays["dx"]
    xt = torch.tensor(x, requires_grad=True)
    torch.nn.functional.cross_entropy(xt, torch.tensor([0, -100, 1])).backward()
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-14, atol=1e-16)
    assert np.all(dx[1] == 0)  # the ignored row
    assert "the mean over the 2 kept targets" in ex.render()
    assert "the lectures' dx = (s - y) * a" in ex.check["compared"]


def test_numbers_refuses_big_inputs_and_default_seed_is_fixed():
    with pytest.raises(ExplainError, match=r"--numbers .* small inputs .*\(8, 3, 28, 28\)"):
        explain("conv2d", input=(8, 3, 28, 28), weight=(4, 3, 3, 3), numbers=True)
    a = explain("conv2d", input=(1, 2, 4, 4), weight=(2, 2, 3, 3), numbers=True)
    b = explain("conv2d", input=(1, 2, 4, 4), weight=(2, 2, 3, 3), numbers=True, seed=0)
    c = explain("conv2d", input=(1, 2, 4, 4), weight=(2, 2, 3, 3), numbers=True, seed=1)
    xa, xb, xc = (step(e, "output size").arrays["input"] for e in (a, b, c))
    np.testing.assert_array_equal(xa, xb)
    assert not np.array_equal(xa, xc)
    assert NUMBERS_LIMIT >= 16
    assert explain("softmax", input=(3, 5), dtype="float64").dtype == "float64"


# --------------------------------------------------------------------------- the self-check
def _corrupt(monkeypatch, op, forward_delta=0.0, grad_scale=1.0):
    """Make ``vjp(op)`` (the op side of the check) return a perturbed result."""

    def perturbed(forward):
        def bad_forward(*args, **kwargs):
            out, backward = forward(*args, **kwargs)
            if isinstance(out, tuple):
                out = (out[0] + forward_delta,) + out[1:]
            else:
                out = out + forward_delta

            def bad_backward(*a, **k):
                grads = backward(*a, **k)
                return {name: (v * grad_scale if v is not None else v) for name, v in grads.items()}
            return out, bad_backward
        return bad_forward

    # What a call of ``op`` runs, by default and under F.textbook() (explain conv2d checks
    # against the textbook forward), replaced for this test only (monkeypatch restores it).
    for table, reg in ((_vjp._ACTIVE, _vjp.dispatch(op)), (_vjp._REGISTRY, _vjp.registration(op))):
        monkeypatch.setitem(table, op, dataclasses.replace(reg, forward=perturbed(reg.forward)))


@pytest.mark.parametrize("op,options", [CASES[0], CASES[3], CASES[6], CASES[8], CASES[10], CASES[12]])
@pytest.mark.parametrize("where", ["forward", "backward"])
def test_the_self_check_catches_a_mismatch(monkeypatch, op, options, where):
    fn = getattr(F, op)
    if where == "forward":
        _corrupt(monkeypatch, fn, forward_delta=1e-3)
    else:
        _corrupt(monkeypatch, fn, grad_scale=1.001)
    with pytest.raises(CheckFailed, match="differ"):
        explain(op, **options)
    ex = explain(op, strict=False, **options)
    assert not ex.check["passed"]
    assert any(("output" if where == "forward" else "gradient") in f for f in ex.check["failed"])
    assert "CHECK FAILED" in ex.render()


def test_cli_reports_a_failed_check(monkeypatch, capsys):
    _corrupt(monkeypatch, F.max_pool2d, grad_scale=2.0)
    assert cli.main(["explain", "max_pool2d", "--input", "1,1,4,4", "--kernel", "2"]) == 1
    captured = capsys.readouterr()
    assert "CHECK FAILED" in captured.out and "input gradient" in captured.err


# --------------------------------------------------------------------------- the command line
def test_cli_end_to_end_with_json(tmp_path, capsys):
    out = tmp_path / "steps.json"
    rc = cli.main(["explain", "conv2d", "--input", "2,3,7,7", "--weight", "4,3,3,3", "--stride", "2",
                   "--padding", "1", "--json", str(out)])
    assert rc == 0
    text = capsys.readouterr().out
    assert "checked: matches F.conv2d forward and backward" in text and "max |diff| = 0" in text
    assert "X_col (C*kh*kw, N*Ho*Wo): (27, 32)" in text
    obj = json.loads(out.read_text())
    assert obj["op"] == "conv2d" and obj["check"]["passed"] is True
    names = [s["name"] for s in obj["steps"]]
    assert any(n.startswith("im2col") for n in names) and "col2im" in names
    for s in obj["steps"]:
        assert {"name", "phase", "shapes", "strides", "bytes", "flops"} <= set(s)
        assert "arrays" not in s
    gemm = next(s for s in obj["steps"] if s["name"].startswith("GEMM  Y"))
    assert gemm["flops"] == 2 * 4 * 27 * 32


def test_cli_numbers_json_holds_the_arrays(tmp_path, capsys):
    out = tmp_path / "pool.json"
    assert cli.main(["explain", "max_pool2d", "--input", "1,1,4,4", "--kernel", "2", "--numbers",
                     "--json", str(out)]) == 0
    assert "[[6 8]" in capsys.readouterr().out
    obj = json.loads(out.read_text())
    assert obj["dtype"] == "float64"
    maxed = next(s for s in obj["steps"] if s["name"].startswith("max over"))
    assert maxed["arrays"]["output"] == [[[[6.0, 8.0], [3.0, 4.0]]]]
    # -inf padding becomes null in JSON, which has no infinity
    assert cli.main(["explain", "max_pool2d", "--input", "1,1,3,3", "--kernel", "2", "--padding", "1",
                     "--numbers", "--json", str(out)]) == 0
    padded = next(s for s in json.loads(out.read_text())["steps"] if s["name"].startswith("pad"))
    assert padded["arrays"]["padded"][0][0][0][0] is None


@pytest.mark.parametrize("args,needle", [
    (["explain", "conv3d", "--input", "1,1,4,4"], "unknown op 'conv3d'; expected one of conv2d"),
    (["explain", "conv2d", "--input", "2,3,x", "--weight", "4,3,3,3"], "--input: expected a shape"),
    (["explain", "conv2d", "--input", "2,3,7,7", "--weight", "4,2,3,3"],
     "explain conv2d: input of shape (2, 3, 7, 7) has 3 channels, but weight of shape (4, 2, 3, 3)"),
    (["explain", "conv2d", "--input", "1,1,2,2", "--weight", "1,1,3,3"],
     "kernel size can't be greater than actual input size"),
    (["explain", "max_pool2d", "--input", "1,1,2,2", "--kernel", "3"], "which is too small"),
    (["explain", "max_pool2d", "--input", "1,1,4,4"], "--kernel K is required"),
    (["explain", "max_pool2d", "--input", "1,1,4,4", "--kernel", "2", "--weight", "1,1"],
     "--weight does not apply to max_pool2d; it takes --input, --kernel"),
    (["explain", "conv2d", "--input", "8,3,28,28", "--weight", "4,3,3,3", "--numbers"],
     "at most 1,024 numbers per array"),
    (["explain", "linear", "--input", "64,320", "--weight", "10,100"],
     "mat1 and mat2 shapes cannot be multiplied (64x320 and 100x10)"),
    (["explain", "softmax", "--input", "3,5", "--dim", "2"], "dimension out of range"),
    (["explain", "cross_entropy", "--input", "3,5", "--target", "0,7,1"], "Target 7 is out of bounds"),
    (["explain", "cross_entropy", "--input", "3,5", "--reduction", "avg"], "invalid choice: 'avg'"),
    (["explain", "conv2d", "--input", "1,1,4,4", "--weight", "1,1,2,2", "--stride", "0"],
     "stride must be positive"),
    (["explain", "softmax", "--input", "3,5", "--json", "/nonexistent-dir/x.json"],
     "--json /nonexistent-dir/x.json: its directory does not exist"),
])
def test_cli_errors_are_one_line_with_exit_2(args, needle, capsys):
    try:
        rc = cli.main(args)
    except SystemExit as e:  # argparse's own checks exit from inside parse_args
        rc = e.code
    assert rc == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("scratchnet: error: explain"), err
    assert needle in lines[0]


def test_readme_shows_the_real_output(capsys):
    """The guide's example (docs/guide/explain.md, which the README links) is this
    command's actual output (it cannot drift)."""
    import os

    readme = open(os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                               "docs", "guide", "explain.md")).read()
    prompt = "$ scratchnet explain "
    start = readme.index(prompt)
    command = readme[start + len(prompt):readme.index("\n", start)]
    shown = readme[readme.index("\n", start) + 1:readme.index("\n```", start)]
    assert cli.main(["explain"] + command.split()) == 0
    assert capsys.readouterr().out.rstrip("\n") == shown
