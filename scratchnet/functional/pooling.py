r"""2-D max and average pooling, vectorised over kernel taps, with naive loop oracles.

Both pools visit their windows one kernel *tap* at a time: tap :math:`(a, b)` of every
window is a single strided view of the padded input shaped like the output (see
:mod:`scratchnet.functional._windows`). Average pooling sums those :math:`k_h k_w`
views; max pooling copies them once into a contiguous ``(taps, N, C, H_out, W_out)``
stack, so that its max, its argmax and the backward's masks are long branch-free
passes rather than many short strided rows. A backward is :math:`k_h k_w` strided
writes (``+=`` where windows overlap) of the upstream gradient into the padded input
gradient: no loop over samples or pixels and no ``np.add.at``.

Output size per spatial dimension, as torch (ceil mode drops a last window that would
start in the right padding):

.. math::

    H_\text{out} = \Big\lfloor \frac{H + 2p - d(k-1) - 1 + [\text{ceil}](s-1)}{s}
    \Big\rfloor + 1 .

Each op comes in two versions, read in this order: the ``*_naive`` one loops over
every output pixel and transcribes torch's CPU kernel rule by rule (the version to
read, and the oracle the fast one is tested against); the fast one follows it. The
private helpers they share come last.
"""
from __future__ import annotations

import numpy as np

from ..checks import as_float_array, is_int, pair, shape_str
from ._vjp import differentiable
from ._windows import WindowGeometry, batched, empty_in_layout, pool_output_size
from .fast._memo import memo_get, memo_key, memo_put


@differentiable
def max_pool2d_naive(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                     return_indices=False):
    r"""Reference :func:`max_pool2d`: a loop over every output pixel and its window.

    Transcribes torch's CPU kernel: start each window at :math:`-\infty` with its
    first in-bounds position as argmax, replace on ``value > max or isnan(value)``.
    Backward adds each output's gradient at its argmax (if that lies in the input).
    Same signature and semantics as :func:`max_pool2d`; for tests and reading.
    """
    op = "max_pool2d_naive"
    x, unbatched, geo = _setup(op, input, kernel_size, stride, padding, dilation, ceil_mode,
                               max_pool=True)
    n_batch, channels = x.shape[:2]
    w, (sh, sw), (dh, dw) = geo.in_hw[1], geo.stride, geo.dilation
    top, _, left, _ = geo.pad
    out = np.empty((n_batch, channels) + geo.out_hw, dtype=x.dtype)
    idx = np.empty((n_batch, channels) + geo.out_hw, dtype=np.int64)
    # Where each output's gradient goes: its argmax, or nowhere if no tap is in bounds.
    source = {}
    for n in range(n_batch):
        for c in range(channels):
            for i, j, rows, cols in _naive_windows(geo):
                r0, c0 = i * sh - top, j * sw - left
                while r0 < 0:
                    r0 += dh
                while c0 < 0:
                    c0 += dw
                best, best_at = -np.inf, (r0, c0)
                for r in rows:
                    for q in cols:
                        v = x[n, c, r, q]
                        if v > best or np.isnan(v):
                            best, best_at = v, (r, q)
                out[n, c, i, j] = best
                idx[n, c, i, j] = best_at[0] * w + best_at[1]
                if rows and cols:
                    source[n, c, i, j] = best_at

    def backward(grad_out):
        g = grad_out[None] if unbatched else grad_out
        dx = np.zeros(x.shape, dtype=x.dtype)
        for (n, c, i, j), (r, q) in source.items():
            dx[n, c, r, q] += g[n, c, i, j]
        return {"input": dx[0] if unbatched else dx}

    values = out[0] if unbatched else out
    if return_indices:
        return (values, idx[0] if unbatched else idx), backward
    return values, backward


