"""Errors that name the place: which layer of which model rejected which input.

A layer that rejects its input raises the same exception type, chained, with the
layer's path in the model, its repr and the input shape prepended to the op's
message::

    ValueError: Sequential[7] Linear(in_features=100, out_features=10, bias=True): got
    input of shape (64, 320): linear: input of shape (64, 320) has 320 features ...

The failing layer builds the message (:func:`locate_error`); each parent's
``__call__`` that the exception passes through prepends its own path segment.
"""
from __future__ import annotations

import inspect

import numpy as np

from ..checks import shape_str

#: The exception types a forward raises for a bad input; these get the layer's path.
LOCATED_ERRORS = (ValueError, TypeError, IndexError, RuntimeError)


def _describe_value(name: str, value) -> str:
    if isinstance(value, np.ndarray):
        return f"{name} of shape {shape_str(value.shape)}"
    if isinstance(value, tuple) and all(isinstance(v, np.ndarray) for v in value):
        return f"{name} of shapes " + ", ".join(shape_str(v.shape) for v in value)
    return f"{name} of type {type(value).__name__}"


class _ErrorSite:
    """Where a forward failed: filled in by the failing layer, extended by each parent."""

    def __init__(self, module, description: str, inputs: str, detail: str):
        self.module = module
        self.path: list = []
        self.description = description
        self.inputs = inputs
        self.detail = detail

    def message(self) -> str:
        where = ".".join(self.path)
        head = f"{where} {self.description}" if where else self.description
        return f"{head}: got {self.inputs}: {self.detail}"


def path_segment(parent, key: str) -> str:
    name = type(parent).__name__
    return f"{name}[{key}]" if key.lstrip("-").isdigit() else f"{name}.{key}"


def locate_error(module, exc: Exception, args: tuple, kwargs: dict) -> Exception:
    """Return the exception to raise from ``module.__call__`` with its place in the model."""
    site = getattr(exc, "_scratchnet_site", None)
    if site is not None:
        for key, child in module._modules.items():
            if child is site.module:
                site.path.insert(0, path_segment(module, key))
                break
        site.module = module
        exc.args = (site.message(),)
        return exc
    try:
        names = list(inspect.signature(module.forward).parameters)
    except (TypeError, ValueError):
        names = []
    described = []
    for i, value in enumerate(args):
        name = names[i] if i < len(names) and not names[i].startswith("*") else "input"
        if i == 0 or isinstance(value, np.ndarray):
            described.append(_describe_value(name, value))
    described += [_describe_value(k, v) for k, v in kwargs.items() if isinstance(v, np.ndarray)]
    inputs = " and ".join(described) if described else "no input"
    description = repr(module) if not module._modules else type(module).__name__
    site = _ErrorSite(module, description, inputs, str(exc) or type(exc).__name__)
    # Keep the exact type (so ``except ValueError`` still works) unless it is a
    # subclass with its own constructor, such as numpy's AxisError.
    cls = type(exc) if type(exc) in LOCATED_ERRORS else next(
        t for t in LOCATED_ERRORS if isinstance(exc, t))
    located = cls(site.message())
    located._scratchnet_site = site
    return located
