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

def gemm_flops(shape) -> float:
    """FLOPs of ``g`` products of ``(m, k) @ (k, n)``, ``shape = (g, m, k, n)``: :math:`2gmkn`."""
    g, m, k, n = shape
    return 2.0 * g * m * k * n


def linear_gemms(rows: int, in_features: int, out_features: int, needs_input_grad: bool = True) -> list:
    r"""``[(pass, (g, m, k, n))]``: the GEMMs of a linear layer's forward and backward on ``rows`` rows.

    Forward :math:`Y = XW^\top`, weight gradient :math:`G^\top X`, input gradient
    :math:`GW` (only where the step needs it: not for a first layer, whose input is the images).
    """
    gemms = [("forward", (1, rows, in_features, out_features)),
             ("weight grad", (1, out_features, rows, in_features))]
    if needs_input_grad:
        gemms.append(("input grad", (1, rows, out_features, in_features)))
    return gemms


def conv_gemms(in_channels: int, out_shape, kernel_size, groups: int = 1, needs_input_grad: bool = True) -> list:
    r"""``[(pass, (g, m, k, n))]``: a convolution's GEMMs as im2col products, one per group.

    With ``out_shape = (N, C_out, H_out, W_out)``, each group multiplies its
    :math:`C_\text{out}/g \times (C_\text{in}/g)k_hk_w` weights by the
    :math:`(C_\text{in}/g)k_hk_w \times NH_\text{out}W_\text{out}` columns; the weight
    gradient and the input gradient are the two other products of the same three sizes.
    """
    n, out_ch, ho, wo = out_shape
    kh, kw = kernel_size
    og, k, cols = out_ch // groups, in_channels // groups * kh * kw, n * ho * wo
    gemms = [("forward", (groups, og, k, cols)), ("weight grad", (groups, og, cols, k))]
    if needs_input_grad:
        gemms.append(("input grad", (groups, k, og, cols)))
    return gemms


#: Backward work relative to forward for GEMM-like layers: the weight gradient and the
#: input gradient are each a GEMM of the forward's size (:func:`linear_gemms`, :func:`conv_gemms`).
BACKWARD_FACTOR = 2.0


def linear_flops(batch_elems: int, in_features: int, out_features: int) -> float:
    """FLOPs of ``linear`` on ``batch_elems`` rows: :math:`2 M \\cdot in \\cdot out`, its forward GEMM."""
    return gemm_flops(linear_gemms(batch_elems, in_features, out_features)[0][1])


def conv_flops(out_shape, weight_shape) -> float:
    r"""FLOPs of a convolution from its output and weight shapes: its forward GEMMs.

    :math:`2 \cdot \text{numel(out)} \cdot (C_\text{in}/\text{groups}) \prod k`: the
    weight's shape ``(C_out, C_in/groups, *k)`` already holds the per-output
    multiply-adds in its trailing dimensions (the groups' products of
    :func:`conv_gemms`, summed).
    """
    out_ch = out_shape[1]
    return gemm_flops((1, out_ch, math.prod(weight_shape[1:]), math.prod(out_shape) // out_ch))


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
                total[0] += linear_flops(out.numel() // weight.shape[0], weight.shape[-1], weight.shape[0])
            elif name in mm_ops:
                # The contracted size is the first operand's last dim (the one after
                # the bias for addmm-style ops).
                a = args[1] if name.startswith(("add", "badd")) else args[0]
                total[0] += gemm_flops((1, out.numel(), a.shape[-1], 1))
            return out

    with torch.no_grad(), Counter():
        model(example)
    return total[0]
