r"""2-D convolution (cross-correlation, as torch): the loops, then im2col and one GEMM.

Deep-learning "convolution" is a cross-correlation. With input :math:`x` of shape
:math:`(N, C, H, W)`, weight :math:`w` of shape :math:`(O, C/g, k_h, k_w)` and
:math:`g` groups (output channel :math:`o` sees only the input channels of its group),

.. math::

    y_{n,o,i,j} = b_o + \sum_{c,a,b} w_{o,c,a,b}\;
        x^{\text{pad}}_{n,\, c + \lfloor o/(O/g) \rfloor C/g,\; i s_h + a d_h,\; j s_w + b d_w}.

**im2col.** Gather every window into a column: the :math:`K = C k_h k_w` numbers
output pixel :math:`(i, j)` of sample :math:`n` reads become column :math:`(n, i, j)`
of :math:`X_\text{col} \in \mathbb{R}^{K \times N H_o W_o}`, and the whole layer is one
matrix product, :math:`Y = W_\text{mat} X_\text{col}` with :math:`W_\text{mat} \in
\mathbb{R}^{O \times K}` the filters as rows (with groups, one product per group on
its block of :math:`(C/g) k_h k_w` rows). Backward is two more GEMMs and a scatter:

.. math::

    \frac{\partial L}{\partial W_\text{mat}} = G\,X_\text{col}^\top, \qquad
    \frac{\partial L}{\partial X_\text{col}} = W_\text{mat}^\top G, \qquad
    \frac{\partial L}{\partial b_o} = \sum_{n,i,j} G_{n,o,i,j},

and **col2im** adds each column of :math:`\partial L/\partial X_\text{col}` back onto
the input pixels it was gathered from (added, not assigned: overlapping windows
share pixels). Both loop over the :math:`k_h k_w` kernel taps, never over pixels:
tap :math:`(a, b)` of every window is one strided slice of the padded input,
``xp[:, :, a*dh : a*dh + sh*(Ho-1)+1 : sh, b*dw : b*dw + sw*(Wo-1)+1 : sw]``.

The weight gradient is the correlation of the input with the upstream gradient, the
input gradient (for stride 1) the full correlation of the upstream gradient with the
flipped kernel; for stride > 1 the upstream gradient is first dilated with zeros
between its entries.

Read top-down: :func:`conv2d_naive`, plain loops over samples, channels and pixels
(the definition, and the oracle); :func:`conv2d`, the same numbers with
:func:`im2col`, one GEMM and :func:`col2im`; then the argument checks. A tuned kernel
with the same contract, :mod:`scratchnet.functional.fast.conv`, runs by default and
is tested equal to :func:`conv2d` (``with F.textbook():`` runs this page's code).
"""
from __future__ import annotations

import numpy as np

from ..checks import as_float_array, is_int, pair, same_dtype, shape_str
from ._vjp import differentiable
from ._windows import WindowGeometry, batched, conv_output_size


