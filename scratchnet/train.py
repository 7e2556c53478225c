"""One training loop for both engines, the lectures' way.

Per epoch: ``train()``, shuffled mini-batches, ``zero_grad``, forward, loss,
backward, step, a ``Train Epoch: e [seen/total (pct%)]  Loss: x`` line every few
batches; then ``eval()`` and a test pass printing ``Average loss`` and
``Accuracy: c/N (pct%)``, with the time per epoch, the total and the device.

The loop does not know which engine it drives. An engine (:class:`NumpyEngine` here,
:class:`scratchnet.torch_engine.TorchEngine` for torch) owns the model, the loss and
the optimizer, keeps the data where it computes (the torch engine moves the whole
dataset to the GPU once) and exposes the five lines of a training step. Batches are
drawn as *index* arrays from one seeded :class:`~scratchnet.data.DataLoader`, so two
engines given the same seed see exactly the same samples in the same order.

This module does not import torch.
"""
from __future__ import annotations

import math
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Callable, List, Optional

import numpy as np

from . import models, nn, optim
from .data import DataLoader

LOSSES = ("cross_entropy", "nll", "binary_ce", "binary_mse")
OPTIMIZERS = ("sgd", "adam", "adamw")


# --------------------------------------------------------------------------- results
@dataclass
class EpochResult:
    """What one epoch measured."""

    epoch: int
    train_loss: float  # mean of the per-batch training losses
    test_loss: float  # per-sample average over the test set
    test_accuracy: float  # fraction in [0, 1]
    correct: int
    total: int
    seconds: float  # training and test pass of this epoch


@dataclass
class RunResult:
    """A whole run; :meth:`to_json` gives the CLI's ``--json`` object."""

    model: str
    engine: str
    device: str
    dataset: str
    epochs: List[EpochResult] = field(default_factory=list)
    total_seconds: float = 0.0
    config: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return {
            "model": self.model,
            "engine": self.engine,
            "device": self.device,
            "dataset": self.dataset,
            "epochs": [
                {k: v for k, v in asdict(e).items()} for e in self.epochs
            ],
            "total_seconds": self.total_seconds,
            "config": dict(self.config),
        }


@dataclass
class TrainConfig:
    """Hyper-parameters of a run (the CLI's flags)."""

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
    zero_init: bool = False
    dtype: str = "float32"
    log_interval: int = 10  # batches between log lines; 0 logs once per epoch
    log_every_epochs: int = 1


# --------------------------------------------------------------------------- building
def default_loss(model_name: str) -> str:
    """The loss a lecture model is trained with (``nll`` after a ``log_softmax``)."""
    return models.spec(model_name).losses[0]


def dataset_for(model_name: str) -> str:
    """The data a model is trained on: the toy table, MNIST, or its 4-vs-9 subset."""
    s = models.spec(model_name)
    if s.input_shape == (4,):
        return "toy"
    return "mnist-4v9" if s.family == "binary" else "mnist"


def resolve_loss(cfg: "TrainConfig") -> str:
    """The run's loss: the configured one, checked against the model, else the model's own."""
    loss = cfg.loss or default_loss(cfg.model)
    check_loss(cfg.model, loss)
    return loss


def check_loss(model_name: str, loss: str) -> None:
    """Refuse a loss that cannot fit the model's output (e.g. NLL on a one-logit model)."""
    s = models.spec(model_name)
    binary = s.family == "binary"
    if binary != loss.startswith("binary"):
        raise ValueError(
            f"loss {loss!r} does not fit model {model_name!r}; use one of: {', '.join(s.losses)}"
        )


def make_numpy_optimizer(name: str, params, cfg: TrainConfig):
    if name == "sgd":
        return optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    if name == "adam":
        return optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if name == "adamw":
        return optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    raise ValueError(f"unknown optimizer {name!r}; expected one of {', '.join(OPTIMIZERS)}")


#: The phases of one training step, in order, as both engines report them to ``lap``.
STEP_PHASES = ("zero_grad", "forward", "loss", "backward", "optimizer")


def no_lap(phase: str) -> None:
    """The default ``lap`` of ``train_step``: nobody is timing the phases."""


