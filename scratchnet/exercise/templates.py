"""What each exercise's file says before the learner writes it: the core contract, short.

Per exercise, its kind (an op with a backward, a chain of backwards, an optimizer's
update) and, per function, the core scope's contract and math in a few lines. The
full torch semantics (weights, ignore_index, legacy arguments) are one link away, on
the op's page: the file names those parameters only to say they belong to ``--full``.
A template names nothing it does not define or explain (``test_exercise_templates``
checks it): conv2d's file carries the im2col and col2im it asks for.
"""
from __future__ import annotations

#: How the file's head tells the learner what to write, per kind of exercise.
FORMS = {
    "op": '''Each function returns (out, backward), the form of scratchnet's own ops:

    def my_op(input, ...):
        out = ...                      # the forward
        def backward(grad_out):        # grad_out: dL/d out, shaped like out
            return {"input": ...}      # dL/d argument, for every float array argument
        return out, backward

Keep the input's dtype (float32 in, float32 out) and never modify an argument,
grad_out included: compute into new arrays.''',
    "chain": '''sequential(input, layers) runs the layers and returns (out, backward), where
backward(grad_out) returns {"input": dL/d input}: it chains the layers' own backwards
and adds every parameter's gradient to its .grad. Nothing here differentiates an op:
each layer brings its backward. Never modify an argument.''',
    "update": '''sgd_momentum returns the parameter after one step, and the momentum buffer to pass
back at the next step. An optimizer has no backward: it reads the gradient and moves
the parameter. Never modify an argument: return new arrays.''',
}

KIND = {"sequential_backward": "chain", "sgd_momentum": "update"}

_TORCH_REST = """

The other parameters are torch's full semantics, graded only by --full (the op's page,
linked above, says what they do); in the core scope they keep their defaults."""

