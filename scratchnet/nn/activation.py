"""Activation layers: thin modules over :mod:`scratchnet.functional`'s element-wise ops."""
from __future__ import annotations

from .. import functional as F
from .module import Module

__all__ = ["ReLU", "Sigmoid", "Tanh", "LogSigmoid", "Softmax", "LogSoftmax"]


class ReLU(Module):
    r""":math:`\max(x, 0)`; backward :math:`g\,[x > 0]`.

    Parameters
    ----------
    inplace : bool
        Overwrite the input with the output (saves one array; the input is lost).
    """

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def forward(self, input):
        return self._call_functional(F.relu, input, inplace=self.inplace)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class Sigmoid(Module):
    r""":math:`\sigma(x) = 1/(1 + e^{-x})`; backward :math:`g\,\sigma(x)(1 - \sigma(x))`."""

    def forward(self, input):
        return self._call_functional(F.sigmoid, input)


class Tanh(Module):
    r""":math:`\tanh x`; backward :math:`g\,(1 - \tanh^2 x)`."""

    def forward(self, input):
        return self._call_functional(F.tanh, input)


class LogSigmoid(Module):
    r""":math:`\log\sigma(x)`; backward :math:`g\,\sigma(-x)`."""

    def forward(self, input):
        return self._call_functional(F.logsigmoid, input)


class _AlongDim(Module):
    """A layer normalising along one dimension, ``dim`` (Softmax, LogSoftmax)."""

    def __init__(self, dim=None):
        super().__init__()
        self.dim = dim

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class Softmax(_AlongDim):
    r"""Softmax along ``dim``: :math:`y_i = e^{x_i} / \sum_j e^{x_j}`.

    Backward (per slice along ``dim``): :math:`\partial L/\partial x = y \odot (g - \langle g, y\rangle)`.

    Parameters
    ----------
    dim : int or None
        The dimension that sums to one. ``None`` is torch's legacy implicit choice
        (0 for 0-, 1- and 3-D inputs, else 1), with its deprecation warning.
    """

    def forward(self, input):
        return self._call_functional(F.softmax, input, dim=self.dim)


class LogSoftmax(_AlongDim):
    r""":math:`\log\mathrm{softmax}(x)` along ``dim``, computed stably as :math:`x - \mathrm{logsumexp}(x)`.

    Backward: :math:`\partial L/\partial x = g - \mathrm{softmax}(x) \sum g`.

    Parameters
    ----------
    dim : int or None
        As :class:`Softmax`.
    """

    def forward(self, input):
        return self._call_functional(F.log_softmax, input, dim=self.dim)