@differentiable
def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    r"""2-D max pooling over a batch of multi-channel images.

    .. math::

        y_{n,c,i,j} = \max_{0 \le a < k_h,\ 0 \le b < k_w}
            x_{n,c,\; i s_h - p_h + a d_h,\; j s_w - p_w + b d_w},

    over the in-bounds positions of each window (padding is :math:`-\infty`, never
    selected). Exactly as torch, the window is scanned row by row and a value
    replaces the running max if it is strictly greater or NaN: ties go to the
    *first* maximum, a NaN wins (the *last* NaN of the window), and a window whose
    in-bounds values are all :math:`-\infty` reports its first in-bounds position.

    Backward routes each output's gradient to its argmax and to nothing else,
    accumulating where overlapping windows (stride < kernel) pick the same input:

    .. math::

        \frac{\partial L}{\partial x_{n,c,u,v}} =
            \sum_{i,j:\ \operatorname{argmax}_{n,c,i,j} = (u,v)} G_{n,c,i,j}.

    Parameters
    ----------
    input : ndarray, shape ``(N, C, H, W)`` or unbatched ``(C, H, W)``
        float32 or float64; ``N = 0`` is allowed, empty ``C``, ``H``, ``W`` are not.
    kernel_size : int or (int, int)
    stride : int or (int, int), optional
        Defaults to ``kernel_size``.
    padding : int or (int, int)
        Implicit :math:`-\infty` padding on both sides, at most :math:`\lfloor k/2
        \rfloor` (torch's bound, whatever the dilation).
    dilation : int or (int, int)
        Spacing between the window's taps.
    ceil_mode : bool
        Round the output size up; the extra window must start inside the input or
        its left padding.
    return_indices : bool
        Also return the argmax of every window as a flat index into its input plane,
        :math:`u W + v`, as int64 (what ``max_unpool2d`` takes).

    Returns
    -------
    ndarray, shape ``(N, C, H_out, W_out)`` (or unbatched), dtype of ``input``
        Or the tuple ``(values, indices)`` with ``return_indices=True``.

    Examples
    --------
    The lectures' 2x2 max pool:

    >>> import numpy as np
    >>> x = np.array([[1, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]], np.float32)
    >>> max_pool2d(x[None, None], 2)[0, 0]
    array([[6., 8.],
           [3., 4.]], dtype=float32)
    """
    op = "max_pool2d"
    x, unbatched, geo = _setup(op, input, kernel_size, stride, padding, dilation, ceil_mode,
                               max_pool=True)
    xp = geo.pad_input(x, -np.inf)
    # One contiguous (taps, N, C, H_out, W_out) copy of the windows: every later pass is
    # then a long contiguous loop instead of many short strided rows.
    windows = _gather_taps(xp, geo)
    best = windows.max(axis=0)  # a NaN anywhere in the window propagates, as in torch
    saved = {"windows": windows}
    del windows

    def window_argmax():
        """Tap index of each window's max, by torch's rule (see the docstring).

        Computed on first use (a forward alone never needs it) and kept; the stacked
        windows are released then.
        """
        if "arg" not in saved:
            saved["arg"] = _tap_argmax(saved.pop("windows"), best, geo)
        return saved["arg"]

    def max_mask():
        """The input-shaped 0/1 mask of :func:`_max_mask`, or ``None`` where it does not apply.

        Tried once, on first use, while the stacked windows are still there; kept.
        """
        if "mask" not in saved:
            windows = saved.get("windows")
            usable = windows is not None and _tiles(geo) and _batch_innermost(x)
            saved["mask"] = _max_mask(windows, best, x, geo) if usable else None
            if saved["mask"] is not None:
                del saved["windows"]
        return saved["mask"]

    out = best[0] if unbatched else best
    if return_indices:
        arg = window_argmax()
        kw = geo.kernel[1]
        rows, cols = geo.window_starts()
        a0, b0, _ = _first_in_bounds(geo)
        tap_a = np.where(arg >= 0, arg // kw, a0)
        tap_b = np.where(arg >= 0, arg % kw, b0)
        idx = ((rows[:, None] + tap_a * geo.dilation[0]) * geo.in_hw[1]
               + cols[None, :] + tap_b * geo.dilation[1]).astype(np.int64)
        out = (out, idx[0] if unbatched else idx)

    def backward(grad_out):
        g = grad_out[None] if unbatched else grad_out
        # g * mask is branch-free and several times faster than np.where, but it would
        # turn an unselected inf/NaN gradient into NaN instead of torch's 0.
        finite = bool(np.isfinite(g).all())
        zero = np.zeros((), dtype=x.dtype)
        mask = max_mask()
        if mask is not None:
            # Mask routing (tiling windows, one maximum each): every input pixel gets its
            # window's gradient (one broadcast copy), then the mask keeps it at the max
            # and zeroes it elsewhere (one contiguous pass over same-layout arrays). The
            # per-tap route below makes kh*kw strided passes; this took 0.54 of its time
            # on the basic CNN's first pool (paired, in one process).
            grad = empty_in_layout(x, x.shape)
            split = _split_windows(grad, geo)
            split[...] = g[:, :, :, None, :, None]
            if finite:
                np.multiply(split, mask, out=split)
            else:
                np.copyto(split, zero, where=mask == 0)
            return {"input": grad[0] if unbatched else grad}
        arg = window_argmax()
        dxp = empty_in_layout(x, x.shape[:2] + geo.padded_hw, fill=None if _tiles(geo) else 0)
        for t, index in enumerate(geo.tap_indices):
            chosen = arg == t
            view = dxp[index]
            if geo.overlapping:
                view += g * chosen if finite else np.where(chosen, g, zero)
            elif finite:  # each input pixel is one tap of at most one window
                np.multiply(g, chosen, out=view)
            else:
                view[...] = np.where(chosen, g, zero)
        grad = geo.crop(dxp)
        return {"input": grad[0] if unbatched else grad}

    return out, backward


@differentiable
def avg_pool2d_naive(input, kernel_size, stride=None, padding=0, ceil_mode=False,
                     count_include_pad=True, divisor_override=None):
    r"""Reference :func:`avg_pool2d`: a loop over every output pixel and its window.

    Transcribes torch's divisor rule per window: with start :math:`r_0 = i s - p`,
    end :math:`r_1 = \min(r_0 + k, H + p)`, the padded count is :math:`(r_1 - r_0)(\dots)`
    and the in-bounds count uses :math:`[\max(r_0, 0), \min(r_1, H))`. Same signature
    and semantics as :func:`avg_pool2d`; for tests and reading.
    """
    op = "avg_pool2d_naive"
    _check_divisor(op, divisor_override)
    x, unbatched, geo = _setup(op, input, kernel_size, stride, padding, 1, ceil_mode,
                               max_pool=False)
    n_batch, channels = x.shape[:2]
    (h, w), (kh, kw), (sh, sw) = geo.in_hw, geo.kernel, geo.stride
    top, _, left, _ = geo.pad

    def divisor(i, j):
        r0, c0 = i * sh - top, j * sw - left
        r1, c1 = min(r0 + kh, h + top), min(c0 + kw, w + left)
        if divisor_override is not None:
            return divisor_override
        if count_include_pad:
            return (r1 - r0) * (c1 - c0)
        return (min(r1, h) - max(r0, 0)) * (min(c1, w) - max(c0, 0))

    out = np.empty((n_batch, channels) + geo.out_hw, dtype=x.dtype)
    for n in range(n_batch):
        for c in range(channels):
            for i, j, rows, cols in _naive_windows(geo):
                total = np.zeros((), dtype=x.dtype)
                for r in rows:
                    for q in cols:
                        total += x[n, c, r, q]
                out[n, c, i, j] = total / x.dtype.type(divisor(i, j))

    def backward(grad_out):
        g = grad_out[None] if unbatched else grad_out
        dx = np.zeros(x.shape, dtype=x.dtype)
        for n in range(n_batch):
            for c in range(channels):
                for i, j, rows, cols in _naive_windows(geo):
                    share = g[n, c, i, j] / x.dtype.type(divisor(i, j))
                    for r in rows:
                        for q in cols:
                            dx[n, c, r, q] += share
        return {"input": dx[0] if unbatched else dx}

    return (out[0] if unbatched else out), backward


@differentiable
def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None):
    r"""2-D average pooling over a batch of multi-channel images.

    .. math::

        y_{n,c,i,j} = \frac{1}{D_{ij}} \sum_{a,b}
            x^{\text{pad}}_{n,c,\; i s_h + a,\; j s_w + b},

    with zero padding and torch's divisor :math:`D_{ij}`: ``divisor_override`` if
    given; else, with ``count_include_pad``, the window's area clipped to the padded
    input (a ceil-mode window hanging past the padding counts only up to it);
    otherwise the number of real (unpadded) pixels in the window.

    Backward spreads each output's gradient evenly over its window, accumulating
    where windows overlap:

    .. math::

        \frac{\partial L}{\partial x_{n,c,u,v}} =
            \sum_{i,j:\ (u,v) \in \text{window}(i,j)} \frac{G_{n,c,i,j}}{D_{ij}}.

    Parameters
    ----------
    input : ndarray, shape ``(N, C, H, W)`` or unbatched ``(C, H, W)``
        float32 or float64; ``N = 0`` is allowed.
    kernel_size : int or (int, int)
    stride : int or (int, int), optional
        Defaults to ``kernel_size``.
    padding : int or (int, int)
        Zero padding on both sides, at most :math:`\lfloor k/2 \rfloor`.
    ceil_mode : bool
        Round the output size up (the last window must start inside the input or
        its left padding).
    count_include_pad : bool
        Count the zero padding in the divisor.
    divisor_override : int, optional
        Divide every window by this instead (non-zero).

    Returns
    -------
    ndarray, shape ``(N, C, H_out, W_out)`` (or unbatched), dtype of ``input``

    Examples
    --------
    >>> import numpy as np, scratchnet.functional as F
    >>> x = np.array([[[[1.0, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]]]])
    >>> F.avg_pool2d(x, 2)  # (1 + 1 + 5 + 6) / 4 = 3.25, ...
    array([[[[3.25, 5.25],
             [2.  , 2.  ]]]])
    """
    op = "avg_pool2d"
    _check_divisor(op, divisor_override)
    x, unbatched, geo = _setup(op, input, kernel_size, stride, padding, 1, ceil_mode,
                               max_pool=False)
    divisor = _avg_divisor(geo, count_include_pad, divisor_override, x.dtype)
    tiles = _tiles(geo)

    xp = geo.pad_input(x, 0)
    first, *rest = geo.tap_indices
    total = np.array(xp[first], copy=True)
    for index in rest:  # scan order, the order in which torch sums each window
        total += xp[index]
    out = np.divide(total, divisor, out=total)

    def backward(grad_out):
        g = grad_out[None] if unbatched else grad_out
        share = g / divisor
        # Tiling windows (each pixel in exactly one) write their share once per tap;
        # overlapping ones accumulate it.
        dxp = empty_in_layout(x, x.shape[:2] + geo.padded_hw, fill=None if tiles else 0)
        for index in geo.tap_indices:
            if tiles:
                dxp[index] = share
            else:
                dxp[index] += share
        grad = geo.crop(dxp)
        return {"input": grad[0] if unbatched else grad}

    return (out[0] if unbatched else out), backward


