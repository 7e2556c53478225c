r"""Sliding-window geometry shared by ``conv2d``, ``max_pool2d`` and ``avg_pool2d``.

A 2-D window op slides a :math:`k_h \times k_w` kernel, dilated by :math:`d`, with
stride :math:`s` over an input padded by :math:`p`. Output pixel :math:`(i, j)` reads
the padded input at

.. math::

    (i s_h + a\,d_h,\; j s_w + b\,d_w), \qquad 0 \le a < k_h,\ 0 \le b < k_w.

Fixing the kernel *tap* :math:`(a, b)` and letting :math:`(i, j)` run over the whole
output grid gives one strided slice of the padded input,
``xp[..., a*dh : a*dh + sh*(Ho-1) + 1 : sh, b*dw : ... : sw]``, shaped like the output.
The window ops loop over the :math:`k_h k_w` taps (never over pixels or samples) of
such zero-copy slices: a max or sum of them is a pooling forward, a copy of them is
im2col's gather, and ``+=`` of the upstream gradient into them is the backward
(col2im), which accumulates correctly where windows overlap because each tap's slice
touches every input position at most once.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from ..checks import shape_str


def batched(op: str, x: np.ndarray, *, nonempty_planes: bool = False) -> tuple:
    """View a ``(C, H, W)`` or ``(N, C, H, W)`` input as 4-D; report whether it was unbatched.

    With ``nonempty_planes`` (pooling, as torch) a zero-sized channel or spatial
    dimension is rejected; a zero batch is always fine. Convolution leaves those
    checks to its own rules.
    """
    if x.ndim not in (3, 4):
        raise ValueError(
            f"{op}: expected a 3-D (C, H, W) unbatched or 4-D (N, C, H, W) batched input, "
            f"got shape {shape_str(x.shape)}"
        )
    if nonempty_planes and 0 in x.shape[-3:]:
        raise ValueError(
            f"{op}: expected non-zero channel and spatial sizes (a zero batch size is "
            f"allowed), got input of shape {shape_str(x.shape)}"
        )
    return (x[None], True) if x.ndim == 3 else (x, False)


def conv_output_size(size: int, kernel: int, stride: int, pad_total: int, dilation: int) -> int:
    r""":math:`\lfloor (H + p_\text{total} - d(k-1) - 1) / s \rfloor + 1` (``p_total`` = both sides)."""
    return (size + pad_total - dilation * (kernel - 1) - 1) // stride + 1


def pool_output_size(size: int, kernel: int, stride: int, pad: int, dilation: int,
                     ceil_mode: bool) -> int:
    r"""Torch's pooling output size.

    .. math::

        H_\text{out} = \Big\lfloor \frac{H + 2p - d(k-1) - 1 + [\text{ceil}](s-1)}{s}
        \Big\rfloor + 1,

    and with ``ceil_mode`` one window fewer if the last one would start in the right
    padding, :math:`(H_\text{out}-1)s \ge H + p`: every window starts inside the
    input or its left padding.
    """
    out = (size + 2 * pad - dilation * (kernel - 1) - 1 + (stride - 1 if ceil_mode else 0)) // stride + 1
    if ceil_mode and (out - 1) * stride >= size + pad:
        out -= 1
    return out


@dataclass(frozen=True)
class WindowGeometry:
    """Where every window of a 2-D sliding-window op sits in the padded input.

    Attributes
    ----------
    in_hw : (H, W)
    kernel, stride, dilation : (h, w) pairs
    pad : (top, bottom, left, right)
        Padding of the input buffer. ``bottom``/``right`` also cover windows that
        ceil-mode pooling lets run past the declared padding, so that every tap
        slice is in bounds.
    out_hw : (H_out, W_out)
    """

    in_hw: tuple
    kernel: tuple
    stride: tuple
    dilation: tuple
    pad: tuple
    out_hw: tuple

    @classmethod
    def create(cls, in_hw, kernel, stride, dilation, pad, out_hw):
        """Build the geometry, growing the bottom/right pad to hold the last window."""
        top, bottom, left, right = pad
        extent = [(o - 1) * s + d * (k - 1) + 1 for o, s, d, k in zip(out_hw, stride, dilation, kernel)]
        bottom = max(bottom, extent[0] - in_hw[0] - top)
        right = max(right, extent[1] - in_hw[1] - left)
        return cls(tuple(in_hw), tuple(kernel), tuple(stride), tuple(dilation),
                   (top, bottom, left, right), tuple(out_hw))

    @property
    def padded_hw(self) -> tuple:
        top, bottom, left, right = self.pad
        return self.in_hw[0] + top + bottom, self.in_hw[1] + left + right

    @functools.cached_property
    def taps(self):
        """Kernel offsets ``(a, b)`` in torch's scan order (row-major)."""
        return tuple((a, b) for a in range(self.kernel[0]) for b in range(self.kernel[1]))

    @functools.cached_property
    def tap_indices(self):
        """:meth:`tap` of every tap, in :attr:`taps` order (built once per geometry)."""
        return tuple(self.tap(a, b) for a, b in self.taps)

    @property
    def overlapping(self) -> bool:
        """Whether two windows can share an input position (stride < dilated kernel)."""
        return any(s < d * (k - 1) + 1 for s, d, k in zip(self.stride, self.dilation, self.kernel))

    def tap(self, a: int, b: int) -> tuple:
        """Index selecting, from a padded ``(..., Hp, Wp)`` buffer, tap ``(a, b)`` of every window."""
        (sh, sw), (dh, dw), (ho, wo) = self.stride, self.dilation, self.out_hw
        return (Ellipsis,
                slice(a * dh, a * dh + sh * (ho - 1) + 1, sh),
                slice(b * dw, b * dw + sw * (wo - 1) + 1, sw))

    def pad_input(self, x: np.ndarray, fill) -> np.ndarray:
        """``x`` (``(..., H, W)``) in a new buffer padded with ``fill``; ``x`` itself if no pad is needed."""
        if not any(self.pad):
            return x
        top, _, left, _ = self.pad
        h, w = self.in_hw
        buf = np.full(x.shape[:-2] + self.padded_hw, fill, dtype=x.dtype)
        buf[..., top:top + h, left:left + w] = x
        return buf

    def crop(self, padded: np.ndarray) -> np.ndarray:
        """The gradient w.r.t. the unpadded input: the interior of a padded-buffer gradient."""
        if not any(self.pad):
            return padded
        top, _, left, _ = self.pad
        h, w = self.in_hw
        return padded[..., top:top + h, left:left + w].copy()

    def window_starts(self) -> tuple:
        """Row and column of each window's first tap in *unpadded* input coordinates.

        Negative values are windows starting in the top/left padding.
        """
        (sh, sw), (ho, wo) = self.stride, self.out_hw
        top, _, left, _ = self.pad
        return np.arange(ho) * sh - top, np.arange(wo) * sw - left

