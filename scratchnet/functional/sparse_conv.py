r"""Sparsely connected 2-D convolution: LeNet-5's C3, where each output map sees some input maps.

A connection table :math:`T` lists, for every output map :math:`j`, the input maps
:math:`T_j` it reads. Output map :math:`j` is an ordinary convolution of those maps,

.. math::

    y_{n,j} = b_j + \sum_{c \in T_j} w_{j,c} \star x_{n,c},

with one :math:`k_h \times k_w` kernel :math:`w_{j,c}` per *connection* :math:`(j, c)`.
The kernels are stored packed, as Torch7's ``SpatialConvolutionMap`` stores them:
``weight[t]`` is the kernel of the :math:`t`-th connection in table order (output
map 0's :math:`|T_0|` kernels first, in the order ``T_0`` lists its inputs, then
output map 1's, ...). LeCun's C3 (Table I of LeCun et al., 1998) has 60 connections,
so ``weight`` is ``(60, 5, 5)``: 1,500 weights and 16 biases instead of the full
convolution's 2,400 and 16.

:func:`sparse_conv2d_naive` is the definition run literally, one :func:`~.conv.conv2d`
per output map over the input maps it reads; :func:`sparse_conv2d` computes the same
numbers input map by input map, on one :func:`~.conv.im2col` of the whole input. A tuned
kernel with the same contract, :mod:`scratchnet.functional.fast.sparse_conv`, runs by
default and is tested equal to it.
"""
from __future__ import annotations

import numpy as np

from ..checks import as_float_array, is_int, pair, same_dtype, shape_str
from ._vjp import differentiable, vjp
from ._windows import batched
from .conv import _parse_padding, _window_geometry, col2im, conv2d, im2col


@differentiable
def sparse_conv2d_naive(input, weight, bias, table, stride=1, padding=0, dilation=1):
    r"""Reference :func:`sparse_conv2d`: one :func:`~.conv.conv2d` per output map, concatenated.

    Output map :math:`j` convolves ``input[:, T_j]`` with its kernels
    ``weight[t_j : t_j + |T_j|]`` as one ``(1, |T_j|, kH, kW)`` filter, where
    :math:`t_j = \sum_{i<j} |T_i|`. Backward runs each map's convolution backward on
    its slice of :math:`G`, and adds each map's input gradient into the input maps it
    read: a map read by several outputs collects several contributions,

    .. math::

        \frac{\partial L}{\partial x_{n,c}} = \sum_{j \,:\, c \in T_j}
            \frac{\partial y_{n,j}}{\partial x_{n,c}}^{\!\top} G_{n,j}.

    Same signature, semantics and checks as :func:`sparse_conv2d`; written to be
    read and to serve as its oracle.
    """
    x4, unbatched, w, b, table, geo = _setup("sparse_conv2d_naive", input, weight, bias, table,
                                             stride, padding, dilation)
    starts = np.cumsum([0] + [len(inputs) for inputs in table])
    outs, backwards = [], []
    for j, inputs in enumerate(table):
        w_j = w[None, starts[j]:starts[j + 1]]
        b_j = None if b is None else b[j:j + 1]
        out_j, backward_j = vjp(conv2d, x4[:, list(inputs)], w_j, b_j,
                                stride=stride, padding=padding, dilation=dilation)
        outs.append(out_j)
        backwards.append(backward_j)
    out = np.concatenate(outs, axis=1)

    def backward(grad_out):
        g = grad_out[None] if unbatched else grad_out
        grad_x = np.zeros(x4.shape, dtype=x4.dtype)
        grad_w = np.empty(w.shape, dtype=w.dtype)
        grad_b = None if b is None else np.empty(b.shape, dtype=b.dtype)
        for j, (inputs, backward_j) in enumerate(zip(table, backwards)):
            gx_j, gw_j, gb_j = backward_j(g[:, j:j + 1])
            grad_x[:, list(inputs)] += gx_j  # inputs are distinct: each added once
            grad_w[starts[j]:starts[j + 1]] = gw_j[0]
            if grad_b is not None:
                grad_b[j] = gb_j[0]
        grads = {"input": grad_x[0] if unbatched else grad_x, "weight": grad_w}
        if grad_b is not None:
            grads["bias"] = grad_b
        return grads

    return (out[0] if unbatched else out), backward


