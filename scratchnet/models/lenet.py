"""LeNet-5 (LeCun et al., 1998), with the full C3 and with LeCun's sparse C3 table."""
from __future__ import annotations

from collections import OrderedDict
from typing import Sequence

import numpy as np

from .. import nn
from ..functional import conv as _conv
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
        # For each input map c: the output maps that read it, and where c sits in
        # each one's weight. Fixed by the table, so derived once here.
        self._readers = tuple(
            tuple((j, inputs.index(c)) for j, inputs in enumerate(self.table) if c in inputs)
            for c in range(self.in_channels)
        )
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
        fast = self._channelwise(x)
        if fast is not None:
            return fast
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

    def _channelwise(self, x: np.ndarray):
        r"""The same convolution computed input map by input map; ``None`` where it does not apply.

        The literal forward above gathers the windows of each output map's inputs
        separately (60 channel gathers for LeNet's table instead of 6) and runs 16
        one-row products. Here the windows of every input map are gathered once
        (``im2col``, rows :math:`(c, a, b)`), and for input map :math:`c`, read by the
        output maps :math:`J_c = \{j : c \in T_j\}` with kernels :math:`w_{j,c}`,

        .. math::

            Y_{J_c} \mathrel{+}= W_c X_c, \qquad
            \frac{\partial L}{\partial W_c} = G_{J_c} X_c^\top, \qquad
            \frac{\partial L}{\partial X_c} = W_c^\top G_{J_c},

        one product per input map, each summing only over connected pairs (no zero
        weights standing in for missing connections, so an infinite value in a map
        an output does not read cannot leak into it as :math:`0 \cdot \infty`).
        The input gradient is then one ``col2im``.

        The per-map path runs instead when hooks are registered on the per-map
        convolutions (they observe each map's call) and for inputs the per-map
        convolutions reject, so that their errors are reported as before.
        """
        convs = list(self.children())
        first = convs[0]
        if any(c._forward_pre_hooks or c._forward_hooks for c in convs):
            return None
        settings = {(c.kernel_size, c.stride, c.padding, c.dilation, c.groups) for c in convs}
        if len(settings) != 1 or first.groups != 1:  # maps reconfigured one by one
            return None
        weights = [c.weight.data for c in convs]
        biases = [None if c.bias is None else c.bias.data for c in convs]
        if any(w.dtype != x.dtype for w in weights) or any(
                b is not None and b.dtype != x.dtype for b in biases):
            return None
        kh, kw = first.kernel_size
        try:
            x4, unbatched, _, _, geo = _conv._setup(
                "conv2d", x, np.empty((1, self.in_channels, kh, kw), dtype=x.dtype), None,
                first.stride, first.padding, first.dilation, 1)
        except (TypeError, ValueError):
            return None
        n, taps = x4.shape[0], kh * kw
        ho, wo = geo.out_hw
        n_maps = len(self.table)
        readers = self._readers
        cols = _conv._im2col(x4, geo, 1).reshape(self.in_channels, taps, ho * wo * n)  # X_c = cols[c]
        # W_c, shape (|J_c|, kh*kw), built once and shared by forward and backward.
        w_blocks = [np.stack([weights[j][0, k].reshape(taps) for j, k in maps]) if maps else None
                    for maps in readers]

        y = np.zeros((n_maps, cols.shape[-1]), dtype=x.dtype)
        for c, maps in enumerate(readers):
            if maps:
                y[[j for j, _ in maps]] += w_blocks[c] @ cols[c]
        for j, b in enumerate(biases):
            if b is not None:
                y[j] += b
        # (maps, Ho, Wo, N) memory as an (N, maps, Ho, Wo) array, as conv2d returns it.
        out = y.reshape(n_maps, ho, wo, n).transpose(3, 0, 1, 2)
        result = out[0] if unbatched else out
        if not nn.is_grad_enabled():
            self._clear_grad_fn("no_grad")
            return result

        def grad_fn(grad_out):
            g = grad_out[None] if unbatched else grad_out
            g_cols = np.ascontiguousarray(g.transpose(1, 2, 3, 0)).reshape(n_maps, ho * wo * n)
            grad_w = [np.empty_like(w) for w in weights]
            dcols = np.empty((self.in_channels, taps, g_cols.shape[1]), dtype=g.dtype)
            for c, maps in enumerate(readers):
                if not maps:
                    dcols[c] = 0
                    continue
                g_maps = g_cols[[j for j, _ in maps]]
                np.matmul(w_blocks[c].T, g_maps, out=dcols[c])
                for (j, k), gw in zip(maps, g_maps @ cols[c].T):
                    grad_w[j][0, k] = gw.reshape(kh, kw)
            grad_b = g_cols.sum(axis=1)
            for j, conv in enumerate(convs):
                if conv.weight.requires_grad:
                    conv.weight.accumulate_grad(grad_w[j])
                if conv.bias is not None and conv.bias.requires_grad:
                    conv.bias.accumulate_grad(grad_b[j:j + 1])
            # The row count is spelled out: reshape(1, -1, 0) cannot infer it (empty batch).
            grad_x = _conv._col2im(dcols.reshape(1, self.in_channels * taps, dcols.shape[-1]),
                                   geo, n, self.in_channels)
            return grad_x[0] if unbatched else grad_x

        self._set_grad_fn(grad_fn, result)
        return result

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
