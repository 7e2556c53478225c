"""The lectures' own data pipeline (torchvision) as the oracle of scratchnet's loader, and
``--loader torchvision``, torchvision's ``--download``, and what stays free of torch.

The lectures read MNIST as ``datasets.MNIST(root, train=..., transform=ToTensor())``,
each item a PIL image turned into a tensor. The oracle below checks scratchnet's arrays
against what that code gets: the whole dataset through torchvision's own ``.data`` and
``.targets`` (vectorised), and, tying those to what the lecture's loop receives, items
fetched one by one through ``__getitem__`` and the transforms.
"""
import gzip
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

torchvision = pytest.importorskip("torchvision")
from torchvision import datasets, transforms  # noqa: E402

from scratchnet.training import torch_data  # noqa: E402
from scratchnet.data import (SOURCE_EMBEDDED, SOURCE_FULL, binary_subset, load_embedded_mnist,  # noqa: E402
                             load_mnist, write_idx)
from scratchnet.training.torch_engine import TorchEngine  # noqa: E402
from scratchnet.training.loop import TrainConfig, fit  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NORMALIZE = transforms.Normalize((0.1307,), (0.3081,))


def _run(*args, code=None):
    env = dict(os.environ, PYTHONPATH=REPO)
    env.pop("SCRATCHNET_DEBUG", None)
    env.pop("SCRATCHNET_DATA", None)
    cmd = [sys.executable, "-c", code] if code else [sys.executable, "-m", "scratchnet", *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)


def _items(dataset, indices, transform):
    """What the lecture's loop receives for these items: __getitem__, PIL image, transform."""
    dataset.transform = transform
    images, labels = zip(*(dataset[int(i)] for i in indices))
    return torch.stack(images).numpy(), np.array(labels)


def _check_split(ours, theirs, rng, n_items):
    x, y = ours.arrays
    assert theirs.data.dtype == torch.uint8 and tuple(theirs.data.shape) == (len(x), 28, 28)
    # Every image and label: ToTensor() is the float32 division of the bytes by 255.
    np.testing.assert_array_equal(x, (theirs.data[:, None].to(torch.float32) / 255).numpy())
    np.testing.assert_array_equal(y, theirs.targets.numpy())
    assert x.dtype == np.float32 and y.dtype == np.int64
    # ... and that is what the lecture's code gets, item by item, through the transform.
    idx = np.concatenate([[0, len(x) - 1], rng.choice(len(x), n_items, replace=False)])
    images, labels = _items(theirs, idx, transforms.ToTensor())
    np.testing.assert_array_equal(images, x[idx])
    np.testing.assert_array_equal(labels, y[idx])
    # Normalize((0.1307,), (0.3081,)): the whole split, and again item by item.
    normalized = NORMALIZE(theirs.data[:, None].to(torch.float32) / 255).numpy()
    return idx, normalized


def _check_normalized(ours_normalized, theirs, idx, normalized):
    x = ours_normalized.arrays[0]
    np.testing.assert_allclose(x, normalized, rtol=1e-6, atol=1e-6)
    images, _ = _items(theirs, idx, transforms.Compose([transforms.ToTensor(), NORMALIZE]))
    np.testing.assert_allclose(x[idx], images, rtol=1e-6, atol=1e-6)
    # In fact both divide and subtract in float32 with float32 constants: equal bit for bit.
    np.testing.assert_array_equal(x, normalized)


def test_full_mnist_loader_is_what_torchvision_gives(full_mnist_dir, tmp_path):
    ours, ours_norm = load_mnist(full_mnist_dir), load_mnist(full_mnist_dir, normalize=True)
    root, how = torch_data.torchvision_root(SOURCE_FULL, full_mnist_dir, str(tmp_path))
    assert how in ("in place", "linked", "extracted")
    rng = np.random.default_rng(0)
    for train, split, split_norm in ((True, ours.train, ours_norm.train), (False, ours.test, ours_norm.test)):
        theirs = datasets.MNIST(root, train=train)
        assert len(theirs) == (60000 if train else 10000)
        idx, normalized = _check_split(split, theirs, rng, 500)
        _check_normalized(split_norm, theirs, idx, normalized)


def test_embedded_digits_through_torchvision(tmp_path):
    """torchvision reads IDX files only: the embedded split is written as such, then read back."""
    ours, ours_norm = load_embedded_mnist(), load_embedded_mnist(normalize=True)
    root, how = torch_data.torchvision_root(SOURCE_EMBEDDED, scratch=str(tmp_path))
    assert how == "embedded digits as IDX"
    rng = np.random.default_rng(1)
    for train, split, split_norm in ((True, ours.train, ours_norm.train), (False, ours.test, ours_norm.test)):
        theirs = datasets.MNIST(root, train=train)
        idx, normalized = _check_split(split, theirs, rng, 300)
        _check_normalized(split_norm, theirs, idx, normalized)


