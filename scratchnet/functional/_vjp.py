"""The one mechanism that ties every forward to its hand-written backward.

An op is written once, micrograd-style: its forward computes the output and defines,
right beside it, a ``backward(grad_out)`` closure that returns the vector-Jacobian
products as a ``{parameter_name: gradient}`` dict::

    @differentiable
    def relu(input, inplace=False):
        out = np.maximum(input, 0)
        def backward(grad_out):
            return {"input": np.where(input <= 0, 0, grad_out)}
        return out, backward

``@differentiable`` turns that into two things:

* the public op, ``relu(x)``, which returns only ``out`` (torch's signature);
* an entry in a registry, which :func:`vjp` uses to run the same forward and hand back
  the closure.

There is no tape and no graph: composing ops is the caller's job (``scratchnet.nn``
does it layer by layer), which is exactly what the lectures' hand-derived
backpropagation does.
"""
from __future__ import annotations

import functools
import inspect
from typing import Callable

import numpy as np

_FORWARDS: dict = {}
_INPUT_GRAD_OPTIONAL: set = set()


def differentiable(forward: Callable = None, *, input_grad_optional: bool = False) -> Callable:
    """Register ``forward`` (returning ``(out, backward)``) and return the plain op.

    With ``input_grad_optional=True`` the op's ``backward`` also accepts
    ``needs_input_grad=False`` and then skips the gradient of its first argument
    (its dict has no ``"input"`` entry). That is torch's ``ctx.needs_input_grad``:
    the first layer of a network never needs the gradient of the images it reads,
    and for a convolution that gradient (a GEMM and a col2im) is a large share of
    the backward.
    """
    if forward is None:
        return functools.partial(differentiable, input_grad_optional=input_grad_optional)

    @functools.wraps(forward)
    def op(*args, **kwargs):
        return forward(*args, **kwargs)[0]

    sig = inspect.signature(forward)
    positional = [
        name
        for name, p in sig.parameters.items()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    _FORWARDS[op] = (forward, sig, positional)
    if input_grad_optional:
        _INPUT_GRAD_OPTIONAL.add(op)
    op.__wrapped_forward__ = forward
    return op


def input_grad_optional(fn: Callable) -> bool:
    """Whether ``fn``'s backward can skip its input gradient (``needs_input_grad=False``)."""
    return fn in _INPUT_GRAD_OPTIONAL


def forward_with_backward(fn: Callable, *args, **kwargs):
    """Run ``fn``'s forward and return ``(out, backward)`` where ``backward`` returns the dict.

    This is the low-level form that ``scratchnet.nn`` uses: gradients come back by
    parameter name, so a layer can pick ``"weight"`` and ``"bias"`` without caring
    about positions.
    """
    try:
        forward = _FORWARDS[fn][0]
    except KeyError:
        raise TypeError(
            f"vjp: {getattr(fn, '__name__', fn)!r} is not a scratchnet.functional op "
            f"with a hand-written backward"
        ) from None
    return forward(*args, **kwargs)


def _is_float_array(x) -> bool:
    return isinstance(x, np.ndarray) and x.dtype.kind == "f"


def vjp(fn: Callable, *args, **kwargs):
    """Evaluate ``fn(*args, **kwargs)`` and return ``(out, backward)``.

    ``backward(grad_out)`` returns a tuple with one entry per positional argument
    passed to ``fn``: the gradient (same shape and dtype) for every floating-point
    array argument, ``None`` for everything else (integer targets, ``None`` bias,
    ints and tuples). A floating-point array passed by keyword whose parameter is
    positional in ``fn``'s signature (``bias=b``, ``weight=w``) extends the tuple to
    its position, so ``grads[2]`` is the bias gradient however ``bias`` was passed.

    For ``max_pool2d(..., return_indices=True)`` ``out`` is the ``(values, indices)``
    tuple and ``grad_out`` is the gradient of ``values``.

    Parameters
    ----------
    fn : callable
        One of the ops of :mod:`scratchnet.functional`.
    grad_out : ndarray
        Upstream gradient :math:`\\partial L / \\partial \\text{out}`, shaped like ``out``.

    Examples
    --------
    >>> import numpy as np, scratchnet.functional as F
    >>> x = np.array([-1.0, 0.0, 2.0])
    >>> out, backward = F.vjp(F.relu, x)
    >>> backward(np.array([5.0, 6.0, 7.0]))
    (array([0., 0., 7.]),)
    """
    if fn not in _FORWARDS:
        raise TypeError(
            f"vjp: {getattr(fn, '__name__', fn)!r} is not a scratchnet.functional op "
            f"with a hand-written backward"
        )
    forward, sig, positional = _FORWARDS[fn]
    out, backward_dict = forward(*args, **kwargs)
    n = len(args)
    for name, value in kwargs.items():
        if name in positional and _is_float_array(value):
            n = max(n, positional.index(name) + 1)
    slots = positional[:n]
    given = dict(zip(positional, args))
    given.update(kwargs)
    primary = out[0] if isinstance(out, tuple) else out
    op_name = getattr(fn, "__name__", "op")

    def backward(grad_out):
        grad_out = np.asarray(grad_out)
        if grad_out.shape != primary.shape:
            raise ValueError(
                f"{op_name} backward: grad_out has shape {tuple(grad_out.shape)} but the "
                f"output has shape {tuple(primary.shape)}"
            )
        if grad_out.dtype != primary.dtype:
            grad_out = grad_out.astype(primary.dtype)
        grads = backward_dict(grad_out)
        result = []
        for name in slots:
            value = given.get(name)
            g = grads.get(name) if _is_float_array(value) else None
            if g is not None:
                g = np.asarray(g, dtype=value.dtype)
                if g.shape != value.shape:  # a bug in the op, never the caller's fault
                    raise RuntimeError(
                        f"{op_name} backward produced a {name} gradient of shape "
                        f"{tuple(g.shape)} for an argument of shape {tuple(value.shape)}"
                    )
            result.append(g)
        return tuple(result)

    return out, backward
