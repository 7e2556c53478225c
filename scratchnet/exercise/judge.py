"""One example judged: the learner's function called once, everything it returned compared.

:func:`evaluate` calls the learner's function on the case's arguments *in their drawn
memory layouts* (fresh arrays each call; the oracle gets C-ordered copies), checks
what came back (a tuple ``(out, backward)``, arrays, a dict of gradients), compares
the output and every gradient with the oracle, and checks after the forward and
after the backward that no argument changed: an argument, the upstream gradient, a
parameter's data, the momentum buffer. Whatever the learner returns, the verdict is
a :class:`Failure` with a message, never a traceback; an exception inside their code
names their file and line.
"""
from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from ..testing import compare, graded_arguments
from . import diagnoses
from .case import LAYOUT_WORDS, shows
from .workspace import describe_exception


@dataclass
class Failure:
    """Why one example failed: a headline, details, and the named mistakes it matches."""

    headline: str
    case: object = None
    details: list = field(default_factory=list)
    diagnoses: list = field(default_factory=list)  # [(name, explanation)]
    not_implemented: bool = False  # the learner raised NotImplementedError


class LearnerRaised(Exception):
    def __init__(self, exc, where, phase):
        super().__init__(str(exc))
        self.exc, self.where, self.phase = exc, where, phase


