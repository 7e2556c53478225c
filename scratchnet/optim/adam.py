"""Adam, with torch's bias correction, AMSGrad and (coupled or decoupled) weight decay."""
from __future__ import annotations

import math

import numpy as np

from .optimizer import Optimizer, add_scaled


def _lerp_(start: np.ndarray, end: np.ndarray, weight: float) -> None:
    r"""``start.lerp_(end, weight)`` in place, with torch's two-sided formula.

    torch evaluates :math:`s + w(e - s)` for :math:`|w| < 0.5` and
    :math:`e - (e - s)(1 - w)` otherwise, so that ``weight == 1`` returns ``end``
    exactly. ``1 - w`` is taken in the array's dtype, as torch does after casting the
    weight to it.
    """
    if abs(weight) < 0.5:
        start += weight * (end - start)
    else:
        one = start.dtype.type(1)
        start[...] = end - (end - start) * (one - start.dtype.type(weight))


class Adam(Optimizer):
    r"""Adam (Kingma & Ba, 2015), with torch's exact single-tensor update rule.

    For each parameter :math:`\theta` with gradient :math:`g_t` at step :math:`t`
    (learning rate :math:`\gamma`, betas :math:`\beta_1, \beta_2`, weight decay
    :math:`\lambda`):

    .. math::

        g_t &\leftarrow -g_t \quad\text{if maximize} \\
        \theta_{t-1} &\leftarrow \theta_{t-1}(1 - \gamma\lambda)
            \quad\text{if decoupled (AdamW), else } g_t \leftarrow g_t + \lambda\theta_{t-1} \\
        m_t &\leftarrow \beta_1 m_{t-1} + (1-\beta_1) g_t \\
        v_t &\leftarrow \beta_2 v_{t-1} + (1-\beta_2) g_t^2 \\
        \hat v_t &\leftarrow \max(\hat v_{t-1}, v_t) \text{ if amsgrad, else } v_t \\
        \theta_t &\leftarrow \theta_{t-1} - \frac{\gamma}{1-\beta_1^t}
            \cdot \frac{m_t}{\sqrt{\hat v_t} / \sqrt{1-\beta_2^t} + \epsilon}

    with :math:`m_0 = v_0 = \hat v_0 = 0`. Note where :math:`\epsilon` sits: it is
    added to :math:`\sqrt{\hat v_t/(1-\beta_2^t)}`, i.e. to the *bias-corrected*
    root, as in torch (the paper's "efficient" variant adds it before the
    correction, which differs when :math:`\epsilon` matters). AMSGrad keeps the
    running maximum of the raw :math:`v_t` and bias-corrects that maximum.

    Parameters
    ----------
    params : iterable of Parameter or of dicts
        Parameters to optimize, or param groups (see :class:`Optimizer`).
    lr : float, default 1e-3
    betas : (float, float), default (0.9, 0.999)
        Decay rates of the first and second moment estimates, each in :math:`[0, 1)`.
    eps : float, default 1e-8
    weight_decay : float, default 0
        Added to the gradient as :math:`\lambda\theta` (an L2 penalty), unless
        ``decoupled_weight_decay``.
    amsgrad : bool, default False
    maximize : bool, default False
    decoupled_weight_decay : bool, default False
        Shrink the weights directly, :math:`\theta \leftarrow \theta(1-\gamma\lambda)`,
        which makes this optimizer AdamW.

    Attributes
    ----------
    state : per parameter, ``step`` (float, as torch's ``state["step"].item()``),
        ``exp_avg`` (:math:`m_t`), ``exp_avg_sq`` (:math:`v_t`) and, with AMSGrad,
        ``max_exp_avg_sq`` (:math:`\hat v_t`).
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 amsgrad=False, *, maximize=False, decoupled_weight_decay=False):
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                        amsgrad=amsgrad, maximize=maximize,
                        decoupled_weight_decay=decoupled_weight_decay)
        self._validate(defaults)
        super().__init__(params, defaults)

    def _validate(self, group):
        betas = group["betas"]
        if not 0.0 <= group["lr"]:
            raise ValueError(f"Invalid learning rate: {group['lr']}")
        if not 0.0 <= group["eps"]:
            raise ValueError(f"Invalid epsilon value: {group['eps']}")
        if len(betas) != 2:
            raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}")
        if not 0.0 <= betas[0] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 0: {betas[0]}")
        if not 0.0 <= betas[1] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 1: {betas[1]}")
        if not 0.0 <= group["weight_decay"]:
            raise ValueError(f"Invalid weight_decay value: {group['weight_decay']}")

    def _update(self, param, grad, state, group):
        # Python floats, so that float32 parameters are updated in float32 (NEP 50).
        lr = float(group["lr"])
        beta1, beta2 = (float(b) for b in group["betas"])
        eps = float(group["eps"])
        weight_decay = float(group["weight_decay"])
        amsgrad = group["amsgrad"]
        if not state:
            state["step"] = 0.0
            state["exp_avg"] = np.zeros_like(param.data)
            state["exp_avg_sq"] = np.zeros_like(param.data)
            if amsgrad:
                state["max_exp_avg_sq"] = np.zeros_like(param.data)
        elif amsgrad and state.get("max_exp_avg_sq") is None:
            # amsgrad switched on mid-run: the running max starts now, as in torch.
            state["max_exp_avg_sq"] = np.zeros_like(param.data)

        if group["maximize"]:
            grad = -grad
        state["step"] += 1
        step = state["step"]
        if weight_decay != 0:
            if group.get("decoupled_weight_decay", False):
                param.data *= 1 - lr * weight_decay
            else:
                grad = add_scaled(grad, param.data, weight_decay)

        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        _lerp_(exp_avg, grad, 1 - beta1)
        exp_avg_sq *= beta2
        exp_avg_sq += (1 - beta2) * grad * grad

        bias_correction1 = 1 - beta1 ** step
        bias_correction2_sqrt = math.sqrt(1 - beta2 ** step)
        step_size = lr / bias_correction1
        if amsgrad:
            second = state["max_exp_avg_sq"]
            np.maximum(second, exp_avg_sq, out=second)
        else:
            second = exp_avg_sq
        denom = np.sqrt(second) / bias_correction2_sqrt + eps
        param.data += (-step_size * exp_avg) / denom
