"""What an engine is, and what both engines build with.

An engine (:class:`scratchnet.training.numpy_engine.NumpyEngine`,
:class:`scratchnet.training.torch_engine.TorchEngine`) owns a model, its loss and its optimizer,
keeps the data where it computes, and exposes the five lines of a training step to the
loop of :mod:`scratchnet.training.loop`:

* ``build(cfg, state_dict=None, ...)``: the model of a :class:`~scratchnet.training.config.TrainConfig`;
* ``put(x, y)`` a whole split where the engine computes, ``gather(data, idx)`` a batch of it
  (``idx`` an index array: a copy; or a slice, as the loop's test batches: a view);
  ``feed``: None, or an object that supplies the batches itself (``--loader torchvision``);
* ``warm_up(n_train, n_test, cfg)`` before the first epoch (torch.compile compiles there),
  ``synchronize()`` before the loop reads its clock, ``setup()`` the engine's own record
  for the run's JSON;
* ``train()`` / ``eval()``; ``train_step(x, y, lap=no_lap)`` returns the loss;
  ``test_batch(x, y)`` returns (sum of losses, number correct);
* ``state_dict()`` as NumPy arrays;
* for :mod:`scratchnet.training.diagnose`: ``layers()``, ``watch(on_output, on_grad_output)``,
  ``parameter_arrays()``.

Both build their optimizer and loss from the tables below, so a name means the same in both.
"""
from __future__ import annotations

import numpy as np

from .. import models
from .config import TrainConfig

#: Optimizer name -> (class name in ``scratchnet.optim`` and ``torch.optim`` alike, the
#: TrainConfig fields it takes). Both engines build their optimizer from this one table.
OPTIMIZER_CLASSES = {
    "sgd": ("SGD", ("lr", "momentum", "weight_decay")),
    "adam": ("Adam", ("lr", "weight_decay")),
    "adamw": ("AdamW", ("lr", "weight_decay")),
}
OPTIMIZERS = tuple(OPTIMIZER_CLASSES)


def resolve_loss(cfg: "TrainConfig") -> str:
    """The run's loss: the configured one, checked against the model, else the model's own."""
    return models.loss_for(cfg.model, cfg.loss)


def make_optimizer(cfg: TrainConfig, params, namespace):
    """``cfg.optimizer`` from an engine's optimizer module (``scratchnet.optim`` / ``torch.optim``)."""
    if cfg.optimizer not in OPTIMIZER_CLASSES:
        raise ValueError(f"unknown optimizer {cfg.optimizer!r}; expected one of {', '.join(OPTIMIZERS)}")
    class_name, fields = OPTIMIZER_CLASSES[cfg.optimizer]
    return getattr(namespace, class_name)(params, **{f: getattr(cfg, f) for f in fields})


#: The phases of one training step, in order, as both engines report them to ``lap``.
STEP_PHASES = ("zero_grad", "forward", "loss", "backward", "optimizer")


def no_lap(phase: str) -> None:
    """The default ``lap`` of ``train_step``: nobody is timing the phases."""


def predictions_correct(output: np.ndarray, target: np.ndarray, loss: str) -> int:
    """Count correct predictions: arg-max for classes, the sign of the score for ±1 targets."""
    if models.is_binary_loss(loss):
        score = output.reshape(-1)
        return int(np.sum(np.where(score > 0, 1.0, -1.0) == target.reshape(-1)))
    return int(np.sum(output.argmax(axis=1) == target))
