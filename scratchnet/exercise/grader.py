"""Grade a learner's functions: every property, shrunk failures, named mistakes.

:func:`check` runs each property of an exercise with hypothesis (derandomized: the
same file always gets the same verdict; the ``dev`` example count, or ``deep`` with
``thorough``). One example calls the learner's function on copies of the drawn
arguments, compares the output and every gradient with the oracle, and checks that
no argument was modified and that dtypes are kept. A failure is shrunk by hypothesis
to the smallest case that still fails, and reported with expected and got side by
side, the largest difference and where it is, and the named mistakes it matches
(:mod:`.diagnoses`). An exception inside the learner's code names their file and line.
"""
from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from . import diagnoses
from .catalogue import Exercise
from .graded import graded_arguments
from .oracle import make_oracle, sgd_trajectory
from .properties import Case, properties
from .strategies import PROFILE_EXAMPLES
from .workspace import describe_exception


@dataclass
class Failure:
    """Why one example failed: a headline, details, and the named mistakes it matches."""

    headline: str
    case: Optional[Case] = None
    details: list = field(default_factory=list)
    diagnoses: list = field(default_factory=list)  # [(name, explanation)]


@dataclass
class PropertyResult:
    label: str
    failure: Optional[Failure] = None
    examples: int = 0

    @property
    def passed(self) -> bool:
        return self.failure is None


class _Failed(Exception):
    pass


class _LearnerRaised(Exception):
    def __init__(self, exc, where):
        super().__init__(str(exc))
        self.exc, self.where = exc, where


