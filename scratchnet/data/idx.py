"""The IDX file format of MNIST: a reader that checks everything, and a small writer.

An IDX file is a big-endian header followed by a dense C-ordered array::

    bytes 0-1   0x00 0x00
    byte  2     element type: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
                0x0D float32, 0x0E float64
    byte  3     number of dimensions d
    4*d bytes   the d sizes, each a big-endian uint32
    the rest    prod(sizes) elements, big-endian

Read as one big-endian int32, the first four bytes are the "magic number" quoted by
the MNIST page: ``0x00000803 = 2051`` for the image files (uint8, 3-D: N x 28 x 28)
and ``0x00000801 = 2049`` for the label files (uint8, 1-D: N).

Files may be gzip-compressed (as distributed) or raw (as torchvision extracts them);
the reader tells them apart by content (gzip streams start with ``1f 8b``, IDX files
with two zero bytes), not by the file name.
"""
from __future__ import annotations

import gzip
import math
import os
import zlib
from pathlib import Path

import numpy as np

__all__ = [
    "CorruptDataError",
    "IDX_IMAGES_MAGIC",
    "IDX_LABELS_MAGIC",
    "check_labels",
    "read_idx",
    "read_idx_images",
    "read_idx_labels",
    "write_idx",
]

IDX_IMAGES_MAGIC = 2051
IDX_LABELS_MAGIC = 2049

# Element type code -> big-endian NumPy dtype, as defined on the MNIST page.
_IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_IDX_CODES = {dt.newbyteorder("="): code for code, dt in _IDX_DTYPES.items()}
_GZIP_MAGIC = b"\x1f\x8b"


class CorruptDataError(ValueError):
    """A data file exists but its content is not what it must be.

    Raised for a bad magic number, a header or payload shorter (or longer) than the
    header promises, a damaged gzip stream, image and label files that disagree on
    the number of samples, a label outside the classes, a checksum mismatch, or a CSV
    file that is not UTF-8. The message names the file, the record where it applies,
    and what was wrong with it.
    """


def _describe_magic(magic: int) -> str:
    code, ndim = (magic >> 8) & 0xFF, magic & 0xFF
    dtype = _IDX_DTYPES.get(code)
    kind = dtype.newbyteorder("=").name if dtype is not None else f"unknown type 0x{code:02X}"
    return f"{kind}, {ndim}-D"


def _read_bytes(path: Path) -> bytes:
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] != _GZIP_MAGIC:
        return raw
    try:
        return gzip.decompress(raw)
    except (EOFError, OSError, zlib.error) as err:
        # EOFError: the stream stops early (a partial download); OSError / zlib.error:
        # damaged bytes. Either way the file is unusable, and the name says which.
        raise CorruptDataError(f"{path}: damaged gzip stream ({err})") from None


def read_idx(path, *, magic: int | None = None, op: str = "read_idx") -> np.ndarray:
    """Read an IDX file (gzip-compressed or raw) into a native-endian array.

    Parameters
    ----------
    path : str or os.PathLike
        The file. Compression is detected from the content, not the name.
    magic : int, optional
        The magic number the file must carry, e.g. :data:`IDX_IMAGES_MAGIC` (2051)
        or :data:`IDX_LABELS_MAGIC` (2049). Any valid IDX file is accepted if omitted.
    op : str, optional
        Name used in error messages.

    Returns
    -------
    numpy.ndarray
        A writable, C-contiguous array of the header's shape ``(d_1, ..., d_d)`` and
        element type, in native byte order.

    Raises
    ------
    CorruptDataError
        If the file is not IDX, carries another magic number than ``magic``, or
        its payload does not hold exactly ``prod(d_i)`` elements.
    FileNotFoundError
        If ``path`` does not exist.

    Notes
    -----
    The payload size is checked exactly, in both directions: a truncated download
    and a file with trailing garbage are both rejected, as torchvision does, because
    either means the header and the data disagree.
    """
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4:
        raise CorruptDataError(
            f"{op}: {path} is truncated: {len(data)} bytes, too short for the 4-byte IDX magic number"
        )
    found = int.from_bytes(data[:4], "big")
    if data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise CorruptDataError(
            f"{op}: {path} is not an IDX file: magic number 0x{found:08X} "
            f"(expected 0x0000TTDD, with type code TT in "
            f"{{{', '.join(f'0x{c:02X}' for c in _IDX_DTYPES)}}})"
        )
    if magic is not None and found != magic:
        raise CorruptDataError(
            f"{op}: {path} has magic number {found} ({_describe_magic(found)}), "
            f"expected {magic} ({_describe_magic(magic)})"
        )
    dtype, ndim = _IDX_DTYPES[data[2]], data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise CorruptDataError(
            f"{op}: {path} is truncated: {len(data)} bytes, but the header of a "
            f"{ndim}-D IDX file takes {header}"
        )
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    # Python ints: in int64 a damaged header's product wraps (four sizes of 2**16 give
    # 2**64, which int64 calls 0) and can match the file's length by accident.
    count = math.prod(shape)
    expected = header + count * dtype.itemsize
    if len(data) != expected:
        problem = "is truncated" if len(data) < expected else "has trailing bytes"
        raise CorruptDataError(
            f"{op}: {path} {problem}: header says shape {shape} of {dtype.newbyteorder('=').name} "
            f"({expected} bytes in all), file holds {len(data)} bytes"
        )
    # An empty array still has its shape: NumPy refuses one whose other sizes multiply
    # past what an index can address, even with a 0 among them.
    if math.prod(n for n in shape if n) * dtype.itemsize > np.iinfo(np.intp).max:
        raise CorruptDataError(
            f"{op}: {path} has header shape {shape}: an array of that shape holds nothing, but "
            f"its other sizes multiply past the {np.iinfo(np.intp).max} bytes NumPy can address"
        )
    arr = np.frombuffer(data, dtype=dtype, count=count, offset=header)
    return arr.astype(dtype.newbyteorder("="), copy=True).reshape(shape)


