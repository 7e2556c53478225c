r"""The tuned pooling kernels: what runs by default in place of :mod:`..pooling`'s textbook ops.

Same contract as the textbook :func:`~scratchnet.functional.max_pool2d` and
:func:`~scratchnet.functional.avg_pool2d` (arguments, ``(out, backward)``, torch's
semantics to the last tie and NaN); ``parity_tests/ops/test_06_pooling.py`` proves
them equal. What they do differently, each for speed:

* windows are visited one kernel *tap* at a time: tap :math:`(a, b)` of every window is
  one zero-copy strided slice of the padded input shaped like the output (see
  :mod:`.._windows`), so a backward is :math:`k_h k_w` strided writes with no
  ``np.add.at`` and no window-sized temporaries;
* where the backward will route through a mask (below), max pooling's forward is a
  running ``np.maximum`` over those slices and copies nothing; elsewhere it stacks the
  taps into one contiguous ``(taps, N, C, H_out, W_out)`` copy, so its max and argmax
  are long branch-free passes;
* where the windows tile the input and the batch axis is innermost in memory (a conv's
  output), or the input is small, the max pool's backward routes the gradient with one
  input-shaped boolean mask;
* every array they create keeps the input's memory layout (:func:`empty_in_layout`);
* validation is memoized per shape, dtype and arguments (:mod:`._memo`), with the
  average pool's divisor, a 0-d array where every window has the same one.
"""
from __future__ import annotations

import numpy as np

from .._vjp import register_kernel
from .._windows import WindowGeometry
from ._layout import as_layout_of, crop_in_layout, empty_in_layout, pad_in_layout
from ..pooling import _avg_divisor, _check_divisor, _validate, avg_pool2d, max_pool2d
from ._memo import memo_get, memo_key, memo_put


def max_pool2d_kernel(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                      return_indices=False):
    """:func:`~scratchnet.functional.max_pool2d` over its tap slices: a running max where the
    mask route will run (tiling windows on batch-innermost or small input), else a contiguous
    stack of the taps for the argmax route."""
    op = "max_pool2d"
    x, unbatched, geo, tiles, _ = _setup(op, input, kernel_size, stride, padding, dilation, ceil_mode,
                                         max_pool=True)
    xp = pad_in_layout(geo, x, -np.inf)
    saved = {}
    mask_route = tiles and (_batch_innermost(x) or x.size <= MASK_ROUTE_MAX_ELEMENTS)
    if mask_route:
        # The mask route's case: the backward will need no stack of the taps (unless
        # some window's max is NaN), so none is written.
        best = _tap_max(xp, geo)
    else:
        # The argmax route's case: one contiguous copy of the taps, kept for the argmax,
        # so every later pass is a long contiguous loop instead of many short strided rows.
        saved["windows"] = _gather_taps(xp, geo)
        best = saved["windows"].max(axis=0)  # a NaN anywhere in the window propagates, as in torch

    def window_argmax():
        """Tap index of each window's max, by torch's rule (the textbook max_pool2d's docstring).

        Computed on first use (a forward alone never needs it) and kept; the stacked
        taps are released then.
        """
        if "arg" not in saved:
            windows = saved.pop("windows", None)
            saved["arg"] = _tap_argmax(_gather_taps(xp, geo) if windows is None else windows, best, geo)
        return saved["arg"]

    def max_mask():
        """The input-shaped boolean mask of :func:`_max_mask`, or ``None`` where it does not apply.

        Tried once, on first use; kept.
        """
        if "mask" not in saved:
            saved["mask"] = _max_mask(x, best, geo) if mask_route else None
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
        # Every pass below pairs g with arrays in the input's layout; a gradient in
        # another (a flatten's C order) would make each a short-row strided loop.
        g = as_layout_of(best, g)
        # g * mask is branch-free and several times faster than np.where, but it would
        # turn an unselected inf/NaN gradient into NaN instead of torch's 0.
        finite = np.logical_and.reduce(np.isfinite(g), axis=None)  # ndarray.all's wrapper, skipped
        zero = x.dtype.type(0)
        mask = max_mask()
        if mask is not None:
            # Mask routing (tiling windows, one argmax each): every input pixel gets its
            # window's gradient times its mask bit, one contiguous pass over same-layout
            # arrays instead of the per-tap route's kh*kw strided ones.
            grad = empty_in_layout(x, x.shape)
            split = _split_windows(grad, geo)
            spread = g[:, :, :, None, :, None]  # each window's gradient, seen at each of its taps
            if finite:
                np.multiply(spread, mask, out=split)
            else:
                split[...] = spread
                np.copyto(split, zero, where=~mask)
            return {"input": grad[0] if unbatched else grad}
        arg = window_argmax()
        # Where the windows tile the input every tap's write covers its slice: no zero fill.
        dxp = empty_in_layout(x, x.shape[:2] + geo.padded_hw, fill=None if tiles else 0)
        overlapping = geo.overlapping  # a property: computed once, not once per tap
        for t, index in enumerate(geo.tap_indices):
            chosen = arg == t
            view = dxp[index]
            if overlapping:
                view += g * chosen if finite else np.where(chosen, g, zero)
            elif finite:  # each input pixel is one tap of at most one window
                np.multiply(g, chosen, out=view)
            else:
                view[...] = np.where(chosen, g, zero)
        grad = crop_in_layout(geo, dxp)
        return {"input": grad[0] if unbatched else grad}

    return out, backward


