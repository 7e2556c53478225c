r"""The lectures' classification losses: cross-entropy and negative log-likelihood.

Every loss follows torch.nn.functional exactly: argument order (legacy
``size_average``/``reduce`` included), defaults, shapes, the ``'none' | 'mean' |
'sum'`` reductions, and the corner cases (what ``ignore_index`` removes from a weighted
mean, how label smoothing meets class weights, NaN for the mean of nothing). The
elementwise losses (MSE, logistic) are in :mod:`scratchnet.functional.elementwise_loss`,
the reductions all losses share in :mod:`scratchnet.functional._reduction`.

Classification losses work in a *class-last* layout: an input of shape
:math:`(N, C, d_1, \dots, d_K)` is viewed as :math:`(N, d_1, \dots, d_K, C)` and an
unbatched :math:`(C,)` stays as it is, so that every "position" :math:`i` (a sample, or
a pixel of a sample) owns one row of :math:`C` scores and one target, and one code path
serves the unbatched, batched and K-dimensional cases alike.

Gradients are returned for every floating-point argument, including the class
``weight`` (torch does not differentiate it; the finite-difference tests do) and
class-probability targets.
"""
from __future__ import annotations

import numbers

import numpy as np

from ..checks import as_float_array, as_index_array, as_int64, same_dtype, shape_str
from ._reduction import _mean, _per_position_scale, _reduce, _reduction
from ._vjp import differentiable
from .softmax import _log_softmax, _log_softmax_backward

# ---------------------------------------------------------------------------------------
# Classification losses
# ---------------------------------------------------------------------------------------


@differentiable(fresh_grads=True)
def cross_entropy_naive(input, target, weight=None, size_average=None, ignore_index=-100,
                        reduce=None, reduction="mean", label_smoothing=0.0):
    r"""Reference :func:`cross_entropy`: the lectures' formula, one sample at a time.

    For logits :math:`z` of shape :math:`(N, C)` and class indices :math:`y_i`,

    .. math::

        s_{ic} = \frac{e^{z_{ic} - m_i}}{\sum_k e^{z_{ik} - m_i}}, \qquad
        L = -\frac{1}{N} \sum_{i=1}^{N} \log s_{i, y_i}
          = \frac{1}{N} \sum_{i=1}^{N} \Bigl(m_i + \log \sum_k e^{z_{ik} - m_i} - z_{i, y_i}\Bigr),

    with :math:`m_i = \max_k z_{ik}` (the shift cancels in :math:`s`; it keeps
    ``exp`` from overflowing). Backward, for upstream gradient :math:`g = \partial
    \mathcal{J} / \partial L` (a scalar):

    .. math::

        \frac{\partial \mathcal{J}}{\partial z_{ic}} = \frac{g}{N}\,\bigl(s_{ic} - [c = y_i]\bigr),

    the softmax minus the one-hot target. The version to read, and the oracle of
    :func:`cross_entropy` on the lectures' case: 2-D logits, class-index targets,
    ``reduction='mean'``. Class weights, ``ignore_index``'d targets, label smoothing,
    probability targets and the other reductions are :func:`cross_entropy`'s; asked
    of this one they raise an error saying so. Same signature as
    :func:`cross_entropy`.

    Returns
    -------
    ndarray, 0-d, dtype of ``input``

    Examples
    --------
    >>> import numpy as np
    >>> from scratchnet.functional.loss import cross_entropy_naive
    >>> cross_entropy_naive(np.zeros((2, 4)), np.array([1, 3]))   # log 4
    array(1.38629436)
    """
    op = "cross_entropy_naive"
    z, y = _naive_setup(op, input, target, weight, size_average, ignore_index, reduce,
                        reduction, label_smoothing)
    n, c = z.shape
    s = np.empty_like(z)
    total = np.zeros((), dtype=z.dtype)
    with np.errstate(invalid="ignore", divide="ignore"):  # NaN/inf logits: torch's NaN/inf
        for i in range(n):
            m = z[i].max()
            e = np.exp(z[i] - m)
            s[i] = e / e.sum()
            total += m + np.log(e.sum()) - z[i, y[i]]  # -log s[i, y_i]
        loss = np.asarray(total / n, dtype=z.dtype)  # N = 0: the mean of nothing, NaN

    def backward(grad_out):
        with np.errstate(invalid="ignore", divide="ignore"):
            a = np.asarray(grad_out, dtype=z.dtype) / n  # every sample's share of g
            grad = s * a
            for i in range(n):
                grad[i, y[i]] -= a  # s - y: the one-hot target taken away
        return {"input": grad}

    return loss, backward


