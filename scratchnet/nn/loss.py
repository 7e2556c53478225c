r"""Loss modules, as ``torch.nn``'s, over :mod:`scratchnet.functional`'s losses.

A criterion is called like torch's, ``loss = criterion(input, target)``, and returns
the loss array (0-d for ``reduction='mean'`` or ``'sum'``). Its ``backward`` starts
back-propagation: it returns :math:`\partial L/\partial\,\text{input}`, which is
handed to the model's ``backward``::

    loss = criterion(model(x), y)
    model.backward(criterion.backward())

For a scalar loss ``grad_out`` defaults to 1, as ``loss.backward()`` in torch; for
``reduction='none'`` it must be given (torch: "grad can be implicitly created only
for scalar outputs").
"""
from __future__ import annotations

import numpy as np

from .. import functional as F
from ..functional._reduction import legacy_reduction
from .module import Module

__all__ = ["CrossEntropyLoss", "NLLLoss", "MSELoss", "BCEWithLogitsLoss"]


def _optional_array(value, name: str, where: str):
    if value is not None and not isinstance(value, np.ndarray):
        raise TypeError(f"{where}: {name} must be a NumPy array or None, got {type(value).__name__}")
    return value


class _Loss(Module):
    def __init__(self, size_average=None, reduce=None, reduction: str = "mean"):
        super().__init__()
        if size_average is not None or reduce is not None:
            reduction = legacy_reduction(type(self).__name__, size_average, reduce, stacklevel=2)
        self.reduction = reduction

    def backward(self, grad_out=None):
        r"""Gradient of the loss with respect to ``input`` (the first argument of the last call).

        Parameters
        ----------
        grad_out : ndarray, optional
            :math:`\partial L/\partial\,\text{loss}`, shaped like the loss. Defaults to
            1 when the loss is a scalar.

        Returns
        -------
        ndarray, shaped like the last ``input``
        """
        if self._grad_fn is None:
            raise self._backward_unavailable()
        if grad_out is None:
            shape, dtype = self._grad_fn_output
            if shape != ():
                raise RuntimeError(
                    f"{self._short_repr()}.backward: grad can be implicitly created only for scalar "
                    f"outputs; reduction={self.reduction!r} gave a loss of shape {shape}, so pass grad_out"
                )
            grad_out = np.ones((), dtype=dtype)
        return self._grad_fn(grad_out)


class NLLLoss(_Loss):
    r"""Negative log-likelihood of class indices given log-probabilities, as ``torch.nn.NLLLoss``.

    .. math::

        \ell_n = -w_{y_n}\, x_{n, y_n}, \qquad
        L = \frac{\sum_n \ell_n}{\sum_n w_{y_n}} \;(\text{mean}),

    samples whose target is ``ignore_index`` contributing nothing.

    Parameters
    ----------
    weight : ndarray, shape ``(C,)``, optional
        Per-class rescaling weight; stored as a buffer (it is in ``state_dict``).
    ignore_index : int, default -100
    reduction : {'mean', 'sum', 'none'}
    """

    def __init__(self, weight=None, size_average=None, ignore_index: int = -100, reduce=None,
                 reduction: str = "mean"):
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", _optional_array(weight, "weight", "NLLLoss"))
        self.ignore_index = ignore_index

    def forward(self, input, target):
        return self._call_functional(F.nll_loss, input, target, weight=self.weight,
                                     ignore_index=self.ignore_index, reduction=self.reduction)


class CrossEntropyLoss(_Loss):
    r"""Softmax cross-entropy of logits, as ``torch.nn.CrossEntropyLoss``.

    With :math:`p = \mathrm{softmax}(x)` over the class dimension (dim 1, or 0 for
    an unbatched input) and class-index targets,

    .. math::

        \ell_n = -w_{y_n} \log p_{n, y_n}, \qquad
        \frac{\partial \ell_n}{\partial x_n} = w_{y_n}\,(p_n - e_{y_n})

    (before the mean's division); targets may also be class probabilities of the
    input's shape, and ``label_smoothing`` mixes the target with the uniform
    distribution, exactly as torch.

    Parameters
    ----------
    weight : ndarray, shape ``(C,)``, optional
        Per-class rescaling weight; stored as a buffer.
    ignore_index : int, default -100
    reduction : {'mean', 'sum', 'none'}
    label_smoothing : float in [0, 1]
    """

    def __init__(self, weight=None, size_average=None, ignore_index: int = -100, reduce=None,
                 reduction: str = "mean", label_smoothing: float = 0.0):
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", _optional_array(weight, "weight", "CrossEntropyLoss"))
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing

    def forward(self, input, target):
        return self._call_functional(F.cross_entropy, input, target, weight=self.weight,
                                     ignore_index=self.ignore_index, reduction=self.reduction,
                                     label_smoothing=self.label_smoothing)


class MSELoss(_Loss):
    r"""Mean squared error, :math:`\ell = (x - y)^2` element-wise, then reduced.

    Backward (mean): :math:`\partial L/\partial x = 2(x - y)/N`.

    Parameters
    ----------
    reduction : {'mean', 'sum', 'none'}
    """

    def __init__(self, size_average=None, reduce=None, reduction: str = "mean"):
        super().__init__(size_average, reduce, reduction)

    def forward(self, input, target):
        return self._call_functional(F.mse_loss, input, target, reduction=self.reduction)


class BCEWithLogitsLoss(_Loss):
    r"""Binary cross-entropy of logits, fused with the sigmoid for stability.

    .. math::

        \ell = -w\,\big[p\, y \log\sigma(x) + (1 - y)\log(1 - \sigma(x))\big],
        \qquad \log(1-\sigma(x)) = \log\sigma(-x),

    with ``pos_weight`` :math:`p` weighting the positive term (broadcast along the
    last dimension, the classes).

    Parameters
    ----------
    weight : ndarray, optional
        Rescaling weight broadcast against the loss; stored as a buffer.
    reduction : {'mean', 'sum', 'none'}
    pos_weight : ndarray, optional
        Weight of positive examples, one per class; stored as a buffer.
    """

    def __init__(self, weight=None, size_average=None, reduce=None, reduction: str = "mean",
                 pos_weight=None):
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", _optional_array(weight, "weight", "BCEWithLogitsLoss"))
        self.register_buffer("pos_weight", _optional_array(pos_weight, "pos_weight", "BCEWithLogitsLoss"))

    def forward(self, input, target):
        return self._call_functional(F.binary_cross_entropy_with_logits, input, target,
                                     weight=self.weight, reduction=self.reduction,
                                     pos_weight=self.pos_weight)
