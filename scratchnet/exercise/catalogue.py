"""The Practice track: thirteen exercises in the lectures' order.

Each exercise names the functions its workspace file defines, the scratchnet op each
one is graded against (its signature and docstring become the file's skeleton), the
*core* scope (the options the lectures use, graded by default) and the *full* scope
(torch's whole option set, ``check --full``), progressive hints, and where the
solution and the math are.

This module imports neither torch nor hypothesis: ``list``, ``start``, ``hint`` and
``solution`` run without them.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable, Optional

#: Where the site lives; each exercise links its op's page and its practice page.
DOCS_ROOT = "docs/"


@dataclass(frozen=True)
class Exercise:
    """One exercise of the track.

    Attributes
    ----------
    number : int
        Its place in the lectures' order.
    name : str
        The workspace file is ``NAME.py``; ``scratchnet exercise check NAME``.
    title : str
    functions : dict
        Function name defined by the file -> ``"module:attribute"`` of the reference
        it is graded against (a registered op, or a function of
        :mod:`scratchnet.exercise.reference`).
    core, full : str
        The scope graded by default and with ``--full``.
    hints : tuple of str
        Progressive: ``hint`` shows the next one each time.
    solution : tuple of str
        ``"module:attribute"`` of the readable versions ``solution`` prints.
    docs : str
        The op's page (the math), relative to the site's root.
    """

    number: int
    name: str
    title: str
    functions: dict
    core: str
    full: str
    hints: tuple
    solution: tuple
    docs: str

    @property
    def practice_page(self) -> str:
        return f"practice/{self.name}.html"

    def reference(self, function: str) -> Callable:
        """The reference ``(out, backward)`` forward of ``function`` (never the public op)."""
        return resolve(self.functions[function], forward=True)


def resolve(path: str, *, forward: bool = False):
    """``"module:attr"`` -> the object; with ``forward``, a registered op's ``(out, backward)`` forward."""
    module, attr = path.split(":")
    obj = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    if forward:
        from ..functional import is_op, registration

        if is_op(obj):
            return registration(obj).forward
    return obj


_F = "scratchnet.functional"
_REF = "scratchnet.exercise.reference"

