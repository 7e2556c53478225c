"""Lecture 10's basic CNN: two 5x5 convolutions with max pooling, one linear layer."""
from __future__ import annotations

from collections import OrderedDict

from .. import nn


class BasicCNN(nn.Sequential):
    r"""Lecture 10's ``Net``, layer for layer, ending in ``log_softmax`` (so use ``NLLLoss``).

    Shapes for a batch of :math:`N` MNIST digits (output size
    :math:`(H + 2p - k)/s + 1`)::

        (N, 1, 28, 28)  conv1 5x5   -> (N, 10, 24, 24)  mp1 2x2 -> (N, 10, 12, 12)  relu1
                        conv2 5x5   -> (N, 20,  8,  8)  mp2 2x2 -> (N, 20,  4,  4)  relu2
                        flatten     -> (N, 320)         fc      -> (N, 10)          log_softmax

    The lecture applies ReLU *after* max pooling; since ReLU is non-decreasing the
    two commute (:math:`\max\circ\mathrm{relu} = \mathrm{relu}\circ\max`), and
    pooling first is four times cheaper.

    Parameters: ``conv1.weight (10, 1, 5, 5)``, ``conv1.bias (10,)``,
    ``conv2.weight (20, 10, 5, 5)``, ``conv2.bias (20,)``, ``fc.weight (10, 320)``,
    ``fc.bias (10,)``: 8,490 in all. The lecture's single ``self.mp`` is applied
    twice; here it is two parameter-free children, ``mp1`` and ``mp2``, so that each
    keeps the backward of its own call.

    Parameters
    ----------
    dtype : float32 (default) or float64
    generator : numpy.random.Generator, optional
    """

    def __init__(self, *, dtype=None, generator=None):
        super().__init__(OrderedDict([
            ("conv1", nn.Conv2d(1, 10, kernel_size=5, dtype=dtype, generator=generator)),
            ("mp1", nn.MaxPool2d(2)),
            ("relu1", nn.ReLU()),
            ("conv2", nn.Conv2d(10, 20, kernel_size=5, dtype=dtype, generator=generator)),
            ("mp2", nn.MaxPool2d(2)),
            ("relu2", nn.ReLU()),
            ("flatten", nn.Flatten()),
            ("fc", nn.Linear(320, 10, dtype=dtype, generator=generator)),
            ("log_softmax", nn.LogSoftmax(dim=1)),
        ]))
