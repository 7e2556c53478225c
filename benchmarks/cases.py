"""What is measured: every functional op at a lecture layer's size, every lecture training step.

Cases are engine-neutral: an :class:`OpCase` builds its operands as NumPy arrays from
a seeded generator, and each worker turns them into its own engine's arrays, so both
engines compute on bit-identical inputs. Step cases come from
:mod:`scratchnet.training.experiments`, which holds each lecture experiment's model, loss and
SGD settings (learning rate, momentum): the benchmark times exactly the step the
lecture trains with.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

from . import flops as _flops

#: The batch sizes of the sweep: one sample, a small batch, the lectures' 64, a large
#: batch, and the lectures' test batch.
BATCH_SIZES = (1, 8, 64, 256, 1000)
QUICK_BATCH_SIZES = (1, 64)

#: The two passes timed for each op.
PASSES = ("forward", "forward+backward")


@dataclass(frozen=True)
class OpCase:
    """One op at one lecture layer's operand shapes (batch size left free).

    Attributes
    ----------
    name : str
        Unique label: the op's name, plus ``:layer`` when an op has several cases.
    op : str
        Function name in :mod:`scratchnet.functional` (and in ``torch.nn.functional``,
        or ``torch`` for ``flatten``).
    layer : str
        Where in the lectures these shapes come from.
    make : callable ``(batch, dtype, rng) -> (args, kwargs)``
        Builds NumPy operands for a batch size.
    flops : callable ``(args, kwargs, out_shape) -> float``, optional
        Forward FLOPs of a compute-bound op; ``None`` for memory-bound ops, which are
        measured against the bandwidth ceiling.
    """

    name: str
    op: str
    layer: str
    make: Callable
    flops: Optional[Callable] = field(default=None, compare=False)

    @property
    def bound(self) -> str:
        """``"compute"`` (share of the GEMM ceiling) or ``"memory"`` (share of bandwidth)."""
        return "memory" if self.flops is None else "compute"


def _normal(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


def _log_probs(rng, shape, dtype):
    import numpy as np

    z = rng.standard_normal(shape)
    return (z - np.log(np.exp(z).sum(axis=1, keepdims=True))).astype(dtype)


def _labels(rng, n, classes=10):
    import numpy as np

    return rng.integers(0, classes, size=n, dtype=np.int64)


def _conv_case(name, layer, in_ch, size, out_ch, k, **kwargs):
    def make(n, dtype, rng):
        x = _normal(rng, (n, in_ch, size, size), dtype)
        w = (_normal(rng, (out_ch, in_ch, k, k), dtype) * (in_ch * k * k) ** -0.5).astype(dtype)
        b = _normal(rng, (out_ch,), dtype)
        return (x, w, b), dict(kwargs)

    return OpCase(name, "conv2d", layer, make,
                  flops=lambda args, kw, out_shape: _flops.conv_flops(out_shape, args[1].shape))


def _linear_make(n, dtype, rng):
    x = _normal(rng, (n, 784), dtype)
    w = (_normal(rng, (520, 784), dtype) * 784 ** -0.5).astype(dtype)
    b = _normal(rng, (520,), dtype)
    return (x, w, b), {}


OP_CASES: tuple[OpCase, ...] = (
    OpCase("relu", "relu", "MLP-5 first hidden layer (N, 520)",
           lambda n, dt, r: ((_normal(r, (n, 520), dt),), {})),
    OpCase("sigmoid", "sigmoid", "sigmoid MLP first hidden layer (N, 256)",
           lambda n, dt, r: ((_normal(r, (n, 256), dt),), {})),
    OpCase("tanh", "tanh", "LeNet-5 C1 feature maps (N, 6, 28, 28)",
           lambda n, dt, r: ((_normal(r, (n, 6, 28, 28), dt),), {})),
    OpCase("logsigmoid", "logsigmoid", "binary-linear margins y*z (N,)",
           lambda n, dt, r: ((_normal(r, (n,), dt),), {})),
    OpCase("softmax", "softmax", "10-class logits (N, 10), dim=1",
           lambda n, dt, r: ((_normal(r, (n, 10), dt),), {"dim": 1})),
    OpCase("log_softmax", "log_softmax", "basic-CNN output (N, 10), dim=1",
           lambda n, dt, r: ((_normal(r, (n, 10), dt),), {"dim": 1})),
    OpCase("linear", "linear", "MLP-5 layer 1, 784 -> 520", _linear_make,
           flops=lambda args, kw, out_shape: _flops.linear_flops(args[0].shape[0], 784, 520)),
    OpCase("flatten", "flatten", "basic-CNN (N, 20, 4, 4) -> (N, 320)",
           lambda n, dt, r: ((_normal(r, (n, 20, 4, 4), dt), 1), {})),
    _conv_case("conv2d:basic-cnn-conv1", "basic-CNN conv1, 1 -> 10, k5, 28x28", 1, 28, 10, 5),
    _conv_case("conv2d:basic-cnn-conv2", "basic-CNN conv2, 10 -> 20, k5, 12x12", 10, 12, 20, 5),
    _conv_case("conv2d:lenet5-c1", "LeNet-5 C1, 1 -> 6, k5, padding 2", 1, 28, 6, 5, padding=2),
    OpCase("max_pool2d", "max_pool2d", "basic-CNN pool1, (N, 10, 24, 24), k2",
           lambda n, dt, r: ((_normal(r, (n, 10, 24, 24), dt), 2), {})),
    OpCase("avg_pool2d", "avg_pool2d", "LeNet-5 P2, (N, 6, 28, 28), k2",
           lambda n, dt, r: ((_normal(r, (n, 6, 28, 28), dt), 2), {})),
    OpCase("cross_entropy", "cross_entropy", "10-class logits (N, 10), int64 targets",
           lambda n, dt, r: ((_normal(r, (n, 10), dt), _labels(r, n)), {})),
    OpCase("nll_loss", "nll_loss", "basic-CNN log-probabilities (N, 10)",
           lambda n, dt, r: ((_log_probs(r, (n, 10), dt), _labels(r, n)), {})),
    OpCase("mse_loss", "mse_loss", "binary-linear sigmoid outputs (N, 1)",
           lambda n, dt, r: ((_normal(r, (n, 1), dt), _normal(r, (n, 1), dt)), {})),
    OpCase("binary_cross_entropy_with_logits", "binary_cross_entropy_with_logits",
           "binary-linear scores (N, 1), 0/1 targets",
           lambda n, dt, r: ((_normal(r, (n, 1), dt), r.integers(0, 2, (n, 1)).astype(dt)), {})),
)

QUICK_OPS = ("relu", "linear", "conv2d:basic-cnn-conv2", "max_pool2d", "cross_entropy")


@dataclass(frozen=True)
class StepCase:
    """One lecture experiment's training step: zero_grad, forward, loss, backward, SGD step.

    Attributes
    ----------
    name : str
        The experiment's name in :mod:`scratchnet.training.experiments`.
    model : str
        The model it trains (:func:`scratchnet.models.build`).
    loss : str
        ``"cross_entropy"``, ``"nll"``, ``"binary_ce"`` or ``"binary_mse"``.
    lr, momentum : float
        The lecture's SGD settings.
    lecture_batch : int
        The lecture's training batch size, marked in the report.
    init : str
        The lecture's initialisation (``"zeros"`` for the toy softmax regression).
    """

    name: str
    model: str
    loss: str
    lr: float
    momentum: float
    lecture_batch: int
    init: str = "default"


def step_cases() -> tuple[StepCase, ...]:
    """Every lecture experiment, read from :mod:`scratchnet.training.experiments`."""
    from scratchnet.training import experiments

    return tuple(
        StepCase(e.name, e.model, e.loss, float(e.lr), float(e.momentum), int(e.batch_size),
                 e.init)
        for e in (experiments.get(n) for n in experiments.names())
    )


QUICK_STEPS = ("softmax-regression", "mlp5", "basic-cnn")


def select(items, names, kind):
    """The items named in ``names`` (all when ``names`` is ``None``), in their order.

    A name matches an item's ``name``, or for op cases its ``op`` (``conv2d`` selects
    every conv2d case).

    Raises
    ------
    ValueError
        For a name that matches no item, listing the valid ones.
    """
    if names is None:
        return tuple(items)
    def keys(item):
        return {item.name, getattr(item, "op", item.name)}

    known = set().union(*(keys(i) for i in items))
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(
            f"unknown {kind} {', '.join(map(repr, unknown))}; choose from: "
            f"{', '.join(i.name for i in items)}"
        )
    return tuple(i for i in items if keys(i) & set(names))
