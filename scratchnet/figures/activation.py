"""The activations and their derivatives, from each op's own backward."""
from __future__ import annotations

import numpy as np

from ..functional._vjp import vjp
from ..functional.activation import relu, sigmoid, tanh
from . import _draw as d


def draw_activations(fig) -> None:
    """relu, sigmoid, tanh (left) and the derivative their backward passes on (right)."""
    x = np.linspace(-5, 5, 401)
    ax1, ax2 = fig.subplots(1, 2)
    for k, op in enumerate((relu, sigmoid, tanh)):
        y, backward = vjp(op, x)
        slope = backward(np.ones_like(x))[0]  # g = 1: the local derivative itself
        ax1.plot(x, y, color=d.colour(k), label=op.__name__)
        ax2.plot(x, slope, color=d.colour(k), label=f"{op.__name__}' (max {slope.max():.3g})")
    for ax, title in ((ax1, "forward f(x)"), (ax2, "backward: f'(x) = backward(1)")):
        ax.axhline(0, color="black", linewidth=0.5)
        ax.axvline(0, color="black", linewidth=0.5)
        ax.set_xlabel("x", fontsize=9)
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    ax1.set_ylim(-1.5, 3)
    fig.suptitle("sigmoid' never exceeds 1/4: the activation's own factor in every layer's "
                 "backward (the weights multiply in too)", fontsize=10)