@differentiable(honors_needs_input_grad=True, fresh_grads=True)
def sparse_conv2d(input, weight, bias, table, stride=1, padding=0, dilation=1):
    r"""2-D convolution in which output map :math:`j` reads only the input maps ``table[j]``.

    .. math::

        y_{n,j,p,q} = b_j + \sum_{c \in T_j} \sum_{a,b} w_{t(j,c),a,b}\;
            x^{\text{pad}}_{n,c,\; p s_h + a d_h,\; q s_w + b d_w},

    :math:`t(j, c)` being the index of connection :math:`(j, c)` in table order (see
    the module docstring). Output size as :func:`~.conv.conv2d`'s.

    Computed input map by input map: the windows of every input map are gathered
    once (im2col, :math:`X_c` the :math:`k_h k_w \times N H_o W_o` block of map
    :math:`c`), and with :math:`J_c = \{j : c \in T_j\}` the output maps that read
    map :math:`c` and :math:`W_c` the :math:`|J_c| \times k_h k_w` matrix of their
    kernels for it, with :math:`G = \partial L/\partial y`,

    .. math::

        Y_{J_c} \mathrel{+}= W_c X_c, \qquad
        \frac{\partial L}{\partial W_c} = G_{J_c} X_c^\top, \qquad
        \frac{\partial L}{\partial X_c} = W_c^\top G_{J_c}, \qquad
        \frac{\partial L}{\partial b_j} = \sum_{n,p,q} G_{n,j,p,q},

    one product per input map, each summing over connected pairs only: no zero
    kernel stands in for a missing connection, so a non-finite value in a map that
    an output does not read cannot reach it as :math:`0 \cdot \infty`. The input
    gradient is then one col2im of the :math:`\partial L/\partial X_c`.

    Parameters
    ----------
    input : ndarray, shape ``(N, C_in, H, W)`` or unbatched ``(C_in, H, W)``
        float32 or float64. ``N = 0`` is allowed.
    weight : ndarray, shape ``(n_connections, kH, kW)``
        One kernel per connection, in table order; ``n_connections = sum(len(t) for
        t in table)``. Same dtype as ``input``.
    bias : ndarray, shape ``(len(table),)``, or None
    table : sequence of sequences of int
        ``table[j]``: the distinct input maps, in ``[0, C_in)``, that output map
        ``j`` reads. At least one output map, each reading at least one input map.
    stride : int or (int, int)
    padding : int, (int, int), ``'valid'`` or ``'same'``
    dilation : int or (int, int)
        As :func:`~.conv.conv2d`'s, shared by every output map.

    Returns
    -------
    ndarray, shape ``(N, len(table), H_out, W_out)`` (or unbatched), dtype of ``input``

    Raises
    ------
    TypeError
        Non-float arrays, mismatched dtypes, or a table that is not a sequence of
        sequences of ints.
    ValueError
        A weight that is not 3-D or has the wrong number of kernels, a bias of the
        wrong shape, an empty table or row, a row naming a map twice or a map the
        input does not have, and any bad stride, padding or dilation
        (:func:`~.conv.conv2d`'s rules).

    Examples
    --------
    Two input maps; output map 0 reads map 0, output map 1 reads both. With 1x1
    kernels 2, 1 and 10 (connections (0, 0), (1, 0), (1, 1)):

    >>> import numpy as np
    >>> x = np.array([[[[1.0]], [[3.0]]]])             # (N, C_in, H, W) = (1, 2, 1, 1)
    >>> w = np.array([[[2.0]], [[1.0]], [[10.0]]])     # 3 connections, 1x1 kernels
    >>> sparse_conv2d(x, w, None, [(0,), (0, 1)])[0, :, 0, 0]
    array([ 2., 31.])

    LeNet-5's C3 on the 6 maps of S2:

    >>> from scratchnet.models import LECUN_C3_TABLE
    >>> w = np.zeros((60, 5, 5), np.float32)
    >>> sparse_conv2d(np.zeros((64, 6, 14, 14), np.float32), w, None, LECUN_C3_TABLE).shape
    (64, 16, 10, 10)
    """
    x4, unbatched, w, b, table, geo = _setup("sparse_conv2d", input, weight, bias, table,
                                             stride, padding, dilation)
    n, channels = x4.shape[:2]
    n_maps = len(table)
    taps = geo.kernel[0] * geo.kernel[1]
    ho, wo = geo.out_hw
    m = n * ho * wo  # X_col's columns (n, i, j)
    readers = _readers(table, channels)
    w_rows = w.reshape(len(w), taps)  # connection t's kernel is row t
    x_col = im2col(x4, geo).reshape(channels, taps, m)  # X_c = x_col[c]

    y = np.zeros((n_maps, m), dtype=x4.dtype)
    for c, (maps, connections) in enumerate(readers):
        if len(maps):
            y[maps] += w_rows[connections] @ x_col[c]
    if b is not None:
        y += b[:, None]
    out = y.reshape(n_maps, n, ho, wo).transpose(1, 0, 2, 3)

    def backward(grad_out, needs_input_grad=True):
        g = grad_out[None] if unbatched else grad_out
        g_mat = g.transpose(1, 0, 2, 3).reshape(n_maps, m)  # G as Y's matrix
        grad_w = np.empty(w_rows.shape, dtype=w.dtype)  # every connection is written once below
        dx_col = np.zeros(x_col.shape, dtype=x4.dtype) if needs_input_grad else None
        for c, (maps, connections) in enumerate(readers):
            if len(maps) == 0:
                continue
            g_maps = g_mat[maps]
            grad_w[connections] = g_maps @ x_col[c].T
            if needs_input_grad:
                dx_col[c] = w_rows[connections].T @ g_maps
        grads = {"weight": grad_w.reshape(w.shape)}
        if needs_input_grad:
            grad_x = col2im(dx_col.reshape(channels * taps, m), geo, x4.shape)
            grads["input"] = grad_x[0] if unbatched else grad_x
        if b is not None:
            grads["bias"] = g_mat.sum(axis=1)
        return grads

    return (out[0] if unbatched else out), backward


