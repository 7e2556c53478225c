"""Datasets over arrays and a seeded mini-batch iterator, shaped like torch.utils.data.

``ArrayDataset`` is ``TensorDataset`` for NumPy arrays and ``DataLoader`` is torch's
``DataLoader`` reduced to what the lectures use (``batch_size``, ``shuffle``,
``drop_last``), with one addition: ``seed``. The loader owns one
``numpy.random.Generator`` created from it, and every epoch (every ``iter()``) draws
the next permutation from that generator. Two loaders built with the same seed
therefore yield the same batches epoch after epoch, which is what lets the NumPy and
the torch engine train on identical mini-batches (the torch engine wraps each batch
with ``torch.from_numpy``).
"""
from __future__ import annotations

import abc
import math
import numbers
from typing import Iterator

import numpy as np

from ..checks import is_int

__all__ = ["ArrayDataset", "Dataset", "DataLoader", "TensorDataset"]


class Dataset(abc.ABC):
    """Abstract base of map-style datasets, as ``torch.utils.data.Dataset``.

    A subclass implements ``__len__`` and ``__getitem__(i)``, which returns one
    sample, usually a tuple ``(x, y)`` of arrays or scalars. :class:`DataLoader`
    stacks samples field by field into batches. Any object with these two methods
    works with :class:`DataLoader`; deriving from this class only documents intent.
    """

    @abc.abstractmethod
    def __len__(self) -> int:
        """Number of samples."""

    @abc.abstractmethod
    def __getitem__(self, index):
        """The sample at ``index`` (an int in ``[0, len(self))``)."""


class ArrayDataset(Dataset):
    """Samples taken along the first axis of several arrays, as ``TensorDataset``.

    Parameters
    ----------
    *arrays : numpy.ndarray
        One or more arrays sharing their first dimension ``N``, e.g. images
        ``(N, 1, 28, 28)`` and labels ``(N,)``. They are stored as given (no copy).

    Attributes
    ----------
    arrays : tuple of numpy.ndarray
        The arrays. ``tensors`` is the same tuple under ``TensorDataset``'s name.

    Raises
    ------
    ValueError
        If no array is given, one is 0-d, or their first dimensions differ.

    Examples
    --------
    >>> ds = ArrayDataset(np.zeros((5, 3), np.float32), np.arange(5))
    >>> len(ds), int(ds[2][1])
    (5, 2)
    """

    def __init__(self, *arrays: np.ndarray) -> None:
        if not arrays:
            raise ValueError("ArrayDataset: expected at least one array")
        arrays = tuple(np.asarray(a) for a in arrays)
        for i, a in enumerate(arrays):
            if a.dtype == object:  # np.asarray of something that is not array-like
                raise TypeError(f"ArrayDataset: argument {i} is not a numeric array (it became dtype object)")
        if any(a.ndim == 0 for a in arrays):
            shapes = ", ".join(str(a.shape) for a in arrays)
            raise ValueError(f"ArrayDataset: every array needs a first (sample) dimension, got shapes {shapes}")
        if len({a.shape[0] for a in arrays}) != 1:
            shapes = ", ".join(str(a.shape) for a in arrays)
            raise ValueError(f"ArrayDataset: size mismatch between arrays: shapes {shapes} differ in dim 0")
        self.arrays = arrays

    @property
    def tensors(self) -> tuple:
        """The stored arrays (``TensorDataset.tensors``)."""
        return self.arrays

    def __len__(self) -> int:
        return self.arrays[0].shape[0]

    def __getitem__(self, index):
        """Return ``tuple(a[index] for a in arrays)``; ``index`` may be an int, slice or index array."""
        return tuple(a[index] for a in self.arrays)

    def __repr__(self) -> str:
        fields = ", ".join(f"{a.dtype}{list(a.shape)}" for a in self.arrays)
        return f"{type(self).__name__}({fields})"


TensorDataset = ArrayDataset


def _collate(samples: list):
    """Stack a list of samples into a batch, field by field (torch's default_collate)."""
    first = samples[0]
    if isinstance(first, tuple) or isinstance(first, list):
        return tuple(_collate([s[i] for s in samples]) for i in range(len(first)))
    if isinstance(first, dict):
        return {k: _collate([s[k] for s in samples]) for k in first}
    if isinstance(first, bool):
        return np.array(samples, dtype=bool)
    if isinstance(first, numbers.Integral) and not isinstance(first, np.integer):
        return np.array(samples, dtype=np.int64)  # Python ints batch to int64, as in torch
    if isinstance(first, numbers.Real) and not isinstance(first, np.floating):
        return np.array(samples, dtype=np.float64)  # Python floats batch to float64, as in torch
    return np.stack([np.asarray(s) for s in samples])