# ---------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------


def _setup(op, input, kernel_size, stride, padding, dilation, ceil_mode, *, max_pool):
    """Validate a pooling call as torch does; return the 4-D input and the geometry.

    Memoized validation (see :mod:`._windows`): a call with the shape, dtype and
    arguments of an earlier valid one reuses its geometry.
    """
    key = memo_key(op, (input,), (kernel_size, stride, padding, dilation, ceil_mode, max_pool))
    geo = memo_get(key)
    if geo is not None:
        unbatched = input.ndim == 3
        return (input[None] if unbatched else input), unbatched, geo
    x4, unbatched, geo = _validate(op, input, kernel_size, stride, padding, dilation, ceil_mode,
                                   max_pool=max_pool)
    memo_put(key, geo)
    return x4, unbatched, geo


def _validate(op, input, kernel_size, stride, padding, dilation, ceil_mode, *, max_pool):
    """:func:`_setup`'s checks, in full."""
    x = as_float_array(op, "input", input)
    kernel = pair(op, "kernel_size", kernel_size, allow_zero=False)
    # torch: stride=None (or an empty list) means stride = kernel_size.
    if stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0):
        stride = kernel
    else:
        stride = pair(op, "stride", stride, allow_zero=False)
    pad = pair(op, "padding", padding)
    dilation = pair(op, "dilation", dilation, allow_zero=False)
    # torch bounds the pad by half the kernel; max pool first checks it against half the
    # dilated kernel (a weaker bound, kept for its message), then against half the kernel.
    for p, k, d in zip(pad, kernel, dilation):
        if max_pool and p > (d * (k - 1) + 1) // 2:
            raise ValueError(
                f"{op}: pad should be at most half of effective kernel size, but got "
                f"padding={pad}, kernel_size={kernel} and dilation={dilation}"
            )
        if p > k // 2:
            raise ValueError(
                f"{op}: pad should be at most half of kernel size, but got padding={pad}, "
                f"kernel_size={kernel}"
            )
    x4, unbatched = batched(op, x, nonempty_planes=True)
    in_hw = x4.shape[2:]
    out_hw = tuple(
        pool_output_size(n, k, s, p, d, bool(ceil_mode))
        for n, k, s, p, d in zip(in_hw, kernel, stride, pad, dilation)
    )
    if min(out_hw) < 1:
        raise ValueError(
            f"{op}: input of shape {shape_str(x.shape)} gives an output of size "
            f"({out_hw[0]} x {out_hw[1]}), which is too small (kernel_size={kernel}, "
            f"stride={stride}, padding={pad}, dilation={dilation})"
        )
    geo = WindowGeometry.create(in_hw, kernel, stride, dilation,
                                (pad[0], pad[0], pad[1], pad[1]), out_hw)
    return x4, unbatched, geo


