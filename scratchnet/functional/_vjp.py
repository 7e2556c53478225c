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
* an entry in a registry, a :class:`Registration` (the forward, its signature and
  what its backward promises), which :func:`vjp` and ``scratchnet.nn`` read to run
  the same forward and hand back the closure.

There is no tape and no graph: composing ops is the caller's job (``scratchnet.nn``
does it layer by layer), which is exactly what the lectures' hand-derived
backpropagation does.
"""
from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass
from typing import Callable

import numpy as np

_REGISTRY: dict = {}


@dataclass(frozen=True)
class Registration:
    """What :func:`differentiable` records about an op.

    Attributes
    ----------
    forward : callable
        The function returning ``(out, backward)``.
    signature : inspect.Signature
        ``forward``'s signature (the op's, torch's).
    positional : tuple of str
        The names of the parameters that can be passed by position, in order;
        ``positional[0]`` is the op's input.
    honors_needs_input_grad : bool
        ``backward`` also accepts ``needs_input_grad=False`` (see :func:`differentiable`).
    fresh_grads : bool
        Every gradient ``backward`` returns is a new array that nothing else holds
        (not an argument, not ``grad_out``, not a view of either), so a caller may
        keep it as a parameter's ``.grad`` without copying it.
    """

    forward: Callable
    signature: inspect.Signature
    positional: tuple
    honors_needs_input_grad: bool
    fresh_grads: bool


def differentiable(forward: Callable = None, *, honors_needs_input_grad: bool = False,
                   fresh_grads: bool = False) -> Callable:
    """Register ``forward`` (returning ``(out, backward)``) and return the plain op.

    With ``honors_needs_input_grad=True`` the op's ``backward`` also accepts
    ``needs_input_grad=False`` and then skips the gradient of its first argument
    (its dict has no ``"input"`` entry). That is torch's ``ctx.needs_input_grad``:
    the first layer of a network never needs the gradient of the images it reads,
    and for a convolution that gradient (a GEMM and a col2im) is a large share of
    the backward.

    With ``fresh_grads=True`` the op promises that every array its ``backward``
    returns is newly made for that call. ``scratchnet.nn`` then stores a parameter's
    first gradient as its ``.grad`` as is, as torch's ``AccumulateGrad`` keeps a
    gradient no one else holds, instead of copying it every step. An op that may
    hand back ``grad_out`` itself or a view of an argument must leave it ``False``.
    """
    if forward is None:
        return functools.partial(differentiable, honors_needs_input_grad=honors_needs_input_grad,
                                 fresh_grads=fresh_grads)

    @functools.wraps(forward)
    def op(*args, **kwargs):
        # The registered forward, not ``forward`` itself: scratchnet.exercise's capstone
        # registers a learner's forward in its place for a training run.
        return _REGISTRY[op].forward(*args, **kwargs)[0]

    sig = inspect.signature(forward)
    positional = tuple(
        name
        for name, p in sig.parameters.items()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    )
    _REGISTRY[op] = Registration(forward, sig, positional, honors_needs_input_grad, fresh_grads)
    return op


def is_op(fn) -> bool:
    """Whether ``fn`` is an op registered by :func:`differentiable`."""
    try:
        return fn in _REGISTRY
    except TypeError:  # unhashable
        return False


def registration(fn: Callable) -> Registration:
    """The :class:`Registration` of op ``fn``; a ``TypeError`` if ``fn`` is not an op."""
    try:
        return _REGISTRY[fn]
    except (KeyError, TypeError):
        raise TypeError(
            f"vjp: {getattr(fn, '__name__', fn)!r} is not a scratchnet.functional op "
            f"with a hand-written backward"
        ) from None


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
    reg = registration(fn)
    positional = reg.positional
    out, backward_dict = reg.forward(*args, **kwargs)
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
