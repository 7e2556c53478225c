"""Damaged data files: every error is a CorruptDataError naming the file (and the record).

* IDX headers: hypothesis writes headers with any number of dimensions and sizes up to
  2**32 - 1, including products that wrap around int64 (four sizes of 2**16 multiply to
  2**64, which int64 arithmetic calls 0), followed by a payload sized for the true
  product, for the wrapped one, or at random. The reader must return exactly the
  header's array or refuse the file by name; never pass the size check and fail later.
* MNIST label files holding a label outside 0..9 (10, 255) are refused at load time,
  naming the file and the record, not mid-training inside a loss.
* A CSV that is not UTF-8 names the file, the line and the byte.
"""
import gzip
import struct

import numpy as np
import pytest
from hypothesis import given, strategies as st

import scratchnet.data as D

TRAIN_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte")
TEST_FILES = ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
IDX_CODES = {0x08: 1, 0x09: 1, 0x0B: 2, 0x0C: 4, 0x0D: 4, 0x0E: 8}

sizes = st.one_of(st.integers(0, 4), st.sampled_from([2**16, 2**31, 2**32 - 1]),
                  st.integers(0, 2**32 - 1))


# Powers of two whose product reaches 2**64: int64 arithmetic calls it 0 (or a small number).
wrapping_dims = st.lists(st.sampled_from([2**8, 2**16, 2**24, 2**31, 2]), min_size=3, max_size=8).filter(
    lambda d: np.prod(np.array(d, dtype=object)) >= 2**63)


@given(code=st.sampled_from(sorted(IDX_CODES)), dims=st.one_of(st.lists(sizes, max_size=6), wrapping_dims),
       payload=st.sampled_from(["true", "wrapped", "random"]), n_random=st.integers(0, 64),
       gz=st.booleans())
def test_idx_header_sizes_are_checked_exactly(tmp_path_factory, code, dims, payload, n_random, gz):
    itemsize = IDX_CODES[code]
    true_count = int(np.prod(dims, dtype=object)) if dims else 1
    wrapped = int(np.prod(np.array(dims, dtype=np.int64))) if dims else 1  # int64 arithmetic
    n = {"true": true_count, "wrapped": wrapped, "random": n_random}[payload]
    if not 0 <= n * itemsize <= 4096:
        n = n_random  # the file cannot hold it; any small payload will do
    data = bytes([0, 0, code, len(dims)]) + struct.pack(f">{len(dims)}I", *dims) + bytes(n * itemsize)
    path = tmp_path_factory.mktemp("idx") / ("x.idx.gz" if gz else "x.idx")
    path.write_bytes(gzip.compress(data) if gz else data)
    addressable = int(np.prod([d for d in dims if d], dtype=object)) * itemsize <= np.iinfo(np.intp).max
    if n == true_count and not addressable:  # empty, but a shape no NumPy array can take
        with pytest.raises(D.CorruptDataError, match="multiply past") as info:
            D.read_idx(path)
        assert str(path) in str(info.value)
    elif n == true_count:
        arr = D.read_idx(path)
        assert arr.shape == tuple(dims) and arr.size == true_count
    else:
        with pytest.raises(D.CorruptDataError, match="truncated|trailing bytes") as info:
            D.read_idx(path)
        assert str(path) in str(info.value)


def test_an_empty_shape_numpy_cannot_hold_is_refused_by_name(tmp_path):
    # The deep profile's example: 0 items, so the file's length matches, but the other
    # sizes multiply to 2**63 bytes and NumPy cannot make an array of that shape.
    path = tmp_path / "empty-idx4-ubyte"
    path.write_bytes(bytes([0, 0, 0x08, 4]) + struct.pack(">4I", 0, 2**16, 2**16, 2**31))
    with pytest.raises(D.CorruptDataError, match=r"empty-idx4-ubyte has header shape \(0, 65536, 65536, 2147483648\)"):
        D.read_idx(path)


def test_a_header_whose_size_wraps_to_zero_is_refused(tmp_path):
    path = tmp_path / "wrap-idx4-ubyte"
    path.write_bytes(bytes([0, 0, 0x08, 4]) + struct.pack(">4I", *[2**16] * 4))
    with pytest.raises(D.CorruptDataError, match=r"wrap-idx4-ubyte is truncated: header says shape \(65536, 65536, 65536, 65536\)"):
        D.read_idx(path)


