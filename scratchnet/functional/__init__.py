"""``scratchnet.functional``: torch.nn.functional's ops in plain NumPy, each with its backward.

Every op has torch's name, argument order, keyword names, defaults and semantics, and
keeps its input's dtype (float32 in, float32 out). Its hand-written backward sits
right beside it in the same function; :func:`vjp` exposes it::

    out, backward = scratchnet.functional.vjp(conv2d, x, w, b, stride=2)
    gx, gw, gb = backward(grad_out)

The one op torch lacks, LeNet-5's sparsely connected C3 convolution, is
:func:`scratchnet.functional.sparse_conv.sparse_conv2d`: it is kept out of this
namespace, which is torch.nn.functional's.

This package never imports torch.
"""
from ._vjp import (vjp, differentiable, is_op, registration, Registration, dispatch,
                   register_kernel, kernel_of, override, textbook)
from .activation import relu, sigmoid, tanh, logsigmoid
from .softmax import softmax, log_softmax
from .linear import linear
from .flatten import flatten
from .conv import conv2d
from .pooling import max_pool2d, avg_pool2d
from .loss import cross_entropy, nll_loss
from .elementwise_loss import mse_loss, binary_cross_entropy_with_logits
from . import fast  # last: attaches the tuned kernels to the ops above (see _vjp)

__all__ = [
    "vjp", "differentiable", "is_op", "registration", "Registration", "dispatch",
    "register_kernel", "kernel_of", "override", "textbook",
    "relu", "sigmoid", "tanh", "logsigmoid",
    "softmax", "log_softmax",
    "linear", "flatten",
    "conv2d", "max_pool2d", "avg_pool2d",
    "cross_entropy", "nll_loss", "mse_loss", "binary_cross_entropy_with_logits",
]
