"""The torch side of the training loop, on the CPU or on a CUDA device.

This is, with :mod:`scratchnet.torch_models`, the only place in scratchnet that
imports torch. It drives the lecture models' torch twins through the same
:func:`scratchnet.train.fit` loop as :mod:`scratchnet.numpy_engine`.

On ``cuda`` the whole dataset is copied to the GPU once (MNIST is 188 MB as float32),
and every mini-batch is gathered there by an index tensor, so no image crosses the
PCIe bus per step. Optional ``bf16`` autocast and ``torch.compile`` are there for the
GPU; on the CPU they are rarely faster at these sizes.
"""
from __future__ import annotations

import contextlib

import numpy as np
import torch

from . import torch_models
from .config import TrainConfig
from .engine import make_optimizer, no_lap, predictions_correct, resolve_loss

_DTYPES = {"float32": torch.float32, "float64": torch.float64}


def cuda_available() -> bool:
    return torch.cuda.is_available()


class TorchEngine:
    """A torch twin model, loss and optimizer behind the loop's interface."""

    name = "torch"

    def __init__(self, model, loss: str, optimizer, device="cpu", *, amp: bool = False,
                 compile: bool = False):
        self.device = str(device)
        self.model = model
        self.loss_name = loss
        self.criterion = torch_models.criterion(loss)
        self.optimizer = optimizer
        self.amp = bool(amp)
        self.dtype = next(model.parameters()).dtype
        self._forward = torch.compile(model) if compile else model

    @classmethod
    def build(cls, cfg: TrainConfig, state_dict=None, device: str = "cpu", *, amp=False,
              compile=False) -> "TorchEngine":
        """Build the torch twin; ``state_dict`` (NumPy arrays) makes it start from those weights."""
        if str(device).startswith("cuda") and not torch.cuda.is_available():
            raise RuntimeError("CUDA was asked for, but torch sees no CUDA device on this machine")
        model = torch_models.build(cfg.model, seed=cfg.seed, dtype=_DTYPES[cfg.dtype])
        torch_models.init_parameters_(model, cfg.init, seed=cfg.seed)
        if state_dict is not None:
            model.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in state_dict.items()})
        model.to(device)
        return cls(model, resolve_loss(cfg), make_optimizer(cfg, model.parameters(), torch.optim),
                   device, amp=amp, compile=compile)

    def put(self, x: np.ndarray, y: np.ndarray):
        """Copy the whole split to the device once."""
        xt = torch.from_numpy(np.ascontiguousarray(x)).to(self.device, self.dtype)
        yt = torch.from_numpy(np.ascontiguousarray(y))
        if yt.dtype.is_floating_point:
            yt = yt.to(self.dtype)
        return xt, yt.to(self.device)

    def gather(self, data, idx):
        x, y = data
        i = torch.from_numpy(np.asarray(idx)).to(self.device, non_blocking=True)
        return x.index_select(0, i), y.index_select(0, i)

    def train(self):
        self.model.train()

    def eval(self):
        self.model.eval()

    def _autocast(self):
        if self.amp:
            return torch.autocast(device_type=self.device.split(":")[0], dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def train_step(self, x, y, lap=no_lap):
        """One step; returns the loss as a 0-d tensor so a GPU step never waits on the host.

        ``lap(phase)`` as in :meth:`scratchnet.numpy_engine.NumpyEngine.train_step`; on a GPU
        the phases are only queued when it is called (synchronize inside ``lap`` to time them).
        """
        self.optimizer.zero_grad()
        lap("zero_grad")
        with self._autocast():
            output = self._forward(x)
            lap("forward")
            loss = self.criterion(output.float() if self.amp else output, y)
            lap("loss")
        loss.backward()
        lap("backward")
        self.optimizer.step()
        lap("optimizer")
        return loss.detach()

    @torch.no_grad()
    def test_batch(self, x, y):
        with self._autocast():
            output = self._forward(x)
        output = output.to(self.dtype)
        loss = float(self.criterion(output, y)) * len(x)
        # One definition of "correct" for both engines; a test batch's outputs are small.
        return loss, predictions_correct(output.cpu().numpy(), y.cpu().numpy(), self.loss_name)

    def state_dict(self):
        return {k: v.detach().cpu().numpy() for k, v in self.model.state_dict().items()}

    # scratchnet.diagnose's view, as NumpyEngine's, through torch's hooks.
    def layers(self):
        """``[(name, kind)]`` of the model's top-level layers, in order."""
        return [(name, type(m).__name__) for name, m in self.model.named_children()]

    def watch(self, on_output, on_grad_output):
        """Report every layer's output, and (by a tensor hook on it) the gradient arriving at it."""
        def forward_hook(name, kind):
            def hook(module, args, out):
                on_output(name, kind, out.detach().cpu().numpy())
                if out.requires_grad:  # e.g. a Flatten of the images has no gradient
                    out.register_hook(lambda g: on_grad_output(name, kind, g.detach().cpu().numpy()))
            return hook

        return [m.register_forward_hook(forward_hook(name, type(m).__name__))
                for name, m in self.model.named_children()]

    def parameter_arrays(self):
        """``[(layer, kind, param name, weight, grad)]`` as NumPy arrays."""
        def arr(t):
            return None if t is None else t.detach().cpu().numpy()

        return [(name, type(m).__name__, pname, arr(p), arr(p.grad))
                for name, m in self.model.named_children() for pname, p in m.named_parameters()]
