"""The capstone: train a lecture model with the learner's passed ops in scratchnet's place.

:func:`learner_ops` is a context manager. Inside it, every op the model and its loss
call (``scratchnet.nn`` layers run their op's *registered* forward) runs the learner's
function instead (through :func:`scratchnet.functional.override`); so does SGD's
update when ``sgd_momentum`` has passed (:func:`scratchnet.optim.sgd.override_step`),
and ``nn.Sequential``'s chaining of the layers' backwards when ``sequential_backward``
has (:func:`scratchnet.nn.override_chain`). It refuses, naming them, while any op the
model needs has not passed its check (or its file changed since).

Passing a check is not all: :func:`learner_ops_for` also judges each swapped op on
the very calls one training step of the model makes (:mod:`.readiness`), and with
``--engine both`` compares the model layer by layer with its torch twin on that
batch; the first wrong op or layer is named and training does not start. The
lecture modules pass ``stride``/``padding`` as pairs; the learner's op gets an int
where the pair is ``(k, k)``, the form its exercise's core scope grades.
"""
from __future__ import annotations

import contextlib

from .. import functional as F
from .. import nn
from ..nn.recorded_backward import OpBackward
from ..optim import sgd as optim_sgd
from . import catalogue, readiness, workspace

#: A layer or loss module -> the functional op it calls.
MODULE_OPS = {
    "Conv2d": "conv2d", "MaxPool2d": "max_pool2d", "AvgPool2d": "avg_pool2d", "ReLU": "relu",
    "Sigmoid": "sigmoid", "Tanh": "tanh", "Linear": "linear", "Softmax": "softmax",
    "LogSoftmax": "log_softmax", "NLLLoss": "nll_loss", "CrossEntropyLoss": "cross_entropy",
    "MSELoss": "mse_loss",
}


class OpsNotPassed(ValueError):
    """The model needs ops whose exercises have not passed: the message names them."""


#: Why the capstone refuses to train (each message names the op and what to do).
REFUSALS = (OpsNotPassed, readiness.OpsNotReady)


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
def learner_ops(directory, model, criterion, optimizer_name: str = "sgd", log=print, *,
                dry_step=None, model_name="the model", compare=None):
    """Run ``model`` and ``criterion`` on the learner's passed ops (and SGD rule) inside the block.

    With ``dry_step`` (one training step of the model, run with whatever ops are in
    force) each swapped op is first judged on the calls that step makes
    (:func:`.readiness.check_ops`); ``compare()``, if given, runs inside the block
    before it is entered (the ``--engine both`` layer-by-layer comparison).
    :class:`.readiness.OpsNotReady` names what is wrong.
    """
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
    with contextlib.ExitStack() as stack:
        # The learner's files may import each other: from loading them to the last step.
        stack.enter_context(workspace.importable(directory))
        swaps, mine, paths = {}, {}, {}
        loaded = {}
        for op in needed:
            ex = catalogue.exercise_of(op)
            if ex.name not in loaded:
                loaded[ex.name] = workspace.load(ex, directory)
            mine[op] = loaded[ex.name][op]
            paths[op] = workspace.path_of(ex, directory)
            swaps[getattr(F, op)] = readiness.lecture_arguments(op, mine[op])
        sgd_ex = catalogue.get("sgd_momentum")
        use_sgd = optimizer_name == "sgd" and workspace.passed(sgd_ex, directory)
        chain_ex = catalogue.get("sequential_backward")
        use_chain = workspace.passed(chain_ex, directory)
        chain = []
        if use_chain:
            sequential = workspace.load(chain_ex, directory)["sequential"]
            chain.append(lambda: nn.override_chain(_learner_chain(sequential)))
        if dry_step is not None:
            readiness.check_ops(model_name, dry_step, mine, paths, log=log, contexts=chain)
        extras = [name for name, used in (("sequential_backward", use_chain), ("sgd_momentum", use_sgd))
                  if used]
        log(f"--ops {directory}: your {', '.join(needed + extras)} replace scratchnet's"
            + ("" if use_sgd or optimizer_name != "sgd" else
               " (SGD stays scratchnet's: sgd_momentum has not passed)"))
        stack.enter_context(F.override(swaps))
        if use_sgd:
            rule = workspace.load(sgd_ex, directory)["sgd_momentum"]
            stack.enter_context(optim_sgd.override_step(rule))  # sgd_step's contract
        for make in chain:
            stack.enter_context(make())
        if compare is not None:
            compare()
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


def learner_ops_for(cfg, directory, log=print, engine=None):
    """:func:`learner_ops` for the model and loss of a :class:`~scratchnet.training.loop.TrainConfig`.

    One training step on a batch of random images checks the learner's ops first;
    with ``engine='both'`` the model on them is compared layer by layer with its
    torch twin on that batch.
    """
    from .. import models
    from ..training.engine import resolve_loss

    model = models.build(cfg.model, seed=cfg.seed)
    x, y = _batch(cfg)

    def dry_step():
        from ..training.numpy_engine import NumpyEngine

        e = NumpyEngine.build(cfg)
        e.train()
        e.train_step(*e.put(x, y))

    def compare():
        from ..training.numpy_engine import NumpyEngine
        from ..training.torch_engine import TorchEngine

        ours = NumpyEngine.build(cfg)
        twin = TorchEngine.build(cfg, state_dict=ours.state_dict())  # from the very same weights
        readiness.compare_engines([ours, twin], x, y)

    return learner_ops(directory, model, models.criterion(resolve_loss(cfg)), cfg.optimizer, log=log,
                       dry_step=dry_step, model_name=cfg.model,
                       compare=compare if engine == "both" else None)


def _batch(cfg):
    """One training batch of random images and labels of the model's kind, in ``cfg``'s dtype."""
    import numpy as np

    from .. import models
    from ..training.engine import resolve_loss

    spec = models.spec(cfg.model)
    rng = np.random.default_rng(cfg.seed)
    x = rng.standard_normal((cfg.batch_size,) + tuple(spec.input_shape)).astype(cfg.dtype)
    if models.is_binary_loss(resolve_loss(cfg)):
        y = rng.choice([-1, 1], cfg.batch_size).astype(cfg.dtype)
    else:
        y = rng.integers(0, spec.num_classes, cfg.batch_size)
    return x, y
