r"""Digits 4 vs 9 with one linear unit, and the two losses the lecture compares on it.

The model is :math:`z = w^\top x` (no bias) and predicts :math:`\operatorname{sign}(z)`,
with labels :math:`y = -1` for a 4 and :math:`y = +1` for a 9. The lecture trains it
with two costs:

* logistic (cross-entropy) loss, :math:`\ell = -\log\sigma(yz) = \log(1 + e^{-yz})`:
  :class:`BinaryLogisticLoss`. It equals ``BCEWithLogitsLoss`` with the 0/1 target
  :math:`(y+1)/2`, the :math:`k=2` case of softmax cross-entropy.
* squared error on the sigmoid output: :class:`SigmoidMSELoss`.

**MSE target mapping.** The sigmoid lives in :math:`(0, 1)`, so a target of
:math:`-1` could never be reached and its loss would never vanish. We therefore
regress :math:`\sigma(z)` onto :math:`t = (y+1)/2 \in \{0, 1\}`:

.. math::

    \ell = \big(\sigma(z) - \tfrac{y+1}{2}\big)^2,

whose minimisers, like the logistic loss's, push :math:`z \to +\infty` for a 9 and
:math:`-\infty` for a 4, so both losses share the decision rule
:math:`\sigma(z) > \tfrac12 \iff z > 0`.

Both losses take ``input`` of shape ``(N,)`` or ``(N, 1)`` (the model's output)
and ``target`` of shape ``(N,)`` with values in :math:`\{-1, +1\}` (any numeric
dtype); any other value is rejected rather than silently mis-scored.
"""
from __future__ import annotations

from collections import OrderedDict

import numpy as np

from .. import functional as F
from .. import nn
from ..checks import as_float_array, check_reduction, shape_str
from ..nn.loss import _Loss

#: The digits of the lecture's binary task, as ``(negative, positive)``.
DIGITS = (4, 9)


class BinaryLinear(nn.Sequential):
    r"""One linear unit without bias, :math:`z = w^\top \operatorname{vec}(x)`.

    Children ``flatten`` and ``linear`` (``Linear(784, 1, bias=False)``); the single
    parameter is ``linear.weight`` of shape ``(1, 784)``. Input ``(N, 1, 28, 28)``
    or ``(N, 784)``; output ``(N, 1)`` logits.
    """

    def __init__(self, in_features: int = 784, *, dtype=None, generator=None):
        super().__init__(OrderedDict([
            ("flatten", nn.Flatten()),
            ("linear", nn.Linear(in_features, 1, bias=False, dtype=dtype, generator=generator)),
        ]))


def binary_shape(op: str, input_shape: tuple, target_shape: tuple) -> tuple:
    """The shape both operands are compared in: ``target``'s; ``input`` may have a trailing 1."""
    if input_shape == target_shape or input_shape == target_shape + (1,):
        return target_shape
    raise ValueError(
        f"{op}: input of shape {shape_str(input_shape)} does not match target of shape "
        f"{shape_str(target_shape)}; expected input of shape {shape_str(target_shape)} "
        f"or {shape_str(target_shape + (1,))}"
    )


def bad_labels_message(op: str, values) -> str:
    shown = ", ".join(str(v) for v in list(values)[:6])
    return f"{op}: target must hold the labels -1 and +1 only, got values {{{shown}}}"


def signs_from_digits(labels: np.ndarray, digits: tuple = DIGITS, dtype=np.float32):
    """Select the two digits of the binary task and map them to ``-1`` / ``+1``.

    Parameters
    ----------
    labels : ndarray of int, shape ``(N,)``
        Digit labels 0-9.
    digits : (int, int), default (4, 9)
        ``(negative, positive)``.

    Returns
    -------
    mask : ndarray of bool, shape ``(N,)``
        Which samples belong to the task (``x[mask]`` selects them).
    signs : ndarray of ``dtype``, shape ``(mask.sum(),)``
        ``-1`` for ``digits[0]``, ``+1`` for ``digits[1]``.
    """
    labels = np.asarray(labels)
    negative, positive = digits
    mask = (labels == negative) | (labels == positive)
    return mask, np.where(labels[mask] == positive, 1, -1).astype(dtype)


