r"""Reference solutions of the two exercises that are not ``scratchnet.functional`` ops.

:func:`sequential` is what :class:`scratchnet.nn.Sequential` does, written over plain
``(forward, params)`` layers; :func:`sgd_momentum` is :class:`scratchnet.optim.SGD`'s
update rule for one parameter as a pure function. Both have the exercise's form, so
the grader runs them like a learner's file.
"""
from __future__ import annotations

import numpy as np


class Param:
    """A trainable array and its accumulated gradient, as a ``torch.nn.Parameter``'s ``.grad``.

    Attributes
    ----------
    data : ndarray
    grad : ndarray or None
        ``None`` until a backward accumulates into it.
    """

    def __init__(self, data: np.ndarray, grad: np.ndarray = None):
        self.data = data
        self.grad = grad

    def __repr__(self) -> str:
        grad = "None" if self.grad is None else f"array{self.grad.shape}"
        return f"Param(data=array{self.data.shape}, grad={grad})"


def sequential(input, layers):
    r"""Run ``layers`` in order; the backward chains their backwards in reverse.

    Each layer is a pair ``(forward, params)``: ``forward(x, **arrays)`` is an op of
    the exercise's form returning ``(out, backward)``, called with each parameter's
    ``.data`` by name, and ``params`` maps those names to :class:`Param` objects. The
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
    layers : list of (callable, dict of str to Param)

    Returns
    -------
    out : ndarray
        The last layer's output.
    backward : callable
        ``backward(grad_out) -> {"input": dL/d input}``; fills the ``.grad`` of every Param.
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

    With learning rate :math:`\gamma`, momentum :math:`\mu`, dampening :math:`\tau` and
    weight decay :math:`\lambda`:

    .. math::

        g &\leftarrow -g \quad\text{if maximize}, \qquad
        g \leftarrow g + \lambda\theta \quad\text{if } \lambda \ne 0, \\
        b &\leftarrow \begin{cases} g & \text{first step (no buffer yet)} \\
                                    \mu b + (1 - \tau) g & \text{after} \end{cases}
             \quad\text{if } \mu \ne 0, \\
        g &\leftarrow g + \mu b \ \text{(nesterov)}, \ \text{else } b, \qquad
        \theta \leftarrow \theta - \gamma g .

    The buffer starts as the first gradient *without* the :math:`(1-\tau)` factor:
    torch's convention, not the textbook's :math:`b_0 = 0`.

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
    g = -grad if maximize else grad
    if weight_decay != 0:
        g = g + weight_decay * param
    buf = None
    if momentum != 0:
        buf = np.array(g, copy=True) if momentum_buffer is None \
            else momentum * momentum_buffer + (1 - dampening) * g
        g = g + momentum * buf if nesterov else buf
    return param - lr * g, buf
