"""The trace of an explained op: its steps (:class:`Step`), the whole (:class:`Explanation`),
and how they are rendered as text and JSON."""
from __future__ import annotations

import textwrap
from dataclasses import dataclass, field

import numpy as np

from ..checks import shape_str

#: ``numbers=True`` prints every array; none may hold more numbers than this.
NUMBERS_LIMIT = 1024


class ExplainError(ValueError):
    """A request :func:`explain` cannot serve: unknown op, bad option, too big for numbers."""


class CheckFailed(RuntimeError):
    """The explained steps disagree with the op they explain (a bug, never the user's)."""


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