@differentiable
def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
                  reduction="mean", label_smoothing=0.0):
    r"""Cross-entropy between logits and targets: ``nll_loss(log_softmax(input, 1), target)``.

    **Class-index targets** (integer ``target`` of shape ``(N, d1, ..., dK)``): with
    :math:`\ell = \mathrm{log\_softmax}(x)` over the class dimension, ignore mask
    :math:`m_i` and label smoothing :math:`\epsilon`,

    .. math::

        \text{loss}_i = (1-\epsilon)\bigl(-m_i w_{t_i} \ell_{i,t_i}\bigr)
        + \frac{\epsilon}{C}\Bigl(-m_i \textstyle\sum_c w_c \ell_{ic}\Bigr),

    and ``'mean'`` divides the sum of each term by :math:`W = \sum_i m_i w_{t_i}`, the
    total weight of the kept targets (NaN when every target is ignored; the smoothing
    term is weighted per class and shares that denominator, exactly torch's formula).

    **Class-probability targets** (float ``target`` of the input's shape): with
    :math:`q = (1-\epsilon)\,p + \epsilon/C`,
    :math:`\text{loss}_i = -\sum_c w_c q_{ic} \ell_{ic}`, and ``'mean'`` divides by the
    number of positions :math:`N d_1 \cdots d_K`. ``ignore_index`` must then be negative
    (it is not applied), as in torch.

    Backward: let :math:`G_{ic} = \partial L / \partial \ell_{ic}`, which is
    :math:`-a_i m_i\bigl((1-\epsilon) w_{t_i}[c = t_i] + \tfrac{\epsilon}{C} w_c\bigr)`
    or :math:`-a_i w_c q_{ic}` for the two target kinds (:math:`a_i` the upstream
    gradient per position, divided by the mean's denominator). Then through the
    log-softmax,

    .. math::

        \frac{\partial L}{\partial x_{ic}} = G_{ic} - s_{ic} \textstyle\sum_k G_{ik},
        \qquad s = e^{\ell},

    which for one-hot targets without weights is the lectures' :math:`(s - y)/N`. The
    probability target gets :math:`-a_i (1-\epsilon) w_c \ell_{ic}`, the class weight
    :math:`\partial L/\partial w_c` (torch leaves it undifferentiated) the derivative of
    both the numerator and, for a class-index ``'mean'``, the denominator :math:`W`.

    Parameters
    ----------
    input : ndarray, shape ``(C,)``, ``(N, C)`` or ``(N, C, d1, ..., dK)``, float32/float64
        Unnormalised logits.
    target : ndarray
        Integer class indices of shape ``()``, ``(N,)`` or ``(N, d1, ..., dK)``; or
        float class probabilities of the input's shape.
    weight : ndarray, shape ``(C,)``, optional
        Per-class rescaling.
    size_average, reduce : bool, optional
        Deprecated; when given they override ``reduction`` by torch's legacy rule.
    ignore_index : int
        Class-index target value that is skipped (may be a valid class).
    reduction : {'mean', 'sum', 'none'}
    label_smoothing : float in [0, 1]
        Mix of the targets with the uniform distribution, :math:`\epsilon`.

    Returns
    -------
    ndarray, 0-d, or of shape ``(N, d1, ..., dK)`` (``()`` unbatched) for ``'none'``

    Raises
    ------
    IndexError
        A class index outside :math:`[0, C)` that is not ``ignore_index``.
    ValueError, TypeError
        Shape, dtype or option mismatches, naming what was expected.

    Examples
    --------
    >>> import numpy as np, scratchnet.functional as F
    >>> F.cross_entropy(np.zeros((2, 4)), np.array([1, 3]))  # uniform over 4 classes: log 4
    array(1.38629436)
    >>> F.cross_entropy(np.array([[2.0, 0.0], [0.0, 2.0]]), np.array([0, 0]), reduction="none")
    array([0.12692801, 2.12692801])
    """
    op = "cross_entropy"
    reduction = _reduction(op, size_average, reduce, reduction)
    ignore_index = _check_ignore_index(op, ignore_index)
    smoothing = _smoothing(op, label_smoothing)
    x = _input(op, input)
    n_classes = x.shape[1] if x.ndim > 1 else x.shape[0]
    w = _class_weight(op, weight, n_classes)
    target_arr = target if isinstance(target, np.ndarray) else np.asarray(target)
    probabilities = target_arr.shape == x.shape

    if probabilities:
        if target_arr.dtype.kind != "f":
            raise TypeError(
                f"{op}: a target of the input's shape {shape_str(x.shape)} holds class "
                f"probabilities and must be float32 or float64, got dtype {target_arr.dtype}"
            )
        if ignore_index >= 0:
            raise ValueError(
                f"{op}: ignore_index={ignore_index} is not supported with class-probability "
                f"targets (pass a negative ignore_index)"
            )
        p = as_float_array(op, "target", target_arr)
    elif target_arr.dtype.kind == "f":
        index_shape = (x.shape[0],) + x.shape[2:] if x.ndim > 1 else ()
        if target_arr.shape == index_shape:
            raise TypeError(
                f"{op}: class-index target of shape {shape_str(target_arr.shape)} must be an "
                f"integer array, got dtype {target_arr.dtype}"
            )
        raise ValueError(
            f"{op}: a float target holds class probabilities and must have the input's shape "
            f"{shape_str(x.shape)}, got {shape_str(target_arr.shape)} (class indices would be "
            f"an integer array of shape {shape_str(index_shape)})"
        )
    else:
        t = _index_target(op, x, target_arr)
        p = None
    same_dtype(op, input=x, target=p, weight=w)

    log_probs = _log_softmax(_class_last(x), -1)
    if probabilities:
        out, core_backward = _probability_loss(
            log_probs, _class_last(p), w, reduction, smoothing
        )
    else:
        out, core_backward = _index_loss(
            op, log_probs, t, w, ignore_index, reduction, smoothing
        )

    def backward(grad_out):
        grads = core_backward(grad_out)
        grad_x = _class_first(_log_softmax_backward(grads[0], log_probs, -1), x.ndim)
        if probabilities:
            return {"input": grad_x, "target": _class_first(grads[1], x.ndim), "weight": grads[2]}
        return {"input": grad_x, "weight": grads[1]}

    return out, backward


