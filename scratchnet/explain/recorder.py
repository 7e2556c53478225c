"""The recorder every op's explanation is built with: it makes the data, collects the
steps, and checks their result against the op itself."""
from __future__ import annotations

import numpy as np

from .. import functional as F
from ..checks import shape_str
from .trace import NUMBERS_LIMIT, CheckFailed, ExplainError, Explanation, Step


class Recorder:
    """Collects steps; makes the data; compares the steps' results with the op's."""

    def __init__(self, op: str, numbers: bool, seed: int, dtype):
        self.op, self.numbers, self.seed = op, numbers, seed
        self.dtype = np.dtype(dtype)
        self.rng = np.random.default_rng(seed)
        self.steps: list = []
        self.compared: list = []  # (name, ours, op's)

    def step(self, phase, name, text=(), *, shapes=None, strides=None, read=0, written=0,
             flops=0, arrays=None, routes=None) -> Step:
        if isinstance(text, str):
            text = [text]
        s = Step(phase, name, list(text), {k: tuple(int(i) for i in v) for k, v in (shapes or {}).items()},
                 {k: tuple(int(i) for i in v) for k, v in (strides or {}).items()},
                 int(read), int(written), int(flops))
        if self.numbers:
            s.arrays = {k: np.array(v, copy=True) for k, v in (arrays or {}).items()}
            s.routes = list(routes or [])
        self.steps.append(s)
        return s

    def data(self, shape, low: int, high: int) -> np.ndarray:
        """Small integers in [low, high] with ``numbers``, else standard normal."""
        if self.numbers:
            return self.rng.integers(low, high + 1, size=shape).astype(self.dtype)
        return self.rng.standard_normal(shape).astype(self.dtype)

    def grad_like(self, out: np.ndarray) -> np.ndarray:
        """A random upstream gradient in ``out``'s memory layout (as a network hands it back)."""
        g = np.empty_like(out)
        g[...] = self.data(out.shape, -3, 3)
        return g

    def limit(self, **arrays_or_shapes):
        if not self.numbers:
            return
        for name, v in arrays_or_shapes.items():
            shape = v if isinstance(v, tuple) else np.shape(v)
            size = int(np.prod(shape, dtype=np.int64))
            if size > NUMBERS_LIMIT:
                raise ExplainError(
                    f"explain {self.op}: --numbers prints every array, so it is for small inputs "
                    f"(at most {NUMBERS_LIMIT:,} numbers per array), but the {name} would have shape "
                    f"{shape_str(shape)} ({size:,} numbers); use smaller shapes or drop --numbers"
                )

    def compare(self, name: str, ours, theirs, *, identity: bool = False):
        """Record that ``ours`` (from the steps) must equal ``theirs`` (from the op).

        ``identity``: ``theirs`` is a textbook formula rather than the op (e.g. the
        lectures' (s - y)/N); it is computed another way, so it only has to agree to
        rounding, and its difference is reported apart from the op's.
        """
        self.compared.append((name, np.asarray(ours), np.asarray(theirs), identity))

    def finish(self, options: dict, against: str, strict: bool) -> Explanation:
        worst, failed, tol_used, identities = 0.0, [], 0.0, []
        for name, ours, theirs, identity in self.compared:
            if ours.shape != theirs.shape:
                failed.append(f"{name} (shape {shape_str(ours.shape)} vs {shape_str(theirs.shape)})")
                worst = float("inf")
                continue
            # The steps use the op's own pieces in the op's order: equal to the last bit
            # in practice; the tolerance only forgives a BLAS choosing another summation
            # order (and, for an identity, the other formula's rounding).
            eps = max(np.finfo(a.dtype).eps if a.dtype.kind == "f" else 0.0 for a in (ours, theirs))
            scale = float(np.max(np.abs(theirs[np.isfinite(theirs)]), initial=1.0))
            tol = float(8 * eps * scale)
            finite = np.isfinite(ours) & np.isfinite(theirs)
            same_nonfinite = np.array_equal(ours[~finite], theirs[~finite], equal_nan=True)
            diff = np.abs(ours[finite].astype(np.float64) - theirs[finite].astype(np.float64))
            d = float(np.max(diff, initial=0.0)) if same_nonfinite else float("inf")
            if d > tol:
                failed.append(name)
            if identity:
                identities.append({"name": name, "max_abs_diff": d})
            else:
                worst, tol_used = max(worst, d), max(tol_used, tol)
        check = {"passed": not failed, "against": against, "max_abs_diff": worst,
                 "tolerance": tol_used, "compared": [c[0] for c in self.compared],
                 "identities": identities, "failed": failed}
        ex = Explanation(self.op, options, str(self.dtype), self.numbers, self.seed, self.steps, check)
        if failed and strict:
            raise CheckFailed(
                f"explain {self.op}: the explained steps differ from {against} in "
                f"{', '.join(failed)} (max |diff| = {worst:.3g}); this is a bug in scratchnet"
            )
        return ex


def op_error(op: str, e: Exception) -> ExplainError:
    msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    if msg.startswith(f"{op}: "):  # the op's own message, which names the op already
        msg = msg[len(op) + 2:]
    return ExplainError(f"explain {op}: {msg}")


def validated(op: str, fn, *args, **kwargs):
    """Run the real op once through ``vjp``: its own checks, its own messages."""
    try:
        return F.vjp(fn, *args, **kwargs)
    except (ValueError, TypeError, IndexError) as e:
        raise op_error(op, e) from None


def size_line(dim: str, n, k, s, p0, p1, d, out, ceil=False) -> str:
    inner = f"{n} + {p0 + p1} - {d}*({k}-1) - 1"
    if ceil:
        return (f"{dim}_out = floor(({inner} + ({s}-1)) / {s}) + 1 = {out}"
                "  (ceil mode; a window may not start in the right padding)")
    return f"{dim}_out = floor(({inner}) / {s}) + 1 = {out}"


def nbytes(*arrays) -> int:
    """The bytes the arrays hold together."""
    return int(sum(np.asarray(a).nbytes for a in arrays))
