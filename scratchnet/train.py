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

LOSSES = models.LOSSES

#: Optimizer name -> (class name in ``scratchnet.optim`` and ``torch.optim`` alike, the
#: TrainConfig fields it takes). Both engines build their optimizer from this one table.
OPTIMIZER_CLASSES = {
    "sgd": ("SGD", ("lr", "momentum", "weight_decay")),
    "adam": ("Adam", ("lr", "weight_decay")),
    "adamw": ("AdamW", ("lr", "weight_decay")),
}
OPTIMIZERS = tuple(OPTIMIZER_CLASSES)


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
    init: str = "default"  # a scheme of scratchnet.nn.init.INIT_SCHEMES (--init)
    dtype: str = "float32"
    log_interval: int = 10  # batches between log lines; 0 logs once per epoch
    log_every_epochs: int = 1
    # The torch engine's options (issue 19); the NumPy engine ignores them.
    loader: str = "scratchnet"  # "torchvision": the torch engine reads the lectures' pipeline
    amp: bool = False  # bf16 autocast
    compile: bool = False  # torch.compile, compiled before epoch 1 (TorchEngine.warm_up)
    tf32: bool = False  # allow TF32 in cuDNN convolutions and float32 matmuls (CUDA)


# --------------------------------------------------------------------------- building
def default_loss(model_name: str) -> str:
    """The loss a lecture model is trained with (``nll`` after a ``log_softmax``)."""
    return models.spec(model_name).losses[0]


def resolve_loss(cfg: "TrainConfig") -> str:
    """The run's loss: the configured one, checked against the model, else the model's own."""
    loss = cfg.loss or default_loss(cfg.model)
    check_loss(cfg.model, loss)
    return loss


def check_loss(model_name: str, loss: str) -> None:
    """Refuse a loss that cannot fit the model's output (e.g. NLL on a one-logit model)."""
    s = models.spec(model_name)
    if models.is_binary_loss(s.loss) != models.is_binary_loss(loss):
        raise ValueError(
            f"loss {loss!r} does not fit model {model_name!r}; use one of: {', '.join(s.losses)}"
        )


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
        nn.init.init_parameters_(model, cfg.init, generator=np.random.default_rng(cfg.seed))
        if state_dict is not None:
            model.load_state_dict(state_dict)
        return cls(model, resolve_loss(cfg), make_optimizer(cfg, model.parameters(), optim))

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

    # What scratchnet.diagnose watches: the model's layers, in order (the children of
    # the lecture models' Sequential), their outputs, gradients and parameters.
    def layers(self):
        """``[(name, kind)]`` of the model's top-level layers, in order."""
        return [(name, type(m).__name__) for name, m in self.model.named_children()]

    def watch(self, on_output, on_grad_output):
        """Report every layer's output and the gradient arriving at it; returns removable handles."""
        handles = []
        for name, m in self.model.named_children():
            kind = type(m).__name__
            handles.append(m.register_forward_hook(
                lambda m, args, out, name=name, kind=kind: on_output(name, kind, out)))
            handles.append(m.register_full_backward_hook(
                lambda m, g_in, g_out, name=name, kind=kind: on_grad_output(name, kind, g_out[0])))
        return handles

    def parameter_arrays(self):
        """``[(layer, kind, param name, weight, grad)]`` as NumPy arrays (views, not copies)."""
        return [(name, type(m).__name__, pname, p.data, p.grad)
                for name, m in self.model.named_children() for pname, p in m.named_parameters()]


# --------------------------------------------------------------------------- the loop
class TrainingInterrupted(Exception):
    """Ctrl-C during training; ``results`` holds every epoch that finished, marked interrupted."""

    def __init__(self, results: List[RunResult]):
        super().__init__("training interrupted")
        self.results = results


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


class EpochLoop:
    """One engine's side of training: its copy of the data, its batches, its epochs.

    :func:`fit` runs one loop to the end; :func:`fit_lockstep` runs several, epoch by
    epoch in turn, so that their epoch times are taken minutes, not a whole run, apart.
    """

    def __init__(self, engine, train_data, test_data, cfg: TrainConfig, *, dataset: str = "",
                 log: Optional[Callable[[str], None]] = print, progress: Optional[_Progress] = None,
                 prefix: str = ""):
        train_x, train_y = train_data
        test_x, test_y = test_data
        # An engine with a feed (the torch engine under --loader torchvision) reads its own
        # data and batches; every other engine gathers the seeded index batches below.
        self.feed = getattr(engine, "feed", None)
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
        if hasattr(engine, "warm_up"):
            engine.warm_up(self.n_train, self.n_test, cfg)
        self._record_setup()

    def _record_setup(self) -> None:
        if hasattr(self.engine, "setup"):
            self.result.engine_setup = self.engine.setup()

    def _sync(self) -> None:
        """Let a GPU engine finish its queued work before the clock is read."""
        if hasattr(self.engine, "synchronize"):
            self.engine.synchronize()

    def _train_batches(self):
        if self.feed is not None:
            return self.feed.train_batches()
        return (self.engine.gather(self.train_dev, idx) for (idx,) in self.batches)

    def _test_batches(self):
        if self.feed is not None:
            return self.feed.test_batches()
        return (self.engine.gather(self.test_dev, np.arange(s, min(s + self.cfg.test_batch_size, self.n_test)))
                for s in range(0, self.n_test, self.cfg.test_batch_size))

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
        self._sync()
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
        self._sync()
        t1 = time.perf_counter()
        engine.eval()
        test_loss_sum, correct = 0.0, 0
        for x, y in self._test_batches():
            l, c = engine.test_batch(x, y)
            test_loss_sum += l
            correct += c
        self._sync()
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