def predictions_correct(output: np.ndarray, target: np.ndarray, loss: str) -> int:
    """Count correct predictions: arg-max for classes, the sign of the score for ±1 targets."""
    if loss in ("binary_ce", "binary_mse"):
        score = output.reshape(-1)
        return int(np.sum(np.where(score > 0, 1.0, -1.0) == target.reshape(-1)))
    return int(np.sum(output.argmax(axis=1) == target))


class NumpyEngine:
    """scratchnet's NumPy model, loss and optimizer behind the loop's interface."""

    name = "numpy"
    device = "cpu"

    def __init__(self, model, loss: str, optimizer):
        self.model = model
        self.loss_name = loss
        self.criterion = models.criterion(loss)
        self.optimizer = optimizer
        self.dtype = next(iter(model.parameters())).dtype

    @classmethod
    def build(cls, cfg: TrainConfig, state_dict=None) -> "NumpyEngine":
        model = models.build(cfg.model, seed=cfg.seed, dtype=np.dtype(cfg.dtype))
        if cfg.zero_init:
            for p in model.parameters():
                p.data[...] = 0
        if state_dict is not None:
            model.load_state_dict(state_dict)
        return cls(model, resolve_loss(cfg), make_numpy_optimizer(cfg.optimizer, model.parameters(), cfg))

    def put(self, x: np.ndarray, y: np.ndarray):
        """Keep the dataset in this engine's dtype (images), labels as they are."""
        return np.ascontiguousarray(x, dtype=self.dtype), np.ascontiguousarray(y)

    def gather(self, data, idx):
        x, y = data
        return x[idx], y[idx]

    def train(self):
        self.model.train()

    def eval(self):
        self.model.eval()

    def train_step(self, x, y, lap=no_lap):
        """zero_grad, forward, loss, backward, step; returns the loss.

        ``lap(phase)`` is called as each phase ends, with the names of
        :data:`STEP_PHASES` (``benchmarks.profile`` times the phases with it).
        """
        self.optimizer.zero_grad()
        lap("zero_grad")
        output = self.model(x)
        lap("forward")
        loss = self.criterion(output, y)
        lap("loss")
        # The images need no gradient (torch: they do not require grad), so the
        # first layers skip computing it; parameter gradients are unchanged.
        self.model.backward(self.criterion.backward(), needs_input_grad=False)
        lap("backward")
        self.optimizer.step()
        lap("optimizer")
        return loss

    def test_batch(self, x, y):
        """Return (sum of per-sample losses, number correct) for one test batch."""
        with nn.no_grad():  # as torch.no_grad(): record no backward, keep no buffers
            output = self.model(x)
            loss = float(self.criterion(output, y)) * len(x)
        return loss, predictions_correct(output, y, self.loss_name)

    def state_dict(self):
        return self.model.state_dict()


