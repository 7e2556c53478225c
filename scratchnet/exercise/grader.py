"""Grade a learner's functions: every property, shrunk failures, named mistakes.

:func:`check` runs each property of an exercise with hypothesis (derandomized: the
same file always gets the same verdict; the ``dev`` example count, or ``deep`` with
``thorough``). One example calls the learner's function on copies of the drawn
arguments, compares the output and every gradient with the oracle, and checks that
no argument was modified and that dtypes are kept. A failure is shrunk by hypothesis
to the smallest case that still fails, and reported with expected and got side by
side, the largest difference and where it is, and the named mistakes it matches
(:mod:`.diagnoses`). An exception inside the learner's code names their file and line.
The comparison, the oracles and the strategies are :mod:`scratchnet.testing`'s, the
parity suite's own.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from ..testing.strategies import PROFILE_EXAMPLES
from .catalogue import Exercise
from .judge import (Failure, LearnerRaised, call, evaluate_op, evaluate_sequential, evaluate_sgd,
                    upstream)
from .oracle import make_oracle
from .case import Case
from .properties import properties
from .repro import case_lines, snippet


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


# --------------------------------------------------------------------------- one example
def evaluate(case: Case, functions: dict, oracle, path: Path) -> Optional[Failure]:
    """Run one case; ``None`` if every comparison holds, else the :class:`Failure`."""
    try:
        if case.function == "sequential":
            return evaluate_sequential(case, functions["sequential"], oracle, path)
        if case.function == "sgd_momentum":
            return evaluate_sgd(case, functions["sgd_momentum"], oracle, path)
        expected = oracle.run(case.function, case.names, case.args, case.kwargs, upstream(case.seed))
        return evaluate_op(case, functions[case.function], expected, path, oracle.tolerances)
    except LearnerRaised as e:
        if isinstance(e.exc, NotImplementedError):
            return Failure(f"{case.function}: your {e.phase} raised NotImplementedError on a case "
                           f"inside the scope checked ({e.where})", case,
                           ["NotImplementedError is for cases outside the scope: this one is in it"],
                           not_implemented=True)
        return Failure(f"{case.function}: your {e.phase} raised {e.where}", case)


# --------------------------------------------------------------------------- running
def run_property(prop, functions: dict, oracle, path: Path, max_examples: int) -> PropertyResult:
    """Run one property under hypothesis; the failure reported is the shrunk one."""
    from hypothesis import HealthCheck, Phase, Verbosity, given, settings
    from hypothesis.errors import HypothesisException

    seen = {"last": None, "n": 0, "passed": 0}

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
        seen["passed"] += 1

    try:
        test()
    except _Failed:
        failure = seen["last"]
        if failure.not_implemented and not seen["passed"]:
            failure.headline = failure.headline.replace(
                "raised NotImplementedError on a case inside the scope checked",
                "raised NotImplementedError on every case of this property, all inside the scope "
                "checked (not written yet?)")
        return PropertyResult(prop.label, failure, seen["n"])
    except HypothesisException as e:  # flaky: the same input gave different verdicts
        failure = seen["last"] or Failure(f"{prop.label}: {type(e).__name__}")
        failure.details.append("the same input gave different results on two calls: does your "
                               "function keep state between calls, use randomness, or read memory "
                               "outside its array (as_strided with strides computed from the shape, "
                               "on a view with negative strides)?")
        return PropertyResult(prop.label, failure, seen["n"])
    return PropertyResult(prop.label, None, seen["n"])


def check(ex: Exercise, functions: dict, path: Path, *, full=False, thorough=False,
          oracle="auto", max_examples=None, out=print, repro=None) -> bool:
    """Grade ``functions`` (the learner's, by name) against every property of ``ex``.

    Prints one line per property (and the shrunk failure under it); returns whether
    every property holds. With ``repro`` (a file name), the first shrunk failing case
    is written there as a script that reproduces it (:func:`.repro.snippet`).
    """
    oracle = make_oracle(oracle)
    n = max_examples or PROFILE_EXAMPLES["deep" if thorough else "dev"]
    scope = "full" if full else "core"
    out(f"checking {path} ({ex.title}; {scope} scope, {n} examples per property, oracle: {oracle.name})")
    ok, written, shown = True, False, set()
    for result in grade(ex, functions, path, full=full, oracle=oracle, max_examples=n):
        if result.passed:
            out(f"  pass  {result.label}")
            continue
        ok = False
        out(f"  FAIL  {result.label}")
        if result.failure.headline in shown:  # the skeleton: one report says it
            out("        the same NotImplementedError as above")
            continue
        if result.failure.not_implemented:
            shown.add(result.failure.headline)
        for line in report(result.failure):
            out("        " + line)
        if repro and not written and result.failure.case is not None:
            Path(repro).write_text(snippet(result.failure.case, Path(path).resolve(), ex.name,
                                           f"{result.label}: {result.failure.headline}", str(repro)))
            out(f"        the case above is in {repro}: `python {repro}` reproduces it")
            written = True
    if repro and not written:
        out(f"no failing case to write to {repro}")
    out(("PASSED: every property holds" if ok else "FAILED") + f" ({ex.name}, {scope} scope)")
    return ok


def grade(ex: Exercise, functions: dict, path: Path, *, full=False, oracle="auto",
          max_examples=None, stop_at_first=False):
    """Yield a :class:`PropertyResult` per property (every one, unless ``stop_at_first``)."""
    oracle = make_oracle(oracle) if isinstance(oracle, str) else oracle
    n = max_examples or PROFILE_EXAMPLES["dev"]
    for prop in properties(ex, full=full):
        result = run_property(prop, functions, oracle, path, n)
        yield result
        if not result.passed and stop_at_first:
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
            result = f(x.copy(), w.copy(), b.copy())
            result[1](g.copy())
            times.append(time.perf_counter() - t0)
        return min(times)

    try:
        mine = best(lambda *a: call(fn, path, "forward", *a), 3)
        loops = best(naive, 2)
    except LearnerRaised as e:
        return PropertyResult(label, Failure(f"conv2d: your {e.phase} raised {e.where}"), 1)
    except Exception as e:  # what it returned is not (out, backward): the other properties say so
        return PropertyResult(label, Failure(f"conv2d could not be timed: {type(e).__name__}: {e}"), 1)
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
        lines += case_lines(f.case)
    lines += f.details
    for name, text in f.diagnoses:
        lines.append(f"diagnosis: {name}: {text}")
    return lines
