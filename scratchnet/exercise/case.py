"""One call of a learner's function as a check draws it: its arguments and their memory layouts.

A :class:`Case` holds C-ordered arguments (the oracle's) and the layout in which the
learner's function gets each of them and the upstream gradient
(:data:`scratchnet.testing.strategies.LAYOUTS`). This module imports NumPy only: the
capstone's readiness check builds cases too, without hypothesis.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Case:
    """One call of a learner's function, as drawn (and shrunk) by hypothesis."""

    function: str
    args: tuple
    kwargs: dict
    names: tuple  # the positional parameter names of ``args``
    seed: int = 0  # of the upstream gradient
    extra: dict = field(default_factory=dict)  # sequential / sgd: what the case is made of
    layouts: tuple = ()  # the memory layout of each argument as the learner gets it
    grad_layout: str = "C"  # ... and of the upstream gradient

    def layout(self, i: int) -> str:
        return self.layouts[i] if i < len(self.layouts) else "C"

    def learner_args(self) -> list:
        """Fresh arrays for one call of the learner's function, each in its drawn layout."""
        from ..testing.strategies import in_layout

        return [in_layout(a, self.layout(i)) if isinstance(a, np.ndarray) else a
                for i, a in enumerate(self.args)]

    def learner_grad(self, g):
        """The upstream gradient ``g`` as the learner's backward gets it."""
        from ..testing.strategies import in_layout

        return in_layout(g, self.grad_layout)

    def describe(self) -> str:
        parts = []
        for i, (name, a) in enumerate(zip(self.names, self.args)):
            parts.append(f"{name}={_short(a, self.layout(i))}")
        parts += [f"{k}={v!r}" for k, v in self.kwargs.items()]
        text = f"{self.function}(" + ", ".join(parts) + ")"
        g = self.extra.get("upstream gradient")
        if self.function != "sgd_momentum" and isinstance(g, np.ndarray) and shows(g, self.grad_layout):
            text += f", upstream gradient {LAYOUT_WORDS[self.grad_layout]}"
        return text


def shows(a, layout) -> bool:
    """Whether ``a`` in ``layout`` is really laid out otherwise than C order (a 1 x 1 is not)."""
    from ..testing.strategies import in_layout

    return layout != "C" and a.ndim > 0 and not in_layout(a, layout).flags.c_contiguous


#: How a case names a layout of :data:`~scratchnet.testing.strategies.LAYOUTS`.
LAYOUT_WORDS = {
    "C": "C-ordered", "F": "in Fortran order", "permuted": "a transposed view (axis 0 stored last)",
    "negative strides": "a view with negative strides", "step-sliced": "a view sliced with a step",
}


def _short(a, layout="C") -> str:
    if isinstance(a, np.ndarray):
        where = "" if not shows(a, layout) else f", {LAYOUT_WORDS[layout]}"
        return f"<{a.dtype} array {tuple(a.shape)}{where}>"
    return repr(a)
