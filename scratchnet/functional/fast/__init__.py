"""``scratchnet.functional.fast``: the tuned kernels that run by default in place of the textbook ops.

Each module here attaches its kernels with :func:`scratchnet.functional.register_kernel`
when it is imported (``scratchnet.functional`` imports this package last). A kernel keeps
its op's whole contract (arguments, ``(out, backward)``, the same numbers up to the order
of floating-point sums); what it changes is how the work is laid out: caches, slice plans,
memory layouts and special routes, each with a one-line why. The op pages show the
textbook versions; ``with scratchnet.functional.textbook():`` runs them alone, and the
parity suite proves every kernel equal to its textbook op and to torch.
"""
from . import linear, pooling

__all__ = ["linear", "pooling"]
