"""``scratchnet.models``: every lecture model by name, with what it needs to be trained.

::

    >>> import scratchnet.models as models
    >>> models.names()[:3]
    ['softmax-toy', 'softmax-regression', 'mlp3']
    >>> model = models.build("lenet5", seed=0)          # a scratchnet.nn.Module
    >>> model.num_parameters()
    61706
    >>> s = models.spec("basic-cnn")
    >>> s.input_shape, s.num_classes, s.loss
    ((1, 28, 28), 10, 'nll')
    >>> criterion = models.criterion(s.loss)            # scratchnet.nn.NLLLoss()

Every model has a torch twin, ``scratchnet.torch_models.build(name)``, with the same
parameter names and shapes.

Input convention: every MNIST model accepts image batches ``(N, 1, 28, 28)``; the
fully connected ones (softmax regression, the MLPs, the binary model) start with a
``Flatten`` and so accept flat ``(N, 784)`` batches too, as the lectures'
``x.view(-1, 784)`` does.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from .. import nn
from . import binary, cnn, lenet, mlp, softmax
from .binary import BinaryLinear, BinaryLogisticLoss, SigmoidMSELoss, signs_from_digits
from .cnn import BasicCNN
from .lenet import LECUN_C3_TABLE, LeNet5, SparseConv2d
from .mlp import MLP
from .softmax import SoftmaxRegression

__all__ = [
    "ModelSpec", "names", "spec", "build", "criterion", "LOSSES",
    "SoftmaxRegression", "MLP", "BasicCNN", "LeNet5", "SparseConv2d", "LECUN_C3_TABLE",
    "BinaryLinear", "BinaryLogisticLoss", "SigmoidMSELoss", "signs_from_digits",
]


@dataclass(frozen=True)
class ModelSpec:
    """What to know about a lecture model besides its layers.

    Attributes
    ----------
    name : str
    family : str
        ``'softmax'``, ``'mlp'``, ``'cnn'``, ``'lenet'`` or ``'binary'``: the class
        that builds it.
    arch : mapping
        That class's arguments (``sizes``, ``activation``, ``c3``, ...).
    input_shape : tuple of int
        One sample's shape: ``(1, 28, 28)`` for MNIST, ``(4,)`` for the toy data.
    num_classes : int
        10 for MNIST, 3 for the toy data, 2 for the binary model (one logit).
    loss : str
        The lecture's loss: ``'cross_entropy'`` (logits), ``'nll'`` (the model
        ends in ``log_softmax``) or ``'binary'`` (see ``losses``).
    losses : tuple of str
        Names :func:`criterion` accepts for this model: ``(loss,)``, or for the
        binary model ``('binary_ce', 'binary_mse')``, the two costs it compares.
    num_parameters : int
    lr, momentum, batch_size, epochs : the lecture's SGD recipe.
    description : str
    """

    name: str
    family: str
    arch: Mapping[str, Any]
    input_shape: tuple
    num_classes: int
    loss: str
    num_parameters: int
    lr: float
    momentum: float
    batch_size: int
    epochs: int
    description: str
    losses: tuple = field(default=())

    def __post_init__(self):
        if not self.losses:
            object.__setattr__(self, "losses", (self.loss,))


_MNIST = (1, 28, 28)
_LECTURE9 = dict(lr=0.01, momentum=0.5, batch_size=64, epochs=9)

_SPECS = {s.name: s for s in [
    ModelSpec("softmax-toy", "softmax", {"in_features": 4, "flatten": False}, (4,), 3,
              "cross_entropy", 15, lr=0.1, momentum=0.0, batch_size=8, epochs=1000,
              description="Toy softmax regression: Linear(4, 3) on 8 samples with 4 features, 3 classes."),
    ModelSpec("softmax-regression", "softmax", {"in_features": 784, "flatten": True}, _MNIST, 10,
              "cross_entropy", 7_850, lr=0.1, momentum=0.0, batch_size=100, epochs=15,
              description="Softmax regression on MNIST: Linear(784, 10)."),
    ModelSpec("mlp3", "mlp", {"sizes": (784, 420, 120, 10), "activation": "relu"}, _MNIST, 10,
              "cross_entropy", 381_430, **_LECTURE9,
              description="3-layer ReLU MLP 784-420-120-10."),
    ModelSpec("mlp5", "mlp", {"sizes": (784, 520, 320, 240, 120, 10), "activation": "relu"}, _MNIST, 10,
              "cross_entropy", 682_090, **_LECTURE9,
              description="Lecture 9's 5-layer ReLU MLP 784-520-320-240-120-10."),
    ModelSpec("mlp9", "mlp", {"sizes": (784, 650, 530, 420, 350, 290, 200, 150, 80, 10),
                              "activation": "relu"}, _MNIST, 10,
              "cross_entropy", 1_428_680, **_LECTURE9,
              description="9-layer ReLU MLP 784-650-530-420-350-290-200-150-80-10 (fails to train: 11%)."),
    ModelSpec("sigmoid-mlp", "mlp", {"sizes": (784, 256, 128, 10), "activation": "sigmoid"}, _MNIST, 10,
              "cross_entropy", 235_146, lr=0.01, momentum=0.0, batch_size=64, epochs=40,
              description="3-layer sigmoid MLP 784-256-128-10."),
    ModelSpec("basic-cnn", "cnn", {}, _MNIST, 10, "nll", 8_490, **_LECTURE9,
              description="Lecture 10's CNN: conv 1->10 k5, maxpool 2, relu, conv 10->20 k5, "
                          "maxpool 2, relu, flatten 320, linear 320->10, log_softmax (NLL loss)."),
    ModelSpec("lenet5", "lenet", {"c3": "full"}, _MNIST, 10, "cross_entropy", 61_706,
              lr=0.1, momentum=0.0, batch_size=100, epochs=10,
              description="LeNet-5 with tanh and average pooling; full C3 conv 6->16."),
    ModelSpec("lenet5-original", "lenet", {"c3": "lecun"}, _MNIST, 10, "cross_entropy", 60_806,
              lr=0.1, momentum=0.0, batch_size=100, epochs=10,
              description="LeNet-5 with LeCun's sparse C3 connection table (Table I, 1998)."),
    ModelSpec("binary-linear", "binary", {"in_features": 784}, _MNIST, 2, "binary", 784,
              lr=255e-4, momentum=0.0, batch_size=64, epochs=3, losses=("binary_ce", "binary_mse"),
              description="Digits 4 (-1) vs 9 (+1): Linear(784, 1, bias=False), "
                          "logistic loss or MSE on the sigmoid output."),
]}


def names() -> list:
    """Names of every lecture model, in the lectures' order."""
    return list(_SPECS)


