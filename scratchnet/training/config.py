"""The hyper-parameters of a run, declared once.

:class:`Recipe` holds what a lecture fixes (model, loss, optimizer, learning rate, batch
size, epochs, ...); :class:`TrainConfig` adds the choices of one run (dtype, logging);
a lecture experiment (:class:`scratchnet.training.experiments.Experiment`) is a recipe with its
name and the figures the slides report. :func:`config_from` turns a recipe and a run's
overrides into the :class:`TrainConfig` the training loop takes.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Optional


@dataclass(frozen=True)
class Recipe:
    """What a lecture fixes for a model: the hyper-parameters of its training."""

    model: str = "basic-cnn"
    loss: Optional[str] = None  # None: the model's own (models.spec(name).loss)
    optimizer: str = "sgd"
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 0.0
    batch_size: int = 64
    test_batch_size: int = 1000
    epochs: int = 5
    drop_last: bool = False
    seed: int = 0
    init: str = "default"  # a scheme of scratchnet.nn.init.INIT_SCHEMES (--init)
    log_every_epochs: int = 1


@dataclass(frozen=True)
class TrainConfig(Recipe):
    """Hyper-parameters of a run (the CLI's flags): a :class:`Recipe` and the run's own choices."""

    dtype: str = "float32"
    log_interval: int = 10  # batches between log lines; 0 logs once per epoch
    # The torch engine's options; the NumPy engine ignores them.
    loader: str = "scratchnet"  # "torchvision": the torch engine reads the lectures' pipeline
    amp: bool = False  # bf16 autocast
    compile: bool = False  # torch.compile, compiled before epoch 1 (TorchEngine.warm_up)
    tf32: bool = False  # allow TF32 in cuDNN convolutions and float32 matmuls (CUDA)


def config_from(recipe: Recipe, **overrides) -> TrainConfig:
    """The :class:`TrainConfig` of ``recipe``, with the fields ``overrides`` names replaced.

    An override of ``None`` keeps the recipe's value (an option the user left out).
    """
    unknown = set(overrides) - {f.name for f in fields(TrainConfig)}
    if unknown:
        raise TypeError(f"config_from: no such TrainConfig field: {', '.join(sorted(unknown))}")
    values = {f.name: getattr(recipe, f.name) for f in fields(Recipe)}
    values.update({k: v for k, v in overrides.items() if v is not None})
    return TrainConfig(**values)