def _write_mnist(folder: Path, n=12, gz=False, seed=0):
    rng = np.random.default_rng(seed)
    suffix = ".gz" if gz else ""
    for prefix in ("train", "t10k"):
        write_idx(folder / f"{prefix}-images-idx3-ubyte{suffix}", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
        write_idx(folder / f"{prefix}-labels-idx1-ubyte{suffix}", (np.arange(n) % 10).astype(np.uint8))


@pytest.mark.parametrize("layout", ["flat", "flat-gz", "torchvision"])
def test_torchvision_root_reads_every_layout_scratchnet_reads(tmp_path, layout):
    data_dir = tmp_path / "data"
    folder = data_dir / "MNIST" / "raw" if layout == "torchvision" else data_dir
    _write_mnist(folder, gz=layout == "flat-gz")
    root, how = torch_data.torchvision_root(SOURCE_FULL, data_dir, str(tmp_path / "scratch"))
    assert how == {"flat": "linked", "flat-gz": "extracted", "torchvision": "in place"}[layout]
    ours = load_mnist(data_dir)
    for train, split in ((True, ours.train), (False, ours.test)):
        theirs = datasets.MNIST(root, train=train)
        np.testing.assert_array_equal(split.arrays[0], (theirs.data[:, None].float() / 255).numpy())
        np.testing.assert_array_equal(split.arrays[1], theirs.targets.numpy())


# --------------------------------------------------------------------------- training
def test_torch_engine_with_the_feed_trains_exactly_as_the_lectures_loop(tmp_path):
    """fit() with --loader torchvision == the lecture's own loop, written out here."""
    cfg = TrainConfig(model="softmax-regression", epochs=2, batch_size=100, lr=0.1, momentum=0.0,
                      seed=777, log_interval=0, loader="torchvision")
    root, how = torch_data.torchvision_root(SOURCE_EMBEDDED, scratch=str(tmp_path))
    engine = TorchEngine.build(cfg)
    engine.feed = torch_data.TorchvisionFeed("mnist", root, batch_size=100, test_batch_size=1000, seed=777)
    start = {k: v.clone() for k, v in engine.model.state_dict().items()}
    result = fit(engine, (np.empty(0), np.empty(0)), (np.empty(0), np.empty(0)), cfg, log=None)

    from scratchnet import torch_models
    model = torch_models.build("softmax-regression", seed=777)
    model.load_state_dict(start)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.0)
    train_dataset = datasets.MNIST(root, train=True, transform=transforms.ToTensor())
    loader = torch.utils.data.DataLoader(train_dataset, batch_size=100, shuffle=True,
                                         generator=torch.Generator().manual_seed(777))
    for epoch in range(2):
        losses = []
        for data, target in loader:
            optimizer.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(data), target)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        assert result.epochs[epoch].train_loss == float(np.mean(losses))
    for k, v in model.state_dict().items():
        torch.testing.assert_close(engine.model.state_dict()[k], v, rtol=0, atol=0)
    assert result.engine_setup["data"]["loader"] == "torchvision"
    assert result.epochs[-1].total == 1000


def test_four_versus_nine_through_torchvision_is_scratchnets_subset(tmp_path):
    root, _ = torch_data.torchvision_root(SOURCE_EMBEDDED, scratch=str(tmp_path))
    feed = torch_data.TorchvisionFeed("mnist-4v9", root, batch_size=64, test_batch_size=1, seed=0)
    ours = load_embedded_mnist()
    train, test = binary_subset(ours.train), binary_subset(ours.test)
    assert (feed.n_train, feed.n_test) == (len(train.arrays[0]), len(test.arrays[0]))
    images, labels = zip(*feed.test_batches())
    np.testing.assert_array_equal(torch.cat(images).numpy(), test.arrays[0])
    np.testing.assert_array_equal(torch.cat(labels).numpy(), test.arrays[1])
    assert sum(len(y) for _, y in feed.train_batches()) == feed.n_train


def test_cli_loader_torchvision_is_recorded_and_its_drift_is_not_parity(tmp_path):
    out = tmp_path / "run.json"
    r = _run("train", "--model", "softmax-regression", "--engine", "both", "--epochs", "1",
             "--loader", "torchvision", "--quiet", "--json", str(out))
    assert r.returncode == 0, r.stderr
    assert "torch: data through torchvision" in r.stdout
    assert "the engines saw different batches" in r.stdout and "not a parity measure" in r.stdout
    runs = json.loads(out.read_text())["runs"]
    assert [run["config"]["loader"] for run in runs] == ["torchvision", "torchvision"]
    assert runs[0]["engine_setup"] == {}  # the NumPy engine: scratchnet's batches
    data = runs[1]["engine_setup"]["data"]
    assert data["loader"] == "torchvision" and data["transform"] == "ToTensor()"
    assert "batch_size=64, shuffle=True" in data["train_loader"]


