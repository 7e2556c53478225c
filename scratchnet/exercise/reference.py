r"""Reference solutions of the two exercises that are not ``scratchnet.functional`` ops.

:func:`sequential` is what :class:`scratchnet.nn.Sequential` does, written over plain
``(forward, params)`` layers whose params are :class:`scratchnet.nn.Parameter` s;
:func:`sgd_momentum` is :func:`scratchnet.optim.sgd.sgd_step`, the rule
:class:`scratchnet.optim.SGD` applies to each parameter, under the exercise's
signature. Both have the exercise's form, so the grader runs them like a learner's file.
"""
from __future__ import annotations

import numpy as np

from ..optim.sgd import sgd_step


def sequential(input, layers):
    r"""Run ``layers`` in order; the backward chains their backwards in reverse.

    Each layer is a pair ``(forward, params)``: ``forward(x, **arrays)`` is an op of
    the exercise's form returning ``(out, backward)``, called with each parameter's
    ``.data`` by name, and ``params`` maps those names to :class:`~scratchnet.nn.Parameter` objects. The
    chain rule for :math:`y = f_n(\cdots f_1(x))` with upstream :math:`g`,

    .. math::

        \frac{\partial L}{\partial x} = J_1^\top J_2^\top \cdots J_n^\top\, g,

    is each layer's vector-Jacobian product applied from the last layer to the first.
    Every parameter's gradient is *added* to its ``.grad`` (stored as a copy the
    first time, when ``.grad`` is ``None``): a layer used twice, and a gradient left
    from an earlier backward, both accumulate, as torch's ``.grad`` does.

    Parameters
    ----------
    input : ndarray
    layers : list of (callable, dict of str to Parameter)

    Returns
    -------
    out : ndarray
        The last layer's output.
    backward : callable
        ``backward(grad_out) -> {"input": dL/d input}``; fills the ``.grad`` of every Parameter.
    """
    steps = []
    x = input
    for forward, params in layers:
        x, backward = forward(x, **{name: p.data for name, p in params.items()})
        steps.append((backward, params))

    def backward(grad_out):
        g = grad_out
        for step, params in reversed(steps):
            grads = step(g)
            for name, p in params.items():
                if p.grad is None:
                    p.grad = np.array(grads[name], copy=True)
                else:
                    p.grad = p.grad + grads[name]
            g = grads["input"]
        return {"input": g}

    return x, backward


def sgd_momentum(param, grad, momentum_buffer, lr, momentum=0.0, dampening=0.0, weight_decay=0.0,
                 nesterov=False, maximize=False):
    r"""One step of torch's SGD for one parameter: ``(new_param, new_momentum_buffer)``.

    The exercise's signature for :func:`scratchnet.optim.sgd.sgd_step`, whose page
    derives the rule:

    .. math::

        g &\leftarrow -g \quad\text{if maximize}, \qquad
        g \leftarrow g + \lambda\theta \quad\text{if } \lambda \ne 0, \\
        b &\leftarrow \begin{cases} g & \text{first step (no buffer yet)} \\
                                    \mu b + (1 - \tau) g & \text{after} \end{cases}
             \quad\text{if } \mu \ne 0, \\
        g &\leftarrow g + \mu b \ \text{(nesterov)}, \ \text{else } b, \qquad
        \theta \leftarrow \theta - \gamma g .

    Parameters
    ----------
    param, grad : ndarray, one shape and dtype
    momentum_buffer : ndarray or None
        The buffer this function returned at the previous step; ``None`` at the first.
    lr, momentum, dampening, weight_decay : float
    nesterov, maximize : bool

    Returns
    -------
    new_param : ndarray
    new_momentum_buffer : ndarray or None
        ``None`` without momentum. Neither argument array is modified.
    """
    return sgd_step(param, grad, momentum_buffer, lr=lr, momentum=momentum, dampening=dampening,
                    weight_decay=weight_decay, nesterov=nesterov, maximize=maximize)
