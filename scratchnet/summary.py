"""``scratchnet.summary``: a model's layers, output shapes and parameter counts.

One forward pass on zeros fills in every layer's output shape, which is how the
lectures size the classifier after the last convolution: the flatten row reads
``20x4x4 = 320``, so the next layer is ``Linear(320, 50)``. A wrong size fails
with the layer's place in the model, exactly as in training::

    >>> import scratchnet, scratchnet.nn as nn
    >>> net = nn.Sequential(nn.Conv2d(1, 10, 5), nn.MaxPool2d(2), nn.ReLU(),
    ...                     nn.Conv2d(10, 20, 5), nn.MaxPool2d(2), nn.ReLU(),
    ...                     nn.Flatten(), nn.Linear(320, 50), nn.ReLU(), nn.Linear(50, 10))
    >>> s = scratchnet.summary(net, (1, 28, 28))
    >>> s.rows[6].output_shape, s.total_params
    ((1, 320), 21840)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from .checks import is_int
from .nn.grad_mode import no_grad
from .nn.module import Module

__all__ = ["summary", "ModelSummary", "SummaryRow"]


class SummaryRow(NamedTuple):
    """One module call of the summarised forward pass.

    Attributes
    ----------
    name : str
        Dotted path in the model, as in ``named_modules`` (``"7"``, ``"features.0"``).
    class_name : str
    output_shape : tuple
        Shape of the output (a tuple of shapes for a tuple output, e.g. max-pool
        with ``return_indices``).
    num_params : int
        Scalars in the parameters the module owns directly (its children's are in
        their own rows), so the column sums to the total.
    depth : int
        Nesting level below the model (0 for its direct children).
    has_children : bool
    """

    name: str
    class_name: str
    output_shape: tuple
    num_params: int
    depth: int
    has_children: bool


def _shape_of(output):
    if isinstance(output, np.ndarray):
        return tuple(int(s) for s in output.shape)
    if isinstance(output, (tuple, list)):
        return tuple(_shape_of(o) for o in output)
    return ()


def _per_sample(shape) -> str:
    """``(1, 20, 4, 4) -> "20x4x4 = 320"``: the features each sample carries."""
    if shape and isinstance(shape[0], tuple):
        shape = shape[0]
    dims = shape[1:]
    if not dims:
        return "1"
    size = int(np.prod(dims, dtype=np.int64))
    if len(dims) == 1:
        return f"{size:,}"
    return "x".join(str(d) for d in dims) + f" = {size:,}"


@dataclass(repr=False)
class ModelSummary:
    """What :func:`summary` returns; ``str()`` (and the REPL) show it as a table.

    Attributes
    ----------
    model_name : str
    input_shape : tuple
        The shape of the zeros the model was run on, batch dimension included.
    output_shape : tuple
    rows : list of SummaryRow
        One per module call, in call order (containers before their children).
    total_params : int
        Scalars in all distinct parameters of the model.
    trainable_params : int
        Those with ``requires_grad``.
    dtype : numpy.dtype
    """

    model_name: str
    input_shape: tuple
    output_shape: tuple
    rows: list
    total_params: int
    trainable_params: int
    dtype: np.dtype

    def __post_init__(self):
        self.dtype = np.dtype(self.dtype)

    @property
    def non_trainable_params(self) -> int:
        return self.total_params - self.trainable_params

    def __str__(self) -> str:
        header = ("Layer (type)", "Output Shape", "Per sample", "Param #")
        body = []
        for r in self.rows:
            label = "  " * r.depth + (f"{r.name} ({r.class_name})" if r.name else r.class_name)
            params = "--" if r.has_children and r.num_params == 0 else f"{r.num_params:,}"
            body.append((label, str(r.output_shape), _per_sample(r.output_shape), params))
        widths = [max(len(line[i]) for line in [header] + body) for i in range(4)]

        def fmt(line):
            return "  ".join(
                cell.rjust(w) if i == 3 else cell.ljust(w) for i, (cell, w) in enumerate(zip(line, widths))
            ).rstrip()

        rule = "=" * len(fmt(tuple("x" * w for w in widths)))
        lines = [
            f"{self.model_name}: input {self.input_shape} {self.dtype}",
            rule, fmt(header), rule, *[fmt(b) for b in body], rule,
            f"Total params: {self.total_params:,}",
            f"Trainable params: {self.trainable_params:,}",
            f"Non-trainable params: {self.non_trainable_params:,}",
            rule,
        ]
        return "\n".join(lines)

    __repr__ = __str__


def summary(model: Module, input_shape, dtype=np.float32, *, batch_size: int = 1) -> ModelSummary:
    """Run ``model`` on zeros and tabulate every layer's output shape and parameters.

    Parameters
    ----------
    model : Module
    input_shape : tuple of int
        One sample's shape, without the batch dimension, e.g. ``(1, 28, 28)``.
    dtype : float32 (default) or float64
        The zeros' dtype (it must match the model's).
    batch_size : int, default 1
        Leading dimension of the zeros: the forward runs on ``(batch_size, *input_shape)``.

    Returns
    -------
    ModelSummary
        ``.rows``, ``.total_params``, ``.trainable_params`` and a printable table.

    Raises
    ------
    ValueError, TypeError
        The layer that rejects its input, named with its place in the model (a
        wrong flatten size reads ``Sequential[7] Linear(in_features=100, ...): got
        input of shape (1, 320): ...``).

    Notes
    -----
    The pass runs under :class:`~scratchnet.nn.no_grad`: it keeps no backward and
    leaves no closure behind (a pending backward of an earlier forward is dropped).
    """
    if not isinstance(model, Module):
        raise TypeError(f"summary: model must be a scratchnet.nn.Module, got {type(model).__name__}")
    if is_int(input_shape):
        input_shape = (int(input_shape),)
    input_shape = tuple(int(s) for s in input_shape)
    if not is_int(batch_size) or batch_size < 1:
        raise ValueError(f"summary: batch_size must be a positive int, got {batch_size!r}")
    shape = (int(batch_size), *input_shape)

    names = {}
    for name, module in model.named_modules():
        names.setdefault(id(module), name)
    calls: list = []
    stack: list = []

    def pre_hook(module, args):
        entry = {"module": module, "output": None}
        calls.append(entry)
        stack.append(entry)

    def post_hook(module, args, output):
        stack.pop()["output"] = _shape_of(output)

    handles = []
    try:
        for module in model.modules():
            handles.append(module.register_forward_pre_hook(pre_hook))
            handles.append(module.register_forward_hook(post_hook))
        with no_grad():
            output = model(np.zeros(shape, dtype=dtype))
    finally:
        for h in handles:
            h.remove()

    rows = []
    for entry in calls:
        module = entry["module"]
        if module is model and model._modules:
            continue
        name = names.get(id(module), "")
        depth = name.count(".") if name else 0
        own = sum(p.numel() for p in module.parameters(recurse=False))
        rows.append(SummaryRow(name, type(module).__name__, entry["output"], own, depth,
                               bool(module._modules)))
    params = list(model.parameters())
    return ModelSummary(
        model_name=type(model).__name__,
        input_shape=shape,
        output_shape=_shape_of(output),
        rows=rows,
        total_params=sum(p.numel() for p in params),
        trainable_params=sum(p.numel() for p in params if p.requires_grad),
        dtype=dtype,
    )
