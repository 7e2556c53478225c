"""``scratchnet.figures``: pictures of the ops, drawn by the ops themselves.

Every number and shape in a figure is computed by :mod:`scratchnet.functional` (its
window geometry, im2col and col2im, forward and backward) or by the lecture models
when the figure is drawn, so a figure cannot drift from the code. The site draws
:data:`SITE_FIGURES` at build time (``docs/_ext/op_figures.py``), and ``scratchnet
explain OP ... --plot FILE`` draws :func:`draw_op` for the shapes it explains.

matplotlib is imported only when a figure is drawn; torch never is.

Modules, one per figure family: :mod:`.conv` (window geometry, im2col, the GEMM,
col2im), :mod:`.pooling` (max-pool routing and ties, avg-pool spreading),
:mod:`.softmax` (the Jacobian, the VJP, cross-entropy's ``s - y``), :mod:`.activation`,
:mod:`.models` (the lecture models as graphs, LeNet-5's C3 table).
"""
from __future__ import annotations

import numpy as np

from . import _draw
from . import activation, conv, models, pooling, softmax

__all__ = ["draw_op", "OPS", "SITE_FIGURES", "draw_site_figure"]

#: The ops :func:`draw_op` draws: those ``scratchnet explain`` covers.
OPS = ("conv2d", "max_pool2d", "avg_pool2d", "linear", "softmax", "cross_entropy")


def _plane_data(shape, seed: int) -> np.ndarray:
    """The first plane of an input of ``shape``: the lectures' 4x4 example if it is 4x4,
    else small integers from ``seed``."""
    hw = tuple(shape[-2:])
    if hw == (4, 4):
        return pooling.LECTURE_INPUT.copy()
    return np.random.default_rng(seed).integers(0, 10, size=hw).astype(np.float64)


def _conv2d(path, input, weight, stride=1, padding=0, dilation=1, groups=1, seed=0, **_):
    x = input if len(input) == 4 else (1,) + tuple(input)
    fig = _draw.new_figure(11, 11)
    top, middle, bottom = fig.subfigures(3, 1, height_ratios=[1.2, 1.0, 0.9])
    conv.draw_geometry(top, x, weight, stride, padding, dilation, groups)
    try:
        conv.draw_im2col(middle, (1,) + tuple(x[1:2]) + tuple(x[2:]) if groups == 1 else (1, 1) + tuple(x[2:]),
                         tuple(weight[2:]), stride, padding, dilation)
    except ValueError as e:  # too many windows to draw one by one: say so instead
        ax = middle.add_subplot()
        ax.axis("off")
        ax.text(0.5, 0.5, f"im2col not drawn: {e}", ha="center", va="center", fontsize=9, wrap=True)
    conv.draw_conv_gemm(bottom, x, weight, stride, padding, dilation, groups)
    return _draw.save(fig, path)


def _pool(op, path, input, kernel, stride=None, padding=0, dilation=1, ceil_mode=False,
          count_include_pad=True, divisor_override=None, seed=0, **_):
    if len(input) not in (3, 4):
        raise ValueError(f"figures: {op} takes a (C, H, W) or (N, C, H, W) input, got {tuple(input)}")
    fig = _draw.new_figure(11, 4.2)
    if op == "max_pool2d":
        pooling.draw_max_routing(fig, _plane_data(input, seed), kernel, stride, padding, dilation,
                                 bool(ceil_mode))
    else:
        pooling.draw_avg_spread(fig, tuple(input[-2:]), kernel, stride, padding, bool(ceil_mode),
                                True if count_include_pad is None else count_include_pad,
                                divisor_override)
    return _draw.save(fig, path)


def _linear(path, input, weight, seed=0, **_):
    from ..functional.linear import linear

    linear(np.zeros(input), np.zeros(weight))  # the op's own shape checks
    rows = int(np.prod(input[:-1], dtype=np.int64)) if len(input) > 1 else 1
    fig = _draw.new_figure(10, 6)
    conv.draw_gemm(fig, dict(O=weight[0], K=weight[1], M=rows),
                   names=("W", "Xᵀ", "Yᵀ"), transposed=("X", "Wᵀ"), grad="Gᵀ",
                   title=f"linear: y = x Wᵀ + b for input {tuple(input)}, weight {tuple(weight)}, "
                         f"drawn as Yᵀ = W Xᵀ")
    return _draw.save(fig, path)


def _softmax(path, input, dim=-1, seed=0, **_):
    x = np.random.default_rng(seed).standard_normal(input) * 1.5
    if x.ndim:
        x = np.moveaxis(x, dim, -1).reshape(-1, x.shape[dim])[0]
    fig = _draw.new_figure(11, 4.5)
    softmax.draw_softmax(fig, np.atleast_1d(x))
    return _draw.save(fig, path)


