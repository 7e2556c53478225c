"""The torch twins of every lecture model, and weight transfer between the two engines.

``build(name)`` returns a ``torch.nn.Module`` with the same architecture, the same
child names and therefore the same ``state_dict`` keys and shapes as
``scratchnet.models.build(name)``: ``l1.weight`` for the MLPs (lecture 9's names),
``conv1.weight`` and ``fc.weight`` for the basic CNN (lecture 10's), ``c1 c3 c5 f6 f7``
for LeNet-5 (``c3.weight`` packs the sparse C3's kernels). Copying a state_dict across
(:func:`numpy_to_torch`, :func:`torch_to_numpy`) makes the two compute the same
function, which is what the parity suite and the benchmarks rely on.

torch is imported here and in :mod:`scratchnet.training.torch_engine` only; the NumPy engine
never imports it.
"""
from __future__ import annotations

import math
from collections import OrderedDict
from typing import Sequence

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

from . import models as _models
from .checks import check_reduction
from .functional.sparse_conv import check_table
from .models.lenet import LECUN_C3_TABLE

__all__ = [
    "build", "names", "spec", "criterion", "numpy_to_torch", "torch_to_numpy", "copy_weights",
    "SoftmaxRegression", "MLP", "BasicCNN", "LeNet5", "SparseConv2d", "BinaryLinear",
    "BinaryLogisticLoss", "SigmoidMSELoss",
]

names = _models.names
spec = _models.spec


class SoftmaxRegression(nn.Sequential):
    """Twin of :class:`scratchnet.models.SoftmaxRegression`: (flatten,) ``linear``."""

    def __init__(self, in_features: int, num_classes: int, *, flatten: bool = True):
        layers = [("flatten", nn.Flatten())] if flatten else []
        super().__init__(OrderedDict(layers + [("linear", nn.Linear(in_features, num_classes))]))


_ACTIVATIONS = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh}


class MLP(nn.Sequential):
    """Twin of :class:`scratchnet.models.MLP`: flatten, then ``l1, act1, ..., lK``."""

    def __init__(self, sizes: Sequence[int], activation: str = "relu"):
        layers = [("flatten", nn.Flatten())]
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
            layers.append((f"l{i}", nn.Linear(n_in, n_out)))
            if i < len(sizes) - 1:
                layers.append((f"{activation}{i}", _ACTIVATIONS[activation]()))
        super().__init__(OrderedDict(layers))
        self.sizes = tuple(int(s) for s in sizes)
        self.activation = activation


class BasicCNN(nn.Sequential):
    """Twin of :class:`scratchnet.models.BasicCNN` (lecture 10's ``Net``)."""

    def __init__(self):
        super().__init__(OrderedDict([
            ("conv1", nn.Conv2d(1, 10, kernel_size=5)),
            ("mp1", nn.MaxPool2d(2)),
            ("relu1", nn.ReLU()),
            ("conv2", nn.Conv2d(10, 20, kernel_size=5)),
            ("mp2", nn.MaxPool2d(2)),
            ("relu2", nn.ReLU()),
            ("flatten", nn.Flatten()),
            ("fc", nn.Linear(320, 10)),
            ("log_softmax", nn.LogSoftmax(dim=1)),
        ]))


class SparseConv2d(nn.Module):
    """Twin of :class:`scratchnet.models.SparseConv2d`: one ``conv2d`` per output map, concatenated.

    Output map ``j`` is ``conv2d(x[:, table[j]], weight[t_j : t_j + len(table[j])][None],
    bias[j:j+1])``, ``t_j`` the number of connections of the maps before it: the same
    packed ``weight`` ``(n_connections, kH, kW)`` and ``bias`` ``(len(table),)``, drawn
    map by map as torch's default init of a ``Conv2d(len(table[j]), 1, kernel_size)``.
    """

    def __init__(self, in_channels: int, kernel_size, table: Sequence[Sequence[int]], stride=1,
                 padding=0, dilation=1, bias: bool = True):
        super().__init__()
        self.in_channels = in_channels
        self.table = check_table("SparseConv2d", in_channels, table)
        self.stride, self.padding, self.dilation = stride, padding, dilation
        kh, kw = torch.nn.modules.utils._pair(kernel_size)
        self.starts = [0]
        for inputs in self.table:
            self.starts.append(self.starts[-1] + len(inputs))
        self.weight = nn.Parameter(torch.empty(self.starts[-1], kh, kw))
        self.bias = nn.Parameter(torch.empty(len(self.table))) if bias else None
        with torch.no_grad():
            for j in range(len(self.table)):
                kernels = self.weight[self.starts[j]:self.starts[j + 1]].unsqueeze(0)
                nn.init.kaiming_uniform_(kernels, a=math.sqrt(5))  # as Conv2d.reset_parameters
                if bias:
                    bound = 1 / math.sqrt(kernels[0].numel())
                    nn.init.uniform_(self.bias[j:j + 1], -bound, bound)

    def forward(self, x):
        # channels are dim -3, so unbatched (C, H, W) input works as for Conv2d
        return torch.cat([
            F.conv2d(x[..., list(inputs), :, :], self.weight[self.starts[j]:self.starts[j + 1]].unsqueeze(0),
                     None if self.bias is None else self.bias[j:j + 1], self.stride, self.padding, self.dilation)
            for j, inputs in enumerate(self.table)], dim=-3)

    def extra_repr(self):
        return f"in_channels={self.in_channels}, out_channels={len(self.table)}"