@differentiable(fresh_grads=True)
def conv2d_naive(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    r"""Reference :func:`conv2d`: plain loops over samples, output channels and pixels.

    Same signature, semantics and checks as :func:`conv2d`, written CS231n style to
    be read (and to serve as the oracle of the vectorized version), not to be fast.
    Each output pixel is the sum of its window times the filter; backward visits the
    same windows and sends :math:`G_{n,o,i,j}` back along each of them:

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
    n_batch = x.shape[0]
    out_channels, in_per_group, kh, kw = w.shape
    out_per_group = out_channels // groups
    (sh, sw), (dil_h, dil_w), (ho, wo) = geo.stride, geo.dilation, geo.out_hw
    top, bottom, left, right = geo.pad
    xp = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))

    def window(i, j):
        """Rows and columns of the padded input that output pixel (i, j) reads."""
        return (slice(i * sh, i * sh + dil_h * (kh - 1) + 1, dil_h),
                slice(j * sw, j * sw + dil_w * (kw - 1) + 1, dil_w))

    def channels_of(o):
        """The input channels output channel o sees: those of its group."""
        group = o // out_per_group
        return slice(group * in_per_group, (group + 1) * in_per_group)

    out = np.zeros((n_batch, out_channels, ho, wo), dtype=x.dtype)
    for n in range(n_batch):
        for o in range(out_channels):
            for i in range(ho):
                for j in range(wo):
                    rows, cols = window(i, j)
                    out[n, o, i, j] = np.sum(xp[n, channels_of(o), rows, cols] * w[o])
            if b is not None:
                out[n, o] += b[o]

    def backward(grad_out):
        g = grad_out[None] if unbatched else grad_out
        grad_xp = np.zeros(xp.shape, dtype=x.dtype)
        grad_weight = np.zeros(w.shape, dtype=w.dtype)
        # The forward's loops again, a deliberate near-copy: each term the forward summed
        # sends its gradient back to the same window.
        for n in range(n_batch):
            for o in range(out_channels):
                for i in range(ho):
                    for j in range(wo):
                        rows, cols = window(i, j)
                        grad_xp[n, channels_of(o), rows, cols] += g[n, o, i, j] * w[o]
                        grad_weight[o] += g[n, o, i, j] * xp[n, channels_of(o), rows, cols]
        h, w_in = geo.in_hw
        grad_x = grad_xp[:, :, top:top + h, left:left + w_in]  # the padding's share is dropped
        grads = {"input": grad_x[0] if unbatched else grad_x, "weight": grad_weight}
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

    Computed as :func:`im2col` and one GEMM per group (a single one for ``groups=1``):
    :math:`Y_\gamma = W_\gamma X_{\text{col},\gamma}` with :math:`X_\text{col}` of shape
    :math:`(C k_h k_w, N H_o W_o)`, whose rows split into the groups' blocks of
    :math:`(C/g) k_h k_w`.

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

    as matrices :math:`\partial L/\partial W_\gamma = G_\gamma X_{\text{col},\gamma}^\top`
    and :math:`\partial L/\partial X_{\text{col},\gamma} = W_\gamma^\top G_\gamma`; the
    input gradient is :func:`col2im` of the latter, cropped to the unpadded input.

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
    out_channels, in_per_group, kh, kw = w.shape
    out_per_group = out_channels // groups
    ho, wo = geo.out_hw
    k, m = in_per_group * kh * kw, n * ho * wo  # one group's rows of X_col; X_col's columns

    # A leading group axis: group g's filters (rows of W) meet only its block of X_col's
    # rows, and np.matmul runs one GEMM per group. (Sizes spelled out: -1 is ambiguous
    # when a size is 0, as in an empty batch.)
    x_col = im2col(x, geo).reshape(groups, k, m)
    w_mat = w.reshape(groups, out_per_group, k)
    y = w_mat @ x_col                                            # (g, O/g, N*Ho*Wo)
    if b is not None:
        y += b.reshape(groups, out_per_group, 1)
    # Y's rows are the output channels and its columns (n, i, j): (C_out, N, Ho, Wo) as (N, C_out, Ho, Wo).
    out = y.reshape(out_channels, n, ho, wo).transpose(1, 0, 2, 3)

    def backward(grad_out, needs_input_grad=True):
        g = grad_out[None] if unbatched else grad_out
        # G as Y's matrix: (g, O/g, N*Ho*Wo), columns ordered as X_col's.
        g_mat = g.transpose(1, 0, 2, 3).reshape(groups, out_per_group, m)
        grad_w = (g_mat @ x_col.transpose(0, 2, 1)).reshape(w.shape)   # dW = G X_col^T
        grads = {"weight": grad_w}
        if needs_input_grad:  # the first layer never needs it: skip a GEMM and col2im
            dx_col = w_mat.transpose(0, 2, 1) @ g_mat                   # dX_col = W^T G
            grad_x = col2im(dx_col.reshape(c * kh * kw, m), geo, x.shape)
            grads["input"] = grad_x[0] if unbatched else grad_x
        if b is not None:
            grads["bias"] = g.sum(axis=(0, 2, 3))
        return grads

    return (out[0] if unbatched else out), backward


def im2col(x: np.ndarray, geo: WindowGeometry) -> np.ndarray:
    r"""Gather every window of ``x`` into a column: ``X_col`` of shape ``(C*kh*kw, N*Ho*Wo)``.

    Row :math:`(c, a, b)` (channel, kernel tap), column :math:`(n, i, j)` (sample,
    output pixel):

    .. math::

        X_\text{col}[(c k_h + a) k_w + b,\ (n H_o + i) W_o + j] =
            x^{\text{pad}}_{n,c,\; i s_h + a d_h,\; j s_w + b d_w}.

    One loop over the :math:`k_h k_w` taps: tap :math:`(a, b)` of every window at once
    is a strided slice of the padded input, shaped like the output.
    """
    n, c = x.shape[:2]
    (kh, kw), (sh, sw), (dil_h, dil_w), (ho, wo) = geo.kernel, geo.stride, geo.dilation, geo.out_hw
    top, bottom, left, right = geo.pad
    xp = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))
    cols = np.empty((c, kh, kw, n, ho, wo), dtype=x.dtype)
    for a in range(kh):
        for b in range(kw):
            tap = xp[:, :, a * dil_h : a * dil_h + sh * (ho - 1) + 1 : sh,
                           b * dil_w : b * dil_w + sw * (wo - 1) + 1 : sw]    # (N, C, Ho, Wo)
            cols[:, a, b] = tap.transpose(1, 0, 2, 3)
    return cols.reshape(c * kh * kw, n * ho * wo)


def col2im(dx_col: np.ndarray, geo: WindowGeometry, x_shape: tuple) -> np.ndarray:
    r"""The adjoint of :func:`im2col`: add every column back onto the pixels it was gathered from.

    ``dx_col`` is ``(C*kh*kw, N*Ho*Wo)``, laid out as :func:`im2col`'s ``X_col``; returns
    the gradient for an input of shape ``x_shape`` ``(N, C, H, W)``. Each tap's slice
    touches an input pixel at most once, so one ``+=`` per tap is exact, and pixels
    that several windows read collect every contribution across taps. The padding's
    share is computed, then cropped away.
    """
    n, c, h, w = x_shape
    (kh, kw), (sh, sw), (dil_h, dil_w), (ho, wo) = geo.kernel, geo.stride, geo.dilation, geo.out_hw
    top, _, left, _ = geo.pad
    cols = dx_col.reshape(c, kh, kw, n, ho, wo)
    dxp = np.zeros((n, c) + geo.padded_hw, dtype=dx_col.dtype)
    for a in range(kh):
        for b in range(kw):
            dxp[:, :, a * dil_h : a * dil_h + sh * (ho - 1) + 1 : sh,
                      b * dil_w : b * dil_w + sw * (wo - 1) + 1 : sw] += cols[:, a, b].transpose(1, 0, 2, 3)
    return dxp[:, :, top:top + h, left:left + w]


# -- argument checks, as torch's -------------------------------------------------------------


def _setup(op, input, weight, bias, stride, padding, dilation, groups):
    """Validate a conv2d call as torch does; return the 4-D input, an unbatched flag, the arrays and the windows."""
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
