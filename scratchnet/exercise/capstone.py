"""The capstone: train a lecture model with the learner's passed ops in scratchnet's place.

:func:`learner_ops` is a context manager. Inside it, every op the model and its loss
call (``scratchnet.nn`` layers run their op's *registered* forward) runs the learner's
function instead (through :func:`scratchnet.functional.override`); so does SGD's
update when ``sgd_momentum`` has passed (:func:`scratchnet.optim.sgd.override_step`),
and ``nn.Sequential``'s chaining of the layers' backwards when ``sequential_backward``
has (:func:`scratchnet.nn.override_chain`). It refuses, naming them, while any op the
model needs has not passed its check (or its file changed since).
"""
from __future__ import annotations

import contextlib

from .. import functional as F
from .. import nn
from ..nn.recorded_backward import OpBackward
from ..optim import sgd as optim_sgd
from . import catalogue, workspace

#: A layer or loss module -> the functional op it calls.
MODULE_OPS = {
    "Conv2d": "conv2d", "MaxPool2d": "max_pool2d", "AvgPool2d": "avg_pool2d", "ReLU": "relu",
    "Sigmoid": "sigmoid", "Tanh": "tanh", "Linear": "linear", "Softmax": "softmax",
    "LogSoftmax": "log_softmax", "NLLLoss": "nll_loss", "CrossEntropyLoss": "cross_entropy",
    "MSELoss": "mse_loss",
}


class OpsNotPassed(ValueError):
    """The model needs ops whose exercises have not passed: the message names them."""


def needed_ops(model, criterion) -> list:
    """The exercise functions the model's layers and loss call, in order of first use.

    A module with no exercise (Flatten, LeNet's sparse C3) keeps scratchnet's op.
    """
    ops = []
    for m in list(model.modules()) + [criterion]:
        op = MODULE_OPS.get(type(m).__name__)
        if op and op not in ops:
            ops.append(op)
    return ops


@contextlib.contextmanager
def learner_ops(directory, model, criterion, optimizer_name: str = "sgd", log=print):
    """Run ``model`` and ``criterion`` on the learner's passed ops (and SGD rule) inside the block."""
    needed = needed_ops(model, criterion)
    missing = []
    for op in needed:
        ex = catalogue.exercise_of(op)
        if not workspace.passed(ex, directory):
            missing.append(f"{op} (exercise {ex.name}: {workspace.status(ex, directory)})")
    if missing:
        raise OpsNotPassed(f"--ops {directory}: the model needs ops that have not passed their "
                           f"check: {', '.join(missing)}; run `scratchnet exercise check NAME "
                           f"--dir {directory}`")
    swaps = {}
    loaded = {}
    for op in needed:
        ex = catalogue.exercise_of(op)
        if ex.name not in loaded:
            loaded[ex.name] = workspace.load(ex, directory)
        swaps[getattr(F, op)] = loaded[ex.name][op]
    sgd_ex = catalogue.get("sgd_momentum")
    use_sgd = optimizer_name == "sgd" and workspace.passed(sgd_ex, directory)
    chain_ex = catalogue.get("sequential_backward")
    use_chain = workspace.passed(chain_ex, directory)
    extras = [name for name, used in (("sequential_backward", use_chain), ("sgd_momentum", use_sgd))
              if used]
    log(f"--ops {directory}: your {', '.join(needed + extras)} replace scratchnet's"
        + ("" if use_sgd or optimizer_name != "sgd" else
           " (SGD stays scratchnet's: sgd_momentum has not passed)"))
    with contextlib.ExitStack() as stack:
        stack.enter_context(workspace.importable(directory))  # imports inside the learner's ops
        stack.enter_context(F.override(swaps))
        if use_sgd:
            rule = workspace.load(sgd_ex, directory)["sgd_momentum"]
            stack.enter_context(optim_sgd.override_step(rule))  # sgd_step's contract
        if use_chain:
            sequential = workspace.load(chain_ex, directory)["sequential"]
            stack.enter_context(nn.override_chain(_learner_chain(sequential)))
        yield needed


def _learner_chain(sequential):
    """A chain for :func:`scratchnet.nn.override_chain`: the learner's ``sequential(input, layers)``.

    Each child becomes a ``(forward, params)`` layer of the exercise's form. A layer
    that runs one functional op on its own parameters (Linear, Conv2d) hands the
    learner its trainable parameters and returns the op's gradients for them without
    adding them anywhere, so the learner's chain is what fills their ``.grad``; any
    other layer (activations, pools, Flatten, LeNet's sparse C3, a nested Sequential)
    back-propagates through its own recorded backward, parameters included.
    """
    def chain(seq, input):
        out, backward = sequential(input, [_as_layer(m) for m in seq])
        return out, lambda grad_out: backward(grad_out)["input"]

    return chain


def _as_layer(module):
    """``(forward, params)``: ``module`` as a layer of the ``sequential_backward`` exercise."""
    own = type(module).__name__ in MODULE_OPS
    params = {name: p for name, p in module.named_parameters(recurse=False)
              if p.requires_grad} if own else {}

    def forward(x, **_arrays):  # the arrays are the params' .data, which the module reads itself
        out = module(x)
        recorded = module._grad_fn

        def backward(grad_out):
            grad_out = recorded.checked_grad_out(grad_out)
            if params and isinstance(recorded.grad_fn, OpBackward):
                return recorded.grad_fn.op_gradients(grad_out, True)
            return {"input": recorded(grad_out)}

        return out, backward

    return forward, params


def learner_ops_for(cfg, directory, log=print):
    """:func:`learner_ops` for the model and loss of a :class:`~scratchnet.training.loop.TrainConfig`."""
    from .. import models
    from ..training.engine import resolve_loss

    model = models.build(cfg.model, seed=cfg.seed)
    return learner_ops(directory, model, models.criterion(resolve_loss(cfg)), cfg.optimizer, log=log)

