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

**Which forward runs.** The registered forward is the textbook one, the version the
op's page shows. A tuned kernel with the same contract (same signature, same
``(out, backward)``, same numbers) may be attached to an op with
:func:`register_kernel`; :mod:`scratchnet.functional.fast` attaches its kernels when
``scratchnet.functional`` is imported, and the suite proves each equal to its
textbook op. :func:`override` swaps any op's forward for a ``with`` block (the
practice track's capstone runs a learner's ops that way), and :func:`textbook` runs
the textbook forwards alone.
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import inspect
from dataclasses import dataclass
from typing import Callable

import numpy as np

_REGISTRY: dict = {}
#: op -> the :class:`Registration` that ``op(...)``, :func:`vjp` and ``scratchnet.nn``
#: run now: an override, else a registered kernel, else the textbook forward. One dict
#: lookup per call, kept up to date by :func:`register_kernel` and :func:`override`.
_ACTIVE: dict = {}
_KERNELS: dict = {}


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
        return _ACTIVE[op].forward(*args, **kwargs)[0]

    sig = inspect.signature(forward)
    positional = tuple(
        name
        for name, p in sig.parameters.items()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    )
    _REGISTRY[op] = _ACTIVE[op] = Registration(forward, sig, positional, honors_needs_input_grad,
                                               fresh_grads)
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


def dispatch(fn: Callable) -> Registration:
    """The :class:`Registration` a call of op ``fn`` runs now.

    An :func:`override` in force, else the kernel attached by :func:`register_kernel`,
    else the op's own textbook registration, :func:`registration`.
    """
    try:
        return _ACTIVE[fn]
    except (KeyError, TypeError):
        return registration(fn)  # raises the not-an-op TypeError


def register_kernel(fn: Callable, kernel: Callable) -> None:
    """Make ``kernel`` the forward op ``fn`` runs by default, in place of its textbook forward.

    ``kernel`` keeps the op's whole contract: the same parameters, the same ``(out,
    backward)`` with the same numbers (up to the order of floating-point sums), and
    what its backward promises (``honors_needs_input_grad``, ``fresh_grads``).
    """
    reg = registration(fn)
    _check_signature(fn, kernel, reg)
    _KERNELS[fn] = dataclasses.replace(reg, forward=kernel)
    _ACTIVE[fn] = _KERNELS[fn]


def _check_signature(fn, forward, reg) -> None:
    """A forward in an op's place takes the op's parameters by the op's names, in order."""
    if not callable(forward):
        raise TypeError(f"{fn.__name__}: a forward in its place must be callable, got {forward!r}")
    try:
        sig = inspect.signature(forward)
    except (TypeError, ValueError):  # a builtin or C callable: nothing to compare
        return
    names = [name for name, p in sig.parameters.items()
             if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    takes_rest = any(p.kind is p.VAR_POSITIONAL for p in sig.parameters.values())
    if names != list(reg.positional[:len(names)]) or not (names or takes_rest):
        raise TypeError(
            f"{fn.__name__}: a forward in its place must take the op's parameters in "
            f"order ({', '.join(reg.positional)}), got ({', '.join(sig.parameters)})"
        )


@contextlib.contextmanager
def override(forwards: dict):
    """Run other forwards in place of some ops' for the ``with`` block.

    Parameters
    ----------
    forwards : dict
        ``{op: forward}``: each ``forward`` takes the op's arguments and returns
        ``(out, backward)`` as the op's textbook forward does. Every call of the op
        inside the block, direct, through :func:`vjp` or through a ``scratchnet.nn``
        module, runs it. Overrides nest; leaving the block restores what ran before.

    Examples
    --------
    >>> import numpy as np, scratchnet.functional as F
    >>> def leaky(input, inplace=False):
    ...     out = np.where(input > 0, input, 0.1 * input)
    ...     return out, lambda g: {"input": np.where(input > 0, g, 0.1 * g)}
    >>> with F.override({F.relu: leaky}):
    ...     F.relu(np.array([-1.0, 2.0]))
    array([-0.1,  2. ])
    >>> F.relu(np.array([-1.0, 2.0]))
    array([0., 2.])
    """
    replacements = {}
    for fn, forward in dict(forwards).items():
        reg = registration(fn)
        _check_signature(fn, forward, reg)
        # A forward from outside promises nothing about its backward: it is called with
        # the gradient alone, and what it returns is copied before it is kept.
        replacements[fn] = dataclasses.replace(reg, forward=forward, honors_needs_input_grad=False,
                                               fresh_grads=False)
    saved = {fn: _ACTIVE[fn] for fn in replacements}
    _ACTIVE.update(replacements)
    try:
        yield
    finally:
        _ACTIVE.update(saved)


@contextlib.contextmanager
def textbook():
    """Run every op's textbook forward (no tuned kernel) for the ``with`` block.

    The oracle of the kernels' tests, and a way to train on exactly the code the
    pages show.
    """
    # Only where the kernel is what runs: an override in force stays in force.
    saved = {fn: _ACTIVE[fn] for fn, kernel in _KERNELS.items() if _ACTIVE[fn] is kernel}
    _ACTIVE.update({fn: _REGISTRY[fn] for fn in saved})
    try:
        yield
    finally:
        _ACTIVE.update(saved)


def kernel_of(fn: Callable):
    """The tuned kernel attached to op ``fn``, or ``None``."""
    registration(fn)
    kernel = _KERNELS.get(fn)
    return None if kernel is None else kernel.forward


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
    out, backward_dict = dispatch(fn).forward(*args, **kwargs)
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
