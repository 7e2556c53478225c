"""The torch side of the training loop, on the CPU or on a CUDA device.

This is, with :mod:`scratchnet.torch_models` and :mod:`scratchnet.training.torch_data`, the only
place in scratchnet that imports torch. It drives the lecture models' torch twins
through the same :func:`scratchnet.training.loop.fit` loop as :mod:`scratchnet.training.numpy_engine`.

On ``cuda`` the whole dataset is copied to the GPU once (MNIST is 188 MB as float32),
and every mini-batch is gathered there by an index tensor, so no image crosses the
PCIe bus per step (with ``--loader torchvision`` the batches come from torch's
``DataLoader`` instead, as in the lectures, and each one is copied over).

Precision is explicit, because a GPU changes it silently: cuDNN's float32 convolutions
default to TF32 (a 10-bit mantissa), which alone would dominate the NumPy/torch drift.
A parity run keeps full float32 (``cudnn.allow_tf32 = False``, matmul precision
``"highest"``); ``tf32=True`` (``--tf32``) allows TF32 for speed. ``amp`` (``--amp``)
runs the forward pass under bf16 autocast; ``compile`` (``--compile``) wraps the model
in ``torch.compile``, compiled in :meth:`TorchEngine.warm_up` before the first epoch so
the epoch times hold no compilation. :meth:`TorchEngine.setup` records all of it.

On the hot path nothing waits for the GPU: a step returns its loss as a device tensor,
and the binary losses' labels are checked once per split in :meth:`TorchEngine.put`.
"""
from __future__ import annotations

import contextlib
import time

import numpy as np
import torch

from .. import models, torch_models
from .config import TrainConfig
from .engine import make_optimizer, no_lap, predictions_correct, resolve_loss
from ..models.binary import bad_labels_message
from .run_options import check_amp_dtype

_DTYPES = {"float32": torch.float32, "float64": torch.float64}


def cuda_available() -> bool:
    return torch.cuda.is_available()


def set_precision(tf32: bool) -> None:
    """TF32 for cuDNN convolutions and float32 matmuls: off (full float32) unless ``tf32``.

    These are torch's process-wide switches (the API of torch 2.1 onwards); on the CPU
    they change nothing.
    """
    torch.backends.cudnn.allow_tf32 = bool(tf32)
    torch.backends.cuda.matmul.allow_tf32 = bool(tf32)
    torch.set_float32_matmul_precision("high" if tf32 else "highest")


def precision_state() -> dict:
    """torch's precision and determinism switches as they stand, for the run's record."""
    return {
        "cudnn_allow_tf32": bool(torch.backends.cudnn.allow_tf32),
        "matmul_allow_tf32": bool(torch.backends.cuda.matmul.allow_tf32),
        "float32_matmul_precision": torch.get_float32_matmul_precision(),
        "cudnn_deterministic": bool(torch.backends.cudnn.deterministic),
        "cudnn_benchmark": bool(torch.backends.cudnn.benchmark),
        "deterministic_algorithms": bool(torch.are_deterministic_algorithms_enabled()),
    }


def _host(t: torch.Tensor) -> np.ndarray:
    """A tensor as a NumPy array on the host; bf16/fp16 (autocast's outputs) widened to float32 first."""
    t = t.detach()
    if t.dtype in (torch.bfloat16, torch.float16):
        t = t.float()
    return t.cpu().numpy()


def _batch_sizes(n: int, batch_size: int, drop_last: bool) -> list:
    """The distinct batch sizes one pass over ``n`` samples makes, in order."""
    sizes = [min(batch_size, n)] if n >= batch_size or not drop_last else []
    if n > batch_size and n % batch_size and not drop_last:
        sizes.append(n % batch_size)
    return [s for s in sizes if s > 0]