@pytest.mark.parametrize("args, message", [
    (("train", "--engine", "numpy", "--loader", "torchvision"), "applies to the torch engine"),
    (("reproduce", "softmax-toy", "--loader", "torchvision"), "reads MNIST"),
])
def test_cli_loader_torchvision_refusals_are_one_line(args, message):
    r = _run(*args, "--epochs", "1")
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and message in r.stderr


# --------------------------------------------------------------------------- download
def _fake_download(url, download_root, filename, md5):
    """torchvision's download_and_extract_archive, with the file made here instead of fetched."""
    raw = Path(download_root)
    raw.mkdir(parents=True, exist_ok=True)
    name = filename.removesuffix(".gz")
    n = 12
    rng = np.random.default_rng(len(name))
    array = (rng.integers(0, 256, (n, 28, 28), dtype=np.uint8) if "images" in name
             else (np.arange(n) % 10).astype(np.uint8))
    write_idx(raw / filename, array)  # gzipped, as the mirrors serve it
    torchvision.datasets.utils.extract_archive(str(raw / filename), str(raw))


def test_download_through_torchvision_leaves_files_the_numpy_install_reads(tmp_path, monkeypatch):
    calls = []

    def fake(url, download_root, filename, md5):
        calls.append(url)
        _fake_download(url, download_root, filename, md5)

    monkeypatch.setattr(torchvision.datasets.mnist, "download_and_extract_archive", fake)
    raw = torch_data.download_with_torchvision(tmp_path)
    assert raw == tmp_path / "MNIST" / "raw" and len(calls) == 4
    assert all(u.startswith(datasets.MNIST.mirrors[0]) for u in calls)
    assert sorted(p.name for p in raw.iterdir()) == sorted(
        [n for name, _ in datasets.MNIST.resources for n in (name, name.removesuffix(".gz"))])
    # The NumPy-only install (no torch at all) reads what torchvision left.
    code = ("import sys; sys.modules['torch'] = None; sys.modules['torchvision'] = None\n"
            "from scratchnet.data import load_mnist\n"
            f"d = load_mnist({str(tmp_path)!r})\n"
            "print(d.train.arrays[0].shape, d.test.arrays[1].tolist())")
    r = _run(code=code)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split(")")[0] == "(12, 1, 28, 28"


def test_download_failure_through_torchvision_is_one_line(tmp_path, monkeypatch):
    from urllib.error import URLError

    def offline(url, download_root, filename, md5):
        raise URLError("no network")

    monkeypatch.setattr(torchvision.datasets.mnist, "download_and_extract_archive", offline)
    from scratchnet.data import DownloadError

    with pytest.raises(DownloadError, match="torchvision could not download MNIST") as e:
        torch_data.download_with_torchvision(tmp_path)
    assert "\n" not in str(e.value)


def test_cli_download_with_loader_torchvision_uses_torchvisions_downloader(tmp_path, monkeypatch):
    """The CLI's wiring, in process: --download --loader torchvision fetches through torchvision only."""
    from scratchnet import cli
    import scratchnet.data.download as scratchnet_download

    calls = []
    monkeypatch.setattr(torchvision.datasets.mnist, "download_and_extract_archive",
                        lambda *a, **k: (calls.append(a[0]), _fake_download(*a, **k)))
    monkeypatch.setattr(scratchnet_download, "_fetch", lambda *a: pytest.fail("scratchnet's downloader ran"))
    out = tmp_path / "run.json"
    rc = cli.main(["train", "--model", "softmax-regression", "--engine", "torch", "--epochs", "1",
                   "--loader", "torchvision", "--download", "--data-dir", str(tmp_path / "d"), "--quiet",
                   "--json", str(out)])
    assert rc == 0 and len(calls) == 4
    run = json.loads(out.read_text())["runs"][0]
    assert run["dataset"] == SOURCE_FULL and run["epochs"][0]["total"] == 12
    assert run["engine_setup"]["data"]["root_from"] == "in place"


# --------------------------------------------------------------------------- no torch where not needed
@pytest.mark.parametrize("code", [
    "from scratchnet import cli; cli.main(['models'])",
    "from scratchnet import cli; cli.main(['experiments'])",
    "from scratchnet.data import load_embedded_mnist; load_embedded_mnist()",
    "from scratchnet import cli; cli.main(['train', '--model', 'softmax-toy', '--engine', 'numpy', "
    "'--epochs', '2', '--quiet'])",
])
def test_commands_without_torch_import_neither_torch_nor_torchvision(code):
    r = _run(code=code + "\nimport sys\nprint(sorted(m for m in ('torch', 'torchvision') if m in sys.modules))")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == "[]"


def test_reproduce_out_dir_keeps_a_torchvision_run_apart(tmp_path):
    r = _run("reproduce", "softmax-regression", "--epochs", "1", "--loader", "torchvision", "--engine", "torch",
             "--out-dir", str(tmp_path), "--log-interval", "0")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "softmax-regression-loader-torchvision.json").is_file()
    assert not (tmp_path / "softmax-regression.json").exists()
