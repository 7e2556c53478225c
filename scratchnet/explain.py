r"""``scratchnet explain``: watch one op work, step by step, forward and backward.

For given shapes and options, :func:`explain` runs an op of
:mod:`scratchnet.functional` through its *own* pieces (the window geometry, the
padded buffer, the zero-copy window view, the im2col matrix and the GEMM operands
of ``conv2d``; the tap stack and argmax of ``max_pool2d``; the divisors of
``avg_pool2d``; the log-softmax and loss core of ``cross_entropy``) and records
every step: the shapes, the byte strides of the views, the memory it moves and the
floating-point operations it does. It then checks the result of those steps
against the op itself, forward and backward (:func:`scratchnet.functional.vjp`),
and raises :class:`CheckFailed` if they differ: the explanation can never drift
from the code it explains.

.. code-block:: python

    from scratchnet.explain import explain
    ex = explain("max_pool2d", input=(1, 1, 4, 4), kernel=2, numbers=True)
    print(ex.render())          # the text the command prints
    ex.steps[0].shapes          # {'input': (1, 1, 4, 4), 'output': (1, 1, 2, 2)}
    ex.to_json()                # what --json writes

With ``numbers=True`` (small inputs only) every array is kept and printed, with
where each gradient goes: the input position each max-pool output sends its
gradient to, the input positions each col2im tap adds into. The data are small
integers from ``numpy.random.default_rng(seed)`` in float64, so every sum is
exact; a ``(1, 1, 4, 4)`` max-pool input is the lecture's matrix
``[[1, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]]``. Without it the data are
standard normal, float32 unless ``dtype`` says otherwise.

What the counts mean
--------------------
``flops``: floating-point operations, :math:`2MNK` for an :math:`(M \times K)(K
\times N)` GEMM (a multiply and an add per term), one per elementwise add,
multiply, divide, exp, log or comparison. ``bytes``: what a step reads plus what
it writes, counting each array the step touches once (a GEMM reads its two
operands and writes its product); a view moves nothing.
"""
from __future__ import annotations

import argparse
import inspect
import json
import os
import sys
import textwrap
from dataclasses import dataclass, field

import numpy as np

from . import functional as F
from .functional import conv as _conv
from .functional import loss as _loss
from .functional import pooling as _pool
from .checks import normalize_dim, shape_str
from .functional.softmax import _log_softmax, _log_softmax_backward

OPS = ("conv2d", "max_pool2d", "avg_pool2d", "linear", "softmax", "cross_entropy")

#: ``numbers=True`` prints every array; none may hold more numbers than this.
NUMBERS_LIMIT = 1024

#: The lectures' 4x4 max-pooling example (its 2x2, stride 2 pool is [[6, 8], [3, 4]]).
LECTURE_POOL_INPUT = np.array([[1, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]], dtype=float)


class ExplainError(ValueError):
    """A request :func:`explain` cannot serve: unknown op, bad option, too big for numbers."""


class CheckFailed(RuntimeError):
    """The explained steps disagree with the op they explain (a bug, never the user's)."""


# --------------------------------------------------------------------------- records
@dataclass
class Step:
    """One step of the forward or backward pass.

    Attributes
    ----------
    phase : {'forward', 'backward'}
    name : str
        Short name ("pad", "im2col", "GEMM", ...).
    text : list of str
        What the step does, in words and formulas, one line each.
    shapes : dict of str to tuple
        The shape of every array the step reads or makes.
    strides : dict of str to tuple
        Byte strides of the views the step makes (how the memory is walked).
    bytes_read, bytes_written : int
        Memory the step moves (see the module docstring); ``bytes`` is their sum.
    flops : int
        Floating-point operations.
    arrays : dict of str to ndarray
        With ``numbers=True``: the actual arrays.
    routes : list of str
        With ``numbers=True``: where each gradient goes, one line each.
    """

    phase: str
    name: str
    text: list = field(default_factory=list)
    shapes: dict = field(default_factory=dict)
    strides: dict = field(default_factory=dict)
    bytes_read: int = 0
    bytes_written: int = 0
    flops: int = 0
    arrays: dict = field(default_factory=dict)
    routes: list = field(default_factory=list)

    @property
    def bytes(self) -> int:
        return self.bytes_read + self.bytes_written

    def to_json(self) -> dict:
        out = {
            "phase": self.phase, "name": self.name, "text": list(self.text),
            "shapes": {k: list(v) for k, v in self.shapes.items()},
            "strides": {k: list(v) for k, v in self.strides.items()},
            "bytes": self.bytes, "bytes_read": self.bytes_read,
            "bytes_written": self.bytes_written, "flops": self.flops,
        }
        if self.arrays:
            out["arrays"] = {k: _json_array(v) for k, v in self.arrays.items()}
        if self.routes:
            out["routes"] = list(self.routes)
        return out


@dataclass
class Explanation:
    """The steps of one op for one set of shapes and options; see :func:`explain`."""

    op: str
    options: dict
    dtype: str
    numbers: bool
    seed: int
    steps: list
    check: dict

    def totals(self, phase: str) -> dict:
        steps = [s for s in self.steps if s.phase == phase]
        return {"flops": sum(s.flops for s in steps), "bytes": sum(s.bytes for s in steps)}

    def to_json(self) -> dict:
        return {
            "op": self.op,
            "options": {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.options.items()},
            "dtype": self.dtype, "numbers": self.numbers, "seed": self.seed,
            "steps": [s.to_json() for s in self.steps],
            "totals": {p: self.totals(p) for p in ("forward", "backward")},
            "check": self.check,
        }

    def render(self) -> str:
        """The text ``scratchnet explain`` prints."""
        opts = ", ".join(f"{k}={_fmt_value(v)}" for k, v in self.options.items())
        data = (f"small integers from seed {self.seed}" if self.numbers
                else f"random normal data (seed {self.seed})")
        lines = [f"{self.op}({opts})", f"dtype {self.dtype}, {data}"]
        number = 0
        for phase in ("forward", "backward"):
            steps = [s for s in self.steps if s.phase == phase]
            if not steps:
                continue
            t = self.totals(phase)
            lines += ["", f"{phase.upper()}  ({_fmt_int(t['flops'])} FLOPs, "
                          f"{_fmt_bytes(t['bytes'])} moved)"]
            for s in steps:
                number += 1
                cost = []
                if s.flops:
                    cost.append(f"{_fmt_int(s.flops)} FLOPs")
                cost.append(f"moves {_fmt_bytes(s.bytes)}" if s.bytes else "moves no memory")
                if s.bytes:
                    cost[-1] += f" (reads {_fmt_int(s.bytes_read)}, writes {_fmt_int(s.bytes_written)})"
                lines.append(f"{number:>2}. {s.name}  [{'; '.join(cost)}]")
                for t in s.text:  # wrapped to stay readable in a terminal
                    lines += textwrap.wrap(t, width=100, initial_indent="      ",
                                           subsequent_indent="        ", break_on_hyphens=False)
                for k, v in s.shapes.items():
                    stride = f"  strides {s.strides[k]} bytes" if k in s.strides else ""
                    lines.append(f"      {k}: {shape_str(v)}{stride}")
                for k, v in s.strides.items():
                    if k not in s.shapes:
                        lines.append(f"      {k}: strides {v} bytes")
                for k, a in s.arrays.items():
                    lines.append(f"      {k} =")
                    lines += ["        " + row for row in _fmt_array(a).splitlines()]
                if s.routes:
                    lines += [f"      {r}" for r in s.routes]
        c = self.check
        lines.append("")
        if c["passed"]:
            lines.append(f"checked: matches {c['against']}, max |diff| = {c['max_abs_diff']:.3g}")
            lines += [f"         and equals {i['name']} up to rounding, max |diff| = {i['max_abs_diff']:.3g}"
                      for i in c.get("identities", [])]
        else:
            lines.append(f"CHECK FAILED: differs from {c['against']} in {', '.join(c['failed'])}, "
                         f"max |diff| = {c['max_abs_diff']:.3g} (tolerance {c['tolerance']:.3g})")
        return "\n".join(lines)


