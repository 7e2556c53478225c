"""torch as the oracle: an op's forward and backward on NumPy arguments, SGD, a chain of layers.

:func:`torch_vjp` is ``scratchnet.functional.vjp`` run by torch: it converts the
NumPy arguments to tensors (copies), runs the op, and returns the output as NumPy and
a ``backward(g)`` that differentiates it with the upstream gradient ``g`` through
torch's autograd. The parity suite's ``check_op`` and the practice grader's
:class:`TorchOracle` both call it. :func:`torch_sgd_trajectory` and
:func:`torch_chain` are the grader's references for the SGD and Sequential exercises.

This module imports torch: import it only where torch is the reference.
"""
from __future__ import annotations

import contextlib
import warnings

import numpy as np
import torch
import torch.nn.functional as TF

from .tolerances import TOLERANCES, graded_arguments


def to_torch(x, requires_grad=False):
    """A tensor copy of an ndarray (``requires_grad`` for a floating one if asked); anything else as is."""
    if isinstance(x, np.ndarray):
        t = torch.from_numpy(x.copy())
        if requires_grad and x.dtype.kind == "f":
            t.requires_grad_(True)
        return t
    return x


def _numpy(out):
    if isinstance(out, tuple):
        return tuple(o.detach().numpy() for o in out)
    return out.detach().numpy()


def torch_vjp(torch_fn, args, kwargs=None, *, wrt=(), quiet=False):
    """``(out, backward)`` of ``torch_fn(*args, **kwargs)`` as scratchnet's ``vjp`` returns them.

    Arrays in ``args``/``kwargs`` become tensors; those at the positions ``wrt`` (floating
    ones) require a gradient. ``out`` is NumPy (a tuple stays a tuple: its first element
    is the one differentiated). ``backward(g)`` returns ``{position: gradient}`` for
    ``wrt``: zeros where torch's graph does not reach the argument, or everywhere when
    torch's output does not depend differentiably on them (``backward.differentiable``
    is then False). ``quiet`` silences torch's warnings (a learner's case may broadcast
    on purpose).
    """
    wrt = [i for i in wrt if isinstance(args[i], np.ndarray) and args[i].dtype.kind == "f"]
    tensors = [to_torch(a, requires_grad=i in wrt) for i, a in enumerate(args)]
    tkw = {k: to_torch(v) for k, v in (kwargs or {}).items()}
    with warnings.catch_warnings() if quiet else contextlib.nullcontext():
        if quiet:
            warnings.simplefilter("ignore")
        t_out = torch_fn(*tensors, **tkw)
    primary = t_out[0] if isinstance(t_out, tuple) else t_out

    def backward(g):
        if not backward.differentiable:
            return {i: np.zeros_like(args[i]) for i in wrt}
        grads = torch.autograd.grad(primary, [tensors[i] for i in wrt],
                                    torch.from_numpy(np.array(g, order="C", copy=True)), allow_unused=True)
        return {i: np.zeros_like(args[i]) if gr is None else gr.numpy() for i, gr in zip(wrt, grads)}

    backward.differentiable = bool(wrt) and primary.requires_grad
    return _numpy(t_out), backward


#: The grader's exercises by name, as torch spells them.
OPS = {
    "relu": torch.relu, "sigmoid": torch.sigmoid, "tanh": torch.tanh,
    "linear": TF.linear, "softmax": TF.softmax, "log_softmax": TF.log_softmax,
    "cross_entropy": TF.cross_entropy, "nll_loss": TF.nll_loss, "mse_loss": TF.mse_loss,
    "max_pool2d": TF.max_pool2d, "avg_pool2d": TF.avg_pool2d,
    "conv2d": TF.conv2d, "conv2d_naive": TF.conv2d,
}


class TorchOracle:
    """The grader's oracle: torch's op on copies of the arguments, differentiated with ``g``."""

    name = "torch"
    tolerances = TOLERANCES

    def run(self, function, names, args, kwargs, make_g):
        """``(out, g, {name: gradient})`` of ``function(*args, **kwargs)`` with upstream ``g``."""
        graded = dict(graded_arguments(function, names, args))
        out, backward = torch_vjp(OPS[function], args, kwargs, wrt=list(graded), quiet=True)
        primary = out[0] if isinstance(out, tuple) else out
        g = make_g(primary.shape, primary.dtype)
        grads = backward(g)
        return out, g, {name: grads[i] for i, name in graded.items()}


def torch_sgd_trajectory(param, grads, hyper):
    """The parameter after each step of ``torch.optim.SGD`` with ``hyper``."""
    p = torch.nn.Parameter(torch.from_numpy(param.copy()))
    opt = torch.optim.SGD([p], **hyper)
    out = []
    for g in grads:
        p.grad = torch.from_numpy(g.copy())
        opt.step()
        out.append(p.detach().numpy().copy())
    return out


def torch_chain(layers, x, seed):
    """The ``sequential_backward`` case through torch: ``(out, g, input grad, {layer: {name: grad}})``."""
    h = torch.from_numpy(x.copy()).requires_grad_(True)
    x_t = h
    leaves = {}
    for i, (kind, arrays, _) in enumerate(layers):
        if kind == "linear":
            w = torch.from_numpy(arrays["weight"].copy()).requires_grad_(True)
            b = torch.from_numpy(arrays["bias"].copy()).requires_grad_(True)
            leaves[i] = {"weight": w, "bias": b}
            h = TF.linear(h, w, b)
        else:
            h = getattr(torch, kind)(h)
    out = h.detach().numpy()
    g = np.random.default_rng(seed).standard_normal(out.shape).astype(out.dtype)
    wrt = [x_t] + [t for i in sorted(leaves) for t in leaves[i].values()]
    grads = torch.autograd.grad(h, wrt, torch.from_numpy(g))
    gx = grads[0].numpy()
    use, k = {}, 1
    for i in sorted(leaves):
        use[i] = {}
        for name in leaves[i]:
            use[i][name] = grads[k].numpy()
            k += 1
    return out, g, gx, use