@differentiable
def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
             reduction="mean"):
    r"""Negative log-likelihood: pick each target's (log-probability) score and negate it.

    For position :math:`i` with target :math:`t_i`, mask
    :math:`m_i = [t_i \neq \text{ignore\_index}]` and target weight :math:`w_{t_i}` (1
    without ``weight``):

    .. math::

        \ell_i = -m_i\, w_{t_i}\, x_{i, t_i}, \qquad
        \text{mean} = \frac{\sum_i \ell_i}{\sum_i m_i w_{t_i}}.

    The mean is *weighted*: it divides by the total weight of the targets it kept, so
    ignored positions vanish from the numerator and the denominator alike; with every
    position ignored it is 0/0 = NaN, as torch's. Backward, with :math:`a_i` the
    upstream gradient per position (``g``, or ``g / W`` for the mean):

    .. math::

        \frac{\partial L}{\partial x_{ic}} = -a_i m_i w_{t_i} [c = t_i], \qquad
        \frac{\partial L}{\partial w_c} = \sum_{i: t_i = c} m_i \bigl(-a_i x_{ic}\bigr)
        \;-\; [\text{mean}]\,\frac{g\,L}{W}\,\#\{i : m_i,\ t_i = c\}.

    ``nll_loss`` does not normalise: fed raw scores instead of ``log_softmax`` output
    it happily returns negative "losses" (see ``cross_entropy``).

    Parameters
    ----------
    input : ndarray, shape ``(C,)``, ``(N, C)`` or ``(N, C, d1, ..., dK)``, float32/float64
        Log-probabilities (or any scores) per class.
    target : integer ndarray, shape ``()``, ``(N,)`` or ``(N, d1, ..., dK)``
        Class indices in :math:`[0, C)`, or ``ignore_index``.
    weight : ndarray, shape ``(C,)``, optional
        Per-class rescaling.
    size_average, reduce : bool, optional
        Deprecated; when given they override ``reduction`` by torch's legacy rule.
    ignore_index : int
        Target value that contributes neither loss nor weight (may be a valid class).
    reduction : {'mean', 'sum', 'none'}

    Returns
    -------
    ndarray, 0-d, or of the target's shape for ``'none'``; the input's dtype

    Raises
    ------
    IndexError
        A target outside :math:`[0, C)` that is not ``ignore_index``.
    ValueError, TypeError
        Shape, dtype or option mismatches, naming what was expected.

    Examples
    --------
    >>> import numpy as np, scratchnet.functional as F
    >>> log_probs = np.array([[-0.5, -1.0], [-2.0, -0.1]])
    >>> F.nll_loss(log_probs, np.array([0, 1]))  # (0.5 + 0.1) / 2
    array(0.3)
    """
    op = "nll_loss"
    reduction = _reduction(op, size_average, reduce, reduction)
    ignore_index = _check_ignore_index(op, ignore_index)
    x = _input(op, input)
    t = _index_target(op, x, target)
    w = _class_weight(op, weight, x.shape[1] if x.ndim > 1 else x.shape[0])
    same_dtype(op, input=x, weight=w)
    out, core_backward = _index_loss(op, _class_last(x), t, w, ignore_index, reduction, 0.0)

    def backward(grad_out):
        grad_scores, gw = core_backward(grad_out)
        return {"input": _class_first(grad_scores, x.ndim), "weight": gw}

    return out, backward


