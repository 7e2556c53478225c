"""Pooling layers: ``MaxPool2d`` and ``AvgPool2d``."""
from __future__ import annotations

from .. import functional as F
from .module import Module

__all__ = ["MaxPool2d", "AvgPool2d"]


class _Pool2d(Module):
    """What every 2-D pool keeps: its window (``stride`` defaults to the kernel) and ``ceil_mode``."""

    def __init__(self, kernel_size, stride, padding, ceil_mode):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if (stride is not None) else kernel_size
        self.padding = padding
        self.ceil_mode = ceil_mode


class MaxPool2d(_Pool2d):
    r"""Max over each (possibly dilated) window, as ``torch.nn.MaxPool2d``.

    .. math::

        y_{n,c,i,j} = \max_{u < k_h,\ v < k_w}
            x_{n,c,\; s_h i + d_h u - p_h,\; s_w j + d_w v - p_w}

    (padding reads as :math:`-\infty`). Backward routes each output's gradient to
    the one input that was its maximum (the first, on ties), adding up where
    windows overlap.

    Parameters
    ----------
    kernel_size : int or (int, int)
    stride : int or (int, int), default ``kernel_size``
    padding : int or (int, int), default 0
        At most half the kernel size.
    dilation : int or (int, int), default 1
    return_indices : bool
        Also return the flat ``H*W`` index of each maximum (as ``MaxUnpool2d`` wants);
        the output is then ``(values, indices)`` and ``backward`` takes the
        gradient of ``values``.
    ceil_mode : bool
        Round the output size up instead of down (a last window must start inside
        the input or left padding).
    """

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False,
                 ceil_mode=False):
        super().__init__(kernel_size, stride, padding, ceil_mode)
        self.dilation = dilation
        self.return_indices = return_indices

    def forward(self, input):
        return self._call_functional(F.max_pool2d, input, self.kernel_size, self.stride, self.padding,
                                     self.dilation, self.ceil_mode, self.return_indices)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class AvgPool2d(_Pool2d):
    r"""Mean over each window, as ``torch.nn.AvgPool2d``.

    .. math::

        y_{n,c,i,j} = \frac{1}{D_{ij}} \sum_{u < k_h,\ v < k_w}
            x_{n,c,\; s_h i + u - p_h,\; s_w j + v - p_w},

    where the divisor :math:`D_{ij}` is ``divisor_override`` if given, else
    :math:`k_h k_w` (``count_include_pad=True``, zero padding counted) or the number
    of non-padding elements in the window. Backward spreads each output's gradient
    over its window, divided by the same :math:`D_{ij}`.

    Parameters
    ----------
    kernel_size : int or (int, int)
    stride : int or (int, int), default ``kernel_size``
    padding : int or (int, int), default 0
    ceil_mode : bool
    count_include_pad : bool, default True
    divisor_override : int, optional
    """

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
                 divisor_override=None):
        super().__init__(kernel_size, stride, padding, ceil_mode)
        self.count_include_pad = count_include_pad
        self.divisor_override = divisor_override

    def forward(self, input):
        return self._call_functional(F.avg_pool2d, input, self.kernel_size, self.stride, self.padding,
                                     self.ceil_mode, self.count_include_pad, self.divisor_override)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"
