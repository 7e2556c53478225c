"""The lectures' training loop, for either engine.

Per epoch: ``train()``, shuffled mini-batches, ``zero_grad``, forward, loss,
backward, step, a ``Train Epoch: e [seen/total (pct%)]  Loss: x`` line every few
batches; then ``eval()`` and a test pass printing ``Average loss`` and
``Accuracy: c/N (pct%)``, with the time per epoch, the total and the device.

:func:`fit` is that loop; :class:`EpochLoop` is one epoch of it. The loop does not
know which engine it drives (:mod:`scratchnet.training.engine` says what an engine is;
:class:`scratchnet.training.numpy_engine.NumpyEngine` and
:class:`scratchnet.training.torch_engine.TorchEngine` are the two). Batches are drawn as
*index* arrays from one seeded :class:`~scratchnet.data.DataLoader`, so two engines
given the same seed see exactly the same samples in the same order; comparing them
(:mod:`scratchnet.training.lockstep`) is built on the same epoch step.

This module does not import torch.
"""
from __future__ import annotations

import math
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Callable, List, Optional

import numpy as np

from .config import TrainConfig
from ..data import DataLoader

__all__ = ["fit", "EpochLoop", "TrainingInterrupted", "EpochResult", "RunResult", "TrainConfig",
           "interrupted", "progress_bar"]


def fit(engine, train_data, test_data, cfg: TrainConfig, *, dataset: str = "",
        log: Optional[Callable[[str], None]] = print, progress: Optional[bool] = None) -> RunResult:
    """Train ``engine`` on ``train_data`` and evaluate on ``test_data`` after every epoch.

    Parameters
    ----------
    engine : scratchnet.training.numpy_engine.NumpyEngine or scratchnet.training.torch_engine.TorchEngine
    train_data, test_data : (ndarray, ndarray)
        Images and labels as NumPy arrays; the engine moves them where it computes.
    cfg : TrainConfig
    dataset : str
        Recorded in the result (which data this was measured on).
    log : callable or None
        Receives the lecture-style log lines; None prints none (and reads no loss
        back from a GPU for them).
    progress : bool, optional
        Draw a progress bar on stderr (default: when stderr is a terminal).

    Returns
    -------
    RunResult

    Raises
    ------
    TrainingInterrupted
        On Ctrl-C, carrying the epochs that finished.
    """
    loop = EpochLoop(engine, train_data, test_data, cfg, dataset=dataset, log=log,
                     progress=progress_bar(progress))
    loop.start()
    try:
        for _ in range(cfg.epochs):
            loop.run_epoch()
    except KeyboardInterrupt:
        raise interrupted([loop]) from None
    return loop.finish()


