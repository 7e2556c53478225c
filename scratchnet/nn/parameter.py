"""``Parameter``: a trainable array and the gradient that accumulates into it."""
from __future__ import annotations

import numpy as np


class Parameter:
    """A trainable array, as ``torch.nn.Parameter``.

    Attributes
    ----------
    data : ndarray
        The value. Optimizers update it in place, so views of it stay valid.
    grad : ndarray or None
        :math:`\\partial L/\\partial \\text{data}`, summed over every backward since
        the last ``zero_grad`` (``None`` before the first), exactly as torch
        accumulates ``.grad``: two backward passes without ``zero_grad`` add up.
    requires_grad : bool
        As torch's flag: a frozen parameter (``False``) receives no gradient, so
        ``.grad`` stays ``None`` and optimizers leave it alone.
    """

    __slots__ = ("data", "grad", "requires_grad", "__weakref__")

    def __init__(self, data, requires_grad=True):
        data = np.asarray(data)
        if data.dtype.kind != "f":
            raise TypeError(f"Parameter: data must be a floating-point array, got dtype {data.dtype}")
        self.data = data
        self.grad = None
        self.requires_grad = bool(requires_grad)

    def requires_grad_(self, requires_grad: bool = True) -> "Parameter":
        """Set :attr:`requires_grad` in place and return ``self``, as torch's method."""
        self.requires_grad = bool(requires_grad)
        return self

    def accumulate_grad(self, grad: np.ndarray, *, fresh: bool = False) -> None:
        """Add ``grad`` into ``.grad`` (micrograd's ``+=``), allocating it on first use.

        ``fresh=True`` is the caller's promise that ``grad`` is a new array nothing
        else holds (an op registered with ``fresh_grads=True`` made it for this
        call): the first gradient then becomes ``.grad`` itself, as torch's
        ``AccumulateGrad`` keeps such a gradient, instead of being copied.
        """
        if grad.shape != self.data.shape:
            raise ValueError(
                f"Parameter: gradient of shape {grad.shape} for a parameter of shape {self.data.shape}"
            )
        if self.grad is None:
            keep = fresh and isinstance(grad, np.ndarray) and grad.dtype == self.data.dtype
            self.grad = grad if keep else np.array(grad, dtype=self.data.dtype, copy=True)
        else:
            self.grad += grad

    @property
    def shape(self):
        return self.data.shape

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def size(self):
        return self.data.size

    @property
    def ndim(self):
        return self.data.ndim

    def numel(self) -> int:
        return int(self.data.size)

    def __repr__(self):
        frozen = "" if self.requires_grad else ", requires_grad=False"
        return f"Parameter(shape={self.data.shape}, dtype={self.data.dtype}{frozen})"
