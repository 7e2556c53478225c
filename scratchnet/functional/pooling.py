r"""2-D max and average pooling: every window of the input reduced to one number.

A pool slides a :math:`k_h \times k_w` window, its taps :math:`d` apart (the dilation),
with stride :math:`s` over the input padded by :math:`p` on each side. Output pixel
:math:`(i, j)` reduces the window

.. math::

    x^{\text{pad}}_{n,c,\; i s_h + a d_h,\; j s_w + b d_w}, \qquad
    0 \le a < k_h,\ 0 \le b < k_w,

to its maximum (padding :math:`-\infty`, never chosen) or its mean (padding 0). The
output size per spatial dimension is torch's (ceil mode drops a last window that would
start in the right padding):

.. math::

    H_\text{out} = \Big\lfloor \frac{H + 2p - d(k-1) - 1 + [\text{ceil}](s-1)}{s}
    \Big\rfloor + 1 .

Backward: a max pool sends each output's gradient to the one input its maximum came
from (the window's *argmax*), an average pool spreads it evenly over the window. Where
windows overlap (stride smaller than the window) an input collects from every window
that holds it, so the backward *adds* (``+=``).

Read top-down. For each pool, the ``*_naive`` version loops over every output pixel and
transcribes torch's CPU kernel rule by rule (the oracle of the tests); the registered op
after it is the same computation vectorised: one view of every window at once
(:func:`_window_view`), a reduction over each window, and a backward that adds the
upstream gradient back one kernel tap at a time. The validation helpers come last.

A tuned kernel with the same contract runs by default
(:mod:`scratchnet.functional.fast.pooling`); ``with F.textbook():`` runs this page's code,
and the suite proves the two equal.
"""
from __future__ import annotations

import numpy as np

from ..checks import as_float_array, is_int, pair, shape_str
from ._vjp import differentiable
from ._windows import WindowGeometry, batched, pool_output_size


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
    x, unbatched, geo = _validate(op, input, kernel_size, stride, padding, dilation, ceil_mode,
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
    x, unbatched, geo = _validate("max_pool2d", input, kernel_size, stride, padding, dilation,
                                  ceil_mode, max_pool=True)
    (kh, kw), (sh, sw), (dh, dw), (ho, wo) = geo.kernel, geo.stride, geo.dilation, geo.out_hw
    h, w = geo.in_hw
    top, _, left, _ = geo.pad
    # Every window as one row of its kh*kw taps, in torch's scan order (row by row).
    windows = _window_view(_pad(x, geo, -np.inf), geo)
    windows = windows.reshape(windows.shape[:4] + (kh * kw,))
    best = windows.max(axis=-1)  # a NaN anywhere in the window propagates, as in torch

    # The argmax by torch's rule: a value replaces the running max if it is greater, or NaN.
    tap = np.argmax(windows == best[..., None], axis=-1)  # ties: the first maximum
    last_nan = kh * kw - 1 - np.argmax(np.isnan(windows[..., ::-1]), axis=-1)
    tap = np.where(np.isnan(best), last_nan, tap)  # a NaN window: its last NaN
    # A max of -inf also equals the padding: torch keeps the window's first in-bounds tap.
    tap = np.where(best == -np.inf, _first_in_bounds_tap(geo), tap)

    out = best[0] if unbatched else best
    if return_indices:
        # Flat index u * W + v of each argmax in its input plane, as torch reports it.
        rows, cols = geo.window_starts()
        u = rows[:, None] + (tap // kw) * dh
        v = cols[None, :] + (tap % kw) * dw
        indices = (u * w + v).astype(np.int64)
        out = (out, indices[0] if unbatched else indices)

    def backward(grad_out):
        g = grad_out[None] if unbatched else grad_out
        dxp = np.zeros(x.shape[:2] + geo.padded_hw, dtype=x.dtype)
        # Tap (a, b) of every window is one strided slice of the padded input: each window
        # adds its gradient there if that tap is its argmax (np.where, not g * mask: an
        # inf or NaN gradient must not leak into the taps it does not choose).
        for a in range(kh):
            for b in range(kw):
                chosen = tap == a * kw + b
                dxp[:, :, a * dh:a * dh + sh * (ho - 1) + 1:sh,
                    b * dw:b * dw + sw * (wo - 1) + 1:sw] += np.where(chosen, g, 0)
        grad = dxp[:, :, top:top + h, left:left + w]  # the padding's share is dropped
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
    x, unbatched, geo = _validate(op, input, kernel_size, stride, padding, 1, ceil_mode,
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
    _check_divisor("avg_pool2d", divisor_override)
    x, unbatched, geo = _validate("avg_pool2d", input, kernel_size, stride, padding, 1, ceil_mode,
                                  max_pool=False)
    (kh, kw), (sh, sw), (ho, wo) = geo.kernel, geo.stride, geo.out_hw
    h, w = geo.in_hw
    top, _, left, _ = geo.pad
    divisor = _avg_divisor(geo, count_include_pad, divisor_override, x.dtype)  # (H_out, W_out)
    windows = _window_view(_pad(x, geo, 0), geo)  # (N, C, H_out, W_out, kh, kw)
    out = windows.sum(axis=(-2, -1)) / divisor

    def backward(grad_out):
        g = grad_out[None] if unbatched else grad_out
        share = g / divisor  # what each tap of window (i, j) receives
        dxp = np.zeros(x.shape[:2] + geo.padded_hw, dtype=x.dtype)
        # Tap (a, b) of every window is one strided slice of the padded input; += adds up
        # the shares of overlapping windows.
        for a in range(kh):
            for b in range(kw):
                dxp[:, :, a:a + sh * (ho - 1) + 1:sh, b:b + sw * (wo - 1) + 1:sw] += share
        grad = dxp[:, :, top:top + h, left:left + w]  # the padding's share is dropped
        return {"input": grad[0] if unbatched else grad}

    return (out[0] if unbatched else out), backward


# ---------------------------------------------------------------------------------------
# The windows, the argmax's start, the divisors
# ---------------------------------------------------------------------------------------


def _pad(x: np.ndarray, geo: WindowGeometry, value) -> np.ndarray:
    """``x`` (``(N, C, H, W)``) padded with ``value`` by ``geo.pad``: the declared padding, and
    at the bottom/right as much more as ceil mode's last window needs."""
    top, bottom, left, right = geo.pad
    return np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)), constant_values=value)


