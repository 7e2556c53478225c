r"""``scratchnet explain``: watch one op work, step by step, forward and backward.

For given shapes and options, :func:`explain` runs an op of
:mod:`scratchnet.functional` through its *own* pieces (the window geometry, the
padded buffer, the im2col matrix gathered one kernel tap at a time and the GEMM
operands of ``conv2d``; the tap stack and argmax of ``max_pool2d``; the divisors of
``avg_pool2d``; the log-softmax and loss core of ``cross_entropy``) and records
every step: the shapes, the byte strides of the views, the memory it moves and the
floating-point operations it does. It then checks the result of those steps
against the op itself, forward and backward (:func:`scratchnet.functional.vjp`),
and raises :class:`CheckFailed` if they differ: the explanation can never drift
from the code it explains.

.. code-block:: python

    from scratchnet.explain import explain
    ex = explain("max_pool2d", input=(1, 1, 4, 4), kernel=2, numbers=True)
    print(ex.render())          # the text the command prints
    ex.steps[0].shapes          # {'input': (1, 1, 4, 4), 'output': (1, 1, 2, 2)}
    ex.to_json()                # what --json writes

With ``numbers=True`` (small inputs only) every array is kept and printed, with
where each gradient goes: the input position each max-pool output sends its
gradient to, the input positions each col2im tap adds into. The data are small
integers from ``numpy.random.default_rng(seed)`` in float64, so every sum is
exact; a ``(1, 1, 4, 4)`` max-pool input is the lecture's matrix
``[[1, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]]``. Without it the data are
standard normal, float32 unless ``dtype`` says otherwise.

What the counts mean
--------------------
``flops``: floating-point operations, :math:`2MNK` for an :math:`(M \times K)(K
\times N)` GEMM (a multiply and an add per term), one per elementwise add,
multiply, divide, exp, log or comparison. ``bytes``: what a step reads plus what
it writes, counting each array the step touches once (a GEMM reads its two
operands and writes its product); a view moves nothing.
"""
from __future__ import annotations

from .api import OPS, explain
from .pooling import LECTURE_POOL_INPUT
from .trace import NUMBERS_LIMIT, CheckFailed, ExplainError, Explanation, Step

__all__ = ["explain", "Explanation", "Step", "ExplainError", "CheckFailed", "OPS", "NUMBERS_LIMIT",
           "LECTURE_POOL_INPUT"]