# ---------------------------------------------------------------------------------------
# Class-index and class-probability targets
# ---------------------------------------------------------------------------------------


def _index_loss(op: str, scores: np.ndarray, t: np.ndarray, w, ignore_index: int,
                reduction: str, smoothing: float):
    r"""The class-index loss on class-last ``scores`` (log-probabilities for a true NLL).

    With :math:`m_i = [t_i \neq \text{ignore\_index}]`, :math:`w_{t_i}` the target's
    weight (1 without ``weight``) and :math:`\epsilon` the label smoothing:

    .. math::

        \text{nll}_i = -m_i\, w_{t_i} \ell_{i, t_i}, \qquad
        \text{smooth}_i = -m_i \textstyle\sum_c w_c \ell_{ic}, \qquad
        \text{loss} = (1-\epsilon)\,R(\text{nll}) + \tfrac{\epsilon}{C}\,R(\text{smooth})

    where the reduction :math:`R` is the identity, the sum, or the sum divided by
    :math:`W = \sum_i m_i w_{t_i}` (``'mean'``; the smoothing term uses the same
    :math:`W`, as torch). Returns ``(out, backward)``; ``backward(g)`` gives
    ``(grad_scores, grad_weight)``.
    """
    n_classes = scores.shape[-1]
    dtype = scores.dtype
    # The smoothing factors in the scores' dtype (numpy 1.x makes a Python float times a
    # 0-d float32 loss float64); spread only with smoothing, so C = 0 divides nothing.
    keep = dtype.type(1 - smoothing)
    spread = dtype.type(smoothing / n_classes if smoothing > 0 else 0)
    valid = t != ignore_index
    invalid_target = valid & ((t < 0) | (t >= n_classes))
    if invalid_target.any():
        bad = int(t[invalid_target].flat[0])
        raise IndexError(
            f"{op}: Target {bad} is out of bounds. Class indices must lie in [0, {n_classes}) "
            f"for {n_classes} classes, or equal ignore_index={ignore_index}"
        )
    safe_t = np.where(valid, t, 0)  # any in-range index: ignored positions are masked out
    picked = np.take_along_axis(scores, safe_t[..., None], axis=-1)[..., 0]
    target_w = np.where(valid, w[safe_t], 0).astype(dtype) if w is not None else valid.astype(dtype)
    total_w = target_w.sum()

    # np.where, not a multiplication by the mask: an ignored row may hold -inf scores.
    with np.errstate(invalid="ignore"):
        nll = np.where(valid, -target_w * picked, 0).astype(dtype, copy=False)
        out = _reduce(nll, reduction, total_w)
        if smoothing > 0:
            weighted = scores * w if w is not None else scores
            smooth = np.where(valid, -weighted.sum(axis=-1), 0).astype(dtype, copy=False)
            out = keep * out + spread * _reduce(smooth, reduction, total_w)
    out = np.asarray(out)

    def backward(grad_out):
        scale = _per_position_scale(grad_out, reduction, t.shape, total_w)
        with np.errstate(invalid="ignore"):
            scale = np.where(valid, scale, 0).astype(dtype, copy=False)
            grad = np.zeros_like(scores)
            hit = -keep * scale * target_w
            np.put_along_axis(grad, safe_t[..., None], hit[..., None], axis=-1)
            if smoothing > 0:
                class_w = w if w is not None else np.ones(n_classes, dtype)
                grad -= spread * scale[..., None] * class_w
            if w is None:
                return grad, None
            # d loss_i / d w_c = -(1-eps) [t_i = c] l_{i,c} - (eps/C) l_{i,c}, valid i only.
            chosen = safe_t[valid]
            # bincount accumulates in float64 (and returns int64 when nothing is chosen).
            gw = np.bincount(chosen, weights=(-keep * scale * picked)[valid],
                             minlength=n_classes).astype(np.float64, copy=False)
            if smoothing > 0:
                rows = np.where(valid[..., None], scale[..., None] * scores, 0)
                gw -= spread * rows.reshape(-1, n_classes).sum(axis=0)
            if reduction == "mean":
                # The weights also sit in the denominator W = sum_i m_i w_{t_i}:
                # d(S/W)/dw_c = (dS/dw_c - out * count_c) / W; scale already holds g / W.
                count = np.bincount(chosen, minlength=n_classes)
                gw -= _mean(grad_out * out, total_w) * count
        return grad, gw.astype(dtype)

    return out, backward


