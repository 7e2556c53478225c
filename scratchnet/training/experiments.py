"""The lecture experiments: each model with the hyper-parameters and figures the slides report.

``scratchnet reproduce NAME`` runs one of these with the lecture's settings and prints
the reported figure beside the measured one. The reported figures were obtained on
full MNIST (60,000 train / 10,000 test); on the embedded 5,000-digit set the same
settings see 15 times fewer updates per epoch, so a slow learning rate lands lower.
That is why every result states the data it was measured on.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from .config import Recipe

# The lecture's toy softmax-regression data: 8 samples, 4 features, 3 classes.
TOY_X = np.array(
    [[1, 2, 1, 1], [2, 1, 3, 2], [3, 1, 3, 4], [4, 1, 5, 5],
     [1, 7, 5, 5], [1, 2, 5, 6], [1, 6, 6, 6], [1, 7, 7, 7]],
    dtype=np.float32,
)
TOY_Y = np.array([2, 2, 2, 1, 1, 1, 0, 0], dtype=np.int64)


@dataclass(frozen=True)
class Experiment(Recipe):
    """One lecture experiment: a :class:`~scratchnet.training.config.Recipe` with its name and the
    figures the slides report.

    Attributes
    ----------
    name : str
        Name used by ``scratchnet reproduce``.
    model : str
        Model name in :mod:`scratchnet.models`.
    loss : str
        ``'cross_entropy'``, ``'nll'``, ``'binary_ce'`` or ``'binary_mse'``.
    reported : str
        The slide's figure, verbatim in substance.
    reported_accuracy : float or None
        The slide's test accuracy as a fraction, where it reports one.
    reported_seconds : float or None
        The slide's training time for all epochs, where it reports one.
    init : str
        A scheme of :data:`scratchnet.nn.init.INIT_SCHEMES` (``"zeros"``: the toy's
        all-zero start).
    """

    name: str = ""  # required; a default only because it follows the recipe's fields
    # The lectures' defaults where a slide does not say otherwise (torch's SGD: no momentum).
    lr: float = 0.01
    momentum: float = 0.0
    epochs: int = 9
    reported: str = ""
    reported_accuracy: Optional[float] = None
    reported_seconds: Optional[float] = None
    notes: str = field(default="", compare=False)

    def __post_init__(self):
        if not self.name:
            raise TypeError(f"Experiment of model {self.model!r}: a name is required")

    @property
    def dataset(self) -> str:
        """``'mnist'``, ``'mnist-4v9'`` (digits 4 and 9, labels ±1) or ``'toy'``: the model's."""
        from .. import models

        return models.spec(self.model).dataset


#: The lectures train MLP-3, MLP-5 and MLP-9 alike, so that only the depth differs.
_MLP_RECIPE = dict(loss="cross_entropy", lr=0.01, momentum=0.5, epochs=9)

EXPERIMENTS = {
    e.name: e
    for e in [
        Experiment(
            name="softmax-toy", model="softmax-toy", loss="cross_entropy", lr=0.1, batch_size=8,
            epochs=1000, init="zeros", log_every_epochs=100,
            reported="cost falls steadily (printed every 100 epochs)",
            notes="8 samples x 4 features, 3 classes; W and b start at zero; full batch",
        ),
        Experiment(
            name="softmax-regression", model="softmax-regression", loss="cross_entropy", lr=0.1,
            batch_size=100, epochs=15, drop_last=True, seed=777,
            reported="cost 0.535 -> 0.274 (epoch 1 -> 15)",
        ),
        Experiment(
            name="mlp5", model="mlp5", **_MLP_RECIPE,
            reported="97% (9691/10000), 3m39s on CPU", reported_accuracy=0.9691,
            reported_seconds=219,
        ),
        Experiment(
            name="mlp9", model="mlp9", **_MLP_RECIPE,
            reported="11% (1135/10000): fails to train", reported_accuracy=0.1135,
        ),
        Experiment(
            name="mlp3", model="mlp3", **_MLP_RECIPE,
            reported="96% (9574/10000)", reported_accuracy=0.9574,
        ),
        Experiment(
            name="sigmoid-mlp", model="sigmoid-mlp", loss="cross_entropy", lr=0.01, epochs=40,
            reported="91.67% after 40 epochs", reported_accuracy=0.9167,
            notes="the slide does not show the learning rate; 0.01 fits its curve",
        ),
        Experiment(
            name="basic-cnn", model="basic-cnn", loss="nll", lr=0.01, momentum=0.5, epochs=9,
            reported="98% (9814/10000)", reported_accuracy=0.9814,
        ),
        Experiment(
            name="lenet5", model="lenet5", loss="cross_entropy", lr=0.1, batch_size=100, epochs=10,
            reported="98.67% (9867/10000), 190 s training", reported_accuracy=0.9867,
            reported_seconds=190,
        ),
        Experiment(
            name="lenet5-original", model="lenet5-original", loss="cross_entropy", lr=0.1,
            batch_size=100, epochs=10,
            reported="60,806 trainable parameters (61,706 with the full C3)",
        ),
        Experiment(
            name="binary-ce", model="binary-linear", loss="binary_ce", lr=255e-4, epochs=3,
            test_batch_size=1, reported="95.13% (1894/1991)", reported_accuracy=0.9513,
            notes="digits 4 (-1) vs 9 (+1); loss mean(-logsigmoid(y z))",
        ),
        Experiment(
            name="binary-mse", model="binary-linear", loss="binary_mse", lr=255e-4, epochs=3,
            test_batch_size=1, reported="95.23% (1896/1991)", reported_accuracy=0.9523,
            notes="digits 4 (-1) vs 9 (+1); MSE on sigmoid outputs",
        ),
    ]
}


def names():
    """Names of the lecture experiments, in the lectures' order."""
    return list(EXPERIMENTS)


def for_model(model: str, loss: Optional[str] = None) -> Experiment:
    """The lecture experiment that trains ``model`` (with ``loss``, where a model has two):
    the lecture's recipe for that model."""
    for e in EXPERIMENTS.values():
        if e.model == model and loss in (None, e.loss):
            return e
    raise KeyError(f"no lecture experiment trains {model!r}" + (f" with loss {loss!r}" if loss else ""))


def get(name: str) -> Experiment:
    try:
        return EXPERIMENTS[name]
    except KeyError:
        raise KeyError(
            f"unknown experiment {name!r}; choose one of: {', '.join(EXPERIMENTS)}"
        ) from None