def _cross_entropy(path, input, target=None, ignore_index=-100, reduction="mean", seed=0, **_):
    """Logits of any of cross_entropy's shapes, drawn as rows of classes (the class-last
    view: one row per sample, or per pixel of a sample)."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal(input) * 1.5
    classes = input[0] if len(input) == 1 else input[1]
    positions = () if len(input) == 1 else (input[0],) + tuple(input[2:])
    t = rng.integers(0, max(classes, 1), positions) if target is None else np.asarray(target)
    rows = z.reshape(1, -1) if z.ndim == 1 else np.moveaxis(z, 1, -1).reshape(-1, classes)
    if t.size != rows.shape[0]:
        raise ValueError(f"figures: cross_entropy: {t.size} targets for {rows.shape[0]} "
                         f"positions of input {tuple(input)}")
    fig = _draw.new_figure(11, 3.8)
    softmax.draw_cross_entropy(fig, rows, t.reshape(-1), ignore_index, reduction)
    return _draw.save(fig, path)


_DRAWERS = {"conv2d": _conv2d, "linear": _linear, "softmax": _softmax,
            "cross_entropy": _cross_entropy,
            "max_pool2d": lambda path, **o: _pool("max_pool2d", path, **o),
            "avg_pool2d": lambda path, **o: _pool("avg_pool2d", path, **o)}


def draw_op(op: str, path, **options) -> str:
    """Draw op ``op`` for the shapes and options ``scratchnet explain`` takes; write ``path``.

    ``options`` are :func:`scratchnet.explain.explain`'s (``input``, ``weight``,
    ``kernel``, ``stride``, ``padding``, ``dilation``, ``groups``, ``ceil_mode``,
    ``count_include_pad``, ``divisor_override``, ``dim``, ``target``,
    ``ignore_index``, ``reduction``, ``seed``); those a figure does not need (``bias``,
    ``dtype``, ``numbers``) are ignored. The format follows ``path``'s suffix (PNG,
    SVG, PDF). Returns ``path``.

    Raises
    ------
    ValueError
        An unknown op, shapes the op rejects (its own message), or shapes too large to
        draw readably.
    """
    if op not in _DRAWERS:
        raise ValueError(f"figures: no figure for op {op!r}; expected one of {', '.join(OPS)}")
    options = {k: v for k, v in options.items() if v is not None}
    for name in ("input", "weight"):
        if name in options:
            options[name] = tuple(int(v) for v in options[name])
    if "input" not in options:
        raise ValueError(f"figures: {op} needs an input shape")
    return _DRAWERS[op](path, **options)


def _figure(width, height, draw, **kwargs):
    def make(path):
        fig = _draw.new_figure(width, height)
        draw(fig, **kwargs)
        return _draw.save(fig, path)
    return make


#: The site's figures: file stem -> a function writing it to the path it is given.
SITE_FIGURES = {
    "activations": _figure(10, 3.6, activation.draw_activations),
    "linear_gemm": lambda path: draw_op("linear", path, input=(64, 320), weight=(10, 320)),
    "softmax_jacobian": _figure(11, 4.5, softmax.draw_softmax),
    "cross_entropy_gradient": _figure(11, 3.6, softmax.draw_cross_entropy,
                                      logits=np.array([[2.0, 1.0, 0.1, -1.0], [0.5, 0.5, 3.0, 0.0]]),
                                      target=np.array([0, 1])),
    "conv2d_geometry": _figure(9, 5.6, conv.draw_geometry),
    "conv2d_geometry_dilated": _figure(9, 5.2, conv.draw_geometry, input_shape=(1, 1, 6, 6),
                                       weight_shape=(1, 1, 2, 2), stride=1, padding=0, dilation=2),
    "im2col_1x1x4x4": _figure(11, 5.2, conv.draw_im2col),
    "im2col_2ch": _figure(11, 5.0, conv.draw_im2col, input_shape=(1, 2, 3, 3), kernel=(2, 2)),
    "conv2d_gemm_basic_cnn": _figure(10, 6, conv.draw_conv_gemm),
    "col2im": _figure(12, 2.8, conv.draw_col2im),
    "max_pool_routing": _figure(10, 4.0, pooling.draw_max_routing),
    "max_pool_tie": _figure(10, 3.0, pooling.draw_max_tie),
    "avg_pool_spread": _figure(11, 3.2, pooling.draw_avg_spread),
    "graph_basic_cnn": _figure(7.5, 7.5, models.draw_model_graph, name="basic-cnn"),
    "graph_lenet5": _figure(7.5, 11, models.draw_model_graph, name="lenet5-original"),
    "lenet5_c3_table": _figure(9, 4.2, models.draw_c3_table),
    "explain_conv2d": lambda path: draw_op("conv2d", path, input=(2, 3, 7, 7), weight=(4, 3, 3, 3),
                                           stride=2, padding=1),
}


def draw_site_figure(name: str, path) -> str:
    """Draw site figure ``name`` (a key of :data:`SITE_FIGURES`) to ``path``."""
    return SITE_FIGURES[name](path)
