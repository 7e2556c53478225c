"""Fully connected layers: ``Linear`` and ``Identity``."""
from __future__ import annotations

from .. import functional as F
from ..checks import check_device, check_size, resolve_dtype
from . import init
from .grad_mode import is_grad_enabled
from .module import Module

__all__ = ["Linear", "Identity"]


class Linear(Module):
    r"""Affine layer :math:`y = x W^\top + b`, as ``torch.nn.Linear``.

    Forward and backward are :func:`scratchnet.functional.linear`'s:

    .. math::

        \frac{\partial L}{\partial x} = G W, \qquad
        \frac{\partial L}{\partial W} \mathrel{+}= G^\top x, \qquad
        \frac{\partial L}{\partial b} \mathrel{+}= \textstyle\sum_m G_{m,:}.

    Parameters
    ----------
    in_features, out_features : int
    bias : bool
        Whether to learn the additive bias (``bias=False`` registers ``bias`` as ``None``).
    device : None or 'cpu'
        Accepted for torch's signature; arrays are NumPy arrays.
    dtype : float32 (default) or float64
    generator : numpy.random.Generator, optional
        Draw the initial weights from it instead of :mod:`scratchnet.nn.init`'s default.

    Attributes
    ----------
    weight : Parameter, shape ``(out_features, in_features)``
        Initialised from :math:`\mathcal{U}(-1/\sqrt{\text{in}}, 1/\sqrt{\text{in}})`
        (torch's ``kaiming_uniform_(a=sqrt(5))``).
    bias : Parameter, shape ``(out_features,)``, or None
        Initialised from the same distribution.

    Shapes
    ------
    input ``(*, in_features)`` -> output ``(*, out_features)``.
    """

    def __init__(self, in_features, out_features, bias=True, device=None, dtype=None, *, generator=None):
        super().__init__()
        check_device(device, "Linear")
        dtype = resolve_dtype(dtype, "Linear")
        self.in_features = check_size(in_features, "in_features", "Linear")
        self.out_features = check_size(out_features, "out_features", "Linear")
        init.add_weight_and_bias(self, (self.out_features, self.in_features), bias, dtype)
        self.reset_parameters(generator=generator)

    def reset_parameters(self, generator=None) -> None:
        """Re-draw weight and bias from torch's default distributions."""
        init.reset_weight_and_bias_(self.weight, self.bias, generator=generator)

    def forward(self, input):
        return self._call_functional(F.linear, input, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Identity(Module):
    r"""Returns its input unchanged; backward returns ``grad_out`` unchanged.

    Accepts and ignores any constructor arguments, as torch's (handy for switching a
    layer off without changing the model's structure).
    """

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, input):
        if is_grad_enabled():
            self._set_grad_fn(lambda grad_out: grad_out, input)
        else:
            self._clear_grad_fn("no_grad")
        return input