@contextlib.contextmanager
def _quiet():
    """The learner's numerics may overflow on purpose-drawn inputs: no warnings, no noise."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        yield


def _call(fn, path, *args, **kwargs):
    try:
        with _quiet():
            return fn(*args, **kwargs)
    except Exception as e:  # the learner's code: report it as theirs
        raise _LearnerRaised(e, describe_exception(e, path)) from None


def upstream(seed: int):
    """A random upstream gradient maker (never all ones)."""
    def make(shape, dtype):
        return np.asarray(np.random.default_rng(seed).standard_normal(shape)).astype(dtype)
    return make


# --------------------------------------------------------------------------- comparing
def compare(what, got, expected, tol) -> Optional[list]:
    """``None`` if ``got`` matches ``expected``; else the lines that say how it differs."""
    got = np.asarray(got)
    expected = np.asarray(expected)
    if got.shape != expected.shape:
        return [f"{what}: shape {tuple(got.shape)}, expected {tuple(expected.shape)}"]
    if got.dtype != expected.dtype:
        return [f"{what}: dtype {got.dtype}, expected {expected.dtype} (keep the input's dtype)"]
    if expected.dtype.kind != "f":
        if np.array_equal(got, expected):
            return None
        bad = np.argwhere(got != expected)
        return [f"{what}: differs at {len(bad)} positions, first at {tuple(bad[0])}"] + side_by_side(got, expected)
    rtol, atol = tol[expected.dtype]
    finite = np.isfinite(expected)
    scale = max(float(np.max(np.abs(expected[finite]), initial=1.0)), 1.0)
    with np.errstate(all="ignore"):
        diff = np.abs(got.astype(np.float64) - expected.astype(np.float64))
        bad = ~(diff <= atol * scale + rtol * np.abs(expected.astype(np.float64)))
        both_nan = np.isnan(got) & np.isnan(expected)
        same_inf = np.isinf(expected) & (got == expected)
        bad &= ~(both_nan | same_inf)
    if not bad.any():
        return None
    diff = np.where(np.isnan(diff), np.inf, diff)
    at = np.unravel_index(int(np.argmax(np.where(bad, diff, -1))), diff.shape) if diff.ndim else ()
    lines = [f"{what}: {int(bad.sum())} of {bad.size} values differ; the largest difference is "
             f"{diff[at]:.3g} at {tuple(int(i) for i in at) if at else '()'} "
             f"(got {float(got[at]):.8g}, expected {float(expected[at]):.8g}; tolerance rtol {rtol:g}, "
             f"atol {atol:g} x {scale:.3g})"]
    return lines + side_by_side(got, expected)


def side_by_side(got, expected, limit=48) -> list:
    """``expected | got`` as two columns of printed arrays, for small arrays."""
    if expected.size > limit or got.size > limit:
        return []
    left = ["expected"] + np.array2string(expected, precision=5, suppress_small=True).splitlines()
    right = ["got"] + np.array2string(got, precision=5, suppress_small=True).splitlines()
    width = max(len(s) for s in left) + 4
    rows = max(len(left), len(right))
    left += [""] * (rows - len(left))
    right += [""] * (rows - len(right))
    return ["    " + a.ljust(width) + b for a, b in zip(left, right)]


# --------------------------------------------------------------------------- one example
def evaluate(case: Case, functions: dict, oracle, path: Path) -> Optional[Failure]:
    """Run one case; ``None`` if every comparison holds, else the :class:`Failure`."""
    try:
        if case.function == "sequential":
            return _evaluate_sequential(case, functions["sequential"], oracle, path)
        if case.function == "sgd_momentum":
            return _evaluate_sgd(case, functions["sgd_momentum"], oracle, path)
        return _evaluate_op(case, functions[case.function], oracle, path)
    except _LearnerRaised as e:
        if isinstance(e.exc, NotImplementedError):
            return Failure(f"{case.function} is not written yet (NotImplementedError: {e.exc})", case)
        return Failure(f"{case.function} raised {e.where}", case)


def _copies(values):
    return [v.copy() if isinstance(v, np.ndarray) else v for v in values]


def _modified(case, originals, args) -> Optional[Failure]:
    for name, before, after in zip(case.names, originals, args):
        if isinstance(before, np.ndarray) and not np.array_equal(before, after, equal_nan=True):
            f = Failure(f"{case.function} modified its argument {name!r} in place", case)
            f.diagnoses.append(diagnoses.named("in_place", name=name))
            return f
    return None


def _evaluate_op(case, fn, oracle, path) -> Optional[Failure]:
    expected_out, g, expected_grads = oracle.run(case.function, case.names, case.args, case.kwargs,
                                                 upstream(case.seed))
    case.extra["upstream gradient"] = g
    args = _copies(case.args)
    result = _call(fn, path, *args, **case.kwargs)
    if not (isinstance(result, tuple) and len(result) == 2 and callable(result[1])):
        return Failure(f"{case.function} must return (out, backward); it returned "
                       f"{type(result).__name__}", case)
    out, backward = result
    failure = _modified(case, case.args, args)
    if failure:
        return failure
    context = diagnoses.Context(case, g, expected_out, expected_grads, oracle.tolerances)
    if isinstance(expected_out, tuple):  # max_pool2d(return_indices=True)
        if not (isinstance(out, tuple) and len(out) == len(expected_out)):
            return Failure(f"{case.function} with return_indices=True must return "
                           f"((values, indices), backward)", case)
        pairs = [("output values", out[0], expected_out[0]), ("indices", out[1], expected_out[1])]
    else:
        pairs = [("output", out, expected_out)]
    for what, got, exp in pairs:
        problem = compare(what, got, exp, oracle.tolerances)
        if problem:
            return Failure(f"{case.function}: wrong {what}", case, problem,
                           diagnoses.find(context, "output", got))
    grads = _call(backward, path, g.copy())
    failure = _modified(case, case.args, args)
    if failure:
        failure.headline += " (during backward)"
        return failure
    if not isinstance(grads, dict):
        return Failure(f"{case.function}'s backward must return a dict {{name: gradient}}; it "
                       f"returned {type(grads).__name__}", case)
    for i, name in graded_arguments(case.function, case.names, case.args):
        got = grads.get(name)
        if got is None:
            f = Failure(f"{case.function}: backward returned no gradient for {name!r} "
                        f"(it returned {sorted(grads)})", case)
            f.diagnoses.append(diagnoses.named("missing_gradient", name=name))
            return f
        problem = compare(f"gradient of {name}", got, expected_grads[name], oracle.tolerances)
        if problem:
            return Failure(f"{case.function}: wrong gradient of {name!r}", case, problem,
                           diagnoses.find(context, name, np.asarray(got)))
    return None


def _evaluate_sequential(case, fn, oracle, path) -> Optional[Failure]:
    from .sequential_case import expected_sequential, learner_layers

    x = case.args[0]
    exp_out, g, exp_input_grad, exp_param_grads, per_use = expected_sequential(case, oracle)
    layers, params = learner_layers(case)
    x_copy = x.copy()
    result = _call(fn, path, x_copy, layers)
    if not (isinstance(result, tuple) and len(result) == 2 and callable(result[1])):
        return Failure("sequential must return (out, backward)", case)
    out, backward = result
    problem = compare("output", out, exp_out, oracle.tolerances)
    if problem:
        return Failure("sequential: wrong output", case, problem)
    grads = _call(backward, path, g.copy())
    if not isinstance(grads, dict) or grads.get("input") is None:
        f = Failure("sequential's backward must return {'input': gradient of the input}", case)
        f.diagnoses.append(diagnoses.named("missing_gradient", name="input"))
        return f
    problem = compare("gradient of input", grads["input"], exp_input_grad, oracle.tolerances)
    if problem:
        return Failure("sequential: wrong gradient of the input", case, problem)
    for key, p in params.items():
        if p.grad is None:
            f = Failure(f"sequential: {key}.grad is still None after backward", case)
            f.diagnoses.append(diagnoses.named("missing_gradient", name=key))
            return f
        problem = compare(f"{key}.grad", p.grad, exp_param_grads[key], oracle.tolerances)
        if problem:
            return Failure(f"sequential: wrong {key}.grad", case, problem,
                           diagnoses.find_accumulation(case, key, np.asarray(p.grad), per_use[key],
                                                       oracle.tolerances))
    return None


def _evaluate_sgd(case, fn, oracle, path) -> Optional[Failure]:
    hyper, grads = case.extra["hyper"], case.extra["grads"]
    param = case.args[0]
    expected = sgd_trajectory("torch" if oracle.name == "torch" else "own", param, grads, hyper,
                              param.dtype)
    p, buf = param.copy(), None
    for step, g in enumerate(grads, start=1):
        before_p, before_g = p.copy(), g.copy()
        before_buf = None if buf is None else np.array(buf, copy=True)
        g_arg = g.copy()
        result = _call(fn, path, p, g_arg, buf, **hyper)
        if not (isinstance(result, tuple) and len(result) == 2):
            return Failure("sgd_momentum must return (new_param, new_momentum_buffer)", case)
        modified = not np.array_equal(p, before_p) or not np.array_equal(g_arg, before_g) or (
            before_buf is not None and not np.array_equal(buf, before_buf))
        if modified:
            f = Failure(f"sgd_momentum modified an argument in place at step {step}", case)
            f.diagnoses.append(diagnoses.named("in_place", name="param/grad/momentum_buffer"))
            return f
        p, buf = np.asarray(result[0]), result[1]
        problem = compare(f"parameter after step {step}", p, expected[step - 1], oracle.tolerances)
        if problem:
            return Failure(f"sgd_momentum: wrong parameter after step {step} of {len(grads)}", case,
                           problem, diagnoses.find_sgd(case, step, p, oracle.tolerances))
    return None


# --------------------------------------------------------------------------- running
def run_property(prop, functions: dict, oracle, path: Path, max_examples: int) -> PropertyResult:
    """Run one property under hypothesis; the failure reported is the shrunk one."""
    from hypothesis import HealthCheck, Phase, Verbosity, given, settings
    from hypothesis.errors import HypothesisException

    seen = {"last": None, "n": 0}

    @settings(max_examples=max_examples, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck), verbosity=Verbosity.quiet,
              phases=[Phase.explicit, Phase.generate, Phase.shrink], print_blob=False,
              report_multiple_bugs=False)
    @given(prop.strategy)
    def test(case):
        seen["n"] += 1
        failure = evaluate(case, functions, oracle, path)
        if failure is not None:
            seen["last"] = failure
            raise _Failed()

    try:
        test()
    except _Failed:
        return PropertyResult(prop.label, seen["last"], seen["n"])
    except HypothesisException as e:  # flaky: the same input gave different verdicts
        failure = seen["last"] or Failure(f"{prop.label}: {type(e).__name__}")
        failure.details.append("the same input gave different results on two calls: does your "
                               "function keep state between calls, or use randomness?")
        return PropertyResult(prop.label, failure, seen["n"])
    return PropertyResult(prop.label, None, seen["n"])


def check(ex: Exercise, functions: dict, path: Path, *, full=False, thorough=False,
          oracle="auto", max_examples=None, out=print) -> bool:
    """Grade ``functions`` (the learner's, by name) against every property of ``ex``.

    Prints one line per property (and the shrunk failure under it); returns whether
    every property holds.
    """
    oracle = make_oracle(oracle)
    n = max_examples or PROFILE_EXAMPLES["deep" if thorough else "dev"]
    scope = "full" if full else "core"
    out(f"checking {path} ({ex.title}; {scope} scope, {n} examples per property, oracle: {oracle.name})")
    ok = True
    for result in grade(ex, functions, path, full=full, oracle=oracle, max_examples=n):
        if result.passed:
            out(f"  pass  {result.label}")
            continue
        ok = False
        out(f"  FAIL  {result.label}")
        for line in report(result.failure):
            out("        " + line)
    out(("PASSED: every property holds" if ok else "FAILED") + f" ({ex.name}, {scope} scope)")
    return ok


def grade(ex: Exercise, functions: dict, path: Path, *, full=False, oracle="auto",
          max_examples=None, stop_at_first=False):
    """Yield a :class:`PropertyResult` per property (stopping after a NotImplementedError)."""
    oracle = make_oracle(oracle) if isinstance(oracle, str) else oracle
    n = max_examples or PROFILE_EXAMPLES["dev"]
    for prop in properties(ex, full=full):
        result = run_property(prop, functions, oracle, path, n)
        yield result
        if not result.passed and (stop_at_first or "not written yet" in result.failure.headline):
            return
    if ex.name == "conv2d":
        yield speed_property(functions["conv2d"], path)


#: The im2col exercise must beat the loops by this factor on a lecture-sized batch.
SPEEDUP = 5.0


def speed_property(fn, path: Path) -> PropertyResult:
    """conv2d's point is speed: forward + backward at least :data:`SPEEDUP` x the loop version.

    A batch of 4 maps 4 x 12 x 12 and 8 filters of 5 x 5 (the lectures use 5 x 5 kernels);
    the best of three runs each, so a busy machine slows both alike.
    """
    import time

    from ..functional import conv

    label = f"conv2d: at least {SPEEDUP:g}x faster than the loops (forward + backward, 5x5 kernels)"
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 4, 12, 12)).astype(np.float32)
    w = rng.standard_normal((8, 4, 5, 5)).astype(np.float32)
    b = rng.standard_normal(8).astype(np.float32)
    g = rng.standard_normal((4, 8, 8, 8)).astype(np.float32)
    naive = conv.conv2d_naive.__wrapped__

    def best(f, runs):
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            out, backward = f(x.copy(), w.copy(), b.copy())
            backward(g.copy())
            times.append(time.perf_counter() - t0)
        return min(times)

    try:
        mine = best(lambda *a: _call(fn, path, *a), 3)
        loops = best(naive, 2)
    except _LearnerRaised as e:
        return PropertyResult(label, Failure(f"conv2d raised {e.where}"), 1)
    if mine * SPEEDUP <= loops:
        return PropertyResult(label, None, 1)
    return PropertyResult(label, Failure(
        f"conv2d took {mine * 1e3:.1f} ms, the loop version {loops * 1e3:.1f} ms ({loops / mine:.1f}x): "
        f"im2col + one GEMM should be well over {SPEEDUP:g}x faster",
        details=["loop over the kh*kw kernel taps (strided slices), never over pixels or samples"]), 1)


def report(f: Failure) -> list:
    lines = [f.headline]
    if f.case is not None:
        lines.append("smallest failing case (shrunk): " + f.case.describe())
        small = [(n, a) for n, a in list(zip(f.case.names, f.case.args))
                 + [("upstream gradient", f.case.extra.get("upstream gradient"))]
                 if isinstance(a, np.ndarray) and 0 < a.size <= 16]
        for name, a in small:
            rows = [r for r in np.array2string(a, precision=5, suppress_small=True).splitlines() if r.strip()]
            text = ("\n" + " " * (len(name) + 5)).join(rows)
            lines.append(f"  {name} = {text}")
    lines += f.details
    for name, text in f.diagnoses:
        lines.append(f"diagnosis: {name}: {text}")
    return lines