class LeNet5(nn.Sequential):
    """Twin of :class:`scratchnet.models.LeNet5`: ``c1 p2 c3 p4 c5 f6 f7`` with tanh."""

    def __init__(self, c3: str = "full"):
        if c3 == "full":
            conv3 = nn.Conv2d(6, 16, kernel_size=5)
        elif c3 == "lecun":
            conv3 = SparseConv2d(6, 5, LECUN_C3_TABLE)
        else:
            raise ValueError(f"LeNet5: c3 must be 'full' or 'lecun', got {c3!r}")
        super().__init__(OrderedDict([
            ("c1", nn.Conv2d(1, 6, kernel_size=5, padding=2)), ("tanh1", nn.Tanh()),
            ("p2", nn.AvgPool2d(2)), ("tanh2", nn.Tanh()),
            ("c3", conv3), ("tanh3", nn.Tanh()),
            ("p4", nn.AvgPool2d(2)), ("tanh4", nn.Tanh()),
            ("flatten", nn.Flatten()),
            ("c5", nn.Linear(400, 120)), ("tanh5", nn.Tanh()),
            ("f6", nn.Linear(120, 84)), ("tanh6", nn.Tanh()),
            ("f7", nn.Linear(84, 10)),
        ]))


class BinaryLinear(nn.Sequential):
    """Twin of :class:`scratchnet.models.BinaryLinear`: flatten, ``linear`` (784 → 1, no bias)."""

    def __init__(self, in_features: int = 784):
        super().__init__(OrderedDict([
            ("flatten", nn.Flatten()),
            ("linear", nn.Linear(in_features, 1, bias=False)),
        ]))


def _binary_operands(op: str, input: torch.Tensor, target, check_labels: bool = True) -> tuple:
    """Validate and align ``(logits, ±1 labels)`` with the NumPy losses' exact rules.

    The label check reads the result on the host (a GPU sync): the training engine,
    which checks each split once when it loads it, turns it off with ``check_labels``.
    """
    target = torch.as_tensor(target, device=input.device)
    shape = _models.binary.binary_shape(op, tuple(input.shape), tuple(target.shape))
    if check_labels and not bool(((target == 1) | (target == -1)).all()):
        raise ValueError(_models.binary.bad_labels_message(op, torch.unique(target).tolist()))
    return input.reshape(shape), target.to(input.dtype)


def _reduce(loss: torch.Tensor, reduction: str) -> torch.Tensor:
    return loss.mean() if reduction == "mean" else loss.sum() if reduction == "sum" else loss


class _BinaryLoss(nn.Module):
    """A loss on one score per sample and ±1 targets, with torch's ``reduction``."""

    def __init__(self, reduction: str = "mean", check_labels: bool = True):
        super().__init__()
        check_reduction(type(self).__name__, reduction)
        self.reduction = reduction
        self.check_labels = check_labels  # False: the caller checked the labels once, up front


class BinaryLogisticLoss(_BinaryLoss):
    r"""Twin of :class:`scratchnet.models.BinaryLogisticLoss`: :math:`-\log\sigma(yz)`."""

    def forward(self, input, target):
        z, y = _binary_operands("BinaryLogisticLoss", input, target, self.check_labels)
        return _reduce(-F.logsigmoid(y * z), self.reduction)


