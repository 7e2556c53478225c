"""LeNet-5 (LeCun et al., 1998), with the full C3 and with LeCun's sparse C3 table."""
from __future__ import annotations

from collections import OrderedDict
from typing import Sequence

import numpy as np

from .. import nn
from ..functional._checks import as_float_array, shape_str

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


def check_table(where: str, in_channels: int, table) -> None:
    """A connection table must name, for every output map, distinct valid input maps."""
    if len(table) == 0:
        raise ValueError(f"{where}: the connection table needs at least one output map")
    for j, inputs in enumerate(table):
        if len(inputs) == 0 or len(set(inputs)) != len(inputs) or not all(
            0 <= i < in_channels for i in inputs
        ):
            raise ValueError(
                f"{where}: output map {j} must see distinct input maps in [0, {in_channels}), "
                f"got {tuple(inputs)}"
            )


class SparseConv2d(nn.Module):
    r"""A convolution in which each output map sees only some input maps.

    Output map :math:`j` is an ordinary convolution of the input maps listed in
    ``table[j]``:

    .. math::

        y_j = b_j + \sum_{c \in T_j} w_{j,c} \star x_c,

    implemented literally as one ``Conv2d(len(table[j]), 1, kernel_size)`` per output
    map, the results concatenated along the channel axis. Its backward splits
    ``grad_out`` by map, runs each convolution's backward and adds each result into
    the gradient of the input maps it read (a map read by several outputs collects
    several contributions).

    Children are named ``0, 1, ...``, so the parameters are ``<j>.weight`` of shape
    ``(1, len(table[j]), k, k)`` and ``<j>.bias`` of shape ``(1,)`` — ``c3.0.weight``
    inside LeNet-5.

    Parameters
    ----------
    in_channels : int
    kernel_size : int or (int, int)
    table : sequence of sequences of int
        ``table[j]``: the input maps output map ``j`` sees (distinct, in range).
    stride, padding, dilation : as ``Conv2d``, shared by every map
    bias : bool, default True
    dtype : float32 (default) or float64
    generator : numpy.random.Generator, optional
        Each map's convolution gets torch's default init for its own fan-in.

    Shapes
    ------
    input ``(N, in_channels, H, W)`` or ``(in_channels, H, W)``; output
    ``(N, len(table), H_out, W_out)`` (or unbatched), ``H_out`` and ``W_out`` as ``Conv2d``'s.
    """

    def __init__(self, in_channels: int, kernel_size, table: Sequence[Sequence[int]], stride=1,
                 padding=0, dilation=1, bias: bool = True, *, dtype=None, generator=None):
        super().__init__()
        self.in_channels = int(in_channels)
        self.table = tuple(tuple(int(i) for i in row) for row in table)
        check_table("SparseConv2d", self.in_channels, self.table)
        for j, inputs in enumerate(self.table):
            self.add_module(str(j), nn.Conv2d(len(inputs), 1, kernel_size, stride=stride, padding=padding,
                                              dilation=dilation, bias=bias, dtype=dtype, generator=generator))

    def __getitem__(self, j: int) -> nn.Conv2d:
        return self._modules[str(j)]

    def __len__(self) -> int:
        return len(self.table)

    def forward(self, input):
        x = as_float_array("SparseConv2d", "input", input)
        if x.ndim not in (3, 4) or x.shape[-3] != self.in_channels:
            raise ValueError(
                f"SparseConv2d: expected input of shape (N, {self.in_channels}, H, W) or "
                f"({self.in_channels}, H, W), got {shape_str(x.shape)}"
            )
        outs, steps = [], []
        for conv, inputs in zip(self.children(), self.table):
            outs.append(conv(np.take(x, inputs, axis=-3)))
            steps.append(conv._grad_fn)  # this call's backward, captured now
        out = np.concatenate(outs, axis=-3)
        if not nn.is_grad_enabled():
            self._clear_grad_fn("no_grad")
            return out

        table = self.table

        def grad_fn(grad_out):
            grad_in = np.zeros(x.shape, dtype=grad_out.dtype)
            for j, (step, inputs) in enumerate(zip(steps, table)):
                # inputs are distinct, so fancy-index += adds each contribution once
                grad_in[..., inputs, :, :] += step(grad_out[..., j:j + 1, :, :])
            return grad_in

        self._set_grad_fn(grad_fn, out)
        return out

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

    Parameters are named ``c1.*, c3.*, c5.*, f6.*, f7.*`` (``c3.<j>.*`` when sparse).
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
