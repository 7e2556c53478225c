r"""Analytic work counts: FLOPs for GEMM-like layers, bytes for memory-bound ops.

Only the layers that do :math:`O(n^2)`-or-more work per output are counted as
FLOPs, with the usual multiply-add = 2 FLOPs convention:

.. math::

    \text{linear}: 2 \cdot M \cdot \text{in} \cdot \text{out}, \qquad
    \text{conv}: 2 \cdot N \cdot C_\text{out} H_\text{out} W_\text{out}
        \cdot \frac{C_\text{in}}{\text{groups}} k_h k_w, \qquad
    \text{matmul}: 2 \cdot M N K.

Element-wise activations, pooling, softmax and the losses add a few FLOPs per
element; they are bandwidth-bound and are accounted in bytes instead. The backward
pass of a linear or conv layer is two GEMMs of the forward's size (the input and the
weight gradient), so forward + backward :math:`\approx 3\times` forward.

Model FLOPs are counted from the layer shapes a forward pass actually uses: the torch
twin of the model runs once on one sample under a :class:`torch.overrides.TorchFunctionMode`
that sees every ``conv*d`` / ``linear`` / ``matmul`` call with its operands, so layers
written as modules and as functional calls (LeNet-5's sparse C3) are both counted.
"""
from __future__ import annotations

import math

#: Backward work relative to forward for GEMM-like layers (input grad + weight grad).
BACKWARD_FACTOR = 2.0


def linear_flops(batch_elems: int, in_features: int, out_features: int) -> float:
    """FLOPs of ``linear`` on ``batch_elems`` rows: :math:`2 M \\cdot in \\cdot out`."""
    return 2.0 * batch_elems * in_features * out_features


def conv_flops(out_shape, weight_shape) -> float:
    r"""FLOPs of a convolution from its output and weight shapes.

    :math:`2 \cdot \text{numel(out)} \cdot (C_\text{in}/\text{groups}) \prod k`: the
    weight's shape ``(C_out, C_in/groups, *k)`` already holds the per-output
    multiply-adds in its trailing dimensions.
    """
    return 2.0 * math.prod(out_shape) * math.prod(weight_shape[1:])


def elementwise_bytes(inputs, output, grad_inputs=None) -> dict:
    r"""Minimum memory traffic of a memory-bound op, forward and forward + backward.

    Forward reads every array operand once and writes the output once. The backward
    reads the upstream gradient, one saved array per differentiable input, and
    writes one gradient per differentiable input. A real implementation moves at
    least this much, so the bandwidth share computed from it is an upper bound on
    the efficiency the op achieves.

    Parameters
    ----------
    inputs : list of int
        ``nbytes`` of every array operand.
    output : int
        ``nbytes`` of the output.
    grad_inputs : list of int, optional
        ``nbytes`` of the operands that receive a gradient (default: all).
    """
    grad_inputs = inputs if grad_inputs is None else grad_inputs
    forward = float(sum(inputs) + output)
    backward = float(output + 2 * sum(grad_inputs))
    return {"forward": forward, "forward+backward": forward + backward}


def count_torch_flops(model, example) -> float:
    """Forward FLOPs of ``model(example)`` (a torch module and input), GEMM-like layers only."""
    import torch
    from torch.overrides import TorchFunctionMode

    conv_ops = {"conv1d", "conv2d", "conv3d"}
    mm_ops = {"matmul", "mm", "bmm", "addmm", "baddbmm"}
    total = [0.0]

    class Counter(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            out = func(*args, **kwargs)
            name = getattr(func, "__name__", "")
            if name in conv_ops:
                weight = args[1] if len(args) > 1 else kwargs["weight"]
                total[0] += conv_flops(tuple(out.shape), tuple(weight.shape))
            elif name == "linear":
                weight = args[1] if len(args) > 1 else kwargs["weight"]
                total[0] += 2.0 * out.numel() * weight.shape[-1]
            elif name in mm_ops:
                # The contracted size is the first operand's last dim (the one after
                # the bias for addmm-style ops).
                a = args[1] if name.startswith(("add", "badd")) else args[0]
                total[0] += 2.0 * out.numel() * a.shape[-1]
            return out

    with torch.no_grad(), Counter():
        model(example)
    return total[0]