def avg_pool2d_kernel(input, kernel_size, stride=None, padding=0, ceil_mode=False,
                      count_include_pad=True, divisor_override=None):
    """:func:`~scratchnet.functional.avg_pool2d` as a sum of tap slices, its backward one
    strided write per tap (an assignment where windows tile, no zero fill)."""
    op = "avg_pool2d"
    _check_divisor(op, divisor_override)
    x, unbatched, geo, tiles, divisor = _setup(op, input, kernel_size, stride, padding, 1, ceil_mode,
                                               max_pool=False, divisor=(count_include_pad, divisor_override))

    xp = pad_in_layout(geo, x, 0)
    first, *rest = geo.tap_indices
    total = np.array(xp[first], copy=True)
    for index in rest:  # scan order, the order in which torch sums each window
        total += xp[index]
    out = np.divide(total, divisor, out=total)

    def backward(grad_out):
        g = grad_out[None] if unbatched else grad_out
        # The share in the output's layout, whatever g's (a flatten's C order): every
        # per-tap write below is then a pass over same-layout arrays.
        share = np.divide(g, divisor, out=empty_in_layout(out, out.shape))
        # Tiling windows (each pixel in exactly one) write their share once per tap;
        # overlapping ones accumulate it.
        dxp = empty_in_layout(x, x.shape[:2] + geo.padded_hw, fill=None if tiles else 0)
        for index in geo.tap_indices:
            if tiles:
                dxp[index] = share
            else:
                dxp[index] += share
        grad = crop_in_layout(geo, dxp)
        return {"input": grad[0] if unbatched else grad}

    return (out[0] if unbatched else out), backward


# ---------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------


def _setup(op, input, kernel_size, stride, padding, dilation, ceil_mode, *, max_pool, divisor=None):
    """Validate a pooling call as torch does; return the 4-D input, whether it was unbatched,
    the geometry, whether its windows tile the input (:func:`_windows_tile_input`) and, for
    an average pool (``divisor=(count_include_pad, divisor_override)``), its divisor.

    Memoized (see :mod:`._memo`): a call with the shape, dtype and arguments of an earlier
    valid one reuses its geometry and what follows from it, since at batch 1 the checks
    and the divisor's arithmetic cost as much as the pooling.
    """
    key = memo_key(op, (input,), (kernel_size, stride, padding, dilation, ceil_mode, max_pool, divisor))
    known = memo_get(key)
    if known is not None:
        unbatched = input.ndim == 3
        return ((input[None] if unbatched else input), unbatched) + known
    x4, unbatched, geo = _validate(op, input, kernel_size, stride, padding, dilation, ceil_mode,
                                   max_pool=max_pool)
    known = (geo, _windows_tile_input(geo), None if divisor is None else _shared_divisor(geo, *divisor, x4.dtype))
    memo_put(key, known)
    return (x4, unbatched) + known