class DataLoader:
    """Iterate over a dataset in (optionally shuffled) mini-batches.

    Parameters
    ----------
    dataset : Dataset, ArrayDataset or sequence of numpy.ndarray
        What to batch. A tuple or list of arrays is wrapped in :class:`ArrayDataset`.
    batch_size : int or None, default 1
        Samples per batch. ``None`` disables batching: single samples are yielded,
        as in torch.
    shuffle : bool, default False
        Draw a fresh permutation of the sample indices at the start of every epoch.
    drop_last : bool, default False
        Drop the last batch when it is smaller than ``batch_size``.
    seed : int, numpy.random.Generator or None, default None
        Seeds the loader's one generator (``numpy.random.default_rng(seed)``), made
        once at construction. Epoch ``e`` (the ``e``-th call to ``iter``) uses the
        ``e``-th permutation drawn from it, so equal seeds give equal batch
        sequences. ``None`` seeds from OS entropy. Ignored unless ``shuffle``.

    Attributes
    ----------
    dataset : Dataset
    batch_size : int or None
    shuffle, drop_last : bool

    Raises
    ------
    ValueError
        If ``batch_size`` is not a positive integer or ``None``, or ``batch_size``
        is ``None`` together with ``drop_last=True`` (torch rejects both).

    Notes
    -----
    With ``N = len(dataset)`` and ``B = batch_size``, ``len(loader)`` is
    :math:`\\lceil N / B \\rceil`, or :math:`\\lfloor N / B \\rfloor` with
    ``drop_last`` (``N`` when ``batch_size`` is ``None``). Every epoch visits each
    sample exactly once (except the dropped tail).

    For an :class:`ArrayDataset` a batch is gathered with one fancy index per array
    (``x[idx]``), so it is a fresh C-contiguous array of the dataset's dtype; any
    other dataset is indexed sample by sample and stacked field by field. Batches
    are tuples of arrays: ``for x, y in loader`` works as with torch.

    Examples
    --------
    >>> x = np.arange(10, dtype=np.float32)[:, None]
    >>> y = np.arange(10)
    >>> loader = DataLoader((x, y), batch_size=4, shuffle=True, seed=0)
    >>> [xb.shape[0] for xb, yb in loader]
    [4, 4, 2]
    """

    def __init__(self, dataset, batch_size: int | None = 1, shuffle: bool = False,
                 drop_last: bool = False, seed=None) -> None:
        if isinstance(dataset, (tuple, list)):
            dataset = ArrayDataset(*dataset)
        elif isinstance(dataset, np.ndarray):
            dataset = ArrayDataset(dataset)
        if not (hasattr(dataset, "__len__") and hasattr(dataset, "__getitem__")):
            raise TypeError(
                f"DataLoader: dataset must define __len__ and __getitem__ (or be a tuple of arrays), "
                f"got {type(dataset).__name__}"
            )
        if batch_size is not None and (not is_int(batch_size) or batch_size <= 0):
            raise ValueError(
                f"DataLoader: batch_size should be a positive integer value, but got batch_size={batch_size!r}"
            )
        if batch_size is None and drop_last:
            raise ValueError(
                "DataLoader: batch_size=None option disables auto-batching and is mutually exclusive with drop_last"
            )
        self.dataset = dataset
        self.batch_size = None if batch_size is None else int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self._rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        n = len(self.dataset)
        if self.batch_size is None:
            return n
        if self.drop_last:
            return n // self.batch_size
        return math.ceil(n / self.batch_size)

    def _order(self) -> np.ndarray:
        n = len(self.dataset)
        if self.shuffle:
            return self._rng.permutation(n)
        return np.arange(n)

    def _fetch(self, idx: np.ndarray):
        if isinstance(self.dataset, ArrayDataset):
            return self.dataset[idx]
        return _collate([self.dataset[int(i)] for i in idx])

    def __iter__(self) -> Iterator:
        # The permutation is drawn by iter() itself (not lazily on the first next()),
        # so each epoch advances the generator by exactly one draw, even an epoch that
        # is abandoned before its first batch.
        return self._batches(self._order())

    def _batches(self, order: np.ndarray) -> Iterator:
        if self.batch_size is None:
            for i in order:
                yield self.dataset[int(i)]
            return
        stop = len(self) * self.batch_size
        for start in range(0, min(stop, len(order)), self.batch_size):
            yield self._fetch(order[start:start + self.batch_size])

    def __repr__(self) -> str:
        return (f"DataLoader({self.dataset!r}, batch_size={self.batch_size}, shuffle={self.shuffle}, "
                f"drop_last={self.drop_last})")
