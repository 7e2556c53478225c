"""Softmax regression: one linear layer whose logits feed a softmax cross-entropy."""
from __future__ import annotations

from collections import OrderedDict

from .. import nn


class SoftmaxRegression(nn.Sequential):
    r"""Multinomial logistic regression, :math:`p = \mathrm{softmax}(xW^\top + b)`.

    The model returns the logits :math:`z = xW^\top + b`; the softmax lives in the
    loss (``CrossEntropyLoss``), as in the lectures, where the cost
    :math:`-\frac1n\sum_i \log p_{i, y_i}` is computed three equal ways.

    Children: ``flatten`` (MNIST only: ``(N, 1, 28, 28)`` and ``(N, 784)`` both work,
    the lecture's ``X.view(-1, 28 * 28)``) and ``linear``. Parameters
    ``linear.weight`` ``(num_classes, in_features)`` and ``linear.bias``
    ``(num_classes,)``.

    Parameters
    ----------
    in_features : int
        4 for the lecture's toy data, 784 for MNIST.
    num_classes : int
    flatten : bool, default True
        Start with ``Flatten()`` so that image batches are accepted.
    dtype : float32 (default) or float64
    generator : numpy.random.Generator, optional
        Draws the initial weights (torch's default ``Linear`` init).
    """

    def __init__(self, in_features: int, num_classes: int, *, flatten: bool = True,
                 dtype=None, generator=None):
        layers = [("flatten", nn.Flatten())] if flatten else []
        layers.append(("linear", nn.Linear(in_features, num_classes, dtype=dtype, generator=generator)))
        super().__init__(OrderedDict(layers))