def _window_view(xp: np.ndarray, geo: WindowGeometry) -> np.ndarray:
    """Every window of the padded ``xp`` at once: a read-only view ``(N, C, H_out, W_out, kh, kw)``.

    Element ``[n, c, i, j, a, b]`` is ``xp[n, c, i*sh + a*dh, j*sw + b*dw]``, tap ``(a, b)``
    of window ``(i, j)``. No copy: the view only re-reads ``xp``'s memory with other strides.
    """
    (kh, kw), (sh, sw), (dh, dw), (ho, wo) = geo.kernel, geo.stride, geo.dilation, geo.out_hw
    span = (dh * (kh - 1) + 1, dw * (kw - 1) + 1)  # a dilated window's extent
    every = np.lib.stride_tricks.sliding_window_view(xp, span, axis=(2, 3))  # stride 1, dense
    return every[:, :, :sh * (ho - 1) + 1:sh, :sw * (wo - 1) + 1:sw, ::dh, ::dw]


def _first_in_bounds_tap(geo: WindowGeometry) -> np.ndarray:
    """Per window, the tap ``a * kw + b`` of its first position at or past the input's top-left
    corner, shape ``(H_out, W_out)``.

    Torch starts every window's running max at :math:`-\\infty` with that position as its
    argmax: a window whose in-bounds values are all :math:`-\\infty` reports it (and one
    that misses the input, which a dilated window can, sends its gradient into padding).
    """
    rows, cols = geo.window_starts()
    kw, (dh, dw) = geo.kernel[1], geo.dilation
    a0 = -(np.minimum(rows, 0) // dh)  # ceil(max(-row, 0) / dh): the first tap at row >= 0
    b0 = -(np.minimum(cols, 0) // dw)
    return a0[:, None] * kw + b0[None, :]


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


# ---------------------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------------------


def _validate(op, input, kernel_size, stride, padding, dilation, ceil_mode, *, max_pool):
    """Validate a pooling call as torch does; return the 4-D input, whether it was unbatched,
    and the windows' geometry."""
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


def _check_divisor(op, divisor_override):
    if divisor_override is None:
        return
    if not is_int(divisor_override):
        raise TypeError(f"{op}: divisor_override must be an int or None, got {divisor_override!r}")
    if divisor_override == 0:
        raise ValueError(f"{op}: divisor_override must be non-zero, got 0")
