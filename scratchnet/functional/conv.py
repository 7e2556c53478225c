r"""2-D convolution (cross-correlation, as torch): im2col + one GEMM, and a naive oracle.

Deep-learning "convolution" is a cross-correlation. With input :math:`x` of shape
:math:`(N, C, H, W)`, weight :math:`w` of shape :math:`(O, C/g, k_h, k_w)` and
:math:`g` groups (output channel :math:`o` sees only the input channels of its group),

.. math::

    y_{n,o,i,j} = b_o + \sum_{c,a,b} w_{o,c,a,b}\;
        x^{\text{pad}}_{n,\, c + \lfloor o/(O/g) \rfloor C/g,\; i s_h + a d_h,\; j s_w + b d_w}.

**im2col.** Gather every window into a column: the :math:`K = (C/g) k_h k_w` numbers
one output pixel reads become a column of :math:`X_\text{col} \in \mathbb{R}^{K
\times N H_o W_o}`, and the whole layer is one matrix product per group,
:math:`Y = W_\text{mat} X_\text{col}` with :math:`W_\text{mat} \in \mathbb{R}^{O/g
\times K}`. Backward is then two more GEMMs and a scatter:

.. math::

    \frac{\partial L}{\partial W_\text{mat}} = G\,X_\text{col}^\top, \qquad
    \frac{\partial L}{\partial X_\text{col}} = W_\text{mat}^\top G, \qquad
    \frac{\partial L}{\partial b_o} = \sum_{n,i,j} G_{n,o,i,j},

and col2im adds each column of :math:`\partial L/\partial X_\text{col}` back onto the
input pixels it was gathered from: the weight gradient is the correlation of the
input with the upstream gradient, the input gradient (for stride 1) the full
correlation of the upstream gradient with the flipped kernel; for stride > 1 the
upstream gradient is first dilated with zeros between its entries.

:func:`conv2d_naive`, plain loops over samples, channels and pixels, is the version
to read and the oracle; :func:`conv2d` computes the same numbers with im2col and one
GEMM (its column layout, batch-innermost, is described at :func:`_im2col`); the
private helpers come last.
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ..checks import as_float_array, is_int, pair, same_dtype, shape_str
from ._vjp import differentiable
from ._windows import WindowGeometry, batched, conv_output_size, memo_get, memo_key, memo_put


@differentiable(fresh_grads=True)
def conv2d_naive(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    r"""Reference :func:`conv2d`: plain loops over samples, output channels and pixels.

    Same signature, semantics and checks as :func:`conv2d`, written CS231n style to
    be read (and to serve as the oracle of the fast version), not to be fast. Each
    output pixel is the sum of its window times the filter; backward visits the same
    windows and sends :math:`G_{n,o,i,j}` back along each of them:

    .. math::

        \partial x^{\text{pad}}_{n,\text{window}(i,j)} \mathrel{+}= G_{n,o,i,j}\, w_o,
        \qquad \partial w_o \mathrel{+}= G_{n,o,i,j}\, x^{\text{pad}}_{n,\text{window}(i,j)},
        \qquad \partial b_o \mathrel{+}= G_{n,o,i,j}.

    Returns
    -------
    ndarray, shape ``(N, C_out, H_out, W_out)`` (or unbatched), dtype of ``input``
    """
    x, unbatched, w, b, geo = _setup("conv2d_naive", input, weight, bias, stride, padding,
                                     dilation, groups)
    n_batch, channels = x.shape[:2]
    out_channels, cg, kh, kw = w.shape
    og = out_channels // groups
    (sh, sw), (dh, dw), (ho, wo) = geo.stride, geo.dilation, geo.out_hw
    xp = geo.pad_input(x, 0)

    def window(i, j):
        """Rows and columns of the padded input that output pixel (i, j) reads."""
        return (slice(i * sh, i * sh + dh * (kh - 1) + 1, dh),
                slice(j * sw, j * sw + dw * (kw - 1) + 1, dw))

    out = np.zeros((n_batch, out_channels, ho, wo), dtype=x.dtype)
    for n in range(n_batch):
        for o in range(out_channels):
            group = slice(o // og * cg, (o // og + 1) * cg)
            for i in range(ho):
                for j in range(wo):
                    rows, cols = window(i, j)
                    out[n, o, i, j] = np.sum(xp[n, group, rows, cols] * w[o])
            if b is not None:
                out[n, o] += b[o]

    def backward(grad_out):
        g = grad_out[None] if unbatched else grad_out
        dxp = np.zeros(xp.shape, dtype=x.dtype)
        dw_ = np.zeros(w.shape, dtype=w.dtype)
        # The forward's loops again, a deliberate near-copy: each term the forward summed
        # sends its gradient back to the same window.
        for n in range(n_batch):
            for o in range(out_channels):
                group = slice(o // og * cg, (o // og + 1) * cg)
                for i in range(ho):
                    for j in range(wo):
                        rows, cols = window(i, j)
                        dxp[n, group, rows, cols] += g[n, o, i, j] * w[o]
                        dw_[o] += g[n, o, i, j] * xp[n, group, rows, cols]
        dx = geo.crop(dxp)
        grads = {"input": dx[0] if unbatched else dx, "weight": dw_}
        if b is not None:
            grads["bias"] = g.sum(axis=(0, 2, 3))
        return grads

    return (out[0] if unbatched else out), backward


@differentiable(honors_needs_input_grad=True, fresh_grads=True)
def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    r"""2-D convolution (cross-correlation) over a batch of multi-channel images.

    .. math::

        y_{n,o,i,j} = b_o + \sum_{c=0}^{C/g-1} \sum_{a=0}^{k_h-1} \sum_{b=0}^{k_w-1}
            w_{o,c,a,b}\; x^{\text{pad}}_{n,\; \gamma(o) C/g + c,\; i s_h + a d_h,\; j s_w + b d_w},

    with :math:`\gamma(o) = \lfloor o / (O/g) \rfloor` the group of output channel
    :math:`o`, and output size per spatial dimension

    .. math::

        H_\text{out} = \Big\lfloor \frac{H + 2p - d(k-1) - 1}{s} \Big\rfloor + 1 .

    Computed as im2col and one GEMM per group (a single one for ``groups=1``); see
    :func:`_im2col` for the batch-innermost column layout.

    Backward, with upstream gradient :math:`G = \partial L/\partial y`:

    .. math::

        \frac{\partial L}{\partial w_{o,c,a,b}} &= \sum_{n,i,j} G_{n,o,i,j}\,
            x^{\text{pad}}_{n,\,\gamma(o)C/g + c,\, i s_h + a d_h,\, j s_w + b d_w}
            \quad\text{(input correlated with } G\text{)}, \\
        \frac{\partial L}{\partial x^{\text{pad}}_{n,\gamma C/g + c,u,v}} &=
            \sum_{o \in \gamma} \sum_{\substack{i,j,a,b:\\ i s_h + a d_h = u,\ j s_w + b d_w = v}}
            G_{n,o,i,j}\, w_{o,c,a,b}
            \quad\text{(stride 1: } G \text{ correlated with the flipped kernel)}, \\
        \frac{\partial L}{\partial b_o} &= \sum_{n,i,j} G_{n,o,i,j},

    the input gradient being the interior of the padded one (col2im).

    Parameters
    ----------
    input : ndarray, shape ``(N, C_in, H, W)`` or unbatched ``(C_in, H, W)``
        float32 or float64. ``N = 0`` is allowed.
    weight : ndarray, shape ``(C_out, C_in / groups, kH, kW)``
        Same dtype as ``input``.
    bias : ndarray, shape ``(C_out,)``, optional
    stride : int or (int, int)
        Positive.
    padding : int, (int, int), ``'valid'`` or ``'same'``
        Zero padding on both sides of each spatial dimension. ``'valid'`` is 0;
        ``'same'`` keeps ``H_out = H`` (stride 1 only), padding :math:`d(k-1)` in
        total with the odd one out at the bottom/right, as torch.
    dilation : int or (int, int)
        Spacing :math:`d` between kernel taps; positive.
    groups : int
        Split the channels into ``groups`` independent convolutions; ``C_in`` and
        ``C_out`` must both be divisible by it. ``groups == C_in`` is a depthwise
        convolution (``C_out`` a multiple of ``C_in``).

    Returns
    -------
    ndarray, shape ``(N, C_out, H_out, W_out)`` (``(C_out, H_out, W_out)`` if unbatched),
    dtype of ``input``

    Raises
    ------
    TypeError
        Non-float input, weight or bias, or mismatched dtypes.
    ValueError
        A weight that is not 4-D, channels that do not match ``weight.shape[1] *
        groups``, output channels not divisible by ``groups``, a bias of the wrong
        shape, non-positive stride/dilation/groups, negative padding, ``'same'`` with a
        stride, or a dilated kernel larger than the padded input.

    Examples
    --------
    The lectures' horizontal-difference kernel ``[-1, 1]`` computes
    ``x[i, j+1] - x[i, j]``:

    >>> import numpy as np, scratchnet.functional as F
    >>> x = np.array([[[[0.0, 1, 4], [9, 16, 25]]]])          # (N, C, H, W) = (1, 1, 2, 3)
    >>> F.conv2d(x, np.array([[[[-1.0, 1.0]]]]))
    array([[[[1., 3.],
             [7., 9.]]]])

    The lectures' first layer, 10 filters of 5x5 over 28x28 digits:

    >>> F.conv2d(np.zeros((64, 1, 28, 28)), np.zeros((10, 1, 5, 5))).shape
    (64, 10, 24, 24)
    """
    x, unbatched, w, b, geo = _setup("conv2d", input, weight, bias, stride, padding, dilation, groups)
    n, c = x.shape[:2]
    out_channels = w.shape[0]
    og = out_channels // groups
    ho, wo = geo.out_hw
    w_mat = w.reshape(groups, og, w[0].size)  # spelled out: -1 is ambiguous for C_in = 0

    if og <= SLICED_MAX_CHANNELS:
        # Cache blocking: an im2col matrix larger than L2 is built and used in slices.
        slices = _row_slices(geo, n, w_mat.shape[2], x.dtype.itemsize)
        if len(slices) > 1:
            return _conv2d_sliced(x, unbatched, w, b, geo, groups, slices)

    cols = _im2col(x, geo, groups)
    # (g, O/g, Ho*Wo*N): the output as (C_out, Ho, Wo, N) memory, bias added in place.
    y = np.matmul(w_mat, cols)
    if b is not None:
        y += b.reshape(groups, og, 1)
    out = y.reshape(out_channels, ho, wo, n).transpose(3, 0, 1, 2)
    saved = {"cols": cols}
    del cols

    def backward(grad_out, needs_input_grad=True):
        # The columns' memory is recycled for their gradient below: fresh multi-MB
        # arrays cost page faults that are a large share of this op's time. A second
        # backward call rebuilds them.
        cols = saved.pop("cols", None)
        if cols is None:
            cols = _im2col(x, geo, groups)
        g = grad_out[None] if unbatched else grad_out
        # G as (g, O/g, Ho*Wo*N); no copy when grad_out has the layout forward produced.
        g_cols = np.ascontiguousarray(g.transpose(1, 2, 3, 0)).reshape(groups, og, ho * wo * n)
        # cols @ G^T (then transposed) is the faster GEMM orientation for OpenBLAS here.
        grad_w = np.matmul(cols, g_cols.transpose(0, 2, 1)).transpose(0, 2, 1).reshape(w.shape)
        grads = {"weight": grad_w}
        if needs_input_grad:
            w_mat_t = np.ascontiguousarray(w_mat.transpose(0, 2, 1))
            grad_x = _col2im(np.matmul(w_mat_t, g_cols, out=cols), geo, n, c)
            grads["input"] = grad_x[0] if unbatched else grad_x
        if b is not None:
            grads["bias"] = g_cols.sum(axis=2).reshape(out_channels)
        return grads

    return (out[0] if unbatched else out), backward


#: Bytes of im2col columns one slice of :func:`_conv2d_sliced` holds: with its GEMM
#: output it stays in L2 (2 MiB per core here).
SLICE_BYTES = 256 * 1024

#: Slicing pays only where the GEMM is memory-bound. Each im2col column of K numbers
#: meets O/groups filters, 2 O/groups FLOPs per number read: for the lectures' first
#: layers (6 and 10 filters) that is far below these cores' GEMM rate over their
#: bandwidth (about 11 FLOPs per byte), and slicing took 0.8 of their time; for the
#: second layers (16 and 20 filters, K = 150 and 250) the GEMM is compute-bound and
#: slices only make OpenBLAS split smaller products over its threads: 1.2-1.3x slower
#: with 2 threads (paired, in one process, batch 64).
SLICED_MAX_CHANNELS = 12


def _row_slices(geo: WindowGeometry, n: int, k: int, itemsize: int) -> list:
    """``[(i0, i1)]``: the output rows in slices of about :data:`SLICE_BYTES` of columns."""
    ho, wo = geo.out_hw
    rows = max(1, SLICE_BYTES // max(1, k * wo * n * itemsize))
    return [(i, min(ho, i + rows)) for i in range(0, ho, rows)]


def _conv2d_sliced(x, unbatched, w, b, geo, groups, slices):
    r""":func:`conv2d`'s forward and backward with im2col in slices of output rows.

    **Cache blocking.** The whole im2col matrix of a lecture layer at batch 64 is 4 MB,
    written once and read back by the GEMM from main memory (and kept for the
    backward). Here the columns of a few output rows at a time are gathered into one
    small buffer and multiplied while they are still in L2; OpenBLAS runs the basic
    CNN's 10x25 by 25x36864 product three times faster on L2-resident slices. The
    backward gathers each slice again and adds its share to the weight gradient, so
    no multi-megabyte im2col matrix is kept. (The input gradient, where needed, is
    one GEMM and one col2im over all the columns, as in :func:`conv2d`.) Same products
    and sums as :func:`conv2d`'s single GEMM, in another order of summation over the
    columns.
    """
    n, c = x.shape[:2]
    out_channels = w.shape[0]
    og = out_channels // groups
    ho, wo = geo.out_hw
    w_mat = w.reshape(groups, og, w[0].size)
    k = w_mat.shape[2]
    _, windows = _window_view(x, geo, groups)
    per_row = wo * n
    space = np.empty(groups * k * per_row * max(i1 - i0 for i0, i1 in slices), dtype=x.dtype)

    def gather(i0, i1):
        """The im2col columns of output rows ``i0:i1``, ``(g, K, (i1-i0)*Wo*N)``, in ``space``."""
        cols = space[:groups * k * (i1 - i0) * per_row].reshape(groups, k, (i1 - i0) * per_row)
        cols.reshape(windows.shape[:4] + (i1 - i0, wo, n))[...] = windows[:, :, :, :, i0:i1]
        return cols

    y = np.empty((groups, og, ho * per_row), dtype=x.dtype)
    for i0, i1 in slices:
        np.matmul(w_mat, gather(i0, i1), out=y[:, :, i0 * per_row:i1 * per_row])
    if b is not None:
        y += b.reshape(groups, og, 1)
    out = y.reshape(out_channels, ho, wo, n).transpose(3, 0, 1, 2)

    def backward(grad_out, needs_input_grad=True):
        g = grad_out[None] if unbatched else grad_out
        g_cols = np.ascontiguousarray(g.transpose(1, 2, 3, 0)).reshape(groups, og, ho * per_row)
        grad_wt = np.zeros((groups, k, og), dtype=x.dtype)
        part = np.empty_like(grad_wt)
        for i0, i1 in slices:
            # cols @ G^T (then transposed) is the faster GEMM orientation for OpenBLAS here.
            grad_wt += np.matmul(gather(i0, i1), g_cols[:, :, i0 * per_row:i1 * per_row].transpose(0, 2, 1),
                                 out=part)
        grads = {"weight": grad_wt.transpose(0, 2, 1).reshape(w.shape)}
        if needs_input_grad:
            # One GEMM and one col2im over all the columns: in slices, col2im's kh*kw
            # passes per slice cost more than the cache saves (measured).
            w_mat_t = np.ascontiguousarray(w_mat.transpose(0, 2, 1))
            grad_x = _col2im(np.matmul(w_mat_t, g_cols), geo, n, c)
            grads["input"] = grad_x[0] if unbatched else grad_x
        if b is not None:
            grads["bias"] = g_cols.sum(axis=2).reshape(out_channels)
        return grads

    return (out[0] if unbatched else out), backward


def _setup(op, input, weight, bias, stride, padding, dilation, groups):
    """Validate a conv2d call as torch does; return the arrays and the window geometry.

    Memoized validation (see :mod:`._windows`): a call with the shapes, dtypes and
    arguments of an earlier valid one reuses its geometry.
    """
    key = memo_key(op, (input, weight, bias), (stride, padding, dilation, groups))
    geo = memo_get(key)
    if geo is not None:
        unbatched = input.ndim == 3
        return (input[None] if unbatched else input), unbatched, weight, bias, geo
    x4, unbatched, w, b, geo = _validate(op, input, weight, bias, stride, padding, dilation, groups)
    memo_put(key, geo)
    return x4, unbatched, w, b, geo


def _validate(op, input, weight, bias, stride, padding, dilation, groups):
    """:func:`_setup`'s checks, in full."""
    x = as_float_array(op, "input", input)
    w = as_float_array(op, "weight", weight)
    b = None if bias is None else as_float_array(op, "bias", bias)
    same_dtype(op, input=x, weight=w, bias=b)
    if w.ndim != 4:
        raise ValueError(
            f"{op}: weight must be 4-D (out_channels, in_channels/groups, kH, kW), "
            f"got shape {shape_str(w.shape)}"
        )
    x4, unbatched = batched(op, x)
    stride = pair(op, "stride", stride, allow_zero=False)
    dilation = pair(op, "dilation", dilation, allow_zero=False)
    if not is_int(groups):
        raise TypeError(f"{op}: groups must be an int, got {groups!r}")
    if groups < 1:
        raise ValueError(f"{op}: groups must be positive, got {groups}")
    kernel = tuple(int(k) for k in w.shape[2:])
    pad = _parse_padding(op, padding, kernel, stride, dilation)

    out_channels, in_per_group = w.shape[:2]
    if out_channels == 0 or out_channels % groups:
        raise ValueError(
            f"{op}: weight of shape {shape_str(w.shape)} has {out_channels} output channels, "
            f"expected a positive multiple of groups={groups}"
        )
    channels = x4.shape[1]
    if channels == 0:
        # torch returns an empty (N, 0, H_out, W_out) tensor here, not the bias-only
        # (N, C_out, H_out, W_out) that the sum over no channels gives: refuse instead.
        raise ValueError(
            f"{op}: input of shape {shape_str(x.shape)} has no channels; expected at least one"
        )
    if channels != in_per_group * groups:
        raise ValueError(
            f"{op}: input of shape {shape_str(x.shape)} has {channels} channels, but weight "
            f"of shape {shape_str(w.shape)} with groups={groups} expects "
            f"{in_per_group} * {groups} = {in_per_group * groups}"
        )
    if b is not None and b.shape != (out_channels,):
        raise ValueError(
            f"{op}: bias must have shape ({out_channels},) to match weight "
            f"{shape_str(w.shape)}, got {shape_str(b.shape)}"
        )
    geo = _window_geometry(op, x, x4, kernel, stride, dilation, pad,
                           f"input {shape_str(x.shape)}, weight {shape_str(w.shape)}, padding {padding!r}")
    return x4, unbatched, w, b, geo