def read_idx_images(path) -> np.ndarray:
    """Read an MNIST image file (magic 2051): ``(N, H, W)`` uint8.

    Parameters
    ----------
    path : str or os.PathLike
        e.g. ``train-images-idx3-ubyte.gz`` or its extracted form.

    Returns
    -------
    numpy.ndarray
        Shape ``(N, H, W)`` (``(N, 28, 28)`` for MNIST), dtype uint8, pixels 0..255.

    Raises
    ------
    CorruptDataError
        On any defect listed in :func:`read_idx`, including a label file passed by
        mistake (magic 2049).
    """
    return read_idx(path, magic=IDX_IMAGES_MAGIC, op="read_idx_images")


def read_idx_labels(path) -> np.ndarray:
    """Read an MNIST label file (magic 2049): ``(N,)`` uint8.

    Parameters
    ----------
    path : str or os.PathLike
        e.g. ``train-labels-idx1-ubyte.gz`` or its extracted form.

    Returns
    -------
    numpy.ndarray
        Shape ``(N,)``, dtype uint8.

    Raises
    ------
    CorruptDataError
        On any defect listed in :func:`read_idx`, including an image file passed by
        mistake (magic 2051).
    """
    return read_idx(path, magic=IDX_LABELS_MAGIC, op="read_idx_labels")


def check_labels(labels: np.ndarray, num_classes: int, path, op: str) -> np.ndarray:
    """Insist that every label read from ``path`` is a class index in ``[0, num_classes)``.

    A label file holding 10 or 255 loads fine as bytes and only fails much later,
    inside a loss, far from the file; this names the file and the first bad record.

    Parameters
    ----------
    labels : ndarray of int, shape ``(N,)``
    num_classes : int
    path : str or os.PathLike
        The file the labels came from (for the message).
    op : str
        Name used in the message.

    Returns
    -------
    ndarray
        ``labels``, unchanged.

    Raises
    ------
    CorruptDataError
        Naming the file, the record (0-based) and its value.
    """
    bad = (labels < 0) | (labels >= num_classes)
    if bad.any():
        record = int(np.flatnonzero(bad.reshape(-1))[0])
        raise CorruptDataError(
            f"{op}: {path} record {record} has label {labels.reshape(-1)[record]}; labels "
            f"must be class indices 0..{num_classes - 1} ({int(bad.sum())} of "
            f"{labels.size} records are out of range)"
        )
    return labels


def write_idx(path, array, *, compress: bool | None = None) -> Path:
    """Write ``array`` as an IDX file (the inverse of :func:`read_idx`).

    Parameters
    ----------
    path : str or os.PathLike
        Destination. Parent directories are created.
    array : array_like
        Any shape with at most 255 dimensions, each below 2**32; dtype uint8, int8,
        int16, int32, float32 or float64. A uint8 array of shape ``(N, H, W)`` gives
        an MNIST image file (magic 2051), of shape ``(N,)`` a label file (2049).
    compress : bool, optional
        gzip the file. By default, exactly when ``path`` ends in ``.gz``.

    Returns
    -------
    pathlib.Path
        The written path.

    Raises
    ------
    TypeError
        If the dtype has no IDX type code.
    ValueError
        If the array has too many dimensions or a dimension too large for the header.
    """
    path = Path(path)
    array = np.asarray(array)
    native = array.dtype.newbyteorder("=")
    if native not in _IDX_CODES:
        names = ", ".join(dt.newbyteorder("=").name for dt in _IDX_DTYPES.values())
        raise TypeError(f"write_idx: dtype {array.dtype} has no IDX type code (supported: {names})")
    if array.ndim > 255 or any(d >= 2**32 for d in array.shape):
        raise ValueError(
            f"write_idx: shape {array.shape} does not fit an IDX header "
            "(at most 255 dimensions, each below 2**32)"
        )
    code = _IDX_CODES[native]
    header = bytes([0, 0, code, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    payload = np.ascontiguousarray(array, dtype=_IDX_DTYPES[code]).tobytes()
    if compress is None:
        compress = path.name.endswith(".gz")
    blob = header + payload
    if compress:
        # mtime=0 keeps the bytes (and so an MD5) independent of when the file was written.
        blob = gzip.compress(blob, mtime=0)
    os.makedirs(path.parent, exist_ok=True)
    with open(path, "wb") as f:
        f.write(blob)
    return path