@contextlib.contextmanager
def quiet():
    """The learner's numerics may overflow on purpose-drawn inputs: no warnings, no noise."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        yield


def call(fn, path, phase, *args, **kwargs):
    """``fn(*args, **kwargs)``; an exception in it becomes :class:`LearnerRaised` (``phase``: where)."""
    try:
        with quiet():
            return fn(*args, **kwargs)
    except Exception as e:  # the learner's code: report it as theirs
        raise LearnerRaised(e, describe_exception(e, path), phase) from None


def upstream(seed: int):
    """A random upstream gradient maker (never all ones)."""
    def make(shape, dtype):
        return np.asarray(np.random.default_rng(seed).standard_normal(shape)).astype(dtype)
    return make


# --------------------------------------------------------------------------- what came back
def describe_value(v) -> str:
    """What a returned value is, in words: ``a Python float (0.5)``, ``a list of 2``, ..."""
    if v is None:
        return "None"
    if isinstance(v, np.ndarray):
        return f"a {v.dtype} array of shape {tuple(v.shape)}"
    if isinstance(v, np.generic):
        return f"a NumPy {v.dtype} scalar"
    if isinstance(v, (bool, int, float, complex)):
        return f"a Python {type(v).__name__} ({v!r})"
    if isinstance(v, dict):
        return f"a dict with keys {list(v)}"
    if isinstance(v, (list, tuple)):
        items = ", ".join(describe_value(x) for x in list(v)[:3]) + (", ..." if len(v) > 3 else "")
        return f"a {type(v).__name__} of {len(v)} ({items})"
    if callable(v):
        return "a function"
    return f"a {type(v).__name__}"


def split_result(result, function, form="(out, backward)"):
    """``(out, backward)`` from what the learner returned, or the :class:`Failure` that says why not."""
    if isinstance(result, tuple) and len(result) == 2:
        first, second = result
        if callable(second) and not callable(first):
            return first, second
        if callable(first) and not callable(second):
            return Failure(f"{function} returned {form} in the wrong order: it returned (backward, "
                           f"{describe_value(second)}); return {form}")
        return Failure(f"{function} must return {form}; it returned a tuple whose second item is "
                       f"{describe_value(second)}, not the backward function")
    return Failure(f"{function} must return {form}; it returned {describe_value(result)}")


def as_array(value, what, function):
    """``value`` as an ndarray (a NumPy scalar is one), or the :class:`Failure` naming what it is."""
    if isinstance(value, np.ndarray):
        return value
    if isinstance(value, np.generic):
        return np.asarray(value)
    hint = " (a loss is 0-d: np.asarray(value, dtype=input.dtype))" if isinstance(value, float) else ""
    return Failure(f"{function}: the {what} is {describe_value(value)}; return an ndarray{hint}")


# --------------------------------------------------------------------------- arguments unmodified
def snapshot(named) -> list:
    """``[(name, array, copy)]`` of the arrays among ``named`` ``(name, value)`` pairs."""
    return [(name, a, np.array(a, copy=True)) for name, a in named if isinstance(a, np.ndarray)]


def largest_change(before, after) -> str:
    """``largest change at (0, 2): 0.5 became 0`` (or what changed, if not the values)."""
    if after.shape != before.shape:
        return f"its shape changed from {tuple(before.shape)} to {tuple(after.shape)}"
    with np.errstate(all="ignore"):
        b, a = before.astype(np.float64), after.astype(np.float64)
        changed = ~((a == b) | (np.isnan(a) & np.isnan(b)))
        diff = np.where(changed, np.nan_to_num(np.abs(a - b), nan=np.inf), -1.0)
    at = tuple(int(i) for i in np.unravel_index(int(np.argmax(diff)), diff.shape)) if diff.ndim else ()
    return (f"{int(changed.sum())} of {changed.size} values changed, the largest change at {at}: "
            f"{before[at].item():.8g} became {after[at].item():.8g}")


def modified(snap, function, phase, case) -> Optional[Failure]:
    """The :class:`Failure` naming the first array of ``snap`` that changed, or ``None``."""
    for name, array, before in snap:
        same = array.shape == before.shape and np.array_equal(
            array, before, equal_nan=before.dtype.kind in "fc")
        if not same:
            f = Failure(f"{function}: your {phase} modified `{name}` in place "
                        f"({largest_change(before, array)})", case,
                        ["never write into an argument (x -= ..., x[...] = ..., np.op(..., out=x)): "
                         "make a new array; the caller still needs it"])
            f.diagnoses.append(diagnoses.modified_argument(name, phase))
            return f
    return None


def _diagnose(finder) -> list:
    """The diagnoses ``finder()`` names; none if naming them fails on an odd answer."""
    try:
        return list(finder())
    except Exception:  # a diagnosis is a courtesy: an answer it cannot read gets none
        return []


# --------------------------------------------------------------------------- one op
def evaluate_op(case, fn, expected, path: Path, tolerances, learner_args=None, learner_g=None):
    failure = _evaluate_op(case, fn, expected, path, tolerances, learner_args, learner_g)
    if failure is not None and failure.details and learner_args is None and _laid_out(case):
        _storage_order(failure, case, fn, expected, path, tolerances)
    return failure


def _laid_out(case) -> bool:
    return case.grad_layout != "C" or any(
        case.layout(i) != "C" for i, a in enumerate(case.args) if isinstance(a, np.ndarray) and a.ndim)


def _storage_order(failure, case, fn, expected, path, tolerances) -> None:
    """If the same case, C-ordered, passes: say that the function reads memory in storage order."""
    from dataclasses import replace

    plain = replace(case, layouts=(), grad_layout="C", extra=dict(case.extra))
    try:
        again = _evaluate_op(plain, fn, expected, path, tolerances, None, None)
    except LearnerRaised:
        return
    if again is None:
        laid = [(n, a, case.layout(i)) for i, (n, a) in enumerate(zip(case.names, case.args))
                if isinstance(a, np.ndarray) and a.ndim and case.layout(i) != "C"]
        laid.append(("grad_out", case.extra["upstream gradient"], case.grad_layout))
        which = [f"{n} ({LAYOUT_WORDS[lay]})" for n, a, lay in laid if shows(a, lay)] or [
            f"{n} ({LAYOUT_WORDS[lay]})" for n, a, lay in laid if lay != "C"]
        failure.details.append(
            f"the same values C-ordered pass: your {case.function} reads memory in storage order, "
            f"not in index order, for {', '.join(which)} (as_strided with strides computed from the "
            f"shape, np.frombuffer(x) or x.data, x.ravel(order='K') do): index the array, use "
            f"x.strides, or take np.ascontiguousarray(x) first")


def _evaluate_op(case, fn, expected, path: Path, tolerances, learner_args=None, learner_g=None):
    """Judge one call of an op of the ``(out, backward)`` form.

    ``expected`` is ``(out, g, {name: gradient})`` from the oracle, on ``case.args``.
    The learner gets ``learner_args`` (default: the case's arguments in their drawn
    layouts) and ``learner_g`` (default: ``g`` in the drawn layout).
    """
    expected_out, g, expected_grads = expected
    case.extra["upstream gradient"] = g
    function = case.function
    args = case.learner_args() if learner_args is None else list(learner_args)
    names = list(case.names) + [f"arg{i}" for i in range(len(case.names), len(args))]
    snap = snapshot(zip(names, args))
    result = call(fn, path, "forward", *args, **case.kwargs)
    split = split_result(result, function)
    if isinstance(split, Failure):
        split.case = case
        return split
    out, backward = split
    failure = modified(snap, function, "forward", case)
    if failure:
        return failure
    context = diagnoses.Context(case, g, expected_out, expected_grads, tolerances)
    if isinstance(expected_out, tuple):  # max_pool2d(return_indices=True)
        if not (isinstance(out, tuple) and len(out) == len(expected_out)):
            return Failure(f"{function} with return_indices=True must return "
                           f"((values, indices), backward); its out is {describe_value(out)}", case)
        pairs = [("output values", out[0], expected_out[0]), ("indices", out[1], expected_out[1])]
    else:
        pairs = [("output", out, expected_out)]
    for what, got, exp in pairs:
        got = as_array(got, what, function)
        if isinstance(got, Failure):
            got.case = case
            return got
        problem = compare(what, got, exp, tolerances)
        if problem:
            return Failure(f"{function}: wrong {what}", case, problem.lines,
                           _diagnose(lambda: diagnoses.find(context, "output", got)))
    grad_out = case.learner_grad(g) if learner_g is None else learner_g
    snap = snapshot(list(zip(names, args)) + [("grad_out", grad_out)])
    grads = call(backward, path, "backward", grad_out)
    failure = modified(snap, function, "backward", case)
    if failure:
        return failure
    if not isinstance(grads, dict):
        return Failure(f"{function}'s backward must return a dict {{name: gradient}}; it returned "
                       f"{describe_value(grads)}", case)
    for _, name in graded_arguments(function, case.names, case.args):
        got = grads.get(name)
        if got is None:
            f = Failure(f"{function}: backward returned no gradient for {name!r} (its dict's keys: "
                        f"{list(grads)})", case)
            f.diagnoses.append(diagnoses.named("missing_gradient", name=name))
            return f
        got = as_array(got, f"gradient of {name!r}", function)
        if isinstance(got, Failure):
            got.case = case
            return got
        problem = compare(f"gradient of {name}", got, expected_grads[name], tolerances)
        if problem:
            return Failure(f"{function}: wrong gradient of {name!r}", case, problem.lines,
                           _diagnose(lambda: diagnoses.find(context, name, got)))
    return None


# --------------------------------------------------------------------------- sequential
def evaluate_sequential(case, fn, oracle, path) -> Optional[Failure]:
    from .sequential_case import expected_sequential, learner_layers

    exp_out, g, exp_input_grad, exp_param_grads, per_use = expected_sequential(case, oracle)
    case.extra["upstream gradient"] = g
    layers, params = learner_layers(case)
    x = case.learner_args()[0]
    data = [(f"{key} (its .data)", p.data) for key, p in params.items()]
    snap = snapshot([("input", x)] + data)
    result = call(fn, path, "forward", x, layers)
    split = split_result(result, "sequential")
    if isinstance(split, Failure):
        split.case = case
        return split
    out, backward = split
    failure = modified(snap, "sequential", "forward", case) or _reassigned(params, data, case)
    if failure:
        return failure
    out = as_array(out, "output", "sequential")
    if isinstance(out, Failure):
        out.case = case
        return out
    problem = compare("output", out, exp_out, oracle.tolerances)
    if problem:
        return Failure("sequential: wrong output", case, problem.lines)
    grad_out = case.learner_grad(g)
    snap = snapshot([("input", x), ("grad_out", grad_out)] + data)
    grads = call(backward, path, "backward", grad_out)
    failure = modified(snap, "sequential", "backward", case) or _reassigned(params, data, case)
    if failure:
        return failure
    if not isinstance(grads, dict) or grads.get("input") is None:
        f = Failure("sequential's backward must return {'input': gradient of the input}; it "
                    f"returned {describe_value(grads)}", case)
        f.diagnoses.append(diagnoses.named("missing_gradient", name="input"))
        return f
    got = as_array(grads["input"], "gradient of the input", "sequential")
    if isinstance(got, Failure):
        got.case = case
        return got
    problem = compare("gradient of input", got, exp_input_grad, oracle.tolerances)
    if problem:
        return Failure("sequential: wrong gradient of the input", case, problem.lines)
    for key, p in params.items():
        if p.grad is None:
            f = Failure(f"sequential: {key}.grad is still None after backward", case)
            f.diagnoses.append(diagnoses.named("missing_gradient", name=key))
            return f
        got = as_array(p.grad, f"{key}.grad", "sequential")
        if isinstance(got, Failure):
            got.case = case
            return got
        problem = compare(f"{key}.grad", got, exp_param_grads[key], oracle.tolerances)
        if problem:
            return Failure(f"sequential: wrong {key}.grad", case, problem.lines,
                           _diagnose(lambda: diagnoses.find_accumulation(
                               case, key, got, per_use[key], oracle.tolerances)))
    return None


def _reassigned(params, data, case) -> Optional[Failure]:
    for (key, p), (_, before) in zip(params.items(), data):
        if p.data is not before:
            return Failure(f"sequential: {key}.data was replaced by another array: a parameter's "
                           f"data is the optimizer's to change, never the backward's", case)
    return None


# --------------------------------------------------------------------------- sgd over a schedule
def lr_change(schedule, step) -> Optional[str]:
    """``'lr 0.1 -> 0.5'`` if step ``step`` (from 1) is the first whose lr differs from step 1's."""
    lrs = [h["lr"] for h in schedule]
    first = next((t for t in range(1, len(lrs)) if lrs[t] != lrs[0]), None)
    if first is None or first != step - 1:
        return None
    return f"lr {lrs[first - 1]:g} -> {lrs[first]:g}"