def _probability_loss(scores: np.ndarray, p: np.ndarray, w, reduction: str, smoothing: float):
    r"""Cross-entropy against class probabilities ``p`` (class-last, like ``scores``).

    .. math::

        q = (1-\epsilon)\,p + \epsilon / C, \qquad
        \text{loss}_i = -\textstyle\sum_c w_c\, q_{ic}\, \ell_{ic},

    with ``'mean'`` dividing the sum by the number of positions :math:`N d_1 \cdots d_K`
    (not by the weights, unlike class-index targets: torch's rule). Returns
    ``(out, backward)``; ``backward(g)`` gives ``(grad_scores, grad_p, grad_weight)``.
    """
    n_classes = scores.shape[-1]
    # In the scores' dtype, as in _masked_index_loss.
    keep = scores.dtype.type(1 - smoothing)
    spread = scores.dtype.type(smoothing / n_classes if smoothing > 0 else 0)
    q = p * keep + spread if smoothing > 0 else p
    weighted_q = q * w if w is not None else q
    with np.errstate(invalid="ignore"):  # p = 0 against l = -inf is NaN, as in torch
        terms = scores * weighted_q
        per = -terms.sum(axis=-1)
    # torch's mean over an empty input is NaN, even for positions with no classes.
    positions = per.size if scores.size else 0
    out = _reduce(per, reduction, positions)

    def backward(grad_out):
        scale = _per_position_scale(grad_out, reduction, per.shape, positions)[..., None]
        with np.errstate(invalid="ignore"):
            grad_scores = -scale * weighted_q
            grad_p = -scale * scores * (w if w is not None else 1) * keep
            gw = None
            if w is not None:
                gw = -(scale * q * scores).reshape(-1, n_classes).sum(axis=0)
        return grad_scores, grad_p, gw

    return out, backward


# ---------------------------------------------------------------------------------------
# Arguments
# ---------------------------------------------------------------------------------------


def _input(op: str, input) -> np.ndarray:
    x = as_float_array(op, "input", input)
    if x.ndim == 0:
        raise ValueError(
            f"{op}: expected input of shape (C,), (N, C) or (N, C, d1, ..., dK), got a 0-d array"
        )
    return x


def _class_weight(op: str, weight, n_classes: int):
    if weight is None:
        return None
    w = as_float_array(op, "weight", weight)
    if w.shape != (n_classes,):
        raise ValueError(
            f"{op}: weight tensor should be defined either for all {n_classes} classes or no "
            f"classes: expected shape ({n_classes},), got {shape_str(w.shape)}"
        )
    return w


def _check_ignore_index(op: str, ignore_index) -> int:
    return as_int64(op, "ignore_index", ignore_index)


def _smoothing(op: str, label_smoothing) -> float:
    if not isinstance(label_smoothing, (numbers.Real, np.floating)) or isinstance(label_smoothing, bool):
        raise TypeError(f"{op}: label_smoothing must be a float, got {label_smoothing!r}")
    value = float(label_smoothing)  # the losses take it in their scores' dtype
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{op}: label_smoothing must be between 0.0 and 1.0. Got: {value}")
    return value


