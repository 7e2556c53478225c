"""The lecture models as graphs (every edge's shape, forward and backward), and C3's table.

Shapes come from :func:`scratchnet.summary` (one forward pass on zeros through the real
model), the connection table from the model's own ``SparseConv2d`` layer.
"""
from __future__ import annotations

import numpy as np

from .. import models as _models
from ..summary import summary
from . import _draw as d


def _layer_text(model, row) -> str:
    """A short label: the class and what sizes it (channels, kernel, features)."""
    m = dict(model.named_modules())[row.name]
    cls = type(m).__name__
    if hasattr(m, "in_channels"):
        k = "x".join(str(v) for v in np.broadcast_to(m.kernel_size, 2))
        if hasattr(m, "table"):  # SparseConv2d: as many output maps as table rows
            return f"{row.name}: {cls} {m.in_channels}→{len(m.table)}, {k} (C3 table)"
        return f"{row.name}: {cls} {m.in_channels}→{m.out_channels}, {k}"
    if hasattr(m, "in_features"):
        return f"{row.name}: {cls} {m.in_features}→{m.out_features}"
    if hasattr(m, "kernel_size"):
        return f"{row.name}: {cls} {m.kernel_size}"
    return f"{row.name}: {cls}"


def draw_model_graph(fig, name: str = "basic-cnn", batch_size: int = 64) -> None:
    """Model ``name`` top to bottom: a box per layer, its output shape on the edge below it,
    forward arrows down the middle, the backward's gradients up the right side."""
    model = _models.build(name)
    spec = _models.spec(name)
    rows = [r for r in summary(model, spec.input_shape, batch_size=batch_size).rows if not r.has_children]
    ax = fig.add_subplot()
    step, box_h, box_w = 1.0, 0.55, 5.2
    n = len(rows)
    ax.set_xlim(-2.6, box_w + 3.2)
    ax.set_ylim((n + 1) * step + 0.2, -0.2)
    ax.axis("off")
    shape = (batch_size,) + tuple(spec.input_shape)
    d.box(ax, 0, 0, box_w, box_h, f"input {shape}", face="#eeeeee", fontsize=8)
    for k, row in enumerate(rows, start=1):
        y = k * step
        params = f"  [{row.num_params:,} params]" if row.num_params else ""
        face = "#e8f0fb" if row.num_params else "white"
        d.box(ax, 0, y, box_w, box_h, _layer_text(model, row) + params, face=face, fontsize=7.5)
        d.arrow(ax, (box_w / 2, y - step + box_h), (box_w / 2, y), d.FORWARD)
        ax.text(box_w / 2 + 0.1, y - (step - box_h) / 2, str(shape), fontsize=7, va="center",
                ha="left", color="#555555")
        d.arrow(ax, (box_w + 0.4, y + box_h / 2), (box_w + 0.4, y - step + box_h / 2), d.BACKWARD, rad=-0.4)
        shape = row.output_shape
    y = (n + 1) * step
    ax.text(box_w / 2 + 0.1, y - (step - box_h) / 2, f"{shape}  -> loss ({spec.loss})", fontsize=7,
            va="center", color="#555555")
    ax.text(box_w + 1.0, 0.3, "backward:\neach layer's\nclosure turns\n∂L/∂out into\n∂L/∂in",
            fontsize=7, color=d.BACKWARD, va="top")
    ax.text(-2.5, 0.3, "forward:\nshapes at\nbatch " + str(batch_size), fontsize=7, va="top")
    fig.suptitle(f"{name}: {spec.description}", fontsize=8, wrap=True)


def c3_table():
    """LeNet-5's C3 table as the model holds it: ``table[j]`` = the S2 maps C3 map j reads."""
    model = _models.build("lenet5-original")
    return tuple(tuple(t) for t in model.c3.table), model


def draw_c3_table(fig) -> None:
    """The 6 x 16 connection grid of LeNet-5's sparse C3, with the parameter counts."""
    table, model = c3_table()
    maps_in, maps_out = 6, len(table)
    connected = np.zeros((maps_in, maps_out), bool)
    for j, inputs in enumerate(table):
        connected[list(inputs), j] = True
    ax = fig.add_subplot()
    d.cell_axes(ax, maps_out + 1, maps_in + 1)
    fill = [[d.colour(len(table[j]) - 3) + "99" if connected[r, j] else None for j in range(maps_out)]
            for r in range(maps_in)]
    labels = [["X" if connected[r, j] else "" for j in range(maps_out)] for r in range(maps_in)]
    d.grid(ax, np.zeros((maps_in, maps_out)), 1, 1, fill=fill, labels=labels)
    for j in range(maps_out):
        ax.text(1 + j + 0.5, 0.7, str(j), ha="center", fontsize=8)
    for r in range(maps_in):
        ax.text(0.7, 1 + r + 0.5, str(r), ha="right", va="center", fontsize=8)
    k = model.c3.weight.shape[-1]
    sparse = sum(p.data.size for p in model.c3.parameters())
    full = maps_in * maps_out * k * k + maps_out
    ax.set_title(f"LeNet-5's C3 (columns: C3 map, rows: S2 map it reads): {int(connected.sum())} of "
                 f"{connected.size} connections,\n{sparse:,} parameters instead of {full:,} "
                 f"(3, 4 and all 6 inputs: colours)", fontsize=9)
