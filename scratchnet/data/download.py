"""Downloading MNIST: torchvision's mirrors, MD5 checks, a progress bar.

:func:`download_mnist` fetches the four ``.gz`` files into ``data_dir/MNIST/raw``
(torchvision's layout), trying each mirror in turn, and keeps a file only once its
MD5 matches torchvision's published digest. Reading the files is
:mod:`scratchnet.data.mnist`'s job.
"""
from __future__ import annotations

import hashlib
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

from .idx import CorruptDataError

__all__ = [
    "ChecksumError",
    "DownloadError",
    "MNIST_MIRRORS",
    "MNIST_RESOURCES",
    "default_data_dir",
    "download_mnist",
    "md5sum",
    "verify_md5",
]

#: torchvision's MNIST mirrors, tried in this order.
MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
#: The four distributed files and their MD5 digests (torchvision's ``MNIST.resources``).
MNIST_RESOURCES = (
    ("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
    ("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
    ("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
    ("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c"),
)


class ChecksumError(CorruptDataError):
    """A file's MD5 digest differs from the published one."""


class DownloadError(RuntimeError):
    """No mirror delivered a file with the right checksum (no network, HTTP error, bad bytes)."""


def default_data_dir() -> Path:
    """Where MNIST is looked for and downloaded to when no ``data_dir`` is given.

    Returns
    -------
    pathlib.Path
        ``$SCRATCHNET_DATA`` if set, else ``./data`` (relative to the working directory).
    """
    return Path(os.environ.get("SCRATCHNET_DATA", "data"))


def md5sum(path, chunk_size: int = 1 << 20) -> str:
    """Hex MD5 digest of a file, read in chunks.

    Parameters
    ----------
    path : str or os.PathLike
    chunk_size : int, optional
        Bytes per read.

    Returns
    -------
    str
        32 lowercase hex digits.
    """
    # usedforsecurity=False: MD5 is an integrity check here, and FIPS builds of
    # OpenSSL refuse MD5 without the flag.
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk_size), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_md5(path, expected: str) -> None:
    """Raise :class:`ChecksumError` unless ``md5sum(path) == expected``.

    Parameters
    ----------
    path : str or os.PathLike
    expected : str
        Hex MD5 digest (case-insensitive).

    Raises
    ------
    ChecksumError
        Naming the file, the digest found and the digest expected.
    """
    actual = md5sum(path)
    if actual != expected.lower():
        raise ChecksumError(f"{path}: MD5 mismatch: got {actual}, expected {expected.lower()}")


def _progress(name: str, done: int, total: int | None) -> None:
    if total:
        width = 30
        filled = width * done // total
        bar = "#" * filled + "." * (width - filled)
        text = f"\r  {name}  [{bar}] {100 * done // total:3d}%  {done / 1e6:.1f}/{total / 1e6:.1f} MB"
    else:
        text = f"\r  {name}  {done / 1e6:.1f} MB"
    sys.stderr.write(text)
    sys.stderr.flush()


def _fetch(url: str, dest: Path, timeout: float, progress: bool) -> None:
    # Some mirrors refuse urllib's default agent string.
    request = urllib.request.Request(url, headers={"User-Agent": "scratchnet"})
    name = dest.name.removesuffix(".part")
    done, drawn = 0, False
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response, open(dest, "wb") as out:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            if progress:
                _progress(name, 0, total)
                drawn = True
            while True:
                block = response.read(1 << 16)
                if not block:
                    break
                out.write(block)
                done += len(block)
                if progress:
                    _progress(name, done, total)
    finally:
        if drawn:
            sys.stderr.write("\n")
            sys.stderr.flush()


def _reason(err: Exception) -> str:
    """One line saying why a fetch failed ("HTTP Error 404: Not Found", "timed out", ...)."""
    if isinstance(err, urllib.error.URLError) and not isinstance(err, urllib.error.HTTPError):
        err = err.reason  # drop the "<urlopen error ...>" wrapper
    return " ".join(str(err).split()) or type(err).__name__


def download_mnist(data_dir=None, *, mirrors=None, timeout: float = 10.0, progress: bool = True) -> Path:
    """Download the four MNIST ``.gz`` files into ``data_dir/MNIST/raw`` and check their MD5s.

    Parameters
    ----------
    data_dir : str or os.PathLike, optional
        Root directory (torchvision's ``root``). Defaults to :func:`default_data_dir`.
    mirrors : sequence of str, optional
        Base URLs tried in order for each file (``base + filename``); any scheme
        ``urllib`` opens, ``file://`` included. Defaults to :data:`MNIST_MIRRORS`.
    timeout : float, default 10.0
        Seconds before a silent connection is abandoned for the next mirror.
    progress : bool, default True
        Draw a progress bar per file on stderr.

    Returns
    -------
    pathlib.Path
        The directory now holding the four files, ``data_dir/MNIST/raw``.

    Raises
    ------
    DownloadError
        If a file could not be obtained, with a matching MD5, from any mirror. The
        one-line message lists each mirror's failure (no network, HTTP error,
        checksum mismatch).

    Notes
    -----
    A file already present with the right MD5 is not downloaded again. Each
    download goes to ``name.part`` and is renamed only after its MD5 matches
    :data:`MNIST_RESOURCES`, so a bad or partial download never takes the real name.
    """
    data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
    raw = data_dir / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    if mirrors is None:
        mirrors = MNIST_MIRRORS
    mirrors = (mirrors,) if isinstance(mirrors, str) else tuple(mirrors)
    if not mirrors:
        raise ValueError("download_mnist: mirrors is empty")
    for name, md5 in MNIST_RESOURCES:
        dest = raw / name
        if dest.is_file() and md5sum(dest) == md5:
            continue
        failures = []
        for base in mirrors:
            url = base if base.endswith("/") else base + "/"
            url += name
            part = raw / f"{name}.part"
            try:
                _fetch(url, part, timeout, progress)
                verify_md5(part, md5)
            except (OSError, ValueError) as err:  # URLError, HTTPError, timeouts, ChecksumError
                part.unlink(missing_ok=True)
                failures.append(f"{url}: {_reason(err)}")
                continue
            os.replace(part, dest)
            break
        else:
            raise DownloadError(
                f"download_mnist: could not download {name} from any mirror ({'; '.join(failures)}); "
                f"put the four MNIST files in {raw} by hand, or call load_dataset() without "
                "download for the embedded 5,000 digits"
            )
    return raw