def spec(name: str) -> ModelSpec:
    """The :class:`ModelSpec` of model ``name``."""
    try:
        return _SPECS[name]
    except KeyError:
        raise KeyError(f"unknown model {name!r}; choose one of: {', '.join(_SPECS)}") from None


def _architecture(s: ModelSpec, dtype, generator) -> nn.Module:
    kw = dict(dtype=dtype, generator=generator)
    a = s.arch
    if s.family == "softmax":
        return SoftmaxRegression(a["in_features"], s.num_classes, flatten=a["flatten"], **kw)
    if s.family == "mlp":
        return MLP(a["sizes"], a["activation"], **kw)
    if s.family == "cnn":
        return BasicCNN(**kw)
    if s.family == "lenet":
        return LeNet5(a["c3"], **kw)
    if s.family == "binary":
        return BinaryLinear(a["in_features"], **kw)
    raise AssertionError(f"model family {s.family!r} has no builder")  # the registry is out of sync


def build(name: str, seed: int = 0, dtype=np.float32) -> nn.Module:
    """Build lecture model ``name`` with torch's default initialisation.

    Parameters
    ----------
    name : str
        One of :func:`names`.
    seed : int, default 0
        Seeds a private ``numpy.random.default_rng(seed)`` that draws every weight, in
        layer order: the same seed gives the same model, and the global generator
        (``scratchnet.manual_seed``) is left alone.
    dtype : float32 (default) or float64

    Returns
    -------
    scratchnet.nn.Module
    """
    s = spec(name)
    return _architecture(s, dtype, np.random.default_rng(seed))


LOSSES = ("cross_entropy", "nll", "binary_ce", "binary_mse")  #: what ``ModelSpec.losses`` holds

#: Loss name -> class name, the same in both engines (scratchnet.nn / torch.nn, and
#: each engine's binary losses).
LOSS_CLASSES = {
    "cross_entropy": "CrossEntropyLoss", "nll": "NLLLoss", "binary": "BinaryLogisticLoss",
    "binary_ce": "BinaryLogisticLoss", "binary_mse": "SigmoidMSELoss",
}


def make_criterion(loss: str, reduction: str, nn_namespace, extra: dict):
    """Instantiate loss ``loss`` from an engine's ``nn`` namespace (or from ``extra``)."""
    if loss not in LOSS_CLASSES:
        raise ValueError(f"criterion: unknown loss {loss!r}; choose one of: {', '.join(LOSS_CLASSES)}")
    name = LOSS_CLASSES[loss]
    cls = extra[name] if name in extra else getattr(nn_namespace, name)
    return cls(reduction=reduction)


def criterion(loss: str, reduction: str = "mean") -> nn.Module:
    """The NumPy loss module for a loss name (a model's ``spec(name).losses``).

    ``'cross_entropy'`` → ``nn.CrossEntropyLoss``, ``'nll'`` → ``nn.NLLLoss``,
    ``'binary_ce'`` → :class:`BinaryLogisticLoss`, ``'binary_mse'`` →
    :class:`SigmoidMSELoss`. ``'binary'``, the binary model's ``spec().loss``,
    gives its first (logistic) loss, so ``criterion(spec(name).loss)`` works for
    every model.
    """
    return make_criterion(loss, reduction, nn, {"BinaryLogisticLoss": BinaryLogisticLoss,
                                                "SigmoidMSELoss": SigmoidMSELoss})