# --------------------------------------------------------------------------- formatting
def _fmt_int(n) -> str:
    return f"{int(n):,}"


def _fmt_bytes(n) -> str:
    n = int(n)
    if n < 10_000:
        return f"{n:,} B"
    if n < 10_000_000:
        return f"{n / 1024:,.1f} KiB"
    return f"{n / 2**20:,.1f} MiB"


def _fmt_value(v) -> str:
    return shape_str(v) if isinstance(v, tuple) and all(isinstance(i, int) for i in v) else repr(v)


def _integral(a: np.ndarray) -> bool:
    finite = a[np.isfinite(a)] if a.dtype.kind == "f" else a
    return a.dtype.kind in "iub" or bool(np.all(finite == np.round(finite)))


def _fmt_plane(a: np.ndarray, integral: bool) -> str:
    if a.dtype.kind == "f" and integral:
        fmt = {"float_kind": lambda v: f"{v:.0f}" if np.isfinite(v) else str(v)}
        return np.array2string(a, formatter=fmt, max_line_width=160, threshold=10**6)
    return np.array2string(a, precision=4, suppress_small=True, max_line_width=160,
                           threshold=10**6)


def _fmt_array(a: np.ndarray) -> str:
    """2-D planes one after another, each under its leading index (``[n, c]``)."""
    a = np.asarray(a)
    if a.dtype.kind == "f":
        a = a + 0.0  # -0.0 prints as 0
    integral = _integral(a)
    if a.ndim <= 2 or a.size == 0:
        return _fmt_plane(a, integral)
    parts = []
    for lead in np.ndindex(a.shape[:-2]):
        text = _fmt_plane(a[lead], integral)
        parts.append(f"[{', '.join(map(str, lead))}, :, :]")
        parts += ["  " + line for line in text.splitlines()]
    return "\n".join(parts)


def _json_array(a: np.ndarray):
    a = np.asarray(a)
    if a.dtype.kind == "f" and not np.isfinite(a).all():
        return np.where(np.isfinite(a), a, None).tolist()  # JSON has no inf: null there
    return a.tolist()


def _nb(*arrays) -> int:
    return int(sum(np.asarray(a).nbytes for a in arrays))


# --------------------------------------------------------------------------- the recorder
class _Recorder:
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


def _op_error(op: str, e: Exception) -> ExplainError:
    msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    if msg.startswith(f"{op}: "):  # the op's own message, which names the op already
        msg = msg[len(op) + 2:]
    return ExplainError(f"explain {op}: {msg}")


def _validated(op: str, fn, *args, **kwargs):
    """Run the real op once through ``vjp``: its own checks, its own messages."""
    try:
        return F.vjp(fn, *args, **kwargs)
    except (ValueError, TypeError, IndexError) as e:
        raise _op_error(op, e) from None


def _size_line(dim: str, n, k, s, p0, p1, d, out, ceil=False) -> str:
    inner = f"{n} + {p0 + p1} - {d}*({k}-1) - 1"
    if ceil:
        return (f"{dim}_out = floor(({inner} + ({s}-1)) / {s}) + 1 = {out}"
                "  (ceil mode; a window may not start in the right padding)")
    return f"{dim}_out = floor(({inner}) / {s}) + 1 = {out}"


