"""Fully connected networks: lecture 9's 3-, 5- and 9-layer ReLU MLPs and the sigmoid MLP."""
from __future__ import annotations

from collections import OrderedDict
from typing import Sequence

from .. import nn

ACTIVATIONS = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh}


class MLP(nn.Sequential):
    r"""A multilayer perceptron :math:`x \mapsto W_K\,\phi(\cdots\phi(W_1 x + b_1)\cdots) + b_K`.

    ``sizes = (784, 520, 320, 240, 120, 10)`` is lecture 9's network: five ``Linear``
    layers named ``l1 ... l5`` as in the lecture code, an activation :math:`\phi`
    after every layer but the last, and raw logits out (the softmax is in
    ``CrossEntropyLoss``).

    The first child, ``flatten``, plays the lecture's ``x.view(-1, 784)``: a batch of
    images ``(N, 1, 28, 28)`` and an already flat ``(N, 784)`` are both accepted.
    Children are named ``flatten, l1, relu1, l2, relu2, ..., lK``.

    Depth alone does not make it learn: with the same SGD settings the 9-layer
    network stays at chance (11%) where the 5-layer one reaches 97%, the lecture's
    point about vanishing gradients through many default-initialised layers.

    Parameters
    ----------
    sizes : sequence of int
        Layer widths, input first, number of classes last (at least two entries).
    activation : {'relu', 'sigmoid', 'tanh'}, default 'relu'
    dtype : float32 (default) or float64
    generator : numpy.random.Generator, optional
    """

    def __init__(self, sizes: Sequence[int], activation: str = "relu", *, dtype=None, generator=None):
        sizes = [int(s) for s in sizes]
        if len(sizes) < 2:
            raise ValueError(f"MLP: sizes needs an input and an output width, got {sizes}")
        if activation not in ACTIVATIONS:
            raise ValueError(
                f"MLP: activation must be one of {', '.join(ACTIVATIONS)}, got {activation!r}"
            )
        layers = [("flatten", nn.Flatten())]
        last = len(sizes) - 1
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
            layers.append((f"l{i}", nn.Linear(n_in, n_out, dtype=dtype, generator=generator)))
            if i < last:
                layers.append((f"{activation}{i}", ACTIVATIONS[activation]()))
        super().__init__(OrderedDict(layers))
        self.sizes = tuple(sizes)
        self.activation = activation