@given(cut=st.floats(0, 1, exclude_max=True), gz=st.booleans())
def test_idx_truncated_anywhere_names_the_file(tmp_path_factory, cut, gz):
    labels = np.arange(40, dtype=np.uint8) % 10
    folder = tmp_path_factory.mktemp("cut")
    full = D.write_idx(folder / ("l.gz" if gz else "l"), labels).read_bytes()
    path = folder / "cut-labels"
    path.write_bytes(full[:int(cut * len(full))])
    with pytest.raises(D.CorruptDataError) as info:
        D.read_idx_labels(path)
    assert str(path) in str(info.value)


def _mnist_folder(folder, labels_train):
    rng = np.random.default_rng(0)
    for (images_name, labels_name), labels in ((TRAIN_FILES, labels_train),
                                               (TEST_FILES, np.arange(5, dtype=np.uint8))):
        D.write_idx(folder / f"{images_name}.gz", rng.integers(0, 256, (len(labels), 28, 28), dtype=np.uint8))
        D.write_idx(folder / f"{labels_name}.gz", labels)
    return folder / f"{TRAIN_FILES[1]}.gz"


@pytest.mark.parametrize("bad", [10, 11, 255])
@given(record=st.integers(0, 6))
def test_mnist_labels_outside_0_to_9_are_refused_at_load(tmp_path_factory, bad, record):
    labels = np.array([3, 1, 4, 1, 5, 9, 2], dtype=np.uint8)
    labels[record] = bad
    folder = tmp_path_factory.mktemp("mnist")
    labels_path = _mnist_folder(folder, labels)
    with pytest.raises(D.CorruptDataError,
                       match=rf"record {record} has label {bad}; labels must be class indices 0..9") as info:
        D.load_mnist(folder)
    assert str(labels_path) in str(info.value)


def test_mnist_images_of_another_size_are_refused(tmp_path):
    rng = np.random.default_rng(0)
    for (images_name, labels_name), n in ((TRAIN_FILES, 3), (TEST_FILES, 2)):
        D.write_idx(tmp_path / images_name, rng.integers(0, 256, (n, 32, 32), dtype=np.uint8))
        D.write_idx(tmp_path / labels_name, np.zeros(n, np.uint8))
    with pytest.raises(D.CorruptDataError, match=r"images-idx3-ubyte holds images of 32 x 32 pixels"):
        D.load_mnist(tmp_path)


def test_check_labels_names_file_and_record():
    with pytest.raises(D.CorruptDataError, match=r"op: f.idx record 2 has label -1; .* \(2 of 4 records"):
        D.check_labels(np.array([0, 1, -1, 7]), 7, "f.idx", "op")
    labels = np.array([0, 9])
    assert D.check_labels(labels, 10, "f.idx", "op") is labels


@pytest.mark.parametrize("encoding,line", [("latin-1", 3), ("utf-16", 1), ("cp1252", 3)])
def test_csv_that_is_not_utf8_names_file_line_and_byte(tmp_path, encoding, line):
    path = tmp_path / "data.csv"
    path.write_bytes("a,b,target\n1,2,x\n3,4,caf\u00e9\n".encode(encoding))
    with pytest.raises(D.CorruptDataError, match=rf"data.csv line {line} is not UTF-8: byte 0x") as info:
        D.CSVDataset(path)
    assert str(path) in str(info.value)


def test_csv_not_utf8_far_into_the_file(tmp_path):
    path = tmp_path / "late.csv"
    path.write_bytes(b"a,b,target\n" + b"1,2,x\n" * 5000 + b"3,\xff,y\n")
    with pytest.raises(D.CorruptDataError, match=r"late.csv line 5002 is not UTF-8: byte 0xFF"):
        D.CSVDataset(path)


def test_csv_errors_stay_value_errors_for_callers(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_bytes(b"a,target\n\xe9,x\n")
    with pytest.raises(ValueError):
        D.CSVDataset(path)