def evaluate_sgd(case, fn, oracle, path) -> Optional[Failure]:
    """Run the learner's rule over the case's schedule; compare parameter and buffer at every step.

    The parameters of the whole run are compared first, then the buffers: a rule that
    keeps lr inside its buffer (the velocity form) moves the parameter as torch does
    until the learning rate changes, and fails there, at the step that shows why.
    """
    from ..testing.strategies import in_layout
    from .oracle import sgd_trajectory

    schedule, grads = case.extra["schedule"], case.extra["grads"]
    layouts = case.extra.get("grad_layouts") or ["C"] * len(grads)
    expected = sgd_trajectory("torch" if oracle.name == "torch" else "own", case.args[0], grads,
                              schedule)
    p, buf, got = case.learner_args()[0], None, []
    for step, (g, hyper) in enumerate(zip(grads, schedule), start=1):
        g_arg = in_layout(g, layouts[step - 1])
        snap = snapshot([("param", p), ("grad", g_arg), ("momentum_buffer", buf)])
        result = call(fn, path, f"step {step}", p, g_arg, buf, **hyper)
        if not (isinstance(result, tuple) and len(result) == 2):
            return Failure(f"sgd_momentum must return (new_param, new_momentum_buffer); at step "
                           f"{step} it returned {describe_value(result)}", case)
        failure = modified(snap, "sgd_momentum", f"step {step}", case)
        if failure:
            return failure
        new_p = as_array(result[0], f"new parameter of step {step}", "sgd_momentum")
        if isinstance(new_p, Failure):
            new_p.case = case
            return new_p
        p, buf = new_p, result[1]
        got.append((p, buf))
    n = len(grads)
    for step, ((p, _), (exp_p, _)) in enumerate(zip(got, expected), start=1):
        problem = compare(f"parameter after step {step}", p, exp_p, oracle.tolerances)
        if problem:
            change = lr_change(schedule, step)
            where = f", the first step where the learning rate changed ({change})" if change else ""
            return Failure(f"sgd_momentum: wrong parameter after step {step} of {n}{where}", case,
                           problem.lines, _diagnose(lambda: sgd_diagnoses(case, step, p, "param")))
    for step, ((_, b), (_, exp_b)) in enumerate(zip(got, expected), start=1):
        if exp_b is None:
            continue  # without momentum torch keeps no buffer: what the rule returns is its own
        b = as_array(b, f"momentum buffer of step {step}", "sgd_momentum")
        if isinstance(b, Failure):
            b.headline += " (with momentum, return torch's buffer b_t: the next step reads it)"
            b.case = case
            return b
        problem = compare(f"momentum buffer after step {step}", b, exp_b, oracle.tolerances)
        if problem:
            return Failure(f"sgd_momentum: wrong momentum buffer after step {step} of {n} (the "
                           f"parameters were right)", case, problem.lines,
                           _diagnose(lambda: sgd_diagnoses(case, step, b, "buffer")))
    return None


