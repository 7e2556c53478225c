r"""``conv2d``'s tuned kernel: im2col and GEMMs in batch-innermost memory.

The numbers are those of the textbook :func:`scratchnet.functional.conv.conv2d` (the
same products, summed in another order); the suite proves it
(``parity_tests/ops/test_05_conv2d.py``). What makes it faster, one line each:

* **Batch-innermost columns** (cuda-convnet's CHWN): im2col's columns are ordered
  ``(i, j, n)``, the sample fastest, so the GEMM's product *is* the output, an
  ``(N, C, H, W)`` array whose memory is ``(C, H, W, N)``: no transpose pass, and the
  next layer (and the gradient coming back) already in that
  layout. Every op takes any strides, so other layouts are only slower, never wrong.
* **A zero-copy window view** (:func:`_window_view`): the gather is one copy of a
  strided view of the padded input, not a loop over taps.
* **Cache blocking** (:func:`_conv2d_sliced`): where the GEMM is memory-bound (few
  filters) and the machine's caches make it pay (:func:`slices_pay`), or the matrix would
  not fit even in L3, an im2col matrix is built and multiplied in slices of output rows,
  and the backward gathers each slice again instead of keeping it.
* **The input gradient tap by tap** (:func:`_input_grad_by_tap`): one small GEMM per
  kernel tap added into channels-innermost memory, in long contiguous runs, instead of a
  multi-MB column gradient written, read back and scattered by col2im in short ones.
* **Buffer recycling**: where col2im runs, the backward writes the input gradient's
  columns into the forward's im2col memory (fresh multi-MB arrays cost page faults).
* **The bias inside the GEMMs**: im2col gets a row of ones and the weight matrix a
  column holding the bias, so the forward's GEMM adds it and the weight gradient's GEMM
  gives its gradient (the row sums of G) as one more row: neither is a pass of its own
  over a multi-MB array. The sliced kernel sums G's rows as a GEMV (:func:`_bias_grad`),
  which BLAS does faster than ``np.sum``.
* **Memoized validation** (:mod:`._memo`): a call with the shapes and arguments of an
  earlier valid one skips the checks.

The measurements behind each choice are in ``benchmarks/README.md``.
"""
from __future__ import annotations

import functools

import numpy as np

from .._vjp import register_kernel
from .._windows import WindowGeometry
from ._cache import l2_bytes
from ._layout import pad_in_layout
from ..conv import _setup as _validate, conv2d
from ._memo import memo_get, memo_key, memo_put


