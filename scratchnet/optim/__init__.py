"""``scratchnet.optim``: torch.optim's SGD, Adam and AdamW on :class:`scratchnet.nn.Parameter`.

Each optimizer reproduces torch's single-tensor update rule operation for operation
(the CPU default), so a NumPy model and its torch twin that start from the same
weights and see the same gradients stay equal step after step. Updates happen in
place on ``param.data`` and keep its dtype.

SGD's rule is also a pure function, :func:`scratchnet.optim.sgd.sgd_step`, the page to
read; by default SGD runs its tuned in-place kernel, :mod:`scratchnet.optim.fast_sgd`,
which gives the same numbers bit for bit.
"""
from .optimizer import Optimizer
from .sgd import SGD
from .adam import Adam
from .adamw import AdamW

__all__ = ["Optimizer", "SGD", "Adam", "AdamW"]