_VELOCITY = ("learning rate folded into the momentum buffer (the velocity form)",
             "v = mu v + lr g, theta -= v equals torch's rule only while lr stays the same: torch "
             "keeps b = mu b + g and steps theta -= lr b, so a new lr scales the whole buffer at "
             "once. Keep lr out of the buffer and return torch's b.")


def sgd_diagnoses(case, step, got, which) -> list:
    """The named SGD mistakes whose ``which`` ('param' or 'buffer') after ``step`` equals ``got``."""
    schedule, grads, param = case.extra["schedule"], case.extra["grads"], case.args[0]
    right = _rule_trajectory(None, param, grads, schedule)[step - 1]
    k = 0 if which == "param" else 1
    found = []
    rule = getattr(diagnoses, "_sgd_rule", None)
    variants = dict(getattr(diagnoses, "_SGD_VARIANTS", {}))
    candidates = [(v, title, text) for v, (title, text) in variants.items()] if rule else []
    candidates.append(("velocity",) + _VELOCITY)
    titles = set()
    for variant, title, text in candidates:
        if variant == "velocity" and any("velocity" in t for t in titles):
            continue  # named already, in diagnoses' words
        wrong = _rule_trajectory(variant, param, grads, schedule)[step - 1][k]
        if wrong is None or right[k] is None:
            continue
        if diagnoses._close(got, wrong, param.dtype) and not diagnoses._close(right[k], wrong, param.dtype):
            found.append(diagnoses.named("sgd_variant", title=title, text=text))
            titles.add(title)
    return found


def _velocity_rule(param, grad, buf, lr, momentum=0.0, dampening=0.0, weight_decay=0.0,
                   nesterov=False, maximize=False):
    g = -grad if maximize else grad
    if weight_decay:
        g = g + weight_decay * param
    if not momentum:
        return param - lr * g, None
    v = lr * g if buf is None else momentum * buf + (1 - dampening) * lr * g
    return param - (lr * g + momentum * v if nesterov else v), v


def _rule_trajectory(variant, param, grads, schedule):
    out, p, buf = [], param.copy(), None
    for g, hyper in zip(grads, schedule):
        if variant == "velocity":
            p, buf = _velocity_rule(p, g, buf, **hyper)
        else:
            p, buf = diagnoses._sgd_rule(variant, p, g, buf, **hyper)
        out.append((np.asarray(p, dtype=param.dtype),
                    None if buf is None else np.asarray(buf, dtype=param.dtype)))
    return out