class TorchEngine:
    """A torch twin model, loss and optimizer behind the loop's interface."""

    name = "torch"

    def __init__(self, model, loss: str, optimizer, device="cpu", *, amp: bool = False,
                 compile: bool = False, tf32: bool = False, input_shape=None):
        self.device = str(device)
        self.model = model
        self.loss_name = loss
        # The labels are checked once per split (put), not by a host sync in every step.
        self.criterion = torch_models.criterion(loss, check_labels=False)
        self.optimizer = optimizer
        self.amp = bool(amp)
        self.compile = bool(compile)
        self.tf32 = bool(tf32)
        self.dtype = next(model.parameters()).dtype
        self.input_shape = tuple(input_shape) if input_shape is not None else None
        self.compile_seconds = None  # set by warm_up
        self.feed = None  # a scratchnet.training.torch_data.TorchvisionFeed: the batches come from it
        self._forward = torch.compile(model) if compile else model

    @classmethod
    def build(cls, cfg: TrainConfig, state_dict=None, device: str = "cpu", *, amp=None,
              compile=None, tf32=None) -> "TorchEngine":
        """Build the torch twin; ``state_dict`` (NumPy arrays) makes it start from those weights.

        ``amp``, ``compile`` and ``tf32`` default to ``cfg``'s; the TF32 switches are set
        here (:func:`set_precision`), for the whole process.
        """
        amp = cfg.amp if amp is None else amp
        compile = cfg.compile if compile is None else compile
        tf32 = cfg.tf32 if tf32 is None else tf32
        check_amp_dtype(amp, cfg.dtype)
        if str(device).startswith("cuda") and not torch.cuda.is_available():
            raise RuntimeError("CUDA was asked for, but torch sees no CUDA device on this machine")
        set_precision(tf32)
        model = torch_models.build(cfg.model, seed=cfg.seed, dtype=_DTYPES[cfg.dtype])
        torch_models.init_parameters_(model, cfg.init, seed=cfg.seed)
        if state_dict is not None:
            model.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in state_dict.items()})
        model.to(device)
        return cls(model, resolve_loss(cfg), make_optimizer(cfg, model.parameters(), torch.optim),
                   device, amp=amp, compile=compile, tf32=tf32,
                   input_shape=models.spec(cfg.model).input_shape)

    def put(self, x: np.ndarray, y: np.ndarray):
        """Copy the whole split to the device once; a binary loss's labels are checked here."""
        if models.is_binary_loss(self.loss_name):
            y_host = np.asarray(y)
            if not np.all((y_host == 1) | (y_host == -1)):
                raise ValueError(bad_labels_message(type(self.criterion).__name__, np.unique(y_host).tolist()))
        xt = torch.from_numpy(np.ascontiguousarray(x)).to(self.device, self.dtype)
        yt = torch.from_numpy(np.ascontiguousarray(y))
        if yt.dtype.is_floating_point:
            yt = yt.to(self.dtype)
        return xt, yt.to(self.device)

    def synchronize(self) -> None:
        """Wait for the device's queued work (a no-op on the CPU): the loop's clock reads after it."""
        if self.device.startswith("cuda"):
            torch.cuda.synchronize(self.device)

    def warm_up(self, n_train: int, n_test: int, cfg: TrainConfig) -> float:
        """Compile every batch shape of an epoch now, so no epoch time holds a compilation.

        ``torch.compile`` compiles lazily, once per new input shape and grad mode: the
        training batch, the shorter last batch (in which it also makes the batch size
        dynamic), the test batch. This runs each of them, in an epoch's order, on zeros:
        forward and backward in train mode, forward under ``no_grad`` in eval mode, with
        no optimizer step; the gradients, buffers and random state are restored, so the
        run is the one it would have been. Returns the seconds it took (also kept in
        ``compile_seconds``); 0 without ``compile``.
        """
        if not self.compile:
            return 0.0
        if self.input_shape is None:
            raise ValueError("TorchEngine.warm_up: the model's input shape is unknown (build with TorchEngine.build)")
        binary = models.is_binary_loss(self.loss_name)

        def batch(n):
            x = torch.zeros((n, *self.input_shape), dtype=self.dtype, device=self.device)
            y = (torch.ones(n, dtype=self.dtype, device=self.device) if binary
                 else torch.zeros(n, dtype=torch.int64, device=self.device))
            return x, y

        buffers = {k: v.detach().clone() for k, v in self.model.named_buffers()}
        devices = [torch.device(self.device)] if self.device.startswith("cuda") else []
        self.synchronize()
        t0 = time.perf_counter()
        with torch.random.fork_rng(devices=devices):
            self.model.train()
            for n in _batch_sizes(n_train, cfg.batch_size, cfg.drop_last):
                x, y = batch(n)
                with self._autocast():
                    output = self._forward(x)
                    loss = self.criterion(output.float() if self.amp else output, y)
                loss.backward()
            self.model.eval()
            with torch.no_grad():
                for n in _batch_sizes(n_test, cfg.test_batch_size, False):
                    with self._autocast():
                        self._forward(batch(n)[0])
        self.synchronize()
        self.compile_seconds = time.perf_counter() - t0
        self.optimizer.zero_grad(set_to_none=True)
        with torch.no_grad():
            for k, v in self.model.named_buffers():
                v.copy_(buffers[k])
        return self.compile_seconds

    def setup(self) -> dict:
        """How this engine ran, for the JSON: data pipeline, precision, autocast, compilation."""
        feed = self.feed.describe() if self.feed is not None else {
            "loader": "scratchnet", "batches": "seeded index batches, gathered from the split on the device"}
        return {"torch": torch.__version__, "device": self.device, "data": feed,
                "amp": "bf16 autocast" if self.amp else None, "compile": self.compile,
                "compile_seconds": self.compile_seconds, "tf32": self.tf32, **precision_state()}

    def gather(self, data, idx):
        """The batch ``idx`` of ``data``: an index array gives a copy, a slice a view (as NumPy's)."""
        x, y = data
        if isinstance(idx, slice):
            return x[idx], y[idx]
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

        ``lap(phase)`` as in :meth:`scratchnet.training.numpy_engine.NumpyEngine.train_step`; on a GPU
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

    # scratchnet.training.diagnose's view, as NumpyEngine's, through torch's hooks.
    def layers(self):
        """``[(name, kind)]`` of the model's top-level layers, in order."""
        return [(name, type(m).__name__) for name, m in self.model.named_children()]

    def watch(self, on_output, on_grad_output):
        """Report every layer's output, and (by a tensor hook on it) the gradient arriving at it."""
        def forward_hook(name, kind):
            def hook(module, args, out):
                on_output(name, kind, _host(out))
                if out.requires_grad:  # e.g. a Flatten of the images has no gradient
                    out.register_hook(lambda g: on_grad_output(name, kind, _host(g)))
            return hook

        return [m.register_forward_hook(forward_hook(name, type(m).__name__))
                for name, m in self.model.named_children()]

    def parameter_arrays(self):
        """``[(layer, kind, param name, weight, grad)]`` as NumPy arrays."""
        return [(name, type(m).__name__, pname, _host(p), None if p.grad is None else _host(p.grad))
                for name, m in self.model.named_children() for pname, p in m.named_parameters()]