# --------------------------------------------------------------------------- conv2d
def _explain_conv2d(r: _Recorder, *, input, weight, bias=True, stride=1, padding=0,
                    dilation=1, groups=1):
    x = r.data(input, -3, 3)
    w = r.data(weight, -2, 2)
    b = r.data((weight[0],), -2, 2) if bias and len(weight) >= 1 else None
    out_op, backward_op = _validated("conv2d", F.conv2d, x, w, b, stride=stride, padding=padding,
                                     dilation=dilation, groups=groups)
    x4, unbatched, w, b, geo = _conv._setup("conv2d", x, w, b, stride, padding, dilation, groups)
    n, c = x4.shape[:2]
    o = w.shape[0]
    og, cg = o // groups, c // groups
    (kh, kwd), (sh, sw), (dh, dw), (ho, wo) = geo.kernel, geo.stride, geo.dilation, geo.out_hw
    top, bottom, left, right = geo.pad
    k_rows, m = cg * kh * kwd, ho * wo * n
    r.limit(input=x.shape, weight=w.shape, **{"im2col matrix": (groups, k_rows, m)},
            output=(n, o, ho, wo), **{"padded input": (n, c) + geo.padded_hw})
    it = x.dtype.itemsize

    r.step("forward", "output size (torch's formula)", [
        _size_line("H", geo.in_hw[0], kh, sh, top, bottom, dh, ho),
        _size_line("W", geo.in_hw[1], kwd, sw, left, right, dw, wo),
        f"groups={groups}: each of the {o} filters sees {cg} of the {c} input channels",
    ], shapes={"input": x.shape, "weight": w.shape, **({"bias": b.shape} if b is not None else {}),
               "output": (n, o, ho, wo)}, arrays={"input": x, "weight": w, **({"bias": b} if b is not None else {})})

    buf, windows = _conv._window_view(x4, geo, groups)
    copied = not np.shares_memory(buf, x4)
    text = [f"zero padding (top, bottom, left, right) = {geo.pad}, laid out as (C, Hp, Wp, N) "
            "memory, the sample fastest (batch-innermost)"]
    if not any(geo.pad):
        text[0] = ("no padding; the input is laid out as (C, H, W, N) memory, the sample fastest"
                   + ("" if copied else " (it already is: no copy)"))
    r.step("forward", "pad", text, shapes={"padded (C, Hp, Wp, N)": buf.shape},
           strides={"padded (C, Hp, Wp, N)": buf.strides},
           read=x.nbytes if copied else 0,
           written=(buf.nbytes + (x.nbytes if any(geo.pad) else 0)) if copied else 0,
           arrays={"padded input, shown as (N, C, Hp, Wp)": buf.transpose(3, 0, 1, 2)})

    s_h, s_w = buf.strides[1:3]
    r.step("forward", "window view (as_strided, zero-copy)", [
        "windows[g, c, a, b, i, j, n] = padded[g*C/g + c, i*s_h + a*d_h, j*s_w + b*d_w, n]",
        f"a tap step moves d = ({dh}, {dw}) rows/columns ({dh}*{s_h}, {dw}*{s_w} bytes), "
        f"an output step s = ({sh}, {sw}) ({sh}*{s_h}, {sw}*{s_w} bytes)",
    ], shapes={"windows (g, C/g, kh, kw, Ho, Wo, N)": windows.shape},
       strides={"windows (g, C/g, kh, kw, Ho, Wo, N)": windows.strides})

    cols = _conv._im2col(x4, geo, groups)
    r.compare("im2col matrix vs window view", cols.reshape(windows.shape), windows)
    r.step("forward", "im2col (one copy of the view)", [
        f"K = C/g*kh*kw = {cg}*{kh}*{kwd} = {k_rows} rows (c, a, b): row = (c*{kh} + a)*{kwd} + b",
        f"M = Ho*Wo*N = {ho}*{wo}*{n} = {m} columns (i, j, n): column = (i*{wo} + j)*{n} + n",
    ], shapes={"cols (g, K, M)": cols.shape}, read=cols.nbytes, written=cols.nbytes,
       arrays={"cols": cols})

    w_mat = w.reshape(groups, og, k_rows)
    y = np.matmul(w_mat, cols)
    r.step("forward", "GEMM  Y = W_mat @ cols", [
        f"{groups} x ({og} x {k_rows}) @ ({k_rows} x {m}) -> ({og} x {m}): "
        f"FLOPs = 2*g*(O/g)*K*M = 2*{groups}*{og}*{k_rows}*{m}",
    ], shapes={"W_mat (g, O/g, K)": w_mat.shape, "cols (g, K, M)": cols.shape, "Y (g, O/g, M)": y.shape},
       flops=2 * groups * og * k_rows * m, read=_nb(w_mat, cols), written=y.nbytes,
       arrays={"W_mat": w_mat, "Y": y})
    if b is not None:
        y += b.reshape(groups, og, 1)
        r.step("forward", "bias (in place)", f"Y[g, o, :] += b[g*O/g + o]",
               shapes={"Y (g, O/g, M)": y.shape}, flops=y.size, read=_nb(y, b), written=y.nbytes,
               arrays={"Y + b": y})
    out = y.reshape(o, ho, wo, n).transpose(3, 0, 1, 2)
    r.step("forward", "output (a view of Y)", [
        "Y is (C_out, Ho, Wo, N) memory: viewed as (N, C_out, Ho, Wo) with no copy",
    ], shapes={"output": out.shape}, strides={"output": out.strides}, arrays={"output": out})
    r.compare("forward output", out[0] if unbatched else out, out_op)

    # ---- backward
    g = r.grad_like(out)
    g_cols = np.ascontiguousarray(g.transpose(1, 2, 3, 0)).reshape(groups, og, m)
    r.step("backward", "upstream gradient G", [
        "G = dL/d(output), random, in the output's memory layout (as the next layer hands it back):",
        "as a (g, O/g, M) matrix it is a view, no copy",
    ], shapes={"G": g.shape, "G as (g, O/g, M)": g_cols.shape}, arrays={"G": g})
    grad_w = np.matmul(cols, g_cols.transpose(0, 2, 1)).transpose(0, 2, 1).reshape(w.shape)
    r.step("backward", "GEMM  dW = G @ cols^T", [
        f"{groups} x ({og} x {m}) @ ({m} x {k_rows}) -> ({og} x {k_rows}), reshaped to the weight's "
        f"shape; FLOPs = 2*{groups}*{og}*{m}*{k_rows}",
        "(computed as cols @ G^T, the faster orientation for OpenBLAS here)",
    ], shapes={"dW": grad_w.shape}, flops=2 * groups * og * m * k_rows,
       read=_nb(cols, g_cols), written=grad_w.nbytes, arrays={"dW": grad_w})
    w_mat_t = np.ascontiguousarray(w_mat.transpose(0, 2, 1))
    dcols = np.matmul(w_mat_t, g_cols)
    r.step("backward", "GEMM  dcols = W_mat^T @ G", [
        f"{groups} x ({k_rows} x {og}) @ ({og} x {m}) -> ({k_rows} x {m}); "
        f"FLOPs = 2*{groups}*{k_rows}*{og}*{m}",
        "(written into the forward's cols memory, which is no longer needed)",
    ], shapes={"W_mat^T (g, K, O/g)": w_mat_t.shape, "dcols (g, K, M)": dcols.shape},
       flops=2 * groups * k_rows * og * m, read=_nb(w_mat_t, g_cols), written=dcols.nbytes,
       arrays={"dcols": dcols})
    grad_x = _conv._col2im(dcols, geo, n, c)
    padded_grad = (c,) + geo.padded_hw + (n,)
    text = [f"{kh * kwd} strided adds, one per kernel tap (a, b): dcols rows (c, a, b) of every "
            f"column, a (C, Ho, Wo, N) slab, += into the strided slice "
            f"padded[:, a*{dh} + {sh}*i, b*{dw} + {sw}*j, :] (i < {ho}, j < {wo})",
            "a tap's slice touches each input position at most once, so overlapping windows "
            "accumulate across taps (col2im is im2col's adjoint, not its inverse);",
            "the input gradient is the interior of the padded gradient (the padding's share is dropped)"]
    routes = []
    if r.numbers:
        routes = _col2im_routes(geo)
        counts = _conv._col2im(np.ones((groups, k_rows, ho * wo), x.dtype), geo, 1, c)[0, 0]
    r.step("backward", "col2im", text,
           shapes={"padded gradient (C, Hp, Wp, N)": padded_grad, "dx": grad_x.shape},
           strides={"dx": grad_x.strides}, flops=dcols.size,
           read=2 * dcols.nbytes, written=int(np.prod(padded_grad)) * it + dcols.nbytes,
           arrays=({"taps adding into each input position": counts, "dx": grad_x} if r.numbers else {}),
           routes=routes)
    grads = {"input": grad_x[0] if unbatched else grad_x, "weight": grad_w}
    if b is not None:
        grad_b = g_cols.sum(axis=2).reshape(o)
        r.step("backward", "bias gradient", f"db[o] = sum over (n, i, j) of G[n, o, i, j]",
               shapes={"db": grad_b.shape}, flops=g_cols.size, read=g_cols.nbytes,
               written=grad_b.nbytes, arrays={"db": grad_b})
        grads["bias"] = grad_b
    theirs = backward_op(g[0] if unbatched else g)
    for i, name in enumerate(("input", "weight", "bias")):
        if name in grads:
            r.compare(f"{name} gradient", grads[name], theirs[i])
    return "F.conv2d forward and backward (F.vjp)"


