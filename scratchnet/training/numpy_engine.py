"""The NumPy side of the training loop: scratchnet's own model, loss and optimizer.

The twin of :mod:`scratchnet.training.torch_engine`, method for method (see
:mod:`scratchnet.training.engine` for the interface both offer to :func:`scratchnet.training.loop.fit`).
The data stay NumPy arrays in the model's dtype; a training batch is a fancy-indexed copy,
a test batch (a contiguous slice) a view.
"""
from __future__ import annotations

import numpy as np

from .. import models, nn, optim
from .config import TrainConfig
from .engine import make_optimizer, no_lap, predictions_correct, resolve_loss


class NumpyEngine:
    """scratchnet's NumPy model, loss and optimizer behind the loop's interface."""

    name = "numpy"
    device = "cpu"
    feed = None  # the batches always come from the loop's seeded loader

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
        """The batch ``idx`` of ``data``: an index array gives a copy, a slice a view (no copy)."""
        x, y = data
        return x[idx], y[idx]

    def synchronize(self) -> None:
        """Nothing to wait for: NumPy has finished when a call returns."""

    def warm_up(self, n_train: int, n_test: int, cfg: TrainConfig) -> float:
        """Nothing to compile; returns the seconds it took (none)."""
        return 0.0

    def setup(self) -> dict:
        """The engine's own record for the run's JSON: nothing beyond the config."""
        return {}

    def train(self):
        self.model.train()

    def eval(self):
        self.model.eval()

    def train_step(self, x, y, lap=no_lap):
        """zero_grad, forward, loss, backward, step; returns the loss.

        ``lap(phase)`` is called as each phase ends, with the names of
        :data:`scratchnet.training.engine.STEP_PHASES` (``benchmarks.profile`` times the phases with it).
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

    # scratchnet.training.diagnose's view: the model's layers, in order (the children of the
    # lecture models' Sequential), their outputs, gradients and parameters.
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