# --------------------------------------------------------------------------- one epoch
class EpochLoop:
    """One engine's side of training: its copy of the data, its batches, its epochs.

    :func:`fit` runs one loop to the end, epoch by epoch (:meth:`run_epoch`);
    :func:`scratchnet.training.lockstep.fit_lockstep` runs several, taking turns epoch by epoch.
    """

    def __init__(self, engine, train_data, test_data, cfg: TrainConfig, *, dataset: str = "",
                 log: Optional[Callable[[str], None]] = print, progress: Optional[_Progress] = None,
                 prefix: str = ""):
        train_x, train_y = train_data
        test_x, test_y = test_data
        # An engine with a feed (the torch engine under --loader torchvision) reads its own
        # data and batches; every other engine gathers the seeded index batches below.
        self.feed = engine.feed
        if self.feed is not None:
            self.n_train, self.n_test = self.feed.n_train, self.feed.n_test
        else:
            self.n_train, self.n_test = len(train_x), len(test_x)
        if self.n_train == 0 or self.n_test == 0:
            raise ValueError(f"fit: empty data (train {self.n_train} samples, test {self.n_test})")
        self.engine, self.cfg = engine, cfg
        self.progress = progress if progress is not None else _Progress(False)
        self.prefix = prefix
        self._log = log
        if self.feed is None:
            self.train_dev = engine.put(train_x, train_y)
            self.test_dev = engine.put(test_x, test_y)
        # The batches are index arrays from one seeded loader: identical for every engine.
        self.batches = DataLoader((np.arange(self.n_train),), batch_size=cfg.batch_size, shuffle=True,
                                  drop_last=cfg.drop_last, seed=cfg.seed)
        if len(self.batches) == 0:
            raise ValueError(
                f"fit: batch size {cfg.batch_size} with drop_last leaves no batch of {self.n_train} samples"
            )
        self.result = RunResult(cfg.model, engine.name, engine.device, dataset, config=asdict(cfg))
        self.epoch = 0
        # torch.compile compiles here, timed apart from the epochs (engine.setup() records it).
        engine.warm_up(self.n_train, self.n_test, cfg)
        self.result.engine_setup = engine.setup()

    def log(self, line: str) -> None:
        if self._log is None:  # quiet
            return
        self.progress.clear()
        self._log(self.prefix + line)

    def start(self) -> None:
        self.log(f"Training {self.cfg.model} with the {self.engine.name} engine on {self.engine.device} "
                 f"({self.n_train} train / {self.n_test} test samples of {self.result.dataset or 'the given data'})")

    def run_epoch(self) -> EpochResult:
        """Train one epoch, then test; append and return its :class:`EpochResult`."""
        cfg, engine = self.cfg, self.engine
        self.epoch += 1
        epoch, n_train = self.epoch, self.n_train
        verbose = epoch % cfg.log_every_epochs == 0 or epoch == 1 or epoch == cfg.epochs
        n_batches = len(self.feed if self.feed is not None else self.batches)
        # float(loss) waits for a GPU: evaluated only for a line that is printed.
        logging = verbose and cfg.log_interval and self._log is not None
        engine.synchronize()  # a GPU's queued work finishes before the clock is read
        t0 = time.perf_counter()
        engine.train()
        losses = []
        seen = 0
        for batch_idx, (x, y) in enumerate(self._train_batches()):
            loss = engine.train_step(x, y)
            losses.append(loss)
            seen += len(y)
            self.progress.draw(batch_idx + 1, n_batches, self.prefix)
            if logging and batch_idx % cfg.log_interval == 0:
                self.log(f"Train Epoch: {epoch} [{seen}/{n_train} ({100.0 * seen / n_train:.0f}%)]"
                         f"\tLoss: {float(loss):.6f}")
        engine.synchronize()
        t1 = time.perf_counter()
        engine.eval()
        test_loss_sum, correct = 0.0, 0
        for x, y in self._test_batches():
            l, c = engine.test_batch(x, y)
            test_loss_sum += l
            correct += c
        engine.synchronize()
        t2 = time.perf_counter()
        # float() only now: a GPU engine's losses stay on the device during the epoch.
        train_loss = float(np.mean([float(l) for l in losses]))
        test_loss = test_loss_sum / self.n_test
        if not math.isfinite(train_loss):
            self.log(f"warning: the training loss is {train_loss} in epoch {epoch}: training diverged")
        ep = EpochResult(epoch, train_loss, test_loss, correct / self.n_test, correct, self.n_test,
                         t2 - t0, train_seconds=t1 - t0, test_seconds=t2 - t1)
        self.result.epochs.append(ep)
        self.result.total_seconds += ep.seconds
        if verbose:
            self.log(f"Epoch {epoch}: mean training loss {train_loss:.6f} ({ep.seconds:.2f} s on {engine.device})")
            self.log(f"Test set: Average loss: {test_loss:.4f}, "
                     f"Accuracy: {correct}/{self.n_test} ({100.0 * correct / self.n_test:.2f}%)")
        return ep

    def finish(self) -> RunResult:
        r = self.result
        self.log(f"Total training time: {r.total_seconds:.2f} s ({self.engine.name} engine on {self.engine.device})")
        return r

    def _train_batches(self):
        """This epoch's ``(x, y)`` batches: the seeded index batches, or the engine's own feed."""
        if self.feed is not None:
            return self.feed.train_batches()
        return (self.engine.gather(self.train_dev, idx) for (idx,) in self.batches)

    def _test_batches(self):
        if self.feed is not None:
            return self.feed.test_batches()
        # A test batch is a contiguous run of the test set: a slice, which an engine gathers as a view.
        return (self.engine.gather(self.test_dev, slice(s, min(s + self.cfg.test_batch_size, self.n_test)))
                for s in range(0, self.n_test, self.cfg.test_batch_size))



def interrupted(loops) -> "TrainingInterrupted":
    """Ctrl-C: the progress bar wiped, each loop's result marked interrupted, all of them
    carried by the :class:`TrainingInterrupted` to raise."""
    for loop in loops:
        loop.progress.clear()
        loop.result.interrupted = True
    return TrainingInterrupted([loop.result for loop in loops])


def progress_bar(progress: Optional[bool]) -> _Progress:
    """A progress bar on stderr: drawn when asked, by default when stderr is a terminal."""
    return _Progress(sys.stderr.isatty() if progress is None else progress)


class _Progress:
    """A one-line progress bar on stderr that log lines do not overwrite.

    The bar is drawn with a carriage return on a terminal; :meth:`clear` wipes it
    before a log line is printed, and the next :meth:`draw` puts it back below.
    """

    width = 30

    def __init__(self, enabled: bool, stream=None):
        self.enabled = enabled
        self.stream = stream if stream is not None else sys.stderr
        self.shown = False

    def draw(self, done: int, total: int, label: str = "") -> None:
        if not self.enabled:
            return
        filled = int(self.width * done / max(total, 1))
        self.stream.write(f"\r  {label}[{'#' * filled}{'.' * (self.width - filled)}] {done}/{total}")
        self.stream.flush()
        self.shown = True
        if done >= total:
            self.clear()

    def clear(self) -> None:
        if self.enabled and self.shown:
            self.stream.write("\r\033[K")
            self.stream.flush()
            self.shown = False


class TrainingInterrupted(Exception):
    """Ctrl-C during training; ``results`` holds every epoch that finished, marked interrupted."""

    def __init__(self, results: List[RunResult]):
        super().__init__("training interrupted")
        self.results = results


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
    train_seconds: float = 0.0  # the training pass alone
    test_seconds: float = 0.0  # the test pass alone


@dataclass
class RunResult:
    """A whole run; :meth:`to_json` gives the CLI's ``--json`` object."""

    model: str
    engine: str
    device: str
    dataset: str
    epochs: List[EpochResult] = field(default_factory=list)
    total_seconds: float = 0.0  # the sum of the epochs' seconds
    config: dict = field(default_factory=dict)
    interrupted: bool = False  # Ctrl-C stopped it; ``epochs`` holds those that finished
    lockstep: bool = False  # trained taking turns epoch by epoch with another engine
    engine_setup: dict = field(default_factory=dict)  # the engine's own record (TorchEngine.setup())

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
            "interrupted": self.interrupted,
            "lockstep": self.lockstep,
            "engine_setup": dict(self.engine_setup),
        }