def _col2im_routes(geo) -> list:
    """For every input position, which (output pixel, tap) pairs add into it."""
    (sh, sw), (dh, dw), (ho, wo), (h, w) = geo.stride, geo.dilation, geo.out_hw, geo.in_hw
    top, _, left, _ = geo.pad
    into = {}
    lines = ["col2im taps (the same for every sample and channel):"]
    for a, b in geo.taps:
        rows = [i * sh + a * dh - top for i in range(ho)]
        cols = [j * sw + b * dw - left for j in range(wo)]
        lines.append(f"  tap ({a},{b}): windows i = 0..{ho - 1} -> input rows {rows}, j = 0..{wo - 1} -> "
                     f"input cols {cols}" + ("  (negative or past the edge: padding, dropped)"
                                              if min(rows + cols) < 0 or max(rows) >= h or max(cols) >= w else ""))
        for i, u in enumerate(rows):
            for j, v in enumerate(cols):
                into.setdefault((u, v), []).append(f"dcols[tap ({a},{b}), window ({i},{j})]")
    lines.append("what adds into each input position (in every channel c of the tap's rows (c, a, b), "
                 "every sample n):")
    for u in range(h):
        for v in range(w):
            lines.append(f"  dx({u},{v}) = " + (" + ".join(into.get((u, v), [])) or "0 (no window reads it)"))
    return lines


# --------------------------------------------------------------------------- pooling
def _scatter_bytes(geo, dxp, slab, extra_read=0) -> dict:
    """Memory of a pool backward's per-tap writes, as the op does them.

    Windows that tile the input write each tap's slab once into an unfilled buffer;
    otherwise the buffer is zeroed and every tap reads and adds into its slice.
    """
    taps = len(geo.taps)
    if _pool._tiles(geo):
        return {"read": taps * (slab.nbytes + extra_read), "written": taps * slab.nbytes}
    return {"read": taps * (2 * slab.nbytes + extra_read), "written": dxp.nbytes + taps * slab.nbytes}


def _pool_input(r: _Recorder, shape, lecture: bool) -> np.ndarray:
    shape = tuple(shape)
    if lecture and r.numbers and shape in ((1, 1, 4, 4), (1, 4, 4)):
        return LECTURE_POOL_INPUT.reshape(shape).astype(r.dtype)
    return r.data(shape, -4, 9)


def _tap_lines(geo) -> list:
    (sh, sw), (dh, dw) = geo.stride, geo.dilation
    (ho, wo) = geo.out_hw
    return [f"tap (a, b) of every window = padded[..., a*{dh} + {sh}*i, b*{dw} + {sw}*j] "
            f"(i < {ho}, j < {wo}): one strided view shaped like the output;",
            f"{len(geo.taps)} taps: {', '.join(f'({a},{b})' for a, b in geo.taps)}"]


def _explain_max_pool2d(r: _Recorder, *, input, kernel, stride=None, padding=0, dilation=1,
                        ceil_mode=False):
    x = _pool_input(r, input, lecture=True)
    opts = dict(kernel_size=kernel, stride=stride, padding=padding, dilation=dilation,
                ceil_mode=ceil_mode)
    out_op, backward_op = _validated("max_pool2d", F.max_pool2d, x, **opts)
    _, idx_op = F.max_pool2d(x, return_indices=True, **opts)
    x4, unbatched, geo = _pool._setup("max_pool2d", x, kernel, stride, padding, dilation, ceil_mode,
                                      max_pool=True)
    (kh, kwd), (sh, sw), (dh, dw), (ho, wo), (h, w) = (
        geo.kernel, geo.stride, geo.dilation, geo.out_hw, geo.in_hw)
    top, _, left, _ = geo.pad
    n, c = x4.shape[:2]
    taps = geo.taps
    r.limit(input=x.shape, **{"tap stack": (len(taps), n, c, ho, wo)})
    r.step("forward", "output size (torch's formula)", [
        _size_line("H", h, kh, sh, top, top, dh, ho, ceil_mode),
        _size_line("W", w, kwd, sw, left, left, dw, wo, ceil_mode),
    ], shapes={"input": x.shape, "output": (n, c, ho, wo)}, arrays={"input": x})
    xp = geo.pad_input(x4, -np.inf)
    if any(geo.pad):
        r.step("forward", "pad with -inf", [
            f"padding (top, bottom, left, right) = {geo.pad}; -inf is never the max "
            "(the bottom/right pad also holds ceil mode's last window)"],
            shapes={"padded": xp.shape}, read=x4.nbytes, written=xp.nbytes + x4.nbytes,
            arrays={"padded": xp})
    view = xp[geo.tap(0, 0)]
    r.step("forward", "tap views (zero-copy)", _tap_lines(geo),
           shapes={"tap (0,0) view": view.shape}, strides={"tap (0,0) view": view.strides})
    windows = _pool._gather_taps(xp, geo)
    r.step("forward", "stack the taps", "one contiguous copy of the taps, so max and argmax are "
           "long branch-free passes", shapes={"windows (taps, N, C, Ho, Wo)": windows.shape},
           read=windows.nbytes, written=windows.nbytes,
           arrays={"windows": windows})
    best = windows.max(axis=0)
    r.step("forward", "max over the taps", "y = max over axis 0 of the stack (a NaN wins, as torch)",
           shapes={"output": best.shape}, flops=(len(taps) - 1) * best.size,
           read=windows.nbytes, written=best.nbytes, arrays={"output": best})
    arg = _pool._tap_argmax(windows, best, geo)
    routes = _max_routes(geo, arg, best, forward=True) if r.numbers else []
    r.step("forward", "argmax (kept for the backward)", [
        "the first tap equal to the max, in scan order (ties go to the first maximum; a NaN "
        "window to its last NaN; an all -inf window to its first in-bounds tap)",
        f"window (i, j)'s tap (a, b) is input (i*{sh} - {top} + a*{dh}, j*{sw} - {left} + b*{dw})",
    ], shapes={"argmax (N, C, Ho, Wo)": arg.shape}, flops=windows.size, read=windows.nbytes + best.nbytes,
       written=arg.nbytes, arrays={"argmax tap": arg}, routes=routes)
    out = best[0] if unbatched else best
    r.compare("forward output", out, out_op)
    # The op's own statement of where each max came from (flat index u*W + v).
    u, v = _argmax_positions(geo, arg)
    hit = arg >= 0
    idx4 = idx_op[None] if unbatched else idx_op
    r.compare("argmax positions vs return_indices", (u * w + v)[hit], idx4[hit])

    g = r.grad_like(best)
    r.step("backward", "upstream gradient G", "G = dL/d(output), random",
           shapes={"G": g.shape}, arrays={"G": g})
    dxp = np.zeros((n, c) + geo.padded_hw, x.dtype)
    for t, (a, b) in enumerate(taps):
        dxp[geo.tap(a, b)] += g * (arg == t)
    r.step("backward", "route G to the argmax", [
        f"for each tap t: padded_grad[tap t view] += G * (argmax == t)  ({len(taps)} strided writes)",
        "each output sends its whole gradient to one input position, nothing to the others"
        + ("; overlapping windows add up" if geo.overlapping else ""),
    ], shapes={"padded gradient": dxp.shape}, flops=2 * len(taps) * g.size,
       **_scatter_bytes(geo, dxp, g, extra_read=arg.nbytes),
       arrays={"padded gradient": dxp} if any(geo.pad) else {},
       routes=_max_routes(geo, arg, g, forward=False) if r.numbers else [])
    _crop_and_compare(r, geo, dxp, backward_op, g, unbatched)
    return "F.max_pool2d forward (values and return_indices) and backward (F.vjp)"