def _conv2d_kernel(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """:func:`~scratchnet.functional.conv.conv2d`'s forward and backward, tuned (see the module docstring)."""
    x, unbatched, w, b, geo = _setup("conv2d", input, weight, bias, stride, padding, dilation, groups)
    n, c = x.shape[:2]
    out_channels = w.shape[0]
    og = out_channels // groups
    ho, wo = geo.out_hw
    w_mat = w.reshape(groups, og, w[0].size)  # spelled out: -1 is ambiguous for C_in = 0

    column_bytes = w_mat.shape[2] * ho * wo * n * x.dtype.itemsize
    if (og <= SLICED_MAX_CHANNELS and slices_pay(column_bytes)) or column_bytes > SLICED_MIN_BYTES:
        # Cache blocking: an im2col matrix larger than L2 is built and used in slices.
        slices = _row_slices(geo, n, w_mat.shape[2], x.dtype.itemsize)
        if len(slices) > 1:
            return _conv2d_sliced(x, unbatched, w, b, geo, groups, slices)

    k = w_mat.shape[2]
    with_bias = b is not None
    cols = _im2col(x, geo, groups, ones_row=with_bias)
    # (g, O/g, Ho*Wo*N): the output as (C_out, Ho, Wo, N) memory. The bias is the
    # weights' last column, against im2col's row of ones: added inside the GEMM.
    w_aug = np.concatenate((w_mat, b.reshape(groups, og, 1)), axis=2) if with_bias else w_mat
    y = np.matmul(w_aug, cols)
    out = y.reshape(out_channels, ho, wo, n).transpose(3, 0, 1, 2)
    saved = {"cols": cols}
    del cols

    def backward(grad_out, needs_input_grad=True):
        # The columns' memory is recycled for their gradient below (fresh multi-MB arrays
        # cost page faults); a second backward call rebuilds them.
        cols = saved.pop("cols", None)
        if cols is None:
            cols = _im2col(x, geo, groups, ones_row=with_bias)
        g = grad_out[None] if unbatched else grad_out
        # G as (g, O/g, Ho*Wo*N); no copy when grad_out has the layout forward produced.
        g_cols = np.ascontiguousarray(g.transpose(1, 2, 3, 0)).reshape(groups, og, ho * wo * n)
        # cols @ G^T, then transposed: the faster GEMM orientation (benchmarks/README.md).
        # Against the row of ones, its last row is the bias gradient: G's row sums.
        grad_wt = np.matmul(cols, g_cols.transpose(0, 2, 1))
        grads = {"weight": grad_wt[:, :k].transpose(0, 2, 1).reshape(w.shape)}
        if with_bias:
            grads["bias"] = grad_wt[:, k].reshape(out_channels)
        if needs_input_grad and groups == 1 and ho * wo * n >= TAPWISE_MIN_COLUMNS and c >= TAPWISE_MIN_CHANNELS:
            del cols  # the weight gradient was its last reader
            grad_x = _input_grad_by_tap(g_cols[0], w, geo, n, c)
            grads["input"] = grad_x[0] if unbatched else grad_x
        elif needs_input_grad:
            w_mat_t = np.ascontiguousarray(w_mat.transpose(0, 2, 1))
            grad_x = _col2im(np.matmul(w_mat_t, g_cols, out=cols[:, :k]), geo, n, c)
            grads["input"] = grad_x[0] if unbatched else grad_x
        return grads

    return (out[0] if unbatched else out), backward


#: Bytes of im2col columns one slice of :func:`_conv2d_sliced` holds: with its GEMM
#: output it stays in L2.
SLICE_BYTES = 256 * 1024

#: Slicing pays only where the GEMM is memory-bound: each column of K numbers meets
#: O/groups filters, 2 O/groups FLOPs per number read; past this many filters per group
#: the GEMM is compute-bound and slices only split it into smaller, slower products.
SLICED_MAX_CHANNELS = 12

#: A core's L2 from which the few-filter convs are always built in slices.
SLICE_MIN_L2_BYTES = 2 << 20

#: One core's L2 in bytes (0 where unknown), probed at the first conv, not at import.
_L2: dict = {}


#: Where slices do not fit a core's L2, the largest whole im2col matrix a few-filter conv
#: reads back from L3 instead of slicing it.
WHOLE_MAX_BYTES = 16 << 20


def slices_pay(column_bytes: int) -> bool:
    """Whether a few-filter conv builds its im2col matrix of ``column_bytes`` in slices here.

    Where a core's L2 holds :data:`SLICE_MIN_L2_BYTES`, always: the slices were sized
    there. With a smaller L2 (1 MiB, 32 MiB of L3) one GEMM over the whole matrix, read
    back from L3, was faster, except at both ends: a matrix of at most half the L2 (its
    whole GEMM is one OpenBLAS splits over two threads badly) and one past
    :data:`WHOLE_MAX_BYTES` (``benchmarks/README.md`` has the measurements).
    """
    if "bytes" not in _L2:
        _L2["bytes"] = l2_bytes() or 0
    l2 = _L2["bytes"]
    return l2 >= SLICE_MIN_L2_BYTES or not l2 // 2 < column_bytes <= WHOLE_MAX_BYTES


#: Past this many bytes of columns every conv is sliced: a whole im2col matrix that large
#: (an evaluation batch of 1000) is written to and read back from main memory, which
#: costs more than splitting its GEMM.
SLICED_MIN_BYTES = 24 << 20


def _row_slices(geo: WindowGeometry, n: int, k: int, itemsize: int) -> list:
    """``[(i0, i1)]``: the output rows in slices of about :data:`SLICE_BYTES` of columns."""
    ho, wo = geo.out_hw
    rows = max(1, SLICE_BYTES // max(1, k * wo * n * itemsize))
    return [(i, min(ho, i + rows)) for i in range(0, ho, rows)]


def _conv2d_sliced(x, unbatched, w, b, geo, groups, slices):
    r""":func:`_conv2d_kernel`'s forward and backward with im2col in slices of output rows.

    The columns of a few output rows at a time are gathered into one small buffer and
    multiplied while they are still in L2; the backward gathers each slice again and
    adds its share to the weight gradient, so no multi-megabyte im2col matrix is kept.
    (The input gradient, where needed, is one GEMM and one col2im over all the columns.)
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
            # cols @ G^T, then transposed: the faster GEMM orientation (benchmarks/README.md).
            grad_wt += np.matmul(gather(i0, i1), g_cols[:, :, i0 * per_row:i1 * per_row].transpose(0, 2, 1),
                                 out=part)
        grads = {"weight": grad_wt.transpose(0, 2, 1).reshape(w.shape)}
        if needs_input_grad:
            # One GEMM and one col2im over all the columns: col2im in slices is slower.
            w_mat_t = np.ascontiguousarray(w_mat.transpose(0, 2, 1))
            grad_x = _col2im(np.matmul(w_mat_t, g_cols), geo, n, c)
            grads["input"] = grad_x[0] if unbatched else grad_x
        if b is not None:
            grads["bias"] = _bias_grad(g_cols).reshape(out_channels)
        return grads

    return (out[0] if unbatched else out), backward


#: Output columns (Ho*Wo*N) from which an unsliced call's input gradient is computed tap
#: by tap (:func:`_input_grad_by_tap`); below it col2im's few passes are small and the
#: kh*kw extra GEMM calls buy nothing measurable (``benchmarks/README.md``).
TAPWISE_MIN_COLUMNS = 1024
#: Input channels from which it is: each tap's GEMM has C output columns, and at LeNet-5's
#: 6 (C3) those small GEMMs cost more than col2im saves; at the basic CNN's 10 they pay.
TAPWISE_MIN_CHANNELS = 8


def _input_grad_by_tap(g_mat: np.ndarray, w: np.ndarray, geo: WindowGeometry, n: int, c: int) -> np.ndarray:
    r"""The input gradient of an ungrouped conv as one small GEMM per kernel tap, no col2im matrix.

    Tap :math:`(a, b)`'s share is :math:`G^\top W_{ab}`, ``(Ho*Wo*N, C)`` (``g_mat`` is
    ``G``, ``(O, Ho*Wo*N)``), the channel fastest: in a channels-innermost ``(Hp, Wp, N, C)``
    gradient its destination is ``Ho`` runs of ``Wo*N*C`` contiguous numbers, where the
    ``(C, Ho*Wo*N)`` columns of col2im land in ``C*Ho`` runs of ``Wo*N`` (NumPy's strided
    passes cost per run). One transposing copy at the end returns the gradient as the
    forward's output lies, ``(N, C, H, W)`` with ``(C, H, W, N)`` memory.
    """
    (ho, wo), (hp, wp) = geo.out_hw, geo.padded_hw
    w_taps = np.ascontiguousarray(w.transpose(2, 3, 0, 1))  # (kh, kw, O, C): W_ab, rows contiguous
    g_t = g_mat.T  # (Ho*Wo*N, O), a view: BLAS reads the transpose in place
    part = np.empty((ho, wo, n, c), dtype=g_mat.dtype)
    dxp = np.zeros((hp, wp, n, c), dtype=g_mat.dtype)
    for (a, b), (_, rows, columns) in zip(geo.taps, geo.tap_indices):
        np.matmul(g_t, w_taps[a, b], out=part.reshape(ho * wo * n, c))
        dxp[rows, columns] += part
    top, _, left, _ = geo.pad
    h, w_in = geo.in_hw
    grad = np.empty((c, h, w_in, n), dtype=g_mat.dtype)
    grad[...] = dxp[top:top + h, left:left + w_in].transpose(3, 0, 1, 2)
    return grad.transpose(3, 0, 1, 2)


def _bias_grad(g_cols: np.ndarray) -> np.ndarray:
    """The sum of each row of ``g_cols`` (``(..., M)``), as a GEMV with a vector of ones.

    OpenBLAS's GEMV sums long rows about three times faster than ``np.sum``'s pairwise
    reduction (``benchmarks/README.md``); the numbers differ only in the order of the sum.
    """
    return np.matmul(g_cols, _ones(g_cols.shape[-1], g_cols.dtype))


@functools.lru_cache(maxsize=16)
def _ones(m: int, dtype: np.dtype) -> np.ndarray:
    """A read-only vector of ``m`` ones, made once per length and dtype."""
    ones = np.ones(m, dtype=dtype)
    ones.flags.writeable = False
    return ones


def _setup(op, input, weight, bias, stride, padding, dilation, groups):
    """:func:`~scratchnet.functional.conv._setup`, memoized: a repeated valid call reuses its geometry."""
    key = memo_key(op, (input, weight, bias), (stride, padding, dilation, groups))
    geo = memo_get(key)
    if geo is not None:
        unbatched = input.ndim == 3
        return (input[None] if unbatched else input), unbatched, weight, bias, geo
    x4, unbatched, w, b, geo = _validate(op, input, weight, bias, stride, padding, dilation, groups)
    memo_put(key, geo)
    return x4, unbatched, w, b, geo


def _im2col(x: np.ndarray, geo: WindowGeometry, groups: int, ones_row: bool = False) -> np.ndarray:
    r"""Every window of ``x`` ``(N, C, H, W)`` as columns ``(g, C/g*kh*kw, Ho*Wo*N)``, the sample fastest.

    Rows are ``(c, a, b)`` (channel, kernel tap), columns ``(i, j, n)``. One copy of
    :func:`_window_view`'s zero-copy view into a fresh, writeable matrix (the backward
    recycles its memory). Read as ``(C, H, W, N)`` memory, tap ``(a, b)`` of output row
    ``i`` over every column and sample is one contiguous run of ``Wo*N`` numbers.
    With ``ones_row``, each group's matrix gets one more row, of ones, for the bias.
    """
    _, windows = _window_view(x, geo, groups)
    g, cg, kh, kw, ho, wo, n = windows.shape
    k = cg * kh * kw
    cols = np.empty((g, k + ones_row, ho * wo * n), dtype=x.dtype)
    cols[:, :k].reshape(windows.shape)[...] = windows
    if ones_row:
        cols[:, k] = 1
    return cols


def _window_view(x: np.ndarray, geo: WindowGeometry, groups: int) -> tuple:
    """Every window of ``x`` ``(N, C, H, W)`` as one zero-copy view; also its buffer.

    Returns ``(buf, windows)``: ``buf`` is the input as padded ``(C, Hp, Wp, N)``
    memory (the input itself when it already lies so and needs no padding), and
    ``windows`` a zero-copy strided view of it shaped ``(g, C/g, kh, kw, Ho, Wo, N)``:
    element ``[g, c, a, b, i, j, n]`` is tap ``(a, b)`` of the window of output pixel
    ``(i, j)`` of sample ``n`` in channel ``c`` of group ``g``. Stepping a tap moves
    ``d`` input rows (columns), stepping an output pixel ``s`` of them.
    """
    n, c = x.shape[:2]
    (kh, kw), (sh, sw), (dh, dw), (ho, wo) = geo.kernel, geo.stride, geo.dilation, geo.out_hw
    # (C, Hp, Wp, N) memory: the padded buffer is laid out so, and an unpadded input that
    # came from a conv (or a pool or activation after one) already is: one copy at most.
    buf = np.ascontiguousarray(pad_in_layout(geo, x, 0, order=(1, 2, 3, 0)).transpose(1, 2, 3, 0))
    s_c, s_h, s_w, s_n = buf.strides
    cg = c // groups
    # The ndarray constructor on buf's memory: the view as_strided makes, without its
    # Python-level wrapper (a quarter of the cost, which counts at batch 1).
    windows = np.ndarray((groups, cg, kh, kw, ho, wo, n), buf.dtype, buf, 0,
                         (cg * s_c, s_c, dh * s_h, dw * s_w, sh * s_h, sw * s_w, s_n))
    windows.flags.writeable = False
    return buf, windows


def _col2im(dcols: np.ndarray, geo: WindowGeometry, n: int, c: int) -> np.ndarray:
    """Adjoint of :func:`_im2col`: add every column back onto the pixels it came from.

    One ``+=`` per kernel tap of a whole ``(C, Ho, Wo, N)`` slab into the padded
    ``(C, Hp, Wp, N)`` gradient. Returns ``(N, C, H, W)`` whose memory is
    ``(C, H, W, N)`` (the interior of the padded buffer, a view).
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


register_kernel(conv2d, _conv2d_kernel)
