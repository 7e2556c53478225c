"""Before the capstone trains: every swapped op, judged on the very calls the model makes.

A check grades an op on small drawn cases; the capstone calls it on a batch of
images, with the arguments the lecture modules pass, on arrays whose memory layout
the *learner's other ops* chose (a conv2d may return a transposed view, and the
max-pool after it must read that view by index, not by storage order). So before
training, :func:`check_ops`:

1. runs one training batch through the model twice, forward and backward: once on
   scratchnet's textbook ops and once on the learner's, recording every call of
   every swapped op (its arguments, copied in their own memory layout, and the
   upstream gradient its backward got);
2. calls the learner's op again on each distinct recorded call and judges it as a
   check does (:func:`scratchnet.exercise.judge.evaluate_op`) against the textbook op
   run on C-ordered copies: output, every gradient, no argument modified.

The first wrong call stops the capstone before it trains: :class:`OpsNotReady` names
the op, the learner's file and line, and the call. :func:`compare_engines` is the
``--engine both`` check: the same batch through the model on the learner's ops and
through its torch twin, layer by layer, naming the first layer whose output or
gradient differs.
"""
from __future__ import annotations

import inspect
from pathlib import Path

import numpy as np

from .. import functional as F
from ..testing import compare
from . import catalogue
from .case import Case
from .workspace import describe_exception


class OpsNotReady(ValueError):
    """A swapped op is wrong on a call the model makes: the message names it."""


