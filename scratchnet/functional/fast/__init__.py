"""Tuned kernels: the same ops as the textbook pages, rearranged for speed.

Each kernel module attaches a forward to a textbook op with
:func:`~scratchnet.functional.register_kernel` when it is imported; the kernel keeps
the op's whole contract and the suite proves it equal to the textbook op and to torch.
Which forward a call runs (a kernel, the textbook one under
:func:`~scratchnet.functional.textbook`, or an override): see
:mod:`scratchnet.functional._vjp`. What each speedup measured is in
``benchmarks/README.md``.
"""
from . import activation
from . import conv
from . import linear
from . import loss
from . import pooling
from . import sparse_conv
