"""``Flatten``: the reshape between the convolutional blocks and the classifier."""
from __future__ import annotations

from .. import functional as F
from .module import Module

__all__ = ["Flatten"]


class Flatten(Module):
    r"""Merge dimensions ``start_dim..end_dim`` into one, as ``torch.nn.Flatten``.

    The default keeps the batch dimension: ``(N, 20, 4, 4) -> (N, 320)``, the
    lectures' "20x4x4 = 320". Backward reshapes the gradient back.

    Parameters
    ----------
    start_dim : int, default 1
    end_dim : int, default -1
    """

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim = start_dim
        self.end_dim = end_dim

    def forward(self, input):
        return self._call_functional(F.flatten, input, self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"
