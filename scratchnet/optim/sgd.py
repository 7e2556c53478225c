r"""Stochastic gradient descent with torch's momentum, dampening, Nesterov and weight decay.

:func:`sgd_step` is the update rule for one parameter, as a pure function: the page to
read. :class:`SGD` applies a rule with that contract to every parameter; by default the
tuned kernel :func:`scratchnet.optim.fast_sgd.sgd_step_`, which computes the same
numbers in place, and inside :func:`override_step` any other rule (the practice
track's capstone runs a learner's that way).
"""
from __future__ import annotations

import contextlib
from typing import Callable, Optional

import numpy as np

from .fast_sgd import sgd_step_
from .optimizer import Optimizer, add_scaled

__all__ = ["SGD", "sgd_step", "override_step"]


def sgd_step(param, grad, momentum_buffer, *, lr, momentum=0.0, dampening=0.0, weight_decay=0.0,
             nesterov=False, maximize=False):
    r"""One step of torch's SGD for one parameter: ``(new_param, new_momentum_buffer)``.

    With learning rate :math:`\gamma`, momentum :math:`\mu`, dampening :math:`\tau` and
    weight decay :math:`\lambda`, at step :math:`t`:

    .. math::

        g_t &\leftarrow -g_t \quad\text{if maximize} \\
        g_t &\leftarrow g_t + \lambda \theta_{t-1} \quad\text{if } \lambda \ne 0 \\
        b_t &\leftarrow \begin{cases} g_t & t = 1 \\
                                      \mu b_{t-1} + (1 - \tau) g_t & t > 1 \end{cases}
               \quad\text{if } \mu \ne 0 \\
        g_t &\leftarrow \begin{cases} g_t + \mu b_t & \text{nesterov} \\
                                      b_t & \text{otherwise} \end{cases}
               \quad\text{if } \mu \ne 0 \\
        \theta_t &\leftarrow \theta_{t-1} - \gamma g_t

    The momentum buffer starts as the first gradient itself, *without* the
    :math:`(1-\tau)` factor: torch's convention (not Sutskever et al.'s
    :math:`b_0 = 0`), which is why a dampened run differs from the textbook formula
    on its first step.

    Parameters
    ----------
    param, grad : ndarray, one shape and dtype
        :math:`\theta_{t-1}` and :math:`g_t`.
    momentum_buffer : ndarray or None
        :math:`b_{t-1}`, the buffer this function returned at the previous step;
        ``None`` at the first step (and always without momentum).
    lr, momentum, dampening, weight_decay : float
    nesterov, maximize : bool

    Returns
    -------
    new_param : ndarray
        :math:`\theta_t`, in ``param``'s dtype.
    new_momentum_buffer : ndarray or None
        :math:`b_t`; ``None`` without momentum. Neither argument is modified.
    """
    # Python floats: a float32 parameter is then updated in float32 (NEP 50).
    lr, momentum, dampening, weight_decay = (float(v) for v in (lr, momentum, dampening, weight_decay))
    g = -grad if maximize else grad
    if weight_decay != 0:
        g = add_scaled(g, param, weight_decay)  # rounded once, as torch's fused add
    buf = None
    if momentum != 0:
        if momentum_buffer is None:
            buf = g.copy()
        else:
            # (1 - 0) * g would add exactly g: skip the product.
            buf = momentum * momentum_buffer + (g if dampening == 0 else (1 - dampening) * g)
        g = g + momentum * buf if nesterov else buf
    return param - lr * g, buf


#: The rule every SGD runs inside :func:`override_step` (``None``: none in force).
_OVERRIDE: Optional[Callable] = None


@contextlib.contextmanager
def override_step(step: Callable):
    """Run ``step`` as every :class:`SGD`'s update rule for the ``with`` block.

    Parameters
    ----------
    step : callable
        A rule with :func:`sgd_step`'s contract: ``step(param, grad,
        momentum_buffer, *, lr, momentum, dampening, weight_decay, nesterov,
        maximize) -> (new_param, new_momentum_buffer)``, called with ``param.data``.
        SGD copies ``new_param`` into ``param.data`` (views of it stay valid) and
        keeps ``new_momentum_buffer`` as the parameter's ``"momentum_buffer"`` state.
        Overrides nest; leaving the block restores what ran before.

    Examples
    --------
    >>> import numpy as np
    >>> from scratchnet import nn, optim
    >>> from scratchnet.optim.sgd import override_step, sgd_step
    >>> p = nn.Parameter(np.array([1.0, 2.0]))
    >>> p.grad = np.array([0.5, -0.5])
    >>> with override_step(sgd_step):   # the textbook rule instead of the tuned kernel
    ...     _ = optim.SGD([p], lr=0.1).step()
    >>> p.data
    array([0.95, 2.05])
    """
    global _OVERRIDE
    if not callable(step):
        raise TypeError(f"override_step: step must be callable, got {step!r}")
    saved, _OVERRIDE = _OVERRIDE, step
    try:
        yield
    finally:
        _OVERRIDE = saved


class SGD(Optimizer):
    r"""Stochastic gradient descent, with torch's exact update rule (:func:`sgd_step`).

    Parameters
    ----------
    params : iterable of Parameter or of dicts
        Parameters to optimize, or param groups (see :class:`Optimizer`).
    lr : float, default 1e-3
    momentum : float, default 0
    dampening : float, default 0
    weight_decay : float, default 0
        L2 penalty :math:`\tfrac{\lambda}{2}\|\theta\|^2` folded into the gradient.
    nesterov : bool, default False
        Nesterov momentum; requires ``momentum > 0`` and ``dampening == 0``.
    maximize : bool, default False
        Ascend the objective instead of descending it.

    Notes
    -----
    Each parameter is updated by the rule in force: :func:`override_step`'s, else
    the tuned in-place kernel :func:`~scratchnet.optim.fast_sgd.sgd_step_`, which
    gives :func:`sgd_step`'s numbers bit for bit (the suite checks it).

    Examples
    --------
    The lecture's MLP training: ``SGD(model.parameters(), lr=0.01, momentum=0.5)``.
    """

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0,
                 nesterov=False, *, maximize=False):
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening,
                        weight_decay=weight_decay, nesterov=nesterov, maximize=maximize)
        self._validate(defaults)
        super().__init__(params, defaults)

    def _validate(self, group):
        if group["lr"] < 0.0:
            raise ValueError(f"Invalid learning rate: {group['lr']}")
        if group["momentum"] < 0.0:
            raise ValueError(f"Invalid momentum value: {group['momentum']}")
        if group["weight_decay"] < 0.0:
            raise ValueError(f"Invalid weight_decay value: {group['weight_decay']}")
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")

    def _update(self, param, grad, state, group):
        step = _OVERRIDE or sgd_step_
        new_param, buf = step(param.data, grad, state.get("momentum_buffer"), lr=group["lr"],
                              momentum=group["momentum"], dampening=group["dampening"],
                              weight_decay=group["weight_decay"], nesterov=group["nesterov"],
                              maximize=group["maximize"])
        if new_param is not param.data:  # a pure rule's new array; the kernel wrote in place
            param.data[...] = new_param
        if buf is not None:
            state["momentum_buffer"] = buf