CONTRACTS = {
    "relu": '''out = max(x, 0), element by element.

d out / dx = 1 where x > 0, and 0 elsewhere (at x = 0 exactly too: torch's choice).
input: any shape (0-d and empty included), float32 or float64. inplace is always False
here (True would overwrite input, which the grader does not ask).''',
    "sigmoid": '''s = 1 / (1 + exp(-x)), element by element.

ds/dx = s (1 - s): a function of the output s, which the backward can keep.''',
    "tanh": '''y = tanh(x), element by element.

dy/dx = 1 - y^2: a function of the output y.''',
    "linear": '''y = x W^T + b.

input x: (N, in_features); weight W: (out_features, in_features); bias b:
(out_features,) or None; y: (N, out_features). The backward gets G = dL/dy, (N,
out_features), and returns the gradients of input, weight and bias, each shaped like
what it differentiates (no "bias" entry when bias is None).''',
    "softmax": '''s_i = exp(x_i - m) / sum_k exp(x_k - m) along dim, m the max along dim (it
cancels in the ratio and keeps exp from overflowing).

Jacobian: ds_i / dx_k = s_i (delta_ik - s_k). input: at least one dimension; dim: the
axis, negative counting from the end. _stacklevel and dtype are torch's legacy and
casting arguments: leave them alone.''',
    "log_softmax": '''l_i = (x_i - m) - log(sum_k exp(x_k - m)) along dim, m the max along dim:
the log-sum-exp trick, finite even where the softmax itself rounds to 0.

dl_i / dx_k = delta_ik - s_k, with s = exp(l) the softmax. _stacklevel and dtype are
torch's legacy and casting arguments: leave them alone.''',
    "cross_entropy": '''L = -(1/N) sum_i l[i, t_i], with l = log_softmax(x) over the classes: the batch's
mean negative log-probability of each row's target class.

input x: logits (N, C); target t: integer class indices (N,); returns a 0-d array of
the input's dtype, and its backward gets a 0-d grad_out. It is
nll_loss(log_softmax(input, 1), target): write nll_loss below, and take your
log_softmax from its exercise file, `from log_softmax import log_softmax` (the
files of this folder import each other). dL/dx = (s - y) / N times grad_out, with
s = exp(l) the softmax and y the one-hot targets.''' + _TORCH_REST,
    "nll_loss": '''L = -(1/N) sum_i x[i, t_i]: minus the mean of each row's entry at its target.

input: (N, C) log-probabilities; target: integer class indices (N,); returns a 0-d
array. dL/dx is -1/N at each [i, t_i] and 0 elsewhere, times grad_out.''' + _TORCH_REST,
    "mse_loss": '''L = (1/n) sum (x - y)^2 over every element, n = x.size.

input x and target y: one non-empty shape; returns a 0-d array. dL/dx = 2 (x - y) / n
times grad_out, and dL/dy = -dL/dx: the target gets a gradient too.''' + _TORCH_REST,
    "max_pool2d": '''out[n, c, i, j] = the max of window (i, j): rows i*s - p to i*s - p + k - 1 and the
same columns with j, where positions outside the input are padding (-inf: never picked).

input: (N, C, H, W); kernel_size k, stride s (None means s = k) and padding p (at most
k/2): ints. Output (N, C, Ho, Wo), Ho = floor((H + 2p - k) / s) + 1, likewise Wo.
Backward: each output's gradient goes to its window's maximum (the first in row-major
order among equal values) and adds up (+=) where windows overlap.''' + _TORCH_REST,
    "avg_pool2d": '''out[n, c, i, j] = the sum of window (i, j) / (k*k), the padding's zeros counted in
the divisor (count_include_pad=True).

input: (N, C, H, W); kernel_size k, stride s (None means s = k) and padding p (at most
k/2): ints. Output (N, C, Ho, Wo), Ho = floor((H + 2p - k) / s) + 1. Backward: every
pixel of window (i, j) receives G[i, j] / (k*k), added up where windows overlap.''' + _TORCH_REST,
    "conv2d_naive": '''y[n, o, i, j] = b[o] + sum over c, a, b' of x_pad[n, c, i*s + a, j*s + b'] w[o, c, a, b']:
a cross-correlation (no kernel flip), x_pad being x with p zeros on each side.

input: (N, C, H, W); weight: (O, C, kh, kw); bias: (O,) or None; stride s and padding
p: ints. Output (N, O, Ho, Wo), Ho = floor((H + 2p - kh) / s) + 1. Write it with loops;
the backward returns the gradients of input, weight and bias.''' + _TORCH_REST,
    "conv2d": '''The same convolution as conv2d_naive, as one matrix product:

    X_col = im2col(x_pad, kh, kw, stride)        # (C*kh*kw, N*Ho*Wo)
    y = W_mat @ X_col (+ b), reshaped to (N, O, Ho, Wo); W_mat = weight.reshape(O, C*kh*kw)

Backward: dW_mat = G_mat X_col^T and dX_col = W_mat^T G_mat (G_mat: grad_out as (O,
N*Ho*Wo)); col2im(dX_col, ...) adds each column back into its window of a zero
x_pad-shaped array (+=: windows overlap); crop the padding off its centre. im2col and
col2im are yours to write, below. The check times it: at least 5x faster than loops.''' + _TORCH_REST,
    "sequential": '''Each layer is a pair (forward, params): forward(x, **arrays) is an op of the
exercise form, returning (out, backward), called with each parameter's .data by name;
params maps those names to Param objects (.data, and .grad: None or an array).

Forward: call the layers in order and keep their backwards. The backward: walk
them in reverse, each turning the gradient of its output into the gradient of its
input (its dict's "input"), and add each parameter's gradient to its .grad (a copy
when .grad is None). A layer used twice adds twice; .grad may already hold a gradient.
Returns {"input": dL/d input}.''',
    "sgd_momentum": '''torch's SGD for one parameter theta, learning rate lr, momentum mu:

    b = grad                   at the first step (momentum_buffer is None)
    b = mu * b + grad          after, the buffer you returned the step before
    theta = theta - lr * b     (theta - lr * grad without momentum; return None as buffer)

lr may change from one step to the next: keep it out of the buffer. dampening,
weight_decay, nesterov and maximize are torch's full semantics (--full): see the
optimizer's page.''',
}

#: Functions the learner writes beside the graded one (named in its contract).
HELPERS = {
    "conv2d": '''

def im2col(x_pad, kh, kw, stride):
    """Every kh x kw window of x_pad (N, C, Hp, Wp) as one column: (C*kh*kw, N*Ho*Wo).

    Row c*kh*kw + a*kw + b holds tap (a, b) of channel c; column n*Ho*Wo + i*Wo + j is
    window (i, j) of sample n. Loop over the kh*kw taps (strided slices), not the pixels.
    """
    raise NotImplementedError("im2col: yours to write")


def col2im(cols, x_pad_shape, kh, kw, stride):
    """im2col's adjoint: adds each column of cols (C*kh*kw, N*Ho*Wo) into its window of
    a zero array of shape x_pad_shape (N, C, Hp, Wp), accumulating where windows overlap."""
    raise NotImplementedError("col2im: yours to write")
''',
}
