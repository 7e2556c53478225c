"""LeNet-5 (LeCun et al., 1998), with the full C3 and with LeCun's sparse C3 table."""
from __future__ import annotations

from collections import OrderedDict
from typing import Sequence

import numpy as np

from .. import nn
from ..checks import check_size, pair, resolve_dtype
from ..functional.sparse_conv import check_table, sparse_conv2d

#: Table I of LeCun et al. (1998): the S2 feature maps (0-5) each C3 map (0-15) sees.
#: Maps 0-5 see three contiguous maps, 6-11 four contiguous ones, 12-14 four
#: non-contiguous ones and map 15 all six. Breaking the symmetry this way forces the
#: maps to extract different features, and cuts C3 from 2,416 to 1,516 parameters.
LECUN_C3_TABLE = (
    (0, 1, 2), (1, 2, 3), (2, 3, 4), (3, 4, 5), (4, 5, 0), (5, 0, 1),
    (0, 1, 2, 3), (1, 2, 3, 4), (2, 3, 4, 5), (3, 4, 5, 0), (4, 5, 0, 1), (5, 0, 1, 2),
    (0, 1, 3, 4), (1, 2, 4, 5), (0, 2, 3, 5),
    (0, 1, 2, 3, 4, 5),
)


class SparseConv2d(nn.Module):
    r"""A convolution in which output map :math:`j` reads only the input maps ``table[j]``.

    The layer of :func:`scratchnet.functional.sparse_conv.sparse_conv2d` (the math, the packed
    weight layout and the backward are there):

    .. math::

        y_j = b_j + \sum_{c \in T_j} w_{j,c} \star x_c .

    Parameters
    ----------
    in_channels : int
    kernel_size : int or (int, int)
    table : sequence of sequences of int
        ``table[j]``: the distinct input maps output map ``j`` sees.
    stride, padding, dilation : as ``Conv2d``, shared by every map
    bias : bool, default True
    dtype : float32 (default) or float64
    generator : numpy.random.Generator, optional

    Attributes
    ----------
    weight : Parameter, shape ``(n_connections, kH, kW)``
        One kernel per connection :math:`(j, c)`, in table order. Output map
        :math:`j`'s kernels are drawn as torch's default init of a ``Conv2d(len(table[j]),
        1, kernel_size)`` (fan-in :math:`|T_j| k_h k_w`), weight then bias, map by map.
    bias : Parameter, shape ``(len(table),)``, or None

    Shapes
    ------
    input ``(N, in_channels, H, W)`` or ``(in_channels, H, W)``; output
    ``(N, len(table), H_out, W_out)`` (or unbatched), ``H_out`` and ``W_out`` as ``Conv2d``'s.
    """

    def __init__(self, in_channels: int, kernel_size, table: Sequence[Sequence[int]], stride=1,
                 padding=0, dilation=1, bias: bool = True, *, dtype=None, generator=None):
        super().__init__()
        dtype = resolve_dtype(dtype, "SparseConv2d")
        self.in_channels = check_size(in_channels, "in_channels", "SparseConv2d", minimum=1)
        self.table = check_table("SparseConv2d", self.in_channels, table)
        self.kernel_size = pair("SparseConv2d", "kernel_size", kernel_size, allow_zero=False)
        self.stride = pair("SparseConv2d", "stride", stride, allow_zero=False)
        self.padding = padding if isinstance(padding, str) else pair("SparseConv2d", "padding", padding)
        self.dilation = pair("SparseConv2d", "dilation", dilation, allow_zero=False)
        n_connections = sum(len(inputs) for inputs in self.table)
        self.weight = nn.Parameter(np.empty((n_connections, *self.kernel_size), dtype=dtype))
        if bias:
            self.bias = nn.Parameter(np.empty(len(self.table), dtype=dtype))
        else:
            self.register_parameter("bias", None)
        start = 0
        for j, inputs in enumerate(self.table):
            kernels = self.weight.data[start:start + len(inputs)][None]  # a (1, |T_j|, kH, kW) view
            nn.init.reset_weight_and_bias_(kernels, self.bias.data[j:j + 1] if bias else None,
                                           generator=generator)
            start += len(inputs)

    def forward(self, input):
        return self._call_functional(sparse_conv2d, input, self.weight, self.bias, self.table,
                                     self.stride, self.padding, self.dilation)

    def extra_repr(self) -> str:
        return f"in_channels={self.in_channels}, out_channels={len(self.table)}"


class LeNet5(nn.Sequential):
    r"""LeNet-5 for 28x28 MNIST digits (padded by 2 to LeNet's 32x32), tanh throughout.

    ::

        (N, 1, 28, 28)  c1 conv 5x5 pad 2 -> (N, 6, 28, 28)  tanh  p2 avgpool 2 -> (N, 6, 14, 14)  tanh
                        c3 conv 5x5       -> (N, 16, 10, 10) tanh  p4 avgpool 2 -> (N, 16, 5, 5)   tanh
                        flatten -> (N, 400)  c5 -> 120 tanh  f6 -> 84 tanh  f7 -> 10 logits

    Trained with ``CrossEntropyLoss``. The homework's C5 is a ``Linear(400, 120)``:
    on a 5x5 input a 5x5 convolution *is* a fully connected layer. The subsampling
    layers are plain average pools followed by tanh (LeCun's had a trainable
    coefficient and bias per map).

    Parameters
    ----------
    c3 : {'full', 'lecun'}, default 'full'
        ``'full'``: C3 is a ``Conv2d(6, 16, 5)``; 61,706 parameters in all.
        ``'lecun'``: C3 is a :class:`SparseConv2d` with :data:`LECUN_C3_TABLE`;
        60,806 parameters.
    dtype : float32 (default) or float64
    generator : numpy.random.Generator, optional

    Parameters are named ``c1.*, c3.*, c5.*, f6.*, f7.*``.
    """

    def __init__(self, c3: str = "full", *, dtype=None, generator=None):
        kw = dict(dtype=dtype, generator=generator)
        if c3 == "full":
            conv3 = nn.Conv2d(6, 16, kernel_size=5, **kw)
        elif c3 == "lecun":
            conv3 = SparseConv2d(6, 5, LECUN_C3_TABLE, **kw)
        else:
            raise ValueError(f"LeNet5: c3 must be 'full' or 'lecun', got {c3!r}")
        super().__init__(OrderedDict([
            ("c1", nn.Conv2d(1, 6, kernel_size=5, padding=2, **kw)), ("tanh1", nn.Tanh()),
            ("p2", nn.AvgPool2d(2)), ("tanh2", nn.Tanh()),
            ("c3", conv3), ("tanh3", nn.Tanh()),
            ("p4", nn.AvgPool2d(2)), ("tanh4", nn.Tanh()),
            ("flatten", nn.Flatten()),
            ("c5", nn.Linear(400, 120, **kw)), ("tanh5", nn.Tanh()),
            ("f6", nn.Linear(120, 84, **kw)), ("tanh6", nn.Tanh()),
            ("f7", nn.Linear(84, 10, **kw)),
        ]))
