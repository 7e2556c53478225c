"""The grader's torch side: torch's ops, its autograd and its SGD as the oracle.

The only module of :mod:`scratchnet.exercise` that imports torch; :func:`.oracle.make_oracle`
and the sequential and SGD cases import it only when a check runs with torch as its
oracle, so ``exercise list``, ``start``, ``hint`` and ``check --oracle fd`` never load torch.
"""
from __future__ import annotations

import warnings

import numpy as np
import torch
import torch.nn.functional as TF

from .graded import TOLERANCES, graded_arguments


class TorchOracle:
    """torch's op on copies of the arguments, differentiated with the upstream gradient."""

    name = "torch"
    tolerances = TOLERANCES["torch"]

    def __init__(self):
        self.ops = {
            "relu": torch.relu, "sigmoid": torch.sigmoid, "tanh": torch.tanh,
            "linear": TF.linear, "softmax": TF.softmax, "log_softmax": TF.log_softmax,
            "cross_entropy": TF.cross_entropy, "nll_loss": TF.nll_loss, "mse_loss": TF.mse_loss,
            "max_pool2d": TF.max_pool2d, "avg_pool2d": TF.avg_pool2d,
            "conv2d": TF.conv2d, "conv2d_naive": TF.conv2d,
        }

    def run(self, function, names, args, kwargs, make_g):
        """``(out, g, {name: gradient})`` of ``function(*args, **kwargs)`` with upstream ``g``."""
        graded = dict(graded_arguments(function, names, args))
        tensors = []
        for i, a in enumerate(args):
            if isinstance(a, np.ndarray):
                t = torch.from_numpy(a.copy())
                if i in graded:
                    t.requires_grad_(True)
                tensors.append(t)
            else:
                tensors.append(a)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = self.ops[function](*tensors, **kwargs)
        primary = out[0] if isinstance(out, tuple) else out
        out_np = tuple(o.detach().numpy() for o in out) if isinstance(out, tuple) \
            else out.detach().numpy()
        g = make_g(primary.shape, out_np[0].dtype if isinstance(out, tuple) else out_np.dtype)
        grads = {}
        if graded and primary.requires_grad:
            wrt = [tensors[i] for i in graded]
            result = torch.autograd.grad(primary, wrt, torch.from_numpy(np.array(g, copy=True)),
                                         allow_unused=True)
            for (i, name), gr in zip(graded.items(), result):
                grads[name] = np.zeros_like(args[i]) if gr is None else gr.numpy()
        else:
            grads = {name: np.zeros_like(args[i]) for i, name in graded.items()}
        return out_np, g, grads


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
