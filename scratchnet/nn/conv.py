"""``Conv2d``: the convolutional layer of the lectures' CNNs and LeNet-5."""
from __future__ import annotations

from .. import functional as F
from ..checks import check_device, check_size, is_int, pair, resolve_dtype
from . import init
from .module import Module

__all__ = ["Conv2d"]


class Conv2d(Module):
    r"""2-D cross-correlation over a batch of images, as ``torch.nn.Conv2d``.

    For input :math:`x` of shape :math:`(N, C_\text{in}, H, W)`, weight :math:`W` of
    shape :math:`(C_\text{out}, C_\text{in}/g, k_h, k_w)` and groups :math:`g`,

    .. math::

        y_{n,o,i,j} = b_o + \sum_{c, u, v} W_{o,c,u,v}\,
            x_{n,\, c + g_o C_\text{in}/g,\; s_h i + d_h u - p_h,\; s_w j + d_w v - p_w},

    with :math:`g_o` the group of output channel :math:`o` and out-of-range pixels
    read as zero. Output size per spatial dimension:

    .. math::

        H_\text{out} = \left\lfloor \frac{H + 2p_h - d_h(k_h - 1) - 1}{s_h} \right\rfloor + 1.

    The backward is :func:`scratchnet.functional.conv2d`'s; the weight gradient sums
    every position and sample the kernel was applied at.

    Parameters
    ----------
    in_channels, out_channels : int
    kernel_size : int or (int, int)
    stride : int or (int, int), default 1
    padding : int, (int, int), 'valid' or 'same', default 0
        ``'same'`` keeps the spatial size (stride must be 1; any odd total padding
        goes to the bottom/right, as torch).
    dilation : int or (int, int), default 1
    groups : int, default 1
        Both channel counts must be divisible by it.
    bias : bool, default True
    padding_mode : 'zeros'
        The only supported mode; torch's 'reflect', 'replicate' and 'circular' raise.
    device : None or 'cpu'
    dtype : float32 (default) or float64
    generator : numpy.random.Generator, optional

    Attributes
    ----------
    weight : Parameter, shape ``(out_channels, in_channels // groups, *kernel_size)``
        Initialised from :math:`\mathcal{U}(-1/\sqrt{\text{fan\_in}}, 1/\sqrt{\text{fan\_in}})`,
        :math:`\text{fan\_in} = (C_\text{in}/g)\,k_h k_w`.
    bias : Parameter, shape ``(out_channels,)``, or None
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, padding_mode="zeros", device=None, dtype=None, *, generator=None):
        super().__init__()
        check_device(device, "Conv2d")
        dtype = resolve_dtype(dtype, "Conv2d")
        in_channels = check_size(in_channels, "in_channels", "Conv2d")
        out_channels = check_size(out_channels, "out_channels", "Conv2d")
        kernel_size = pair("Conv2d", "kernel_size", kernel_size, allow_zero=False)
        stride = pair("Conv2d", "stride", stride, allow_zero=False)
        dilation = pair("Conv2d", "dilation", dilation, allow_zero=False)
        if not is_int(groups) or groups <= 0:
            raise ValueError("groups must be a positive integer")
        if in_channels % groups != 0:
            raise ValueError("in_channels must be divisible by groups")
        if out_channels % groups != 0:
            raise ValueError("out_channels must be divisible by groups")
        if isinstance(padding, str):
            valid_padding_strings = {"same", "valid"}
            if padding not in valid_padding_strings:
                raise ValueError(
                    f"Invalid padding string {padding!r}, should be one of {valid_padding_strings}"
                )
            if padding == "same" and any(s != 1 for s in stride):
                raise ValueError("padding='same' is not supported for strided convolutions")
        else:
            padding = pair("Conv2d", "padding", padding)
        valid_padding_modes = {"zeros", "reflect", "replicate", "circular"}
        if padding_mode not in valid_padding_modes:
            raise ValueError(
                f"padding_mode must be one of {valid_padding_modes}, but got padding_mode='{padding_mode}'"
            )
        if padding_mode != "zeros":
            raise ValueError(
                f"Conv2d: padding_mode={padding_mode!r} is not supported by scratchnet, only 'zeros'; "
                f"pad the input yourself (np.pad(x, ..., mode=...)) and use padding=0"
            )
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        self.transposed = False
        self.output_padding = (0, 0)
        self.groups = int(groups)
        self.padding_mode = padding_mode
        init.add_weight_and_bias(self, (out_channels, in_channels // self.groups, *kernel_size), bias, dtype)
        self.reset_parameters(generator=generator)

    def reset_parameters(self, generator=None) -> None:
        """Re-draw weight and bias from torch's default distributions."""
        init.reset_weight_and_bias_(self.weight, self.bias, generator=generator)

    def forward(self, input):
        return self._call_functional(F.conv2d, input, self.weight, self.bias, self.stride,
                                     self.padding, self.dilation, self.groups)

    def extra_repr(self) -> str:
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0,) * len(self.padding):
            s += f", padding={self.padding}"
        if self.dilation != (1,) * len(self.dilation):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        return s