def _naive_windows(geo: WindowGeometry):
    """Yield ``(i, j, rows, cols)``: each output pixel and the in-bounds input rows/columns
    its window reads, in scan order (``rows``/``cols`` skip the padding)."""
    (kh, kw), (sh, sw), (dh, dw), (ho, wo), (h, w) = (
        geo.kernel, geo.stride, geo.dilation, geo.out_hw, geo.in_hw)
    top, _, left, _ = geo.pad
    for i in range(ho):
        rows = [i * sh - top + a * dh for a in range(kh)]
        for j in range(wo):
            cols = [j * sw - left + b * dw for b in range(kw)]
            yield i, j, [r for r in rows if 0 <= r < h], [q for q in cols if 0 <= q < w]


def _tiles(geo: WindowGeometry) -> bool:
    """Whether the windows tile the input exactly (the lectures' 2x2, stride 2 pools)."""
    return (geo.stride == geo.kernel and geo.dilation == (1, 1) and not any(geo.pad)
            and all(o * k == n for o, k, n in zip(geo.out_hw, geo.kernel, geo.in_hw)))


def _first_in_bounds(geo: WindowGeometry) -> tuple:
    """Per output row/column, the first tap of the window that lies inside the input.

    Torch starts every window's running max at :math:`-\\infty` with this position
    as its argmax, so a window whose in-bounds values are all :math:`-\\infty` reports
    it. Returns ``(a0, b0, valid)``: ``a0`` of shape ``(H_out, 1)``, ``b0`` of shape
    ``(1, W_out)`` and ``valid`` (``(H_out, W_out)``), false where a dilated window
    skips over the whole input and has no in-bounds tap at all.
    """
    rows, cols = geo.window_starts()
    (kh, kw), (dh, dw), (h, w) = geo.kernel, geo.dilation, geo.in_hw
    a0 = -(np.minimum(rows, 0) // dh)  # ceil(max(-row, 0) / dh): first tap at row >= 0
    b0 = -(np.minimum(cols, 0) // dw)
    ok_rows = (a0 < kh) & (rows + a0 * dh < h)
    ok_cols = (b0 < kw) & (cols + b0 * dw < w)
    return a0[:, None], b0[None, :], ok_rows[:, None] & ok_cols[None, :]


def _batch_innermost(x: np.ndarray) -> bool:
    """The batch axis is ``x``'s innermost in memory, as in a conv's output (see :mod:`.conv`).

    The mask route's passes then run along long contiguous rows of the batch; in a
    C-ordered ``(N, C, H, W)`` array their inner loops would be only ``kw`` long, and
    the per-tap route is about 3x faster there (basic CNN's first pool, batch 64).
    """
    return x.ndim == 4 and x.shape[0] > 1 and abs(x.strides[0]) == min(abs(s) for s in x.strides)


def _split_windows(a: np.ndarray, geo: WindowGeometry) -> np.ndarray:
    """An input-shaped ``(N, C, H, W)`` array of tiling windows as ``(N, C, H_out, kh, W_out, kw)``.

    A view (splitting an axis in two never needs a copy, whatever the strides): element
    ``[n, c, i, a, j, b]`` is tap ``(a, b)`` of window ``(i, j)``.
    """
    (kh, kw), (ho, wo) = geo.kernel, geo.out_hw
    return a.reshape(a.shape[:2] + (ho, kh, wo, kw))


def _max_mask(windows: np.ndarray, best: np.ndarray, x: np.ndarray, geo: WindowGeometry):
    """1 at each tiling window's maximum and 0 elsewhere, in ``x``'s shape and memory layout,
    split as :func:`_split_windows`; ``None`` if some window's maximum is not unique.

    With exactly one tap equal to its window's max, that tap *is* torch's argmax (the
    first maximum; a window holding a NaN has a NaN max that equals nothing, and a
    window of ties or of ``-inf`` has several), so the mask routes the gradient as the
    argmax does. Unique everywhere is checked in one count: with no NaN max, every
    window has at least one tap equal to its max, so ``N C H_out W_out`` equal taps in
    all means exactly one each.
    """
    equal = windows == best
    if np.isnan(best).any() or np.count_nonzero(equal) != best.size:
        return None
    (kh, kw), (ho, wo) = geo.kernel, geo.out_hw
    n, c = x.shape[:2]
    mask = _split_windows(empty_in_layout(x, x.shape), geo)
    np.copyto(mask, equal.reshape((kh, kw, n, c, ho, wo)).transpose(2, 3, 4, 0, 5, 1))
    return mask


def _gather_taps(xp: np.ndarray, geo: WindowGeometry) -> np.ndarray:
    """Stack tap ``t`` of every window as ``out[t]``: shape ``(kh*kw, N, C, H_out, W_out)``."""
    out = empty_in_layout(xp, xp.shape[:-2] + geo.out_hw, lead=(len(geo.taps),))
    for t, index in enumerate(geo.tap_indices):
        out[t] = xp[index]
    return out


def _tap_argmax(windows: np.ndarray, best: np.ndarray, geo: WindowGeometry) -> np.ndarray:
    """Tap index of each window's max, by torch's rule: the first tap equal to the max,
    the last NaN if the window holds one, the first in-bounds tap if the max is -inf.

    ``windows`` is the ``(taps, N, C, H_out, W_out)`` stack, ``best`` its max over taps.
    Returns int16 (int32 for huge kernels), ``-1`` where a window misses the input.
    """
    n_taps = windows.shape[0]
    dtype = np.int16 if n_taps < 2**15 else np.int32
    # The first tap equal to the max has the highest rank n_taps - t; a max over the
    # taps' ranks finds it without a data-dependent branch per element.
    rank = np.arange(n_taps, 0, -1, dtype=dtype).reshape((-1,) + (1,) * best.ndim)
    arg = (n_taps - ((windows == best) * rank).max(axis=0)).astype(dtype)
    nan = np.isnan(best)
    if nan.any():  # a NaN max equals nothing: take the window's last NaN instead
        last_nan = (np.isnan(windows) * rank[::-1]).max(axis=0) - 1
        arg = np.where(nan, last_nan, arg).astype(dtype)
    if any(geo.pad):
        # A max of -inf also equals the -inf padding; torch reports the first
        # in-bounds tap there (or none at all if the window misses the input).
        empty = best == -np.inf
        if empty.any():
            a0, b0, valid = _first_in_bounds(geo)
            arg = np.where(empty, np.where(valid, a0 * geo.kernel[1] + b0, -1), arg).astype(dtype)
    return arg


def _avg_divisor(geo: WindowGeometry, count_include_pad: bool, divisor_override, dtype):
    """Torch's divisor of every window, shape ``(H_out, W_out)`` (or a scalar override).

    With ``count_include_pad`` a window counts the padding it covers but not what
    ceil mode lets it hang past the padding; otherwise only its in-bounds pixels.
    """
    if divisor_override is not None:
        return np.asarray(divisor_override, dtype=dtype)
    counts = []
    for start, n, k, p in zip(geo.window_starts(), geo.in_hw, geo.kernel, geo.pad[::2]):
        end = np.minimum(start + k, n + p)
        if count_include_pad:
            counts.append(end - start)
        else:
            counts.append(np.minimum(end, n) - np.maximum(start, 0))
    return (counts[0][:, None] * counts[1][None, :]).astype(dtype)


def _check_divisor(op, divisor_override):
    if divisor_override is None:
        return
    if not is_int(divisor_override):
        raise TypeError(f"{op}: divisor_override must be an int or None, got {divisor_override!r}")
    if divisor_override == 0:
        raise ValueError(f"{op}: divisor_override must be non-zero, got 0")
