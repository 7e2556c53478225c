"""torch's SGD over a schedule: the grader's reference for the ``sgd_momentum`` exercise.

The learning rate and momentum may change between steps, as a scheduler changes
them (``param_groups[0][...]`` before each ``step()``); after each step the parameter
and torch's momentum buffer (``state['momentum_buffer']``) are kept, since the
exercise returns both. This module imports torch: only a check that uses torch
imports it.
"""
from __future__ import annotations

import numpy as np
import torch


def torch_sgd_schedule(param, grads, schedule):
    """``[(parameter, momentum buffer or None)]`` after each step of ``torch.optim.SGD``.

    ``schedule[t]`` holds step ``t``'s keyword arguments of ``torch.optim.SGD``.
    """
    p = torch.nn.Parameter(torch.from_numpy(np.array(param, order="C", copy=True)))
    opt = torch.optim.SGD([p], **schedule[0])
    out = []
    for g, hyper in zip(grads, schedule):
        opt.param_groups[0].update(hyper)
        p.grad = torch.from_numpy(np.array(g, order="C", copy=True))
        opt.step()
        buf = opt.state[p].get("momentum_buffer")
        out.append((p.detach().numpy().copy(), None if buf is None else buf.numpy().copy()))
    return out
