"""Every optimizer's argument validation against torch's, at each bound, just inside and just outside.

For each hyperparameter bound of SGD, Adam and AdamW the value at the bound, one just
inside and one just outside are passed to scratchnet's optimizer and to torch's: both
must accept, or both must raise the same exception type with the same message (which
names the value). A bound moved by one ulp-sized step (``<`` for ``<=``, ``0`` for
``1``) fails here. scratchnet also validates a param group added later (torch checks
only the constructor's arguments): that is tested on its own.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from scratchnet import optim
from scratchnet.nn import Parameter

TINY = 1e-12
PAIRS = {"SGD": (optim.SGD, torch.optim.SGD), "Adam": (optim.Adam, torch.optim.Adam),
         "AdamW": (optim.AdamW, torch.optim.AdamW)}


def _bounds():
    """``(optimizer, kwargs, accepted)`` around every bound torch checks."""
    cases = []
    for name in PAIRS:
        for key in ("lr", "weight_decay"):  # both: >= 0
            cases += [(name, {key: 0.0}, True), (name, {key: TINY}, True), (name, {key: -TINY}, False),
                      (name, {key: -1.0}, False)]
    cases += [("SGD", {"momentum": 0.0}, True), ("SGD", {"momentum": TINY}, True),
              ("SGD", {"momentum": -TINY}, False),
              # torch does not check dampening alone: a negative one is accepted by both
              ("SGD", {"momentum": 0.9, "dampening": -0.5}, True),
              # Nesterov needs momentum > 0 and dampening == 0
              ("SGD", {"nesterov": True}, False),
              ("SGD", {"nesterov": True, "momentum": 0.0}, False),
              ("SGD", {"nesterov": True, "momentum": TINY}, True),
              ("SGD", {"nesterov": True, "momentum": -TINY}, False),
              ("SGD", {"nesterov": True, "momentum": 0.9, "dampening": 0.0}, True),
              ("SGD", {"nesterov": True, "momentum": 0.9, "dampening": TINY}, False),
              ("SGD", {"nesterov": True, "momentum": 0.9, "dampening": -TINY}, False),
              ("SGD", {"nesterov": False, "momentum": 0.9, "dampening": 0.5}, True)]
    for name in ("Adam", "AdamW"):
        cases += [(name, {"eps": 0.0}, True), (name, {"eps": TINY}, True), (name, {"eps": -TINY}, False)]
        for i in (0, 1):  # each beta in [0, 1)
            for beta, ok in ((0.0, True), (TINY, True), (-TINY, False), (1 - 1e-9, True), (1.0, False),
                             (1 + 1e-9, False)):
                betas = [0.9, 0.999]
                betas[i] = beta
                cases.append((name, {"betas": tuple(betas)}, ok))
    return cases


BOUNDS = _bounds()


def _attempt(cls, param, kw):
    try:
        cls([param], **kw)
    except Exception as exc:  # noqa: BLE001 - compared with torch's below
        return exc
    return None


@pytest.mark.parametrize("name,kw,accepted", BOUNDS,
                         ids=[f"{n}-{'-'.join(f'{k}={v}' for k, v in kw.items())}" for n, kw, _ in BOUNDS])
def test_each_bound_accepts_and_refuses_as_torch(name, kw, accepted):
    ours_cls, torch_cls = PAIRS[name]
    theirs = _attempt(torch_cls, torch.nn.Parameter(torch.ones(2, dtype=torch.float64)), kw)
    ours = _attempt(ours_cls, Parameter(np.ones(2)), kw)
    assert (theirs is None) == accepted, f"torch: {theirs!r}"  # the table itself is torch's rule
    if accepted:
        assert ours is None, f"scratchnet refused what torch accepts: {ours!r}"
    else:
        assert ours is not None, "scratchnet accepted what torch refuses"
        assert type(ours) is type(theirs)
        assert str(ours) == str(theirs)


@pytest.mark.parametrize("name,kw,accepted", BOUNDS[:8] + [b for b in BOUNDS if "betas" in b[1]][:6],
                         ids=str)
def test_a_param_group_added_later_is_validated_like_the_constructor(name, kw, accepted):
    ours_cls, _ = PAIRS[name]
    opt = ours_cls([Parameter(np.ones(2))])
    group = {"params": [Parameter(np.ones(3))], **kw}
    if accepted:
        opt.add_param_group(group)
        assert all(opt.param_groups[1][k] == v for k, v in kw.items())
    else:
        with pytest.raises(ValueError):
            opt.add_param_group(group)
        assert len(opt.param_groups) == 1