def copy_like(a):
    """A copy of ``a`` in its own memory with ``a``'s very strides (its layout kept)."""
    if not isinstance(a, np.ndarray):
        return a
    if a.size == 0 or a.ndim == 0:
        return a.copy()
    item = a.itemsize
    low = sum((n - 1) * s for n, s in zip(a.shape, a.strides) if s < 0)
    high = sum((n - 1) * s for n, s in zip(a.shape, a.strides) if s > 0)
    if low % item or high % item or any(s % item for s in a.strides):
        return a.copy(order="K")
    fill = np.nan if a.dtype.kind == "f" else 0
    buffer = np.full((high - low) // item + 1, fill, dtype=a.dtype)
    view = np.lib.stride_tricks.as_strided(buffer[-low // item:], a.shape, a.strides)
    view[...] = a
    return view


def lecture_arguments(op_name, forward):
    """``forward`` called with an equal pair ``(k, k)`` of kernel_size/stride/padding as ``k``.

    ``nn.Conv2d`` stores its stride and padding as pairs (as torch's does); the core
    scope of the exercises, and their templates, take an int.
    """
    keys = ("kernel_size", "stride", "padding")
    sig = inspect.signature(F.registration(getattr(F, op_name)).forward)
    names = list(sig.parameters)

    def as_int(v):
        if isinstance(v, tuple) and len(v) == 2 and v[0] == v[1] and isinstance(v[0], int):
            return v[0]
        return v

    def call(*args, **kwargs):
        args = [as_int(a) if i < len(names) and names[i] in keys else a for i, a in enumerate(args)]
        kwargs = {k: as_int(v) if k in keys else v for k, v in kwargs.items()}
        return forward(*args, **kwargs)

    call.__signature__ = inspect.signature(forward)
    call.__wrapped__ = forward
    return call


def _recorder(op_name, forward, calls, raised):
    """``forward``, its calls appended to ``calls``, an exception it raises to ``raised``."""
    def record(*args, **kwargs):
        entry = {"op": op_name, "args": [copy_like(a) for a in args],
                 "kwargs": {k: copy_like(v) for k, v in kwargs.items()}, "grad_out": None}
        try:
            out, backward = forward(*args, **kwargs)
        except Exception as e:
            raised.append((op_name, "forward", e))
            raise
        calls.append(entry)

        def recorded_backward(grad_out):
            entry["grad_out"] = copy_like(grad_out)
            try:
                return backward(grad_out)
            except Exception as e:
                raised.append((op_name, "backward", e))
                raise
        return out, recorded_backward

    record.__signature__ = inspect.signature(forward)
    return record


def record_calls(step, forwards: dict, contexts=(), raised=None) -> list:
    """The calls of the ops of ``forwards`` (``{op name: forward}``) made by ``step()``,
    run inside ``F.override`` of them and the context managers ``contexts`` makes;
    ``(op, phase, exception)`` of an op that raised is appended to ``raised``."""
    import contextlib

    calls = []
    raised = [] if raised is None else raised
    swaps = {getattr(F, name): lecture_arguments(name, _recorder(name, fwd, calls, raised))
             for name, fwd in forwards.items()}
    with contextlib.ExitStack() as stack:
        stack.enter_context(F.override(swaps))
        for make in contexts:
            stack.enter_context(make())
        step()
    return calls


def _layout(a) -> str:
    if a.ndim < 2 or a.flags.c_contiguous:
        return ""
    if a.flags.f_contiguous:
        return ", in Fortran order"
    if any(s < 0 for s in a.strides):
        return f", a view with negative strides {a.strides}"
    span = sum((n - 1) * s for n, s in zip(a.shape, a.strides)) + a.itemsize
    if span == a.size * a.itemsize:  # dense, axes in another order
        return f", a transposed view (strides {a.strides})"
    return f", a non-contiguous view (strides {a.strides})"


def _case_of(entry):
    """The recorded call as a :class:`Case` (C-ordered arguments) and the learner's arguments."""
    name = entry["op"]
    textbook = F.registration(getattr(F, name)).forward
    sig = inspect.signature(textbook)
    bound = sig.bind(*entry["args"], **entry["kwargs"])
    positional = [n for n, p in sig.parameters.items()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    last = max((i for i, n in enumerate(positional)
                if isinstance(bound.arguments.get(n), np.ndarray)), default=0)
    names = positional[:last + 1]
    given = [bound.arguments.get(n, sig.parameters[n].default) for n in names]
    kwargs = {k: v for k, v in bound.arguments.items() if k not in names}
    args = tuple(np.array(a, order="C", copy=True) if isinstance(a, np.ndarray) else a for a in given)
    return Case(name, args, kwargs, tuple(names)), given


def _key(entry):
    def sig(v):
        if isinstance(v, np.ndarray):
            return (v.shape, v.dtype.str, v.strides)
        return repr(v)
    g = entry["grad_out"]
    return (entry["op"], tuple(sig(a) for a in entry["args"]),
            tuple((k, sig(v)) for k, v in sorted(entry["kwargs"].items())), sig(g) if g is not None else None)


def judge_call(entry, learner, path: Path):
    """``None`` if the learner's op is right on the recorded call, else its :class:`.judge.Failure`."""
    from ..testing import TOLERANCES
    from .judge import Failure, LearnerRaised, evaluate_op  # the grader's (it imports hypothesis)

    case, given = _case_of(entry)
    textbook = F.registration(getattr(F, entry["op"])).forward
    out, backward = textbook(*[a.copy() if isinstance(a, np.ndarray) else a for a in case.args],
                             **case.kwargs)
    primary = out[0] if isinstance(out, tuple) else out
    g = entry["grad_out"]
    g = np.random.default_rng(0).standard_normal(primary.shape).astype(primary.dtype) if g is None \
        else np.array(g, order="C", copy=True)
    grads = backward(g.copy())
    try:
        failure = evaluate_op(case, learner, (out, g, grads), path, TOLERANCES,
                              learner_args=[copy_like(a) for a in given],
                              learner_g=copy_like(entry["grad_out"]) if entry["grad_out"] is not None else g)
    except LearnerRaised as e:
        return Failure(f"{entry['op']}: your {e.phase} raised {e.where}", case)
    laid = [a for a in given + [entry["grad_out"]] if isinstance(a, np.ndarray) and _layout(a)]
    if failure is not None and failure.details and laid:
        try:  # the same call, every array C-ordered
            again = evaluate_op(case, learner, (out, g, grads), path, TOLERANCES,
                                learner_args=[np.array(a, copy=True) if isinstance(a, np.ndarray) else a
                                              for a in case.args], learner_g=g.copy())
        except LearnerRaised:
            again = failure
        if again is None:
            failure.details.insert(1, "with the same values C-ordered it is right: it reads memory in "
                                      "storage order (as_strided with strides computed from the shape, "
                                      "np.frombuffer, ravel(order='K')), not in index order")
    return failure


def where_defined(fn, path) -> str:
    try:
        line = inspect.getsourcelines(inspect.unwrap(fn))[1]
        return f"{path}, line {line} (def {fn.__name__})"
    except (OSError, TypeError):
        return str(path)


def describe_call(case, given, entry) -> str:
    parts = [f"{n}=<{a.dtype} array {tuple(a.shape)}{_layout(a)}>" if isinstance(a, np.ndarray)
             else f"{n}={a!r}" for n, a in zip(case.names, given)]
    parts += [f"{k}={v!r}" for k, v in case.kwargs.items()]
    text = f"{case.function}(" + ", ".join(parts) + ")"
    g = entry["grad_out"]
    if isinstance(g, np.ndarray) and _layout(g):
        text += f"; its backward got grad_out <{g.dtype} array {tuple(g.shape)}{_layout(g)}>"
    return text


def check_ops(model_name, step, learner: dict, paths: dict, log=print, limit=12, contexts=()) -> None:
    """Judge each of ``learner`` (``{op name: forward}``) on the calls ``step()`` makes.

    ``step()`` runs one training batch (forward, loss, backward) with whatever ops are
    in force; it is run on the textbook ops and on the learner's (with ``contexts``:
    the learner's chain of the layers' backwards). Raises
    :class:`OpsNotReady` naming the first op that is wrong on a call.
    """
    textbook = {name: F.registration(getattr(F, name)).forward for name in learner}
    calls = record_calls(step, textbook)
    textbook_calls = list(calls)
    raised = []
    try:
        calls += record_calls(step, learner, contexts, raised)
    except Exception as e:  # the learner's op raised inside the model: name it
        if raised:
            name, phase, exc = raised[0]
            where = describe_exception(exc, Path(paths[name]))
        else:
            name, phase, where = "code", "step", f"{type(e).__name__}: {e}"
        raise OpsNotReady(f"--ops: your {name} raised in its {phase} inside {model_name}'s first "
                          f"training step: {where}. Training did not start.") from None
    seen, judged = set(), {}
    for entry in calls:
        key = _key(entry)
        if key in seen or judged.get(entry["op"], 0) >= limit:
            continue
        seen.add(key)
        judged[entry["op"]] = judged.get(entry["op"], 0) + 1
        failure = judge_call(entry, learner[entry["op"]], paths[entry["op"]])
        if failure is not None:
            case, given = _case_of(entry)
            lines = [f"--ops: your {entry['op']} ({where_defined(learner[entry['op']], paths[entry['op']])}) "
                     f"is wrong on a call {model_name} makes; training did not start.",
                     f"  the call: {describe_call(case, given, entry)}",
                     f"  {failure.headline}"]
            lines += [f"  {d}" for d in failure.details[:2]]
            lines += [f"  diagnosis: {n}: {t}" for n, t in failure.diagnoses]
            ex = catalogue.exercise_of(entry["op"]).name
            lines.append(f"  fix it, then `scratchnet exercise check {ex} --dir "
                         f"{Path(paths[entry['op']]).parent}` (its cases draw such layouts too) "
                         f"and train again")
            raise OpsNotReady("\n".join(lines))
    if len(calls) == 2 * len(textbook_calls):
        _same_in_the_model(model_name, textbook_calls, calls[len(textbook_calls):])
    log(f"--ops: your {', '.join(learner)} gave the textbook's numbers on the "
        f"{len(seen)} distinct calls of one training step of {model_name}")


def _same_in_the_model(model_name, textbook_calls, learner_calls, rtol=1e-3, atol=1e-4) -> None:
    """The step on the learner's ops against the step on the textbook's, call by call.

    Each op was right on its own calls; if an op's *input* still differs here, the op
    that made it misbehaves only inside the model (state kept between calls, say).
    Forward inputs in forward order, then upstream gradients in backward order.
    """
    pairs = list(zip(textbook_calls, learner_calls))
    for k, (mine, theirs) in enumerate(pairs):
        for a, b in zip(mine["args"], theirs["args"]):
            if isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.dtype.kind == "f":
                problem = compare("input", b, a, rtol=rtol, atol=atol)
                if problem:
                    before = pairs[k - 1][0]["op"] if k else "the model's first layer"
                    raise OpsNotReady(
                        f"--ops: inside {model_name}, the input of {theirs['op']} (call {k + 1} of the "
                        f"step) differs from the textbook model's: {problem.lines[0]}. Every op was "
                        f"right on its own calls, so the op before it ({before}) misbehaves only in "
                        f"the model: does it keep state between calls (a global, a cache)? Training "
                        f"did not start.")
    for k in reversed(range(len(pairs))):
        a, b = pairs[k][0]["grad_out"], pairs[k][1]["grad_out"]
        if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
            problem = compare("upstream gradient", b, a, rtol=rtol, atol=atol)
            if problem:
                after = pairs[k + 1][1]["op"] if k + 1 < len(pairs) else "the loss"
                raise OpsNotReady(
                    f"--ops: inside {model_name}, the gradient arriving at {pairs[k][1]['op']} (call "
                    f"{k + 1} of the step) differs from the textbook model's: {problem.lines[0]}. "
                    f"Every op was right on its own calls, so the backward after it ({after}) "
                    f"misbehaves only in the model: does it keep state between calls? Training did "
                    f"not start.")


# --------------------------------------------------------------------------- --engine both
def compare_engines(engines, x, y, rtol=1e-3, atol=1e-4) -> None:
    """One batch through the NumPy model (learner's ops) and its torch twin, layer by layer.

    Raises :class:`OpsNotReady` naming the first layer whose output differs (forward
    order), else the first whose incoming gradient differs (backward order), else the
    first parameter gradient that differs.
    """
    records = []
    for engine in engines:
        outs, grads = [], []
        handles = engine.watch(lambda name, kind, out: outs.append((name, kind, np.array(out))),
                               lambda name, kind, g: grads.append((name, kind, np.array(g))))
        try:
            engine.train(), engine.train_step(*engine.put(x, y))
        finally:
            for h in handles:
                h.remove()
        params = [(layer, kind, p, np.array(g)) for layer, kind, p, _, g in engine.parameter_arrays()
                  if g is not None]
        records.append((outs, grads, params))
    (o1, g1, p1), (o2, g2, p2) = records
    for what, mine, theirs in (("output", o1, o2), ("gradient arriving at its output", g1, g2)):
        for (name, kind, a), (_, _, b) in zip(mine, theirs):
            problem = compare(what, a, b.astype(a.dtype, copy=False), rtol=rtol, atol=atol)
            if problem:
                raise OpsNotReady(f"--engine both: layer {name!r} ({kind}) differs from torch's twin "
                                  f"on the first batch: its {problem.lines[0]}. The layers before it "
                                  f"agree: look at the op it runs. Training did not start.")
    for (layer, kind, pname, a), (_, _, _, b) in zip(p1, p2):
        problem = compare(f"{layer}.{pname}.grad", a, b.astype(a.dtype, copy=False), rtol=rtol, atol=atol)
        if problem:
            raise OpsNotReady(f"--engine both: the gradient of layer {layer!r} ({kind}) parameter "
                              f"{pname!r} differs from torch's twin on the first batch: "
                              f"{problem.lines[0]}. Training did not start.")