def _index_target(op: str, x: np.ndarray, target) -> np.ndarray:
    """Validate class-index ``target`` against ``x``; return it as int64 of position shape.

    ``x`` is ``(C,)`` with a 0-d target (torch also takes a 1-element target), or
    ``(N, C, d1, ..., dK)`` with a target ``(N, d1, ..., dK)``.
    """
    t = as_index_array(op, "target", target)  # int64: compares with ignore_index unwrapped
    if x.ndim == 1:
        if t.shape not in ((), (1,)):
            raise ValueError(
                f"{op}: unbatched input of shape {shape_str(x.shape)} (C,) needs a 0-d "
                f"class-index target, got shape {shape_str(t.shape)}"
            )
        t = t.reshape(())
    else:
        expected = (x.shape[0],) + x.shape[2:]
        if t.ndim == 0 or t.shape[0] != x.shape[0]:
            raise ValueError(
                f"{op}: Expected input batch_size ({x.shape[0]}) to match target batch_size "
                f"({t.shape[0] if t.ndim else 0}): input {shape_str(x.shape)}, "
                f"target {shape_str(t.shape)}"
            )
        if t.shape != expected:
            raise ValueError(
                f"{op}: input of shape {shape_str(x.shape)} (N, C, d1, ..., dK) needs a "
                f"class-index target of shape {shape_str(expected)} (N, d1, ..., dK), "
                f"got {shape_str(t.shape)}"
            )
    return t


def _naive_setup(op, input, target, weight, size_average, ignore_index, reduce, reduction,
                 label_smoothing):
    """Validate a :func:`cross_entropy_naive` call: ``(N, C)`` logits, ``(N,)`` classes, a mean.

    The lectures' case only; any other option raises, naming :func:`cross_entropy`
    as the op that has it.
    """
    elsewhere = "; cross_entropy has it (this reference covers only the lectures' loss)"
    if weight is not None:
        raise ValueError(f"{op}: class weights are not supported{elsewhere}")
    if size_average is not None or reduce is not None:
        raise ValueError(f"{op}: the legacy size_average/reduce flags are not supported{elsewhere}")
    if reduction != "mean":
        raise ValueError(f"{op}: only reduction='mean' is supported, got {reduction!r}{elsewhere}")
    if _smoothing(op, label_smoothing) != 0.0:
        raise ValueError(f"{op}: label_smoothing={label_smoothing} is not supported{elsewhere}")
    ignore_index = _check_ignore_index(op, ignore_index)
    z = _input(op, input)
    if z.ndim != 2:
        raise ValueError(f"{op}: expected 2-D logits (N, C), got shape {shape_str(z.shape)}; "
                         f"other shapes are cross_entropy's (this reference covers only the "
                         f"lectures' loss)")
    target = target if isinstance(target, np.ndarray) else np.asarray(target)
    if target.dtype.kind == "f":
        raise TypeError(f"{op}: target must hold class indices (an integer array of shape "
                        f"({z.shape[0]},)), got dtype {target.dtype}; probability targets "
                        f"are cross_entropy's")
    y = as_index_array(op, "target", target)
    if y.shape != (z.shape[0],):
        raise ValueError(f"{op}: logits of shape {shape_str(z.shape)} (N, C) need a target of "
                         f"shape ({z.shape[0]},), got {shape_str(y.shape)}")
    outside = (y < 0) | (y >= z.shape[1])
    if outside.any():
        i = int(np.argmax(outside))
        why = (f" (it equals ignore_index: ignored targets are cross_entropy's, this "
               f"reference covers only the lectures' loss)"
               if y[i] == ignore_index else "")
        raise IndexError(f"{op}: Target {y[i]} at index {i} is out of bounds for "
                         f"{z.shape[1]} classes{why}")
    return z, y


def _class_last(x: np.ndarray) -> np.ndarray:
    """View ``(N, C, d1, ..., dK)`` as ``(N, d1, ..., dK, C)``; ``(C,)`` is left alone."""
    return np.moveaxis(x, 1, -1) if x.ndim > 2 else x


def _class_first(g: np.ndarray, ndim: int) -> np.ndarray:
    """Inverse of :func:`_class_last`, for a gradient."""
    if ndim > 2:
        return np.ascontiguousarray(np.moveaxis(g, -1, 1))
    return np.ascontiguousarray(g) if ndim == 2 else g
