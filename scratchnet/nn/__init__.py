"""``scratchnet.nn``: torch.nn-shaped modules over :mod:`scratchnet.functional`.

Same class names, constructor signatures, defaults, parameter names, ``state_dict``
keys and reprs as torch, so a model reads the same in both engines and its weights
copy across. What differs is that back-propagation is explicit: each module's
``backward(grad_out)`` returns the input gradient and accumulates parameter
gradients into ``.grad`` (see :class:`Module`).
"""
from . import init
from .activation import LogSigmoid, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh
from .container import ModuleList, Sequential, override_chain
from .conv import Conv2d
from .flatten import Flatten
from .grad_mode import is_grad_enabled, no_grad, set_grad_enabled
from .init import manual_seed
from .linear import Identity, Linear
from .loss import BCEWithLogitsLoss, CrossEntropyLoss, MSELoss, NLLLoss
from .module import Module, RemovableHandle
from .parameter import Parameter
from .pooling import AvgPool2d, MaxPool2d

__all__ = [
    "Module", "Parameter", "RemovableHandle",
    "Linear", "Identity", "Conv2d", "MaxPool2d", "AvgPool2d", "Flatten",
    "ReLU", "Sigmoid", "Tanh", "LogSigmoid", "Softmax", "LogSoftmax",
    "Sequential", "ModuleList", "override_chain",
    "CrossEntropyLoss", "NLLLoss", "MSELoss", "BCEWithLogitsLoss",
    "init", "manual_seed", "no_grad", "set_grad_enabled", "is_grad_enabled",
]
