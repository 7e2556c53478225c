"""The lectures' own data pipeline: torchvision's MNIST, its transforms, torch's DataLoader.

The lectures load MNIST as::

    train_dataset = datasets.MNIST(root, train=True, transform=transforms.ToTensor(), download=True)
    train_loader = torch.utils.data.DataLoader(train_dataset, batch_size=64, shuffle=True)

``scratchnet train|reproduce --loader torchvision`` makes the torch engine read its data
exactly so (:class:`TorchvisionFeed`): every training batch comes out of a shuffled
``DataLoader`` over ``datasets.MNIST``, each image through ``ToTensor()`` (a PIL image
per sample), the test set through an unshuffled one. The NumPy engine, which never
imports torch, keeps scratchnet's seeded index batches, so the two engines then see
different batches: their drift measures two shufflings, not the two engines.

torchvision reads ``root/MNIST/raw/<the four extracted IDX files>``. Where the files lie
elsewhere (directly in ``--data-dir``, or only gzipped) they are linked or extracted into
a temporary root in that layout (:func:`torchvision_root`); the 5,000 embedded digits are
written there as IDX files, so torchvision reads them too. :func:`download_with_torchvision`
is ``--download`` through ``datasets.MNIST(download=True)`` (torchvision's mirrors and MD5
checks); it leaves the ``.gz`` files and the extracted ones in ``root/MNIST/raw``, which
scratchnet's NumPy-only loader reads as they are.

This module, with :mod:`scratchnet.training.torch_engine` and :mod:`scratchnet.torch_models`, is
scratchnet's torch side: nothing in the NumPy engine imports it.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import torch
import torchvision
from torchvision import datasets, transforms

from ..data import (MNIST_MEAN, MNIST_STD, SOURCE_FULL, SPLIT_FILES, DownloadError, default_data_dir,
                   find_mnist, load_embedded_mnist, write_idx)

__all__ = ["TorchvisionFeed", "attach_feed", "download_with_torchvision", "lecture_transform", "torchvision_root"]

#: The lecture's 4-vs-9 task: digit -> label.
_BINARY_LABELS = {4: -1.0, 9: 1.0}


def lecture_transform(normalize: bool = False):
    """``transforms.ToTensor()``, or ``Compose([ToTensor(), Normalize((0.1307,), (0.3081,))])``."""
    if not normalize:
        return transforms.ToTensor()
    return transforms.Compose([transforms.ToTensor(), transforms.Normalize((MNIST_MEAN,), (MNIST_STD,))])


# --------------------------------------------------------------------------- files
def torchvision_root(source: str, data_dir=None, scratch=None) -> tuple:
    """A root that ``datasets.MNIST(root)`` reads, holding the data scratchnet's loader found.

    Parameters
    ----------
    source : str
        What :func:`scratchnet.data.load_dataset` used: ``'mnist-full'``, else the embedded digits.
    data_dir : str or os.PathLike, optional
        Where full MNIST lies (default :func:`scratchnet.data.default_data_dir`).
    scratch : str, optional
        A directory for a root that has to be built; default a new temporary one.

    Returns
    -------
    (str, str)
        The root, and how it was obtained: ``'in place'`` (``data_dir/MNIST/raw`` holds the
        extracted files), ``'linked'`` / ``'extracted'`` (the files of ``data_dir`` put into
        torchvision's layout under ``scratch``), ``'embedded digits as IDX'``.
    """
    if source != SOURCE_FULL:
        return _embedded_root(scratch), "embedded digits as IDX"
    data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
    raw = data_dir / "MNIST" / "raw"
    if all((raw / name).is_file() for pair in SPLIT_FILES.values() for name in pair):
        return str(data_dir), "in place"
    paths = find_mnist(data_dir)
    if paths is None:
        raise FileNotFoundError(f"--loader torchvision: no MNIST files in {data_dir}")
    root = Path(scratch if scratch is not None else tempfile.mkdtemp(prefix="scratchnet-torchvision-"))
    target = root / "MNIST" / "raw"
    target.mkdir(parents=True, exist_ok=True)
    how = "linked"
    for path in paths.values():
        if path.suffix == ".gz":
            torchvision.datasets.utils.extract_archive(str(path), str(target))
            how = "extracted"
        else:
            link = target / path.name
            if not link.exists():
                os.symlink(path.resolve(), link)
    return str(root), how


def _embedded_root(scratch) -> str:
    """The embedded digits' 4,000 / 1,000 split as the four IDX files torchvision reads."""
    data = load_embedded_mnist()
    root = Path(scratch if scratch is not None else tempfile.mkdtemp(prefix="scratchnet-torchvision-"))
    raw = root / "MNIST" / "raw"
    for split, (images_file, labels_file) in ((data.train, SPLIT_FILES["train"]),
                                              (data.test, SPLIT_FILES["test"])):
        images, labels = split.arrays
        # The loader's floats are pixel/255 in float32: rounding x*255 gives the bytes back.
        pixels = np.rint(images[:, 0] * np.float32(255)).astype(np.uint8)
        write_idx(raw / images_file, pixels)
        write_idx(raw / labels_file, labels.astype(np.uint8))
    return str(root)


def download_with_torchvision(data_dir=None) -> Path:
    """``--download`` through ``datasets.MNIST(root, download=True)``: torchvision's mirrors and MD5s.

    Returns ``root/MNIST/raw``, which then holds each ``.gz`` file and its extracted file;
    :func:`scratchnet.data.load_mnist` reads it as it is, without torch.

    Raises
    ------
    DownloadError
        With torchvision's reason, on one line, when no mirror delivered a file.
    """
    root = Path(data_dir) if data_dir is not None else default_data_dir()
    try:
        datasets.MNIST(str(root), train=True, download=True)  # fetches both splits
    except RuntimeError as err:
        reason = " ".join(str(err).split())
        raise DownloadError(f"torchvision could not download MNIST into {root / 'MNIST' / 'raw'}: {reason}") from None
    return root / "MNIST" / "raw"


# --------------------------------------------------------------------------- batches
class _SignTargets(torch.utils.data.Dataset):
    """The 4-vs-9 subset of a torchvision MNIST: digit 4 -> -1, 9 -> +1, in dataset order."""

    def __init__(self, dataset):
        self.dataset = dataset
        targets = dataset.targets
        self.indices = torch.nonzero((targets == 4) | (targets == 9)).flatten().tolist()

    def __len__(self):
        return len(self.indices)

    def __getitem__(self, i):
        image, digit = self.dataset[self.indices[i]]
        return image, _BINARY_LABELS[digit]


class TorchvisionFeed:
    """The torch engine's batches, from torchvision's dataset and torch's ``DataLoader``.

    Parameters
    ----------
    kind : {'mnist', 'mnist-4v9'}
        The run's dataset (the model's).
    root : str
        A root ``datasets.MNIST`` reads (:func:`torchvision_root`).
    batch_size, test_batch_size : int
    seed : int
        Seeds the training loader's own ``torch.Generator``: the shuffling depends on the
        seed alone, not on what else drew from torch's global generator.
    drop_last : bool
    device, dtype
        Where each batch goes, and the images' dtype there.
    normalize : bool
        Append ``Normalize((0.1307,), (0.3081,))`` to ``ToTensor()``.
    """

    def __init__(self, kind: str, root: str, *, batch_size: int, test_batch_size: int, seed: int,
                 drop_last: bool = False, device="cpu", dtype=torch.float32, normalize: bool = False,
                 how: str = "in place"):
        if kind not in ("mnist", "mnist-4v9"):
            raise ValueError(f"--loader torchvision reads MNIST; the {kind!r} data is not MNIST")
        self.kind, self.root, self.how = kind, root, how
        self.device, self.dtype = str(device), dtype
        self.normalize = normalize
        transform = lecture_transform(normalize)
        train = datasets.MNIST(root, train=True, transform=transform)
        test = datasets.MNIST(root, train=False, transform=transform)
        if kind == "mnist-4v9":
            train, test = _SignTargets(train), _SignTargets(test)
        self.generator = torch.Generator().manual_seed(seed)
        self.train_loader = torch.utils.data.DataLoader(
            train, batch_size=batch_size, shuffle=True, drop_last=drop_last, generator=self.generator)
        self.test_loader = torch.utils.data.DataLoader(test, batch_size=test_batch_size, shuffle=False)
        self.n_train, self.n_test = len(train), len(test)
        self.seed, self.batch_size, self.test_batch_size = seed, batch_size, test_batch_size

    def __len__(self) -> int:
        """Training batches per epoch."""
        return len(self.train_loader)

    def _put(self, x, y):
        x = x.to(self.device, self.dtype, non_blocking=True)
        if y.dtype.is_floating_point:
            y = y.to(self.dtype)
        return x, y.to(self.device, non_blocking=True)

    def train_batches(self):
        """One epoch of shuffled ``(images, labels)`` batches, on the device."""
        return (self._put(x, y) for x, y in self.train_loader)

    def test_batches(self):
        return (self._put(x, y) for x, y in self.test_loader)

    def describe(self) -> dict:
        """What the JSON records of this pipeline."""
        transform = "ToTensor()" + (f", Normalize(({MNIST_MEAN},), ({MNIST_STD},))" if self.normalize else "")
        return {"loader": "torchvision", "torchvision": torchvision.__version__, "root": self.root,
                "root_from": self.how, "transform": transform,
                "train_loader": f"DataLoader(MNIST(train=True), batch_size={self.batch_size}, shuffle=True, "
                                f"generator=torch.Generator().manual_seed({self.seed}))",
                "test_loader": f"DataLoader(MNIST(train=False), batch_size={self.test_batch_size}, shuffle=False)"}



def attach_feed(engines, kind: str, source: str, data_dir, cfg) -> None:
    """Give every torch engine of ``engines`` a :class:`TorchvisionFeed` (``--loader torchvision``).

    ``source`` is what scratchnet's loader found (full MNIST or the embedded digits):
    torchvision reads the same data. A root built for it lives in a temporary directory
    that is removed with the feed.
    """
    scratch = tempfile.TemporaryDirectory(prefix="scratchnet-torchvision-")
    root, how = torchvision_root(source, data_dir, scratch.name)
    for engine in engines:
        if engine.name == "torch":
            engine.feed = TorchvisionFeed(kind, root, batch_size=cfg.batch_size,
                                          test_batch_size=cfg.test_batch_size, seed=cfg.seed,
                                          drop_last=cfg.drop_last, device=engine.device,
                                          dtype=engine.dtype, how=how)
            engine.feed.scratch = scratch  # kept alive as long as the feed reads from it
