"""What a module's forward records for its backward, as two named steps.

A forward that runs a :mod:`scratchnet.functional` op records an :class:`OpBackward`:
the op's gradients, added into the module's :class:`~scratchnet.nn.Parameter` s.
Every recorded backward (an op's, a container's chain, a custom one) is wrapped in a
:class:`RecordedBackward`: check ``grad_out`` against the output, back-propagate, call
the backward hooks. Both are captured per forward call, so a layer used twice in one
chain is back-propagated through each of its calls.

The two flags both exist for speed: ``needs_input_grad=False`` lets a layer skip the
gradient nobody reads (the images'), and ``fresh_grads`` lets a parameter's first
gradient become its ``.grad`` without a copy.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from ..checks import shape_str


class OpBackward:
    """Back-propagate through one functional op: its gradients, then the parameters' ``.grad``.

    Parameters
    ----------
    op : scratchnet.functional.Registration
        The op's registration (its parameter names and fast-path flags).
    backward : callable
        The op's backward closure from its forward, ``backward(grad_out) -> {name: grad}``.
    params : list of (str, Parameter)
        The op's arguments that were Parameters, by the op's parameter name.
    """

    __slots__ = ("op", "backward", "params", "input_name")

    def __init__(self, op, backward: Callable, params: list):
        self.op, self.backward, self.params = op, backward, params
        self.input_name = op.positional[0]

    def __call__(self, grad_out: np.ndarray, needs_input_grad: bool = True):
        grads = self.op_gradients(grad_out, needs_input_grad)
        if self.params:  # a parameter-free layer (an activation, a pool) has nothing to add
            self.accumulate(grads)
        return grads.get(self.input_name) if needs_input_grad else None

    def op_gradients(self, grad_out: np.ndarray, needs_input_grad: bool) -> dict:
        """The op's backward; told to skip the input gradient where the op can."""
        if needs_input_grad or not self.op.honors_needs_input_grad:
            return self.backward(grad_out)
        return self.backward(grad_out, needs_input_grad=False)

    def accumulate(self, grads: dict) -> None:
        """Add each trainable Parameter's gradient into its ``.grad``."""
        for name, p in self.params:
            if p.requires_grad:
                # A gradient that is also returned (a Parameter passed as the input)
                # must not become .grad: the caller may change it.
                fresh = self.op.fresh_grads and name != self.input_name
                p.accumulate_grad(grads[name], fresh=fresh)


class RecordedBackward:
    """A module's backward as recorded by its forward: check, back-propagate, hooks.

    ``grad_fn(grad_out[, needs_input_grad]) -> grad_input`` is called with
    ``needs_input_grad`` when ``honors_needs_input_grad``; otherwise it runs in full
    and, for ``needs_input_grad=False``, its result is dropped.
    """

    __slots__ = ("module", "grad_fn", "expected", "honors_needs_input_grad")

    def __init__(self, module, grad_fn: Callable, expected: tuple, honors_needs_input_grad: bool):
        self.module, self.grad_fn, self.expected = module, grad_fn, expected
        self.honors_needs_input_grad = honors_needs_input_grad

    def __call__(self, grad_out, needs_input_grad: bool = True):
        grad_out = self.checked_grad_out(grad_out)
        grad_in = self.input_gradient(grad_out, needs_input_grad)
        # Most modules have no backward hook: no call, no list to copy.
        return self.run_hooks(grad_in, grad_out) if self.module._backward_hooks else grad_in

    def checked_grad_out(self, grad_out) -> np.ndarray:
        """``grad_out`` as an array of the output's shape and dtype, or a clear error."""
        shape, dtype = self.expected
        if isinstance(grad_out, np.ndarray) and grad_out.shape == shape and grad_out.dtype == dtype:
            return grad_out  # the usual case, a layer's own gradient: nothing to convert
        grad = np.asarray(grad_out)
        if grad.shape != shape:
            raise ValueError(
                f"{self.module._short_repr()}.backward: grad_out has shape {shape_str(grad.shape)} "
                f"but the forward output has shape {shape_str(shape)}"
            )
        if grad.dtype.kind not in "fiu":
            raise TypeError(
                f"{self.module._short_repr()}.backward: grad_out must be a float array, got dtype {grad.dtype}"
            )
        return grad.astype(dtype, copy=False)

    def input_gradient(self, grad_out: np.ndarray, needs_input_grad: bool):
        if self.honors_needs_input_grad:
            return self.grad_fn(grad_out, needs_input_grad)
        grad_in = self.grad_fn(grad_out)
        return grad_in if needs_input_grad else None

    def run_hooks(self, grad_in, grad_out):
        """The module's full backward hooks, in order; each may replace ``grad_in``."""
        for hook in list(self.module._backward_hooks.values()):
            result = hook(self.module, (grad_in,), (grad_out,))
            if result is not None:
                grad_in = result[0]
        return grad_in