class SigmoidMSELoss(_BinaryLoss):
    r"""Twin of :class:`scratchnet.models.SigmoidMSELoss`: :math:`(\sigma(z) - (y+1)/2)^2`."""

    def forward(self, input, target):
        z, y = _binary_operands("SigmoidMSELoss", input, target, self.check_labels)
        return F.mse_loss(torch.sigmoid(z), (y + 1) / 2, reduction=self.reduction)


def build(name: str, seed: int = 0, dtype: torch.dtype = torch.float32) -> nn.Module:
    """The torch twin of ``scratchnet.models.build(name)``, with torch's default init.

    Parameters
    ----------
    name : str
        One of :func:`names`.
    seed : int
        Seeds torch's initialisation; the global RNG state is restored afterwards.
        (The two engines draw different numbers from the same seed: copy weights with
        :func:`numpy_to_torch` to compare them.)
    dtype : torch.dtype
        ``torch.float32`` (default) or ``torch.float64``.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = _models.architecture(_models.spec(name), globals())
    return model.to(dtype)


def init_parameters_(model: nn.Module, scheme: str, seed: int = 0) -> nn.Module:
    """Re-initialise ``model`` in place by a scheme of :data:`scratchnet.nn.init.INIT_SCHEMES`.

    The torch twin of :func:`scratchnet.nn.init.init_parameters_`: the same ``torch.nn.init``
    function, arguments and parameter order (biases zeroed), drawn from torch's generator
    seeded with ``seed`` (the global RNG state is restored afterwards).
    """
    from .nn.init import fan_blocks, init_scheme, is_weight

    entry = init_scheme(scheme)
    if entry is None:
        return model
    fn_name, kwargs = entry
    fn = getattr(nn.init, fn_name)
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(seed)
        for module in model.modules():
            for name, p in module.named_parameters(recurse=False):
                if is_weight(name, p) and fn_name != "zeros_":
                    for block in fan_blocks(module, p):
                        fn(block, **kwargs)
                else:
                    p.zero_()
    return model


def criterion(loss: str, reduction: str = "mean", check_labels: bool = True) -> nn.Module:
    """The torch loss module for a loss name of :func:`scratchnet.models.criterion`.

    ``'cross_entropy'``, ``'nll'``, ``'binary_ce'`` (:class:`BinaryLogisticLoss`; also
    ``'binary'``) or ``'binary_mse'`` (:class:`SigmoidMSELoss`). ``check_labels=False``
    drops the binary losses' per-call ±1 check (one host sync each), for a caller that
    checked its labels once already.
    """
    module = _models.make_criterion(loss, reduction, nn, {"BinaryLogisticLoss": BinaryLogisticLoss,
                                                          "SigmoidMSELoss": SigmoidMSELoss})
    if isinstance(module, (BinaryLogisticLoss, SigmoidMSELoss)):
        module.check_labels = check_labels
    return module


def torch_to_numpy(torch_model: nn.Module, np_model, strict: bool = True):
    """Copy a torch model's weights into a NumPy model (cast to the NumPy model's dtype).

    Returns the NumPy model. The two must have the same ``state_dict`` keys and
    shapes (``strict=False`` lets keys be missing on either side, as torch).
    """
    state = OrderedDict((k, v.detach().cpu().numpy().copy()) for k, v in torch_model.state_dict().items())
    np_model.load_state_dict(state, strict=strict)
    return np_model


def numpy_to_torch(np_model, torch_model: nn.Module, strict: bool = True) -> nn.Module:
    """Copy a NumPy model's weights into a torch model (cast to the torch model's dtype).

    Returns the torch model. The copy is exact: same values, bit for bit, whenever
    the two models share a dtype.
    """
    # load_state_dict copies into the existing tensors, casting dtype and moving device.
    state = OrderedDict((k, torch.from_numpy(np.array(v, copy=True))) for k, v in np_model.state_dict().items())
    torch_model.load_state_dict(state, strict=strict)
    return torch_model


def copy_weights(src, dst, strict: bool = True):
    """Copy weights from ``src`` to ``dst``, whichever engine each of them is; returns ``dst``."""
    src_torch, dst_torch = isinstance(src, nn.Module), isinstance(dst, nn.Module)
    if src_torch and not dst_torch:
        return torch_to_numpy(src, dst, strict)
    if dst_torch and not src_torch:
        return numpy_to_torch(src, dst, strict)
    dst.load_state_dict(src.state_dict(), strict=strict)
    return dst
