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
    "ModelSpec", "names", "spec", "build", "criterion", "LOSSES", "BINARY_LOSSES", "is_binary_loss",
    "loss_for",
    "FAMILY_CLASSES", "architecture",
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
    description : str

    How each lecture *trains* a model (learning rate, momentum, batch size, epochs)
    is the lecture's recipe, kept once, in :mod:`scratchnet.training.experiments`.
    """

    name: str
    family: str
    arch: Mapping[str, Any]
    input_shape: tuple
    num_classes: int
    loss: str
    num_parameters: int
    description: str
    losses: tuple = field(default=())

    def __post_init__(self):
        if not self.losses:
            object.__setattr__(self, "losses", (self.loss,))

    @property
    def dataset(self) -> str:
        """The data it trains on: ``'toy'`` (the lecture's table), ``'mnist-4v9'`` for the
        binary model (digits 4 and 9 as -1 / +1), else ``'mnist'``."""
        if self.input_shape == (4,):
            return "toy"
        return "mnist-4v9" if self.family == "binary" else "mnist"


_MNIST = (1, 28, 28)

_SPECS = {s.name: s for s in [
    ModelSpec("softmax-toy", "softmax", {"in_features": 4, "num_classes": 3, "flatten": False}, (4,), 3,
              "cross_entropy", 15,
              description="Toy softmax regression: Linear(4, 3) on 8 samples with 4 features, 3 classes."),
    ModelSpec("softmax-regression", "softmax", {"in_features": 784, "num_classes": 10, "flatten": True}, _MNIST, 10,
              "cross_entropy", 7_850,
              description="Softmax regression on MNIST: Linear(784, 10)."),
    ModelSpec("mlp3", "mlp", {"sizes": (784, 420, 120, 10), "activation": "relu"}, _MNIST, 10,
              "cross_entropy", 381_430,
              description="3-layer ReLU MLP 784-420-120-10."),
    ModelSpec("mlp5", "mlp", {"sizes": (784, 520, 320, 240, 120, 10), "activation": "relu"}, _MNIST, 10,
              "cross_entropy", 682_090,
              description="Lecture 9's 5-layer ReLU MLP 784-520-320-240-120-10."),
    ModelSpec("mlp9", "mlp", {"sizes": (784, 650, 530, 420, 350, 290, 200, 150, 80, 10),
                              "activation": "relu"}, _MNIST, 10,
              "cross_entropy", 1_428_680,
              description="9-layer ReLU MLP 784-650-530-420-350-290-200-150-80-10 (fails to train: 11%)."),
    ModelSpec("sigmoid-mlp", "mlp", {"sizes": (784, 256, 128, 10), "activation": "sigmoid"}, _MNIST, 10,
              "cross_entropy", 235_146,
              description="3-layer sigmoid MLP 784-256-128-10."),
    ModelSpec("basic-cnn", "cnn", {}, _MNIST, 10, "nll", 8_490,
              description="Lecture 10's CNN: conv 1->10 k5, maxpool 2, relu, conv 10->20 k5, "
                          "maxpool 2, relu, flatten 320, linear 320->10, log_softmax (NLL loss)."),
    ModelSpec("lenet5", "lenet", {"c3": "full"}, _MNIST, 10, "cross_entropy", 61_706,
              description="LeNet-5 with tanh and average pooling; full C3 conv 6->16."),
    ModelSpec("lenet5-original", "lenet", {"c3": "lecun"}, _MNIST, 10, "cross_entropy", 60_806,
              description="LeNet-5 with LeCun's sparse C3 connection table (Table I, 1998)."),
    ModelSpec("binary-linear", "binary", {"in_features": 784}, _MNIST, 2, "binary", 784,
              losses=("binary_ce", "binary_mse"),
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


#: Model family -> the class that builds it. Both engines name their classes alike
#: (``scratchnet.models.MLP`` here, ``scratchnet.torch_models.MLP`` for torch), and both
#: call it with the spec's ``arch`` as keyword arguments: this table is the one place
#: that says which class a family is.
FAMILY_CLASSES = {"softmax": "SoftmaxRegression", "mlp": "MLP", "cnn": "BasicCNN",
                  "lenet": "LeNet5", "binary": "BinaryLinear"}


def architecture(s: ModelSpec, namespace: Mapping[str, Any], **kwargs):
    """Instantiate spec ``s``'s class, looked up by name in an engine's ``namespace`` (its
    module's ``globals()``), with the spec's ``arch`` and ``kwargs`` as keyword arguments."""
    return namespace[FAMILY_CLASSES[s.family]](**s.arch, **kwargs)


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
    return architecture(spec(name), globals(), dtype=dtype, generator=np.random.default_rng(seed))


LOSSES = ("cross_entropy", "nll", "binary_ce", "binary_mse")  #: what ``ModelSpec.losses`` holds
#: The losses of a one-logit model with ±1 targets (``"binary"``: the binary model's own).
BINARY_LOSSES = ("binary", "binary_ce", "binary_mse")


def is_binary_loss(loss: str) -> bool:
    """Whether ``loss`` scores one logit against ±1 targets (else: class logits against indices)."""
    return loss in BINARY_LOSSES


def loss_for(model_name: str, loss: str = None) -> str:
    """The loss to train ``model_name`` with: ``loss`` if it fits the model, else its own.

    ``None`` gives the model's own loss (``spec(model_name).losses[0]``: ``nll`` after a
    ``log_softmax``); a loss that cannot fit the model's output (NLL on a one-logit
    model) is refused with a ``ValueError`` naming the ones that fit.
    """
    s = spec(model_name)
    if loss is None:
        return s.losses[0]
    if is_binary_loss(s.loss) != is_binary_loss(loss):
        raise ValueError(
            f"loss {loss!r} does not fit model {model_name!r}; use one of: {', '.join(s.losses)}"
        )
    return loss

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