def _crop_and_compare(r, geo, dxp, backward_op, g, unbatched) -> None:
    """The pools' last backward step: crop the padding off ``dxp``; check it against the op's."""
    grad = geo.crop(dxp)
    r.step("backward", "crop", "dx = interior of the padded gradient" if any(geo.pad)
           else "no padding: dx is the gradient itself", shapes={"dx": grad.shape},
           read=grad.nbytes if any(geo.pad) else 0, written=grad.nbytes if any(geo.pad) else 0,
           arrays={"dx": grad})
    theirs = backward_op(g[0] if unbatched else g)
    r.compare("input gradient", grad[0] if unbatched else grad, theirs[0])


def _argmax_positions(geo, arg) -> tuple:
    """Input row and column of each window's chosen tap (``arg`` = -1: no tap in bounds)."""
    kw, (dh, dw) = geo.kernel[1], geo.dilation
    rows, cols = geo.window_starts()
    return rows[:, None] + (arg // kw) * dh, cols[None, :] + (arg % kw) * dw


def _max_routes(geo, arg, values, forward: bool) -> list:
    """One line per output: where its max comes from (forward) or its gradient goes."""
    u, v = _argmax_positions(geo, arg)
    kw = geo.kernel[1]
    lines = ["where each output's max comes from:" if forward else "where each output's gradient goes:"]
    for (n, c, i, j), t in np.ndenumerate(arg):
        name = f"{'y' if forward else 'G'}({n},{c},{i},{j}) = {values[n, c, i, j]:g}"
        if t < 0:
            lines.append(f"  {name} -> nowhere (the window misses the input)")
        elif forward:
            lines.append(f"  {name} -> x({n},{c},{u[n, c, i, j]},{v[n, c, i, j]}) "
                         f"(tap ({t // kw},{t % kw}))")
        else:
            lines.append(f"  {name} -> dx({n},{c},{u[n, c, i, j]},{v[n, c, i, j]})")
    return lines


def _explain_avg_pool2d(r: _Recorder, *, input, kernel, stride=None, padding=0, ceil_mode=False,
                        count_include_pad=True, divisor_override=None):
    x = _pool_input(r, input, lecture=False)
    opts = dict(kernel_size=kernel, stride=stride, padding=padding, ceil_mode=ceil_mode,
                count_include_pad=count_include_pad, divisor_override=divisor_override)
    out_op, backward_op = _validated("avg_pool2d", F.avg_pool2d, x, **opts)
    x4, unbatched, geo = _pool._setup("avg_pool2d", x, kernel, stride, padding, 1, ceil_mode,
                                      max_pool=False)
    (kh, kwd), (sh, sw), (ho, wo), (h, w) = geo.kernel, geo.stride, geo.out_hw, geo.in_hw
    top, _, left, _ = geo.pad
    n, c = x4.shape[:2]
    taps = geo.taps
    r.limit(input=x.shape, output=(n, c, ho, wo))
    r.step("forward", "output size (torch's formula)", [
        _size_line("H", h, kh, sh, top, top, 1, ho, ceil_mode),
        _size_line("W", w, kwd, sw, left, left, 1, wo, ceil_mode),
    ], shapes={"input": x.shape, "output": (n, c, ho, wo)}, arrays={"input": x})
    divisor = _pool._avg_divisor(geo, count_include_pad, divisor_override, x.dtype)
    how = ("divisor_override" if divisor_override is not None else
           "the window's area up to the padding's edge (count_include_pad)" if count_include_pad
           else "the number of real (unpadded) pixels in the window")
    r.step("forward", "divisors", f"D(i, j) = {how}", shapes={"D": divisor.shape},
           arrays={"D": divisor})
    xp = geo.pad_input(x4, 0)
    if any(geo.pad):
        r.step("forward", "pad with 0", f"padding (top, bottom, left, right) = {geo.pad}",
               shapes={"padded": xp.shape}, read=x4.nbytes, written=xp.nbytes + x4.nbytes,
               arrays={"padded": xp})
    view = xp[geo.tap(0, 0)]
    r.step("forward", "tap views (zero-copy)", _tap_lines(geo),
           shapes={"tap (0,0) view": view.shape}, strides={"tap (0,0) view": view.strides})
    total = np.array(xp[geo.tap(*taps[0])], copy=True)
    for a, b in taps[1:]:
        total += xp[geo.tap(a, b)]
    r.step("forward", "sum the taps", f"S = tap(0,0) + ... ({len(taps)} views, in scan order)",
           shapes={"S": total.shape}, flops=(len(taps) - 1) * total.size,
           read=len(taps) * total.nbytes, written=len(taps) * total.nbytes, arrays={"S": total})
    out = total / divisor
    r.step("forward", "divide", "y = S / D", shapes={"output": out.shape}, flops=out.size,
           read=total.nbytes + divisor.nbytes, written=out.nbytes, arrays={"output": out})
    r.compare("forward output", out[0] if unbatched else out, out_op)

    g = r.grad_like(out)
    r.step("backward", "upstream gradient G", "G = dL/d(output), random",
           shapes={"G": g.shape}, arrays={"G": g})
    share = g / divisor
    r.step("backward", "share", "each window spreads G(i, j) / D(i, j) evenly over its taps",
           shapes={"G / D": share.shape}, flops=share.size, read=g.nbytes + divisor.nbytes,
           written=share.nbytes, arrays={"G / D": share})
    dxp = np.zeros((n, c) + geo.padded_hw, x.dtype)
    for a, b in taps:
        dxp[geo.tap(a, b)] += share
    routes = _avg_routes(geo, share) if r.numbers else []
    r.step("backward", "add the share into every tap", [
        f"for each tap: padded_grad[tap view] += G / D  ({len(taps)} strided adds"
        + ("; overlapping windows add up)" if geo.overlapping else ")")],
        shapes={"padded gradient": dxp.shape}, flops=len(taps) * share.size,
        **_scatter_bytes(geo, dxp, share),
        arrays={"padded gradient": dxp} if any(geo.pad) else {}, routes=routes)
    _crop_and_compare(r, geo, dxp, backward_op, g, unbatched)
    return "F.avg_pool2d forward and backward (F.vjp)"


def _avg_routes(geo, share) -> list:
    """One line per output: the input block its share G/D is added to (padding dropped)."""
    (kh, kw), (h, w) = geo.kernel, geo.in_hw
    rows, cols = geo.window_starts()
    lines = ["where each output's gradient goes (G/D to every input position of its window):"]
    for (n, c, i, j), value in np.ndenumerate(share):
        r0, r1 = max(rows[i], 0), min(rows[i] + kh, h)
        c0, c1 = max(cols[j], 0), min(cols[j] + kw, w)
        lines.append(f"  G({n},{c},{i},{j})/D = {value:.4g} -> dx({n},{c},{r0}:{r1},{c0}:{c1})")
    return lines


# --------------------------------------------------------------------------- linear
def _explain_linear(r: _Recorder, *, input, weight, bias=True):
    x = r.data(input, -3, 3)
    w = r.data(weight, -2, 2)
    if len(weight) != 2:
        raise ExplainError(f"explain linear: --weight must be 2-D (out_features, in_features), "
                           f"got {shape_str(weight)}")
    b = r.data((weight[0],), -2, 2) if bias else None
    out_op, backward_op = _validated("linear", F.linear, x, w, b)
    out_f, in_f = w.shape
    x2 = x.reshape(-1, in_f)
    m = x2.shape[0]
    r.limit(input=x.shape, weight=w.shape, output=(m, out_f))
    r.step("forward", "flatten the leading dimensions (a view)",
           f"X = input as ({m} x {in_f}): M = {m} rows, one per sample (or position)",
           shapes={"input": x.shape, "X": x2.shape, "W": w.shape}, arrays={"input": x, "W": w})
    y = x2 @ w.T
    r.step("forward", "GEMM  Y = X @ W^T", f"({m} x {in_f}) @ ({in_f} x {out_f}) -> ({m} x {out_f}); "
           f"FLOPs = 2*M*in*out = 2*{m}*{in_f}*{out_f}", shapes={"Y": y.shape},
           flops=2 * m * in_f * out_f, read=_nb(x2, w), written=y.nbytes, arrays={"Y": y})
    if b is not None:
        y += b
        r.step("forward", "bias (in place)", "Y[m, :] += b", shapes={"b": b.shape},
               flops=y.size, read=_nb(y, b), written=y.nbytes, arrays={"b": b, "Y + b": y})
    out = y.reshape(out_op.shape)
    r.compare("forward output", out, out_op)
    g = r.grad_like(out)
    g2 = g.reshape(-1, out_f)
    r.step("backward", "upstream gradient G", f"G = dL/d(output), random, as ({m} x {out_f})",
           shapes={"G": g2.shape}, arrays={"G": g2})
    gx = (g2 @ w).reshape(x.shape)
    r.step("backward", "GEMM  dX = G @ W", f"({m} x {out_f}) @ ({out_f} x {in_f}) -> ({m} x {in_f}); "
           f"FLOPs = 2*{m}*{out_f}*{in_f}", shapes={"dX": gx.shape}, flops=2 * m * out_f * in_f,
           read=_nb(g2, w), written=gx.nbytes, arrays={"dX": gx})
    gw = np.dot(g2.T, x2)
    r.step("backward", "GEMM  dW = G^T @ X", [
        f"({out_f} x {m}) @ ({m} x {in_f}) -> ({out_f} x {in_f}); FLOPs = 2*{out_f}*{m}*{in_f}",
        "the sum over the M rows is how one weight shared by the batch collects every sample's share"],
        shapes={"dW": gw.shape}, flops=2 * out_f * m * in_f, read=_nb(g2, x2), written=gw.nbytes,
        arrays={"dW": gw})
    theirs = backward_op(g)
    r.compare("input gradient", gx, theirs[0])
    r.compare("weight gradient", gw, theirs[1])
    if b is not None:
        gb = g2.sum(axis=0)
        r.step("backward", "bias gradient", "db = sum of G over the rows", shapes={"db": gb.shape},
               flops=g2.size, read=g2.nbytes, written=gb.nbytes, arrays={"db": gb})
        r.compare("bias gradient", gb, theirs[2])
    return "F.linear forward and backward (F.vjp)"


# --------------------------------------------------------------------------- softmax
def _explain_softmax(r: _Recorder, *, input, dim=-1):
    x = r.data(input, -3, 3)
    out_op, backward_op = _validated("softmax", F.softmax, x, dim=dim)
    r.limit(input=x.shape)
    axis = normalize_dim("softmax", dim, x.ndim) if x.ndim else None
    rows = x.size // max(x.shape[axis], 1) if x.ndim else 1
    red = (x.shape[axis] if x.ndim else 1)
    r.step("forward", "max along dim", f"m = max of x along dim {dim} ({rows} slices of {red})",
           shapes={"input": x.shape}, flops=x.size, read=x.nbytes, written=x.nbytes // max(red, 1),
           arrays={"input": x})
    with np.errstate(invalid="ignore"):
        mx = np.max(x, axis=axis, keepdims=True)
        e = np.exp(x - mx)
    r.step("forward", "shift and exp", "e = exp(x - m): the shift cancels in the ratio and keeps "
           "the largest exponent at exp(0) = 1, so huge logits cannot overflow",
           shapes={"e": e.shape}, flops=2 * x.size, read=x.nbytes + mx.nbytes, written=e.nbytes,
           arrays={"m": mx, "e": e})
    total = np.sum(e, axis=axis, keepdims=True)
    out = e / total
    r.step("forward", "normalise", "s = e / sum(e along dim)", shapes={"s": out.shape},
           flops=2 * e.size, read=2 * e.nbytes + total.nbytes, written=total.nbytes + out.nbytes,
           arrays={"sum": total, "s": out})
    r.compare("forward output", out, out_op)
    g = r.grad_like(out)
    gs = g * out
    r.step("backward", "upstream gradient G, times s", "G = dL/ds, random; G*s", shapes={"G": g.shape},
           flops=g.size, read=_nb(g, out), written=gs.nbytes, arrays={"G": g, "G*s": gs})
    dot = np.sum(gs, axis=axis, keepdims=True)
    gx = gs - out * dot
    r.step("backward", "dx = s * (G - sum(G*s))", [
        "the Jacobian is ds_i/dx_k = s_i (delta_ik - s_k), so dx = G*s - s * sum_j G_j s_j",
        "(an all-ones G gives dx = 0: that is why a test needs a random upstream gradient)"],
        shapes={"dx": gx.shape}, flops=3 * g.size, read=gs.nbytes * 2 + out.nbytes,
        written=dot.nbytes + gx.nbytes, arrays={"sum(G*s)": dot, "dx": gx})
    r.compare("input gradient", gx, backward_op(g)[0])
    return "F.softmax forward and backward (F.vjp)"


# --------------------------------------------------------------------------- cross_entropy
def _explain_cross_entropy(r: _Recorder, *, input, target=None, ignore_index=-100, reduction="mean"):
    x = r.data(input, -3, 3)
    if len(input) == 0:
        raise ExplainError("explain cross_entropy: --input must have at least 1 dimension, (C,) or (N, C, ...)")
    n_classes = input[1] if len(input) > 1 else input[0]
    target_shape = ((input[0],) + tuple(input[2:])) if len(input) > 1 else ()
    if target is None:
        t = r.rng.integers(0, max(n_classes, 1), size=target_shape)
    else:
        t = np.asarray(target, dtype=np.int64)
        if t.size == int(np.prod(target_shape, dtype=np.int64)):
            t = t.reshape(target_shape)
    out_op, backward_op = _validated("cross_entropy", F.cross_entropy, x, t,
                                     ignore_index=ignore_index, reduction=reduction)
    r.limit(input=x.shape)
    xl = _loss._class_last(x)
    lp = _log_softmax(xl, -1)
    r.step("forward", "log_softmax over the classes", [
        "l = (x - m) - log(sum(exp(x - m))), m the row max: finite even where softmax rounds to 0",
        f"target (from the seed unless given): {t.tolist()}"
        + (f"; ignore_index = {ignore_index}" if ignore_index != -100 or (t == -100).any() else "")],
        shapes={"input": x.shape, "target": t.shape, "log_probs (class last)": lp.shape},
        flops=5 * x.size, read=3 * x.nbytes, written=2 * lp.nbytes,
        arrays={"input": x, "target": t, "log_probs": lp})
    tt = _loss._index_target("cross_entropy", x, t)
    loss, core_backward = _loss._index_loss("cross_entropy", lp, tt, None, ignore_index, reduction, 0.0)
    kept = tt != ignore_index
    denom = int(kept.sum())
    what = {"mean": f"the mean over the {denom} kept targets (ignored ones leave the numerator and the "
                    "denominator alike)",
            "sum": "the sum over the kept targets", "none": "one loss per position"}[reduction]
    r.step("forward", "pick the target's log-probability", [
        "loss_i = -l[i, t_i] for every kept position i (t_i != ignore_index)", f"loss = {what}"],
        shapes={"loss": np.shape(loss)}, flops=2 * tt.size, read=tt.nbytes + tt.size * x.itemsize,
        written=np.asarray(loss).nbytes, arrays={"loss": loss})
    r.compare("forward output", loss, out_op)

    # A loss ends the graph: dL/dL = 1 (a random upstream gradient per position for 'none').
    g = np.ones((), x.dtype) if reduction != "none" else r.grad_like(np.asarray(loss))
    grad_lp, _ = core_backward(g)
    r.step("backward", "dL/dl", [
        f"upstream gradient {'1 (the loss ends the graph)' if reduction != 'none' else 'G, random'}",
        "dL/dl[i, c] = -a_i [c = t_i] for kept positions, 0 elsewhere; a_i = "
        + ("1/" + str(denom) if reduction == "mean" else "1" if reduction == "sum" else "G_i")],
        shapes={"dL/dl": grad_lp.shape}, flops=tt.size, written=grad_lp.nbytes,
        arrays={"dL/dl": grad_lp})
    gx_last = _log_softmax_backward(grad_lp, lp, -1)
    gx = _loss._class_first(gx_last, x.ndim)
    s = np.exp(lp)
    y = (np.arange(lp.shape[-1]) == tt[..., None]).astype(x.dtype)  # one-hot; none for -100
    with np.errstate(divide="ignore", invalid="ignore"):  # every target ignored: 0/0, as torch
        a = np.broadcast_to(g / x.dtype.type(denom) if reduction == "mean" else g, tt.shape)
        lecture = np.where(kept[..., None], (s - y) * a[..., None], 0).astype(x.dtype)
    r.step("backward", "through log_softmax: dx = dL/dl - s * sum(dL/dl)", [
        "s = exp(l) = softmax(x); for a kept row this is the lectures' (s - y) * a_i, y the one-hot "
        "target; an ignored row gets 0"],
        shapes={"dx": gx.shape}, flops=4 * x.size, read=2 * lp.nbytes + grad_lp.nbytes,
        written=gx.nbytes, arrays={"softmax s": s, "dx": gx})
    r.compare("input gradient", gx, backward_op(g)[0])
    r.compare("the lectures' dx = (s - y) * a", gx_last, lecture, identity=True)
    # and at a random upstream gradient, so a backward that ignored it would be caught
    g2 = r.grad_like(np.asarray(out_op)) + np.asarray(0.5, x.dtype)
    r.compare("input gradient at a random upstream gradient",
              _loss._class_first(_log_softmax_backward(core_backward(g2)[0], lp, -1), x.ndim),
              backward_op(g2)[0])
    return "F.cross_entropy forward and backward (F.vjp)"


# --------------------------------------------------------------------------- the API
_BUILDERS = {
    "conv2d": _explain_conv2d, "max_pool2d": _explain_max_pool2d, "avg_pool2d": _explain_avg_pool2d,
    "linear": _explain_linear, "softmax": _explain_softmax, "cross_entropy": _explain_cross_entropy,
}


_EXAMPLE_SHAPES = {("conv2d", "input"): "2,3,7,7", ("conv2d", "weight"): "4,3,3,3",
                   ("linear", "input"): "64,320", ("linear", "weight"): "10,320"}


def _shape(op: str, name: str, value, required: bool):
    if value is None:
        if required:
            example = _EXAMPLE_SHAPES.get((op, name), "3,5" if op in ("softmax", "cross_entropy")
                                          else "1,1,4,4")
            raise ExplainError(f"explain {op}: --{name} SHAPE is required (e.g. --{name} {example})")
        return None
    try:
        shape = tuple(int(v) for v in (value if isinstance(value, (tuple, list)) else (value,)))
    except (TypeError, ValueError):
        shape = None
    if shape is None or any(v < 0 for v in shape) or not shape:
        raise ExplainError(f"explain {op}: --{name} must be a shape of non-negative integers "
                           f"like 2,3,7,7, got {value!r}")
    return shape


def explain(op: str, *, numbers: bool = False, seed: int = 0, dtype=None, strict: bool = True,
            **options) -> Explanation:
    """Run ``op`` step by step on data of the given shapes; check it against the op itself.

    Parameters
    ----------
    op : {'conv2d', 'max_pool2d', 'avg_pool2d', 'linear', 'softmax', 'cross_entropy'}
    numbers : bool
        Keep (and print) every array and where each gradient goes. Small inputs only
        (at most :data:`NUMBERS_LIMIT` numbers per array); data are small integers.
    seed : int
        Seed of the data (and of the upstream gradient).
    dtype : {None, 'float32', 'float64'}
        Default float64 with ``numbers`` (exact integers), else float32.
    strict : bool
        Raise :class:`CheckFailed` if the steps disagree with the op (else only record it
        in ``Explanation.check``).
    **options
        The op's shapes and options, as the command line's:

        - conv2d: ``input``, ``weight`` (shapes), ``bias`` (bool), ``stride``,
          ``padding`` (int, pair, ``'same'``, ``'valid'``), ``dilation``, ``groups``
        - max_pool2d: ``input``, ``kernel``, ``stride``, ``padding``, ``dilation``, ``ceil_mode``
        - avg_pool2d: ``input``, ``kernel``, ``stride``, ``padding``, ``ceil_mode``,
          ``count_include_pad``, ``divisor_override``
        - linear: ``input``, ``weight``, ``bias``
        - softmax: ``input``, ``dim`` (default -1)
        - cross_entropy: ``input``, ``target`` (class indices; default drawn from the
          seed), ``ignore_index``, ``reduction``

    Returns
    -------
    Explanation

    Raises
    ------
    ExplainError
        Unknown op or option, bad shapes, or the op's own validation error (its message).
    CheckFailed
        With ``strict``, if the explained steps disagree with the op.
    """
    if op not in _BUILDERS:
        raise ExplainError(f"explain: unknown op {op!r}; expected one of {', '.join(OPS)}")
    builder = _BUILDERS[op]
    allowed = list(inspect.signature(builder).parameters)[1:]  # after the recorder
    unknown = [k for k in options if k not in allowed]
    if unknown:
        raise ExplainError(f"explain {op}: option {unknown[0]!r} does not apply; "
                           f"{op} takes {', '.join(allowed)}")
    for name in ("input", "weight"):
        if name in allowed:
            options[name] = _shape(op, name, options.get(name), required=True)
    if op in ("max_pool2d", "avg_pool2d") and options.get("kernel") is None:
        raise ExplainError(f"explain {op}: --kernel K is required (an int or H,W)")
    if dtype is None:
        dtype = "float64" if numbers else "float32"
    if np.dtype(dtype) not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ExplainError(f"explain {op}: --dtype must be float32 or float64, got {dtype!r}")
    r = _Recorder(op, numbers, seed, dtype)
    against = builder(r, **options)
    return r.finish(dict(options), against, strict)


# --------------------------------------------------------------------------- command line
def _int_or_pair(text: str):
    try:
        parts = [int(p) for p in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an int or two ints like 2,1, got {text!r}") from None
    if len(parts) not in (1, 2):
        raise argparse.ArgumentTypeError(f"expected an int or two ints like 2,1, got {text!r}")
    return parts[0] if len(parts) == 1 else tuple(parts)


def _padding(text: str):
    return text if text in ("same", "valid") else _int_or_pair(text)


def _shape_arg(text: str):
    try:
        shape = tuple(int(p) for p in text.split(","))
    except ValueError:
        shape = ()
    if not shape or min(shape) < 0:
        raise argparse.ArgumentTypeError(
            f"expected a shape of non-negative integers like 2,3,7,7, got {text!r}")
    return shape


def _int_list(text: str):
    try:
        return [int(p) for p in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected integers like 0,2,1, got {text!r}") from None


#: Which command-line options each op takes (dest names).
_CLI_OPTIONS = {
    "conv2d": ("input", "weight", "bias", "stride", "padding", "dilation", "groups"),
    "max_pool2d": ("input", "kernel", "stride", "padding", "dilation", "ceil_mode"),
    "avg_pool2d": ("input", "kernel", "stride", "padding", "ceil_mode", "count_include_pad",
                   "divisor_override"),
    "linear": ("input", "weight", "bias"),
    "softmax": ("input", "dim"),
    "cross_entropy": ("input", "target", "ignore_index", "reduction"),
}


def add_explain_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``explain`` command to a CLI's subparsers."""
    from .cli_args import positive_int, seed

    p = subparsers.add_parser(
        "explain", help="watch one op work step by step (shapes, strides, bytes, FLOPs)",
        description="Run one op of scratchnet.functional step by step on data of the given shapes:\n"
                    "every forward and backward step with its shapes, strides, memory moved and\n"
                    "FLOPs, checked against the op itself.",
        epilog="examples:\n  scratchnet explain conv2d --input 2,3,7,7 --weight 4,3,3,3 --stride 2 --padding 1\n"
               "  scratchnet explain max_pool2d --input 1,1,4,4 --kernel 2 --numbers",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("op", metavar="OP", help="one of: " + ", ".join(OPS))
    p.add_argument("--input", type=_shape_arg, metavar="SHAPE", help="input shape, e.g. 2,3,7,7")
    p.add_argument("--weight", type=_shape_arg, metavar="SHAPE",
                   help="conv2d: (C_out, C_in/groups, kH, kW); linear: (out, in)")
    p.add_argument("--bias", action=argparse.BooleanOptionalAction, default=None,
                   help="conv2d, linear: with a bias (default) or without")
    p.add_argument("--kernel", type=_int_or_pair, metavar="K", help="pools: kernel size (K or KH,KW)")
    p.add_argument("--stride", type=_int_or_pair, metavar="S",
                   help="stride (conv2d default 1, pools default the kernel)")
    p.add_argument("--padding", type=_padding, metavar="P",
                   help="padding, P or PH,PW (conv2d also 'same' or 'valid')")
    p.add_argument("--dilation", type=_int_or_pair, metavar="D", help="conv2d, max_pool2d: dilation")
    p.add_argument("--groups", type=positive_int, metavar="G", help="conv2d: groups")
    p.add_argument("--ceil-mode", action="store_true", default=None, help="pools: ceil mode")
    p.add_argument("--count-include-pad", action=argparse.BooleanOptionalAction, default=None,
                   help="avg_pool2d: count the padding in the divisor (default yes)")
    p.add_argument("--divisor-override", type=int, metavar="D", help="avg_pool2d: divide by D")
    p.add_argument("--dim", type=int, metavar="D", help="softmax: dimension (default -1)")
    p.add_argument("--target", type=_int_list, metavar="T",
                   help="cross_entropy: class indices, e.g. 0,2,1 (default: drawn from the seed; "
                        "write --target=-100,1 when the first is negative)")
    p.add_argument("--ignore-index", type=int, metavar="I", help="cross_entropy: ignore_index (default -100)")
    p.add_argument("--reduction", choices=["mean", "sum", "none"], help="cross_entropy: reduction")
    p.add_argument("--numbers", action="store_true",
                   help=f"print the actual arrays and where each gradient goes (at most "
                        f"{NUMBERS_LIMIT} numbers per array)")
    p.add_argument("--seed", type=seed, default=0, help="seed of the data")
    p.add_argument("--dtype", choices=["float32", "float64"], default=None,
                   help="default float64 with --numbers, else float32")
    p.add_argument("--json", metavar="FILE", help="write the steps as JSON")
    p.add_argument("--plot", metavar="FILE",
                   help="draw the op for these shapes (PNG, SVG or PDF by the suffix; needs matplotlib)")

    def one_line_error(message):
        print(f"scratchnet: error: explain: {message}", file=sys.stderr)
        sys.exit(2)

    p.error = one_line_error  # one line and exit 2, as every other scratchnet error
    return p


def cmd_explain(args) -> int:
    """Handle ``scratchnet explain``; errors raise :class:`ExplainError` (a ValueError)."""
    op = args.op
    if op not in _CLI_OPTIONS:
        raise ExplainError(f"explain: unknown op {op!r}; expected one of {', '.join(OPS)}")
    takes = _CLI_OPTIONS[op]
    for flag, path in (("--json", args.json), ("--plot", args.plot)):
        if path and not os.path.isdir(os.path.dirname(os.path.abspath(path))):
            raise ExplainError(f"explain: {flag} {path}: its directory does not exist")
    options = {}
    for dest in ("input", "weight", "bias", "kernel", "stride", "padding", "dilation", "groups",
                 "ceil_mode", "count_include_pad", "divisor_override", "dim", "target",
                 "ignore_index", "reduction"):
        value = getattr(args, dest)
        if value is None:
            continue
        if dest not in takes:
            flag = "--" + dest.replace("_", "-")
            raise ExplainError(f"explain {op}: {flag} does not apply to {op}; it takes "
                               + ", ".join("--" + t.replace("_", "-") for t in takes))
        options[dest] = value
    ex = explain(op, numbers=args.numbers, seed=args.seed, dtype=args.dtype, strict=False, **options)
    print(ex.render())
    if args.json:
        with open(args.json, "w") as f:
            json.dump(ex.to_json(), f, indent=1)
    if args.plot:
        from . import figures  # matplotlib only when a picture is asked for

        try:
            figures.draw_op(op, args.plot, seed=args.seed, **options)
        except ValueError as e:
            raise ExplainError(f"explain {op}: --plot: {e}") from None
        print(f"wrote {args.plot}")
    if not ex.check["passed"]:
        print(f"scratchnet: error: explain {op}: the explained steps differ from the op "
              f"({', '.join(ex.check['failed'])}); this is a bug in scratchnet", file=sys.stderr)
        return 1
    return 0
