"""A failing case, shown whole and written out as a Python file that reproduces it.

:func:`case_lines` is what a report prints under a failure of the two exercises whose
case is more than a call's arguments: the layers of a ``sequential_backward`` case
(the ``.grad`` each parameter held before, the upstream gradient) and the steps of
an ``sgd_momentum`` case (each step's gradient, learning rate and momentum).

:func:`snippet` (``scratchnet exercise check NAME --repro FILE``) writes a case as a
runnable script: it imports the learner's file, builds the arrays from exact
literals in the layouts the grader used, calls the learner's function and
scratchnet's reference on the same case, prints every difference and exits with
status 1 when there is one. The reference is scratchnet's own op (proven equal to
torch by the parity suite), so the script runs without torch.
"""
from __future__ import annotations

import numpy as np

from .case import LAYOUT_WORDS


def _fmt(a) -> str:
    rows = np.array2string(np.asarray(a), precision=5, suppress_small=True).splitlines()
    return " ".join(r.strip() for r in rows)


def case_lines(case) -> list:
    """The parts of a sequential or SGD case that reproduce it, one line each."""
    lines = []
    if case.function == "sequential":
        seen = {}
        for i, (kind, arrays, pre) in enumerate(case.extra["layers"]):
            layer = case.extra["layers"][i]
            if id(layer) in seen:
                lines.append(f"  layer {i}: layer {seen[id(layer)]} again (the same parameters)")
                continue
            if arrays:
                seen[id(layer)] = i
            parts = [f"{n}={_fmt(v)}" for n, v in arrays.items()]
            parts += [f"{n}.grad before={'None' if pre.get(n) is None else _fmt(pre[n])}"
                      for n in arrays]
            lines.append(f"  layer {i}: {kind}" + (" " + ", ".join(parts) if parts else ""))
        g = case.extra.get("upstream gradient")
        if g is not None and g.size > 16:  # a small one is printed with the arguments
            lines.append(f"  upstream gradient = {_fmt(g)}")
    elif case.function == "sgd_momentum":
        layouts = case.extra.get("grad_layouts") or ["C"] * len(case.extra["grads"])
        for t, (g, hyper, lay) in enumerate(zip(case.extra["grads"], case.extra["schedule"], layouts), 1):
            opts = ", ".join(f"{k}={v!r}" for k, v in hyper.items())
            where = "" if lay == "C" or g.ndim == 0 else f" ({LAYOUT_WORDS[lay]})"
            lines.append(f"  step {t}: {opts}; grad{where} = {_fmt(g)}")
    return lines


# --------------------------------------------------------------------------- the script
def _literal(a) -> str:
    """``np.array([...], dtype=np.float32)`` with every value exact (``repr`` round-trips)."""
    a = np.asarray(a)

    def lit(v):
        if isinstance(v, list):
            return "[" + ", ".join(lit(x) for x in v) + "]"
        if isinstance(v, float) and not np.isfinite(v):
            return "nan" if np.isnan(v) else ("inf" if v > 0 else "-inf")
        return repr(v)

    return f"np.array({lit(a.tolist())}, dtype=np.{a.dtype.name})"


def _value(v) -> str:
    return _literal(v) if isinstance(v, np.ndarray) else repr(v)


_HEAD = '''"""Reproduces a failing case of `scratchnet exercise check {name}`.

{headline}
Run it from anywhere: python {script}
It exits with status 1 while your {function} still differs from scratchnet's reference.
"""
import importlib.util

import numpy as np

from scratchnet.exercise.catalogue import exercise_of
from scratchnet.testing import compare
from scratchnet.testing.strategies import in_layout

nan, inf = float("nan"), float("inf")
spec = importlib.util.spec_from_file_location("yours", {path!r})
yours = importlib.util.module_from_spec(spec)
spec.loader.exec_module(yours)
problems = []


def check(what, got, expected):
    problem = compare(what, got, expected)
    print(problem if problem else f"{{what}}: matches")
    if problem:
        problems.append(what)


def unchanged(what, array, before):
    if not np.array_equal(array, before, equal_nan=True):
        print(f"{{what}} was modified in place")
        problems.append(what)

'''

_OP = '''
# The case: C-ordered values, then the layouts your function got them in.
args = [{args}]
kwargs = {kwargs!r}
layouts = {layouts!r}
g = {g}  # the upstream gradient
g_layout = {g_layout!r}

reference = exercise_of({function!r}).reference({function!r})
expected_out, expected_backward = reference(*[a.copy() if isinstance(a, np.ndarray) else a
                                              for a in args], **kwargs)
expected_grads = expected_backward(g.copy())

mine = [in_layout(a, lay) if isinstance(a, np.ndarray) else a for a, lay in zip(args, layouts)]
out, backward = yours.{function}(*mine, **kwargs)
for name, a, before in zip({names!r}, mine, args):
    if isinstance(a, np.ndarray):
        unchanged(f"argument {{name}} (forward)", a, before)
check("output", np.asarray(out[0] if isinstance(out, tuple) else out),
      expected_out[0] if isinstance(expected_out, tuple) else expected_out)
grad_out = in_layout(g, g_layout)
grads = backward(grad_out)
unchanged("grad_out (backward)", grad_out, g)
for name, a, before in zip({names!r}, mine, args):
    if isinstance(a, np.ndarray):
        unchanged(f"argument {{name}} (backward)", a, before)
for name in {graded!r}:
    check(f"gradient of {{name}}", np.asarray(grads.get(name)), expected_grads[name])
'''