def _progress_for(progress: Optional[bool]) -> _Progress:
    return _Progress(sys.stderr.isatty() if progress is None else progress)


def fit(engine, train_data, test_data, cfg: TrainConfig, *, dataset: str = "",
        log: Optional[Callable[[str], None]] = print, progress: Optional[bool] = None) -> RunResult:
    """Train ``engine`` on ``train_data`` and evaluate on ``test_data`` after every epoch.

    Parameters
    ----------
    engine : NumpyEngine or TorchEngine
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
    return fit_lockstep([engine], train_data, test_data, cfg, dataset=dataset, log=log,
                        progress=progress)[0]


def fit_lockstep(engines, train_data, test_data, cfg: TrainConfig, *, dataset: str = "",
                 log: Optional[Callable[[str], None]] = print, progress: Optional[bool] = None,
                 settle_s: float = 0.2) -> List[RunResult]:
    """Train several engines taking turns epoch by epoch: A B, B A, A B, ...

    Each engine keeps its own model, optimizer and copy of the data, and draws the same
    seeded batches, so every engine's run is exactly what :func:`fit` would give; only
    the order in time changes. On a machine whose speed drifts over minutes, epoch
    ``e`` of each engine is then measured under nearly the same conditions, and the
    per-epoch time ratios (:func:`compare`) say how noisy the comparison is. The order
    alternates (ABBA) so that neither engine always runs right after the other, and at
    each switch a pause lets the idle engine's spinning threads go to sleep: ``settle_s``,
    but never more than a tenth of the last epoch (the toy's epochs take microseconds).

    Returns
    -------
    list of RunResult, in the order of ``engines``.

    Raises
    ------
    TrainingInterrupted
        On Ctrl-C, carrying every engine's finished epochs (``interrupted`` set).
    """
    bar = _progress_for(progress)
    several = len(engines) > 1
    loops = [EpochLoop(e, train_data, test_data, cfg, dataset=dataset, log=log, progress=bar,
                       prefix=f"[{e.name}] " if several else "") for e in engines]
    for loop in loops:
        loop.result.lockstep = several
    last = 0.0
    try:
        for loop in loops:
            loop.start()
        for epoch in range(1, cfg.epochs + 1):
            order = loops if epoch % 2 else loops[::-1]
            for i, loop in enumerate(order):
                if several and (epoch > 1 or i > 0):
                    time.sleep(min(settle_s, 0.1 * last))
                last = loop.run_epoch().seconds
    except KeyboardInterrupt:
        bar.clear()
        for loop in loops:
            loop.result.interrupted = True
        raise TrainingInterrupted([loop.result for loop in loops]) from None
    return [loop.finish() for loop in loops]


def _ratio_spread(ratios: List[float]) -> dict:
    finite = sorted(r for r in ratios if math.isfinite(r))
    if not finite:
        return {"median": float("nan"), "min": float("nan"), "max": float("nan"), "n": 0}
    return {"median": float(np.median(finite)), "min": finite[0], "max": finite[-1], "n": len(finite)}


def compare(a: RunResult, b: RunResult) -> dict:
    """How far two engines' runs differ, epoch by epoch, and how their speeds compare.

    Losses are compared relatively, accuracies absolutely. Speed: the ratio of the
    engines' median epoch times, and the spread (min, median, max) of the per-epoch
    ratios ``a.seconds / b.seconds`` — meaningful as a comparison only when the runs
    took turns (:func:`fit_lockstep`), which ``lockstep`` records.
    """
    def rel(x, y):
        return abs(x - y) / max(abs(x), abs(y), 1e-12)

    rows = []
    for ea, eb in zip(a.epochs, b.epochs):
        rows.append({
            "epoch": ea.epoch,
            "train_loss_rel_diff": rel(ea.train_loss, eb.train_loss),
            "test_loss_rel_diff": rel(ea.test_loss, eb.test_loss),
            "test_accuracy_diff": abs(ea.test_accuracy - eb.test_accuracy),
            "time_ratio": ea.seconds / eb.seconds if eb.seconds else float("nan"),
        })
    median_a = float(np.median([e.seconds for e in a.epochs])) if a.epochs else float("nan")
    median_b = float(np.median([e.seconds for e in b.epochs])) if b.epochs else float("nan")
    return {
        "engines": [a.engine, b.engine],
        "epochs": rows,
        "max_train_loss_rel_diff": max((r["train_loss_rel_diff"] for r in rows), default=0.0),
        "max_test_accuracy_diff": max((r["test_accuracy_diff"] for r in rows), default=0.0),
        "median_epoch_seconds": [median_a, median_b],
        "speed_ratio": median_a / median_b if median_b else float("nan"),
        "epoch_time_ratios": _ratio_spread([r["time_ratio"] for r in rows]),
        "lockstep": a.lockstep and b.lockstep,
    }