# --------------------------------------------------------------------------- the loop
def _progress_bar(done: int, total: int, stream) -> None:
    width = 30
    filled = int(width * done / max(total, 1))
    stream.write(f"\r  [{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
    if done >= total:
        stream.write("\r" + " " * (width + 24) + "\r")
    stream.flush()


def fit(engine, train_data, test_data, cfg: TrainConfig, *, dataset: str = "",
        log: Callable[[str], None] = print, progress: Optional[bool] = None) -> RunResult:
    """Train ``engine`` on ``train_data`` and evaluate on ``test_data`` after every epoch.

    Parameters
    ----------
    engine : NumpyEngine or TorchEngine
    train_data, test_data : (ndarray, ndarray)
        Images and labels as NumPy arrays; the engine moves them where it computes.
    cfg : TrainConfig
    dataset : str
        Recorded in the result (which data this was measured on).
    log : callable
        Receives the lecture-style log lines.
    progress : bool, optional
        Draw a progress bar on stderr (default: when stderr is a terminal).

    Returns
    -------
    RunResult
    """
    if progress is None:
        progress = sys.stderr.isatty()
    train_x, train_y = train_data
    test_x, test_y = test_data
    n_train, n_test = len(train_x), len(test_x)
    if n_train == 0 or n_test == 0:
        raise ValueError(f"fit: empty data (train {n_train} samples, test {n_test})")
    train_dev = engine.put(train_x, train_y)
    test_dev = engine.put(test_x, test_y)
    # The batches are index arrays from one seeded loader: identical for every engine.
    batches = DataLoader((np.arange(n_train),), batch_size=cfg.batch_size, shuffle=True,
                         drop_last=cfg.drop_last, seed=cfg.seed)
    n_batches = len(batches)
    if n_batches == 0:
        raise ValueError(
            f"fit: batch size {cfg.batch_size} with drop_last leaves no batch of {n_train} samples"
        )
    result = RunResult(cfg.model, engine.name, engine.device, dataset, config=asdict(cfg))
    log(f"Training {cfg.model} with the {engine.name} engine on {engine.device} "
        f"({n_train} train / {n_test} test samples of {dataset or 'the given data'})")
    start = time.perf_counter()
    for epoch in range(1, cfg.epochs + 1):
        t0 = time.perf_counter()
        engine.train()
        losses = []
        seen = 0
        verbose = epoch % cfg.log_every_epochs == 0 or epoch == 1 or epoch == cfg.epochs
        for batch_idx, (idx,) in enumerate(batches):
            x, y = engine.gather(train_dev, idx)
            loss = engine.train_step(x, y)
            losses.append(loss)
            seen += len(idx)
            if progress:
                _progress_bar(batch_idx + 1, n_batches, sys.stderr)
            if verbose and cfg.log_interval and batch_idx % cfg.log_interval == 0:
                log(f"Train Epoch: {epoch} [{seen}/{n_train} ({100.0 * seen / n_train:.0f}%)]"
                    f"\tLoss: {float(loss):.6f}")
        engine.eval()
        test_loss_sum, correct = 0.0, 0
        for s in range(0, n_test, cfg.test_batch_size):
            idx = np.arange(s, min(s + cfg.test_batch_size, n_test))
            x, y = engine.gather(test_dev, idx)
            l, c = engine.test_batch(x, y)
            test_loss_sum += l
            correct += c
        seconds = time.perf_counter() - t0
        # float() only now: a GPU engine's losses stay on the device during the epoch.
        train_loss = float(np.mean([float(l) for l in losses]))
        test_loss = test_loss_sum / n_test
        if not math.isfinite(train_loss):
            log(f"warning: the training loss is {train_loss} in epoch {epoch}: training diverged")
        ep = EpochResult(epoch, train_loss, test_loss, correct / n_test, correct, n_test, seconds)
        result.epochs.append(ep)
        if verbose:
            log(f"Epoch {epoch}: mean training loss {train_loss:.6f} ({seconds:.2f} s on {engine.device})")
            log(f"Test set: Average loss: {test_loss:.4f}, "
                f"Accuracy: {correct}/{n_test} ({100.0 * correct / n_test:.2f}%)")
    result.total_seconds = time.perf_counter() - start
    log(f"Total training time: {result.total_seconds:.2f} s ({engine.name} engine on {engine.device})")
    return result


def compare(a: RunResult, b: RunResult) -> dict:
    """How far two engines' runs differ, epoch by epoch (losses relative, accuracy absolute)."""
    def rel(x, y):
        return abs(x - y) / max(abs(x), abs(y), 1e-12)

    rows = []
    for ea, eb in zip(a.epochs, b.epochs):
        rows.append({
            "epoch": ea.epoch,
            "train_loss_rel_diff": rel(ea.train_loss, eb.train_loss),
            "test_loss_rel_diff": rel(ea.test_loss, eb.test_loss),
            "test_accuracy_diff": abs(ea.test_accuracy - eb.test_accuracy),
        })
    return {
        "epochs": rows,
        "max_train_loss_rel_diff": max((r["train_loss_rel_diff"] for r in rows), default=0.0),
        "max_test_accuracy_diff": max((r["test_accuracy_diff"] for r in rows), default=0.0),
        "speed_ratio": a.total_seconds / b.total_seconds if b.total_seconds else float("nan"),
    }