def _shared_divisor(geo: WindowGeometry, count_include_pad, divisor_override, dtype) -> np.ndarray:
    """The textbook's divisor, read-only (the memo shares it), 0-d where every window has
    the same one: dividing by a broadcast ``(H_out, W_out)`` array costs NumPy a short inner
    loop per output row, a 0-d divisor one long loop, for the same quotients."""
    divisor = _avg_divisor(geo, count_include_pad, divisor_override, dtype)
    if divisor.ndim and divisor.size and (divisor == divisor.flat[0]).all():
        divisor = divisor.flat[0].reshape(())
    divisor = np.array(divisor)  # a copy of its own, so the flag below cannot reach another array
    divisor.flags.writeable = False
    return divisor


def _windows_tile_input(geo: WindowGeometry) -> bool:
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


#: Up to this many input elements the mask route runs whatever the layout: on a small
#: input its few calls cost less than the tap route's kh*kw passes, short inner loops or not.
MASK_ROUTE_MAX_ELEMENTS = 8192


def _batch_innermost(x: np.ndarray) -> bool:
    """The batch axis is ``x``'s innermost in memory, as in a conv kernel's output (see :mod:`.conv`).

    The mask route's passes then run along long contiguous rows of the batch; in a
    C-ordered ``(N, C, H, W)`` array their inner loops would be only ``kw`` long, and
    the per-tap route is faster there.
    """
    return x.ndim == 4 and x.shape[0] > 1 and abs(x.strides[0]) == min(abs(s) for s in x.strides)


def _split_windows(a: np.ndarray, geo: WindowGeometry) -> np.ndarray:
    """An input-shaped ``(N, C, H, W)`` array of tiling windows as ``(N, C, H_out, kh, W_out, kw)``.

    A view (splitting an axis in two never needs a copy, whatever the strides): element
    ``[n, c, i, a, j, b]`` is tap ``(a, b)`` of window ``(i, j)``.
    """
    (kh, kw), (ho, wo) = geo.kernel, geo.out_hw
    return a.reshape(a.shape[:2] + (ho, kh, wo, kw))


def _max_mask(x: np.ndarray, best: np.ndarray, geo: WindowGeometry):
    """``True`` at each tiling window's argmax and ``False`` elsewhere, in ``x``'s shape and
    memory layout, split as :func:`_split_windows`; ``None`` if some window's max is NaN.

    Torch's argmax is the first tap equal to the window's max (a window of ties or of
    ``-inf`` has several; a NaN max equals nothing, so those windows take the argmax
    route). One ``np.equal`` marks every tap equal to its max; with no NaN max, every
    window has at least one, so ``N C H_out W_out`` marks in all means exactly one
    each. Otherwise ties are resolved tap by tap, in the taps' order: a tap keeps its
    mark only if no earlier tap of its window had one. Real images tie often (a conv
    over blank background gives its bias in every tap), so ties stay on this route.
    Booleans: a quarter of the memory of a float mask.
    """
    if np.logical_or.reduce(np.isnan(best), axis=None):  # ndarray.any's wrapper, skipped
        return None
    mask = _split_windows(empty_in_layout(x, x.shape, dtype=bool), geo)
    np.equal(_split_windows(x, geo), best[:, :, :, None, :, None], out=mask)
    if np.count_nonzero(mask) != best.size:
        kh, kw = geo.kernel
        seen = np.zeros_like(mask[:, :, :, 0, :, 0])  # order K: the mask's layout
        for a in range(kh):
            for b in range(kw):
                tap = mask[:, :, :, a, :, b]
                np.greater(tap, seen, out=tap)  # on booleans: marked here and not before
                np.logical_or(seen, tap, out=seen)
    return mask


def _tap_max(xp: np.ndarray, geo: WindowGeometry) -> np.ndarray:
    """Each window's max as a running :func:`np.maximum` over the tap slices of ``xp``.

    No stack of the taps is written: the result is read straight from the strided
    slices, in the input's memory layout. ``np.maximum`` propagates a NaN, as torch's
    max pool does.
    """
    taps = geo.tap_indices
    if len(taps) == 1:
        return xp[taps[0]].copy(order="K")
    # A ufunc's own result follows its operands' memory order (order="K"): the input's.
    best = np.maximum(xp[taps[0]], xp[taps[1]])
    for index in taps[2:]:
        np.maximum(best, xp[index], out=best)
    return best


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


register_kernel(max_pool2d, max_pool2d_kernel)
register_kernel(avg_pool2d, avg_pool2d_kernel)
