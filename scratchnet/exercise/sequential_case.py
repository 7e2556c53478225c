"""The ``sequential_backward`` exercise's cases: a chain of layers, its learner view and oracle.

A case is a list of layers ``(kind, arrays, existing_grads)``; the same tuple twice in
the list is one layer used twice (shared weights). The learner gets ``(forward,
params)`` pairs (scratchnet's own ops, :class:`~scratchnet.nn.Parameter` objects, some
holding a gradient already); the oracle differentiates the chain with every *use*
of a layer as its own leaf, so the expected ``.grad`` (existing + every use) and the
wrong answers of a chain that overwrites instead of accumulating are both at hand.
"""
from __future__ import annotations

import numpy as np

from ..nn import Parameter

_OPS = ("linear", "relu", "tanh", "sigmoid")


def _forward(kind):
    from .. import functional as F

    return F.registration(getattr(F, kind)).forward


def _distinct(case):
    """``[(key, layer)]`` of the distinct parametrised layers, in first-use order."""
    seen, out = set(), []
    for i, layer in enumerate(case.extra["layers"]):
        if layer[1] and id(layer) not in seen:
            seen.add(id(layer))
            out.append((f"layer{i}", layer))
    return out


def learner_layers(case):
    """``(layers, {"layer0.weight": Parameter, ...})`` for the learner's ``sequential``."""
    params, by_id = {}, {}
    for key, layer in _distinct(case):
        ps = {}
        for name, arr in layer[1].items():
            pre = layer[2].get(name)
            ps[name] = Parameter(arr.copy())
            ps[name].grad = None if pre is None else pre.copy()
            params[f"{key}.{name}"] = ps[name]
        by_id[id(layer)] = ps
    layers = [(_forward(layer[0]), by_id.get(id(layer), {})) for layer in case.extra["layers"]]
    return layers, params


def expected_sequential(case, oracle):
    """``(out, g, input_grad, {key: expected .grad}, {key: [gradient of each use]})``."""
    layers = case.extra["layers"]
    x = case.args[0]
    positions = [i for i, layer in enumerate(layers) if layer[1]]
    if oracle.name == "torch":
        from ..testing.torch_oracle import torch_chain

        out, g, gx, use_grads = torch_chain(layers, x, case.seed)
    else:
        out, g, gx, use_grads = _fd_chain(layers, x, case.seed)
    expected, per_use = {}, {}
    for key, layer in _distinct(case):
        for name in layer[1]:
            uses = [use_grads[i][name] for i in positions if layers[i] is layer]
            total = sum(uses[1:], uses[0].copy())
            pre = layer[2].get(name)
            expected[f"{key}.{name}"] = total if pre is None else pre + total
            per_use[f"{key}.{name}"] = (pre, uses)
    return out, g, gx, expected, per_use


def _chain_np(layers, x, arrays_at):
    h = x
    for i, (kind, arrays, _) in enumerate(layers):
        h = _forward(kind)(h, **arrays_at.get(i, {}))[0]
    return h


def _fd_chain(layers, x, seed, eps=1e-6):
    arrays_at = {i: dict(layer[1]) for i, layer in enumerate(layers) if layer[1]}
    out = _chain_np(layers, x, arrays_at)
    g = np.random.default_rng(seed).standard_normal(out.shape).astype(out.dtype)
    wide = {i: {k: v.astype(np.float64) for k, v in a.items()} for i, a in arrays_at.items()}
    g64 = g.astype(np.float64)

    def fd(get, set_):
        base = get()
        grad = np.zeros(base.shape)
        for k in range(base.size):
            v = np.zeros(base.size)
            v[k] = eps
            set_(base + v.reshape(base.shape))
            plus = float(np.sum(_chain_np(layers, xs[0], wide) * g64))
            set_(base - v.reshape(base.shape))
            minus = float(np.sum(_chain_np(layers, xs[0], wide) * g64))
            grad.reshape(-1)[k] = (plus - minus) / (2 * eps)
        set_(base)
        return grad

    xs = [x.astype(np.float64)]
    gx = fd(lambda: xs[0], lambda v: xs.__setitem__(0, v)).astype(x.dtype)
    use = {}
    for i, arrays in wide.items():
        use[i] = {}
        for name in arrays:
            use[i][name] = fd(lambda i=i, n=name: wide[i][n],
                              lambda v, i=i, n=name: wide[i].__setitem__(n, v)).astype(x.dtype)
    return out, g, gx, use