def check_table(op: str, in_channels: int, table) -> tuple:
    """Validate a connection table for ``in_channels`` input maps; return it as tuples of ints.

    Every output map must read at least one input map, each at most once and each
    in ``[0, in_channels)``; there must be at least one output map.
    """
    try:
        rows = tuple(tuple(row) for row in table)
    except TypeError:
        raise TypeError(f"{op}: table must be a sequence of sequences of ints, got {table!r}") from None
    for row in rows:
        if not all(is_int(i) for i in row):
            raise TypeError(f"{op}: table must be a sequence of sequences of ints, got row {row!r}")
    rows = tuple(tuple(int(i) for i in row) for row in rows)
    if len(rows) == 0:
        raise ValueError(f"{op}: the connection table needs at least one output map")
    for j, inputs in enumerate(rows):
        if len(inputs) == 0 or len(set(inputs)) != len(inputs) or not all(
                0 <= i < in_channels for i in inputs):
            raise ValueError(
                f"{op}: output map {j} must see distinct input maps in [0, {in_channels}), "
                f"got {inputs}"
            )
    return rows


def _setup(op, input, weight, bias, table, stride, padding, dilation):
    """Validate a sparse_conv2d call; return the 4-D input, the arrays, the table and the windows."""
    x = as_float_array(op, "input", input)
    w = as_float_array(op, "weight", weight)
    b = None if bias is None else as_float_array(op, "bias", bias)
    same_dtype(op, input=x, weight=w, bias=b)
    x4, unbatched = batched(op, x)
    try:
        table = check_table(op, x4.shape[1], table)
    except ValueError as exc:
        raise ValueError(f"{exc} (input of shape {shape_str(x.shape)})") from None
    n_connections = sum(len(inputs) for inputs in table)
    if w.ndim != 3 or w.shape[0] != n_connections:
        raise ValueError(
            f"{op}: weight must be 3-D (n_connections, kH, kW) with one kernel per connection "
            f"of the table, ({n_connections}, kH, kW) here, got {shape_str(w.shape)}"
        )
    if b is not None and b.shape != (len(table),):
        raise ValueError(
            f"{op}: bias must have shape ({len(table)},), one per output map of the table, "
            f"got {shape_str(b.shape)}"
        )
    kernel = pair(op, "kernel_size", w.shape[1:], allow_zero=False)
    stride = pair(op, "stride", stride, allow_zero=False)
    dilation = pair(op, "dilation", dilation, allow_zero=False)
    pad = _parse_padding(op, padding, kernel, stride, dilation)
    geo = _window_geometry(op, x, x4, kernel, stride, dilation, pad,
                           f"input {shape_str(x.shape)}, weight {shape_str(w.shape)}, padding {padding!r}")
    return x4, unbatched, w, b, table, geo


def _readers(table: tuple, in_channels: int) -> tuple:
    """For each input map ``c``: the output maps that read it and the index of each connection.

    ``(maps, connections)`` as index arrays, e.g. for LeCun's table input map 0 is
    read by output maps 0, 4, 5, ... through connections 0, 14, 16, ...
    """
    starts = np.cumsum([0] + [len(inputs) for inputs in table])
    result = []
    for c in range(in_channels):
        maps = [j for j, inputs in enumerate(table) if c in inputs]
        connections = [starts[j] + table[j].index(c) for j in maps]
        result.append((np.array(maps, dtype=np.intp), np.array(connections, dtype=np.intp)))
    return tuple(result)