EXERCISES = (
    Exercise(
        1, "activations", "ReLU, sigmoid and tanh",
        {"relu": f"{_F}.activation:relu", "sigmoid": f"{_F}.activation:sigmoid",
         "tanh": f"{_F}.activation:tanh"},
        core="any shape (0-d and empty included), float32 and float64; relu with inplace=False",
        full="the same (relu's inplace=True overwrites its input by design and is not graded)",
        hints=(
            "Each backward is g times the local derivative, element by element: the "
            "Jacobian of an element-wise op is diagonal.",
            "sigmoid' = s (1 - s) and tanh' = 1 - y^2 are functions of the *output*: keep "
            "the forward's result in the closure instead of recomputing it.",
            "relu's derivative at exactly 0 is taken as 0 (torch's choice): use x > 0, not x >= 0.",
            "Keep the dtype: float32 in, float32 out (np.where(x > 0, g, 0) keeps it; "
            "a Python float in an expression does not change it either, NEP 50).",
        ),
        solution=(f"{_F}.activation:relu", f"{_F}.activation:sigmoid", f"{_F}.activation:tanh"),
        docs="ops/activations.html"),
    Exercise(
        2, "linear", "The fully connected layer, y = x W^T + b",
        {"linear": f"{_F}.linear:linear"},
        core="input (N, in_features), weight (out, in), bias (out,) or None",
        full="any number of leading dimensions, empty batches",
        hints=(
            "Write the shapes down: x (N, in), W (out, in), G = dL/dy (N, out). Each "
            "gradient has the shape of what it differentiates.",
            "dL/dx = G W, dL/dW = G^T x: one weight serves the whole batch, so its "
            "gradient sums every sample's outer product, and G^T x is that sum.",
            "dL/db sums G over the batch (axis 0); a missing bias (None) gets no gradient.",
        ),
        solution=(f"{_F}.linear:linear",),
        docs="ops/linear.html"),
    Exercise(
        3, "softmax", "Softmax along a dimension",
        {"softmax": f"{_F}.softmax:softmax"},
        core="any shape with at least one dimension and no empty one, any dim (negative too), "
             "logits up to 1e4 in size",
        full="0-d and empty inputs too",
        hints=(
            "Subtract the max along dim before exp: e^(x - m) never overflows, and the "
            "shift cancels in the ratio.",
            "The Jacobian is ds_i/dx_k = s_i (delta_ik - s_k), so the vector-Jacobian "
            "product is g*s - s * sum(g*s) over dim.",
            "Sum with keepdims=True over the same dim as the forward, so it broadcasts back.",
            "Test with a random upstream gradient: with all ones the true gradient is exactly "
            "zero (the outputs always sum to 1), which hides a missing or wrong sum term.",
        ),
        solution=(f"{_F}.softmax:softmax",),
        docs="ops/softmax.html"),
    Exercise(
        4, "log_softmax", "Log-softmax, the stable way",
        {"log_softmax": f"{_F}.softmax:log_softmax"},
        core="as softmax: any non-empty shape, any dim, logits up to 1e4",
        full="0-d and empty inputs too",
        hints=(
            "Log-sum-exp: l = (x - m) - log(sum(exp(x - m))). log(softmax(x)) gives -inf "
            "where softmax rounds to 0.",
            "dl_i/dx_k = delta_ik - s_k with s = exp(l): the backward is g - exp(l) * sum(g) over dim.",
        ),
        solution=(f"{_F}.softmax:log_softmax",),
        docs="ops/softmax.html"),
    Exercise(
        5, "cross_entropy", "Cross-entropy and negative log-likelihood",
        {"cross_entropy": f"{_F}.loss:cross_entropy", "nll_loss": f"{_F}.loss:nll_loss"},
        core="logits (N, C), integer class-index targets (N,), reduction='mean', no weight, "
             "no ignored targets, no label smoothing",
        full="weights, ignore_index, reductions 'none'/'sum', label smoothing, (N, C, d1, ...) "
             "inputs, unbatched and empty batches",
        hints=(
            "nll_loss picks -x[i, t_i] for every row and averages: mean = sum / N.",
            "Its gradient is -1/N at each [i, t_i] and 0 elsewhere (times the upstream scalar g).",
            "cross_entropy = nll_loss(log_softmax(x, 1), t); chain the two backwards, or "
            "use the closed form (softmax(x) - onehot(t)) / N.",
            "The loss is 0-d: return np.asarray(value, dtype=x.dtype), and grad_out is 0-d too.",
        ),
        solution=(f"{_F}.loss:cross_entropy", f"{_F}.loss:nll_loss"),
        docs="ops/losses.html"),
    Exercise(
        6, "mse_loss", "Mean squared error",
        {"mse_loss": f"{_F}.elementwise_loss:mse_loss"},
        core="input and target of the same non-empty shape, reduction='mean'",
        full="broadcast shapes, reductions 'none' and 'sum', empty inputs",
        hints=(
            "The mean is over every element, not over the batch: divide by x.size.",
            "dL/dx = 2 (x - y) g / n and dL/dy is its negative: the target gets a gradient too.",
        ),
        solution=(f"{_F}.elementwise_loss:mse_loss",),
        docs="ops/losses.html"),
    Exercise(
        7, "max_pool2d", "Max pooling",
        {"max_pool2d": f"{_F}.pooling:max_pool2d"},
        core="batched (N, C, H, W); int kernel_size, stride (None = kernel) and padding (up to "
             "kernel/2); ties among the window's values",
        full="(h, w) pairs, dilation, ceil_mode, return_indices, unbatched input, NaN and -inf inputs",
        hints=(
            "Output size: floor((H + 2p - k) / s) + 1; the padding is -inf, never selected.",
            "Backward sends each output's gradient to the position of its window's max, and "
            "adds (+=) where overlapping windows pick the same pixel.",
            "Ties: torch scans the window row by row and keeps the *first* maximum; only it "
            "gets the gradient, the other equal values get nothing.",
            "Window (i, j) starts at row i*s - p and column j*s - p of the unpadded input.",
        ),
        solution=(f"{_F}.pooling:max_pool2d_naive",),
        docs="ops/pooling.html"),
    Exercise(
        8, "avg_pool2d", "Average pooling",
        {"avg_pool2d": f"{_F}.pooling:avg_pool2d"},
        core="batched (N, C, H, W); int kernel_size, stride and padding (up to kernel/2; the zeros "
             "count in the divisor: count_include_pad=True)",
        full="(h, w) pairs, ceil_mode, count_include_pad=False, divisor_override, unbatched input",
        hints=(
            "Each output is the window's sum over kh*kw, padding zeros included.",
            "Backward: every pixel of window (i, j) receives G[i, j] / (kh*kw); overlapping "
            "windows (stride < kernel) add up.",
        ),
        solution=(f"{_F}.pooling:avg_pool2d_naive",),
        docs="ops/pooling.html"),
    Exercise(
        9, "conv2d_naive", "Convolution with loops",
        {"conv2d_naive": f"{_F}.conv:conv2d_naive"},
        core="batched (N, C, H, W), weight (O, C, kh, kw), bias or None, int stride and padding",
        full="(h, w) pairs, dilation, groups, padding='same'/'valid', unbatched input, empty batches",
        hints=(
            "It is a cross-correlation: y[n, o, i, j] = b[o] + sum(xpad[n, :, i*s:i*s+kh, "
            "j*s:j*s+kw] * w[o]); no kernel flip.",
            "Pad first (np.pad), loop over n, o, i, j; backward visits the same windows.",
            "dxpad[window] += G[n, o, i, j] * w[o]; dw[o] += G[n, o, i, j] * xpad[window]; "
            "db[o] = G[:, o].sum(); then crop the padding off dxpad.",
        ),
        solution=(f"{_F}.conv:conv2d_naive",),
        docs="ops/conv2d.html"),
    Exercise(
        10, "conv2d", "Convolution as im2col + one GEMM, and col2im",
        {"conv2d": f"{_F}.conv:conv2d"},
        core="as conv2d_naive: batched input, int stride and padding",
        full="(h, w) pairs, dilation, groups, padding='same'/'valid', unbatched input, empty batches",
        hints=(
            "im2col: gather each output pixel's window into a column, X_col (C*kh*kw, N*Ho*Wo); "
            "the layer is then W_mat (O, C*kh*kw) @ X_col.",
            "Backward: dW_mat = G X_col^T, dX_col = W_mat^T G, db = G summed over all but O.",
            "col2im adds each column of dX_col back where it came from. Overlapping windows "
            "share pixels: accumulate (+=), never assign.",
            "Loop over the kh*kw kernel taps, not the pixels: tap (a, b) of every window is one "
            "strided slice xpad[:, :, a:a+s*(Ho-1)+1:s, b:b+s*(Wo-1)+1:s].",
        ),
        solution=(f"{_F}.conv:conv2d", f"{_F}.conv:im2col", f"{_F}.conv:col2im"),
        docs="ops/conv2d.html"),
    Exercise(
        11, "sequential_backward", "Chain the layers' backwards, accumulate .grad",
        {"sequential": f"{_REF}:sequential"},
        core="a chain of linear, relu, tanh and sigmoid layers, one layer used twice (shared "
             "weights), parameters whose .grad already holds a gradient",
        full="the same",
        hints=(
            "Forward: call each layer in order and keep its backward closure.",
            "Backward: walk the closures in reverse; each one turns the gradient of its output "
            "into the gradient of its input (its dict's 'input').",
            "Parameters accumulate like torch's .grad: if p.grad is None store a copy, else add. "
            "A layer used twice adds two contributions.",
        ),
        solution=(f"{_REF}:sequential", "scratchnet.nn.container:Sequential._chain"),
        docs="tour.html"),
    Exercise(
        12, "sgd_momentum", "SGD with momentum, torch's update rule",
        {"sgd_momentum": f"{_REF}:sgd_momentum"},
        core="lr and momentum (0 or positive), several steps in a row",
        full="dampening, weight_decay, nesterov, maximize",
        hints=(
            "Without momentum: theta - lr * g.",
            "torch's buffer starts as the first gradient itself, b_1 = g_1; then "
            "b_t = mu b_(t-1) + (1 - dampening) g_t, and the step is theta - lr * b_t.",
            "Weight decay is added to the gradient first (g + lambda theta); Nesterov steps "
            "along g + mu b_t.",
        ),
        solution=(f"{_REF}:sgd_momentum", "scratchnet.optim.sgd:sgd_step"),
        docs="api.html"),
)

#: 13: the capstone, ``scratchnet train --ops DIR``: not a file of its own.
CAPSTONE = ("capstone: scratchnet train --model basic-cnn --ops DIR trains the lecture model "
            "with your passed ops in place of scratchnet's")

BY_NAME = {e.name: e for e in EXERCISES}


def get(name: str) -> Exercise:
    """The exercise called ``name``; a ``KeyError`` naming the valid ones otherwise."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"no exercise {name!r}; the exercises are: {', '.join(BY_NAME)}") from None


def exercise_of(function: str) -> Optional[Exercise]:
    """The exercise whose file defines ``function`` (e.g. ``nll_loss`` -> cross_entropy)."""
    return next((e for e in EXERCISES if function in e.functions), None)