_SEQUENTIAL = '''
from scratchnet import functional as F
from scratchnet.exercise.reference import sequential as reference
from scratchnet.nn import Parameter

x = {x}
x_layout = {x_layout!r}
g = {g}  # the upstream gradient
g_layout = {g_layout!r}


def make_layers():
    """The chain: a layer listed twice is one layer used twice (its parameters shared)."""
{layers}


layers, params = make_layers()
expected_out, expected_backward = reference(x.copy(), layers)
expected_input = expected_backward(g.copy())["input"]
expected = {{key: p.grad for key, p in params.items()}}

layers, params = make_layers()
out, backward = yours.sequential(in_layout(x, x_layout), layers)
check("output", np.asarray(out), expected_out)
grads = backward(in_layout(g, g_layout))
check("gradient of input", np.asarray(grads["input"]), expected_input)
for key, p in params.items():
    check(f"{{key}}.grad", np.asarray(p.grad), expected[key])
'''

_SGD = '''
from scratchnet.exercise.reference import sgd_momentum as reference

param = {param}
param_layout = {param_layout!r}
grads = [{grads}]
grad_layouts = {grad_layouts!r}
schedule = {schedule!r}  # each step's lr, momentum, ...

p, buf = param.copy(), None
mine_p, mine_buf = in_layout(param, param_layout), None
for step, (grad, hyper, lay) in enumerate(zip(grads, schedule, grad_layouts), start=1):
    p, buf = reference(p, grad.copy(), buf, **hyper)
    g_arg = in_layout(grad, lay)
    before_p, before_buf = np.array(mine_p, copy=True), None if mine_buf is None else np.array(mine_buf, copy=True)
    new_p, new_buf = yours.sgd_momentum(mine_p, g_arg, mine_buf, **hyper)
    unchanged(f"param (step {{step}})", mine_p, before_p)
    unchanged(f"grad (step {{step}})", g_arg, grad)
    if before_buf is not None:
        unchanged(f"momentum_buffer (step {{step}})", mine_buf, before_buf)
    check(f"parameter after step {{step}} ({{hyper}})", np.asarray(new_p), p)
    if buf is not None:
        check(f"momentum buffer after step {{step}}", np.asarray(new_buf), buf)
    mine_p, mine_buf = new_p, new_buf
'''

_TAIL = '''
print("reproduced: " + ", ".join(problems) + " differ" if problems else "no difference any more")
raise SystemExit(1 if problems else 0)
'''


def snippet(case, learner_path, name: str, headline: str, script: str = "repro.py") -> str:
    """The text of a script that reproduces ``case`` against the learner's file ``learner_path``."""
    from ..testing import graded_arguments

    head = _HEAD.format(name=name, headline=headline.replace('"""', "'''"), script=script,
                        function=case.function, path=str(learner_path))
    g = case.extra.get("upstream gradient")
    if case.function == "sequential":
        body = _SEQUENTIAL.format(x=_literal(case.args[0]), x_layout=case.layout(0),
                                  g=_literal(g), g_layout=case.grad_layout,
                                  layers=_layers_source(case))
    elif case.function == "sgd_momentum":
        layouts = case.extra.get("grad_layouts") or ["C"] * len(case.extra["grads"])
        body = _SGD.format(param=_literal(case.args[0]), param_layout=case.layout(0),
                           grads=", ".join(_literal(x) for x in case.extra["grads"]),
                           grad_layouts=list(layouts), schedule=case.extra["schedule"])
    else:
        graded = [n for _, n in graded_arguments(case.function, case.names, case.args)]
        body = _OP.format(args=", ".join(_value(a) for a in case.args), kwargs=case.kwargs,
                          layouts=[case.layout(i) for i in range(len(case.args))], g=_literal(g),
                          g_layout=case.grad_layout, function=case.function,
                          names=list(case.names), graded=graded)
    return head + body + _TAIL


def _layers_source(case) -> str:
    lines, made = [], {}
    for i, layer in enumerate(case.extra["layers"]):
        kind, arrays, pre = layer
        if arrays and id(layer) not in made:
            made[id(layer)] = f"layer{i}"
            lines.append(f"layer{i} = {{" + ", ".join(
                f"{n!r}: Parameter({_literal(v)})" for n, v in arrays.items()) + "}")
            for n in arrays:
                if pre.get(n) is not None:
                    lines.append(f"layer{i}[{n!r}].grad = {_literal(pre[n])}  # a gradient already there")
    chain = ", ".join(f"(F.registration(F.{layer[0]}).forward, "
                      f"{made.get(id(layer), '{}')})" for layer in case.extra["layers"])
    lines.append(f"layers = [{chain}]")
    params = ", ".join(f"**{{f'{v}.{{n}}': p for n, p in {v}.items()}}" for v in made.values())
    lines.append(f"return layers, {{{params}}}")
    return "\n".join("    " + line for line in lines)