class _BinaryLoss(_Loss):
    """What both binary losses share: label checks, the reduction and its backward."""

    def __init__(self, reduction: str = "mean"):
        check_reduction(type(self).__name__, reduction)
        super().__init__(reduction=reduction)

    def _operands(self, input, target):
        op = type(self).__name__
        z = as_float_array(op, "input", input)
        y = np.asarray(target)
        if y.dtype.kind not in "iuf":
            raise TypeError(f"{op}: target must be a numeric array of -1/+1 labels, got dtype {y.dtype}")
        shape = binary_shape(op, z.shape, y.shape)
        if not np.all((y == 1) | (y == -1)):
            raise ValueError(bad_labels_message(op, np.unique(y)))
        return z.reshape(shape), y.astype(z.dtype)

    def _finish(self, elementwise: np.ndarray, input_shape: tuple, elementwise_backward):
        r"""Reduce the per-sample loss :math:`\ell_i` and record the backward.

        ``elementwise_backward(g)`` maps :math:`\partial L/\partial \ell_i` to
        :math:`\partial L/\partial z_i`; the reduction contributes
        :math:`\partial L/\partial \ell_i = g/N` (mean), :math:`g` (sum) or
        ``grad_out`` itself (none).
        """
        if self.reduction == "mean":
            # An empty batch's mean is NaN, as torch's (0/0, without NumPy's empty-mean warning).
            with np.errstate(invalid="ignore"):
                loss = np.divide(elementwise.sum(), elementwise.size)
            scale = 1 / max(elementwise.size, 1)
        elif self.reduction == "sum":
            loss, scale = elementwise.sum(), 1
        else:
            loss, scale = elementwise, None
        loss = np.asarray(loss, dtype=elementwise.dtype)
        if not nn.is_grad_enabled():
            self._clear_grad_fn("no_grad")
            return loss

        def grad_fn(grad_out):
            g = grad_out if scale is None else np.broadcast_to(grad_out * scale, elementwise.shape)
            return elementwise_backward(g).reshape(input_shape)

        self._set_grad_fn(grad_fn, loss)
        return loss


class BinaryLogisticLoss(_BinaryLoss):
    r"""The logistic loss of :math:`\pm1` labels, :math:`\ell = -\log\sigma(yz)`.

    .. math::

        L = \frac1N\sum_i -\log\sigma(y_i z_i), \qquad
        \frac{\partial L}{\partial z_i} = -\frac{y_i\,\sigma(-y_i z_i)}{N},

    the lecture's ``mean(-logsigmoid(y * z))``. Computed through
    :func:`scratchnet.functional.logsigmoid`, which stays finite for any margin
    :math:`yz` (a naive ``log(sigmoid(yz))`` gives ``-inf`` below about -100 in float32).

    Parameters
    ----------
    reduction : {'mean', 'sum', 'none'}, default 'mean'

    Shapes
    ------
    input ``(N,)`` or ``(N, 1)``; target ``(N,)`` of -1/+1; output 0-d (or ``(N,)``
    for ``'none'``), input's dtype.
    """

    def forward(self, input, target):
        z, y = self._operands(input, target)
        log_sig, log_sig_backward = F.vjp(F.logsigmoid, y * z)

        def elementwise_backward(g):
            return -log_sig_backward(g)[0] * y

        return self._finish(-log_sig, np.shape(input), elementwise_backward)


class SigmoidMSELoss(_BinaryLoss):
    r"""Squared error of the sigmoid output against the 0/1 target :math:`t = (y+1)/2`.

    .. math::

        L = \frac1N\sum_i \big(\sigma(z_i) - t_i\big)^2, \qquad
        \frac{\partial L}{\partial z_i} = \frac{2}{N}\big(\sigma(z_i) - t_i\big)\,
        \sigma(z_i)\big(1 - \sigma(z_i)\big).

    The factor :math:`\sigma(1-\sigma)` is why this loss learns slowly from
    confidently wrong predictions, where the logistic loss's gradient is largest:
    the lecture's comparison. See the module docstring for the target mapping.

    Parameters
    ----------
    reduction : {'mean', 'sum', 'none'}, default 'mean'

    Shapes
    ------
    As :class:`BinaryLogisticLoss`.
    """

    def forward(self, input, target):
        z, y = self._operands(input, target)
        sig, sig_backward = F.vjp(F.sigmoid, z)
        diff = sig - (y + 1) / 2

        def elementwise_backward(g):
            return sig_backward(2 * diff * g)[0]

        return self._finish(diff * diff, np.shape(input), elementwise_backward)