def _parse_padding(op: str, padding, kernel, stride, dilation) -> tuple:
    """``(top, bottom, left, right)`` for an int, a pair, ``'valid'`` or ``'same'``.

    ``'same'`` pads :math:`d(k-1)` in total per dimension, :math:`\\lfloor d(k-1)/2
    \\rfloor` before and the rest after, so an even kernel gets its extra row and
    column at the bottom and right, exactly as torch.
    """
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0, 0, 0)
        if padding == "same":
            if stride != (1, 1):
                raise ValueError(
                    f"{op}: padding='same' is not supported for strided convolutions, "
                    f"got stride={stride}"
                )
            pads = []
            for k, d in zip(kernel, dilation):
                total = d * (k - 1)
                pads += [total // 2, total - total // 2]
            return tuple(pads)
        raise ValueError(f"{op}: invalid padding string {padding!r}, expected 'same' or 'valid'")
    ph, pw = pair(op, "padding", padding)
    return (ph, ph, pw, pw)


def _window_geometry(op, x, x4, kernel, stride, dilation, pad, described: str) -> WindowGeometry:
    """The windows of a convolution of ``x`` (``x4`` its 4-D view); an error if the kernel does not fit."""
    in_hw = x4.shape[2:]
    padded = (in_hw[0] + pad[0] + pad[1], in_hw[1] + pad[2] + pad[3])
    effective = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
    if padded[0] < effective[0] or padded[1] < effective[1]:
        raise ValueError(
            f"{op}: padded input size per channel ({padded[0]} x {padded[1]}) is smaller than "
            f"the dilated kernel ({effective[0]} x {effective[1]}) for {described}, "
            f"dilation {dilation}: kernel size can't be greater than actual input size"
        )
    if 0 in x4.shape[2:] and x4.shape[0]:
        # As torch: zero-size images are allowed only in an empty batch, even where
        # the padding alone would give the windows something to read.
        raise ValueError(
            f"{op}: input of shape {shape_str(x.shape)} has an empty spatial size; only a "
            f"zero batch of such images is supported (expected H, W >= 1)"
        )
    out_hw = tuple(
        conv_output_size(n, k, s, p0 + p1, d)
        for n, k, s, (p0, p1), d in zip(in_hw, kernel, stride, (pad[:2], pad[2:]), dilation)
    )
    return WindowGeometry.create(in_hw, kernel, stride, dilation, pad, out_hw)


def _im2col(x: np.ndarray, geo: WindowGeometry, groups: int) -> np.ndarray:
    r"""Gather every window of ``x`` ``(N, C, H, W)``: columns ``(g, C/g*kh*kw, Ho*Wo*N)``.

    Rows are ``(c, a, b)`` (channel, kernel tap), columns ``(i, j, n)``: output row,
    output column, sample, the sample varying fastest. The gather is the zero-copy
    ``as_strided`` view of :func:`_window_view` (the input as padded ``(C, H, W, N)``
    memory), copied once into a fresh matrix (always a new, writeable array: the backward recycles its
    memory).

    **Batch-innermost layout.** Read as :math:`(C, H, W, N)` memory, tap
    :math:`(a, b)` of output row :math:`i` over every column and sample is one
    contiguous run of :math:`W_o N` numbers (stride 1), and the GEMM's product
    :math:`(C_\text{out}, H_o W_o N)` *is* the output, an :math:`(N, C, H, W)` array
    whose memory is :math:`(C, H, W, N)`: no transpose pass, and the bias is added in
    place. The next layer's input and the gradients flowing back then already have
    that layout, so the backward's :math:`G` needs no copy, the weight gradient is one
    GEMM, and col2im adds runs of :math:`W_o N` numbers per tap and input row. (The
    layout is cuda-convnet's CHWN; every op here takes any strides, so other layouts
    are only slower, never wrong.) The layout it replaced, NCHW with stride-1 columns
    spanning the padded width, left up to half of every GEMM's columns junk at the
    lectures' 5x5 kernels.
    """
    _, windows = _window_view(x, geo, groups)
    g, cg, kh, kw, ho, wo, n = windows.shape
    cols = np.empty((g, cg * kh * kw, ho * wo * n), dtype=x.dtype)
    cols.reshape(windows.shape)[...] = windows
    return cols


def _window_view(x: np.ndarray, geo: WindowGeometry, groups: int) -> tuple:
    """Every window of ``x`` ``(N, C, H, W)`` as one zero-copy view; also its buffer.

    Returns ``(buf, windows)``: ``buf`` is the input as padded ``(C, Hp, Wp, N)``
    memory (the input itself when it already lies so and needs no padding), and
    ``windows`` the ``as_strided`` view of it shaped ``(g, C/g, kh, kw, Ho, Wo, N)``:
    element ``[g, c, a, b, i, j, n]`` is tap ``(a, b)`` of the window of output pixel
    ``(i, j)`` of sample ``n`` in channel ``c`` of group ``g``. Stepping a tap moves
    ``d`` input rows (columns), stepping an output pixel ``s`` of them.
    """
    n, c = x.shape[:2]
    (kh, kw), (sh, sw), (dh, dw), (ho, wo) = geo.kernel, geo.stride, geo.dilation, geo.out_hw
    # (C, Hp, Wp, N) memory: the padded buffer is laid out so, and an unpadded input that
    # came from a conv (or a pool or activation after one) already is: one copy at most.
    buf = np.ascontiguousarray(geo.pad_input(x, 0, order=(1, 2, 3, 0)).transpose(1, 2, 3, 0))
    s_c, s_h, s_w, s_n = buf.strides
    cg = c // groups
    windows = as_strided(
        buf,
        shape=(groups, cg, kh, kw, ho, wo, n),
        strides=(cg * s_c, s_c, dh * s_h, dw * s_w, sh * s_h, sw * s_w, s_n),
        writeable=False,
    )
    return buf, windows


def _col2im(dcols: np.ndarray, geo: WindowGeometry, n: int, c: int) -> np.ndarray:
    """Adjoint of :func:`_im2col`: add every column back onto the pixels it came from.

    One ``+=`` per kernel tap of a whole ``(C, Ho, Wo, N)`` slab into the padded
    ``(C, Hp, Wp, N)`` gradient; slices of one tap never overlap themselves, so
    overlapping windows accumulate correctly across taps. Returns ``(N, C, H, W)``
    whose memory is ``(C, H, W, N)`` (the interior of the padded buffer, a view).
    """
    groups = dcols.shape[0]
    dxp = np.zeros((groups, c // groups) + geo.padded_hw + (n,), dtype=dcols.dtype)
    _col2im_add(dxp, dcols, geo, 0, geo.out_hw[0])
    return _crop_planes(dxp, geo, c)


def _col2im_add(dxp: np.ndarray, dcols: np.ndarray, geo: WindowGeometry, i0: int, i1: int) -> None:
    """Add the column gradients of output rows ``i0:i1`` into the padded ``(g, C/g, Hp, Wp, N)`` buffer."""
    groups, cg = dxp.shape[:2]
    (kh, kw), (sh, _), (dh, _), wo = geo.kernel, geo.stride, geo.dilation, geo.out_hw[1]
    n = dxp.shape[-1]
    cols = dcols.reshape(groups, cg, kh, kw, i1 - i0, wo, n)
    for (a, b), (_, _, columns) in zip(geo.taps, geo.tap_indices):
        rows = slice(a * dh + i0 * sh, a * dh + (i1 - 1) * sh + 1, sh)
        dxp[:, :, rows, columns] += cols[:, :, a, b]


def _crop_planes(dxp: np.ndarray, geo: WindowGeometry, c: int) -> np.ndarray:
    """The unpadded ``(N, C, H, W)`` gradient (memory ``(C, H, W, N)``) in a padded col2im buffer."""
    top, _, left, _ = geo.pad
    h, w = geo.in_hw
    planes = dxp.reshape((c,) + geo.padded_hw + (dxp.shape[-1],))[:, top:top + h, left:left + w]
    return planes.transpose(3, 0, 1, 2)
