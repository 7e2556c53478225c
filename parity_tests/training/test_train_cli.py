"""The training loop, both engines, the CLI and its JSON, and its one-line errors."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from scratchnet import cli, models
from scratchnet.training import experiments
from scratchnet.data import write_idx
from scratchnet.training.lockstep import compare
from scratchnet.training.numpy_engine import NumpyEngine
from scratchnet.training.loop import TrainConfig, fit
from scratchnet.training.torch_engine import TorchEngine

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _run_cli(*args, cwd=None):
    env = dict(os.environ, PYTHONPATH=REPO)
    env.pop("SCRATCHNET_DEBUG", None)
    env.pop("SCRATCHNET_DATA", None)  # the embedded digits, unless a test says otherwise
    return subprocess.run([sys.executable, "-m", "scratchnet", *args], capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=300)


def _small_mnist(n_train=256, n_test=128, seed=0):
    from scratchnet.data import load_embedded_mnist

    data = load_embedded_mnist()
    (x, y), (tx, ty) = data.train.arrays, data.test.arrays
    return (x[:n_train], y[:n_train]), (tx[:n_test], ty[:n_test])


@pytest.mark.parametrize("name", ["softmax-regression", "basic-cnn", "lenet5-original"])
def test_engines_agree_epoch_by_epoch(name):
    """Same weights, same batches: the NumPy and torch runs trace the same curve."""
    train, test = _small_mnist()
    cfg = TrainConfig(model=name, epochs=2, batch_size=32, lr=0.05, momentum=0.9, log_interval=0)
    a = NumpyEngine.build(cfg)
    b = TorchEngine.build(cfg, state_dict=a.state_dict())
    ra = fit(a, train, test, cfg, log=lambda s: None)
    rb = fit(b, train, test, cfg, log=lambda s: None)
    c = compare(ra, rb)
    assert c["epochs"][0]["train_loss_rel_diff"] < 1e-4, c
    assert c["max_train_loss_rel_diff"] < 1e-3, c
    assert abs(ra.epochs[-1].test_loss - rb.epochs[-1].test_loss) < 1e-3 * max(1, rb.epochs[-1].test_loss)
    assert c["max_test_accuracy_diff"] <= 2 / 128  # one or two borderline digits at most
    # and training did something
    assert ra.epochs[-1].train_loss < ra.epochs[0].train_loss


@pytest.mark.parametrize("engine_class", [NumpyEngine, TorchEngine])
def test_test_batches_are_views_and_train_as_copies_did(engine_class):
    """The loop hands the test pass contiguous slices (views, no copy of the test images):
    the run's numbers are exactly those of test batches gathered as index copies."""
    train, test = _small_mnist(160, 90)
    cfg = TrainConfig(model="basic-cnn", epochs=2, batch_size=32, test_batch_size=40, log_interval=0)

    class Copying(engine_class):
        def gather(self, data, idx):
            if isinstance(idx, slice):  # the index array the loop used to pass
                idx = np.arange(idx.start, idx.stop)
            return super().gather(data, idx)

    seen = []

    class Recording(engine_class):
        def gather(self, data, idx):
            x, y = super().gather(data, idx)
            if isinstance(idx, slice):
                seen.append((idx.start, idx.stop, np.shares_memory(np.asarray(x), np.asarray(data[0]))))
            return x, y

    state = NumpyEngine.build(cfg).state_dict()
    a = fit(Recording.build(cfg, state_dict=state), train, test, cfg, log=None)
    b = fit(Copying.build(cfg, state_dict=state), train, test, cfg, log=None)
    assert seen == [(0, 40, True), (40, 80, True), (80, 90, True)] * 2
    for ea, eb in zip(a.epochs, b.epochs):
        assert (ea.train_loss, ea.test_loss, ea.correct, ea.total) == (eb.train_loss, eb.test_loss, eb.correct,
                                                                       eb.total)


def test_float64_engines_agree_tightly():
    train, test = _small_mnist(128, 64)
    cfg = TrainConfig(model="mlp3", epochs=1, batch_size=16, dtype="float64", log_interval=0)
    a = NumpyEngine.build(cfg)
    b = TorchEngine.build(cfg, state_dict=a.state_dict())
    fit(a, train, test, cfg, log=lambda s: None)
    fit(b, train, test, cfg, log=lambda s: None)
    for k, v in a.state_dict().items():
        np.testing.assert_allclose(v, b.state_dict()[k], rtol=1e-8, atol=1e-12, err_msg=k)


def test_lecture_log_lines():
    train, test = _small_mnist(128, 64)
    cfg = TrainConfig(model="softmax-regression", epochs=1, batch_size=32, log_interval=2)
    lines = []
    fit(NumpyEngine.build(cfg), train, test, cfg, log=lines.append, dataset="tiny")
    text = "\n".join(lines)
    assert "Train Epoch: 1 [32/128 (25%)]\tLoss: " in text
    assert "Test set: Average loss: " in text and "Accuracy: " in text and "/64 (" in text
    assert "Total training time" in text and "on cpu" in text


def test_drop_last_and_batch_count():
    train, test = _small_mnist(100, 20)
    cfg = TrainConfig(model="softmax-regression", epochs=1, batch_size=30, drop_last=True, log_interval=1)
    lines = []
    fit(NumpyEngine.build(cfg), train, test, cfg, log=lines.append)
    assert sum(l.startswith("Train Epoch") for l in lines) == 3  # 100 // 30


def test_cli_train_json_and_plot(tmp_path):
    out, png = tmp_path / "r.json", tmp_path / "r.png"
    rc = cli.main(["train", "--model", "softmax-toy", "--epochs", "3", "--engine", "both",
                   "--lr", "0.1", "--momentum", "0", "--json", str(out), "--plot", str(png), "--quiet"])
    assert rc == 0
    obj = json.loads(out.read_text())
    runs = obj["runs"]
    assert [r["engine"] for r in runs] == ["numpy", "torch"]
    assert obj["interrupted"] is False and obj["environment"]["numpy"] == np.__version__
    assert obj["comparison"]["lockstep"] is True and len(obj["comparison"]["epochs"]) == 3
    for r in runs:
        assert set(r) >= {"model", "engine", "device", "dataset", "epochs", "total_seconds"}
        assert r["model"] == "softmax-toy" and r["device"] == "cpu"
        assert len(r["epochs"]) == 3
        for e in r["epochs"]:
            assert set(e) >= {"epoch", "train_loss", "test_loss", "test_accuracy", "seconds"}
            assert 0.0 <= e["test_accuracy"] <= 1.0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_single_engine_json_has_one_run(tmp_path):
    out = tmp_path / "r.json"
    assert cli.main(["train", "--model", "softmax-toy", "--epochs", "2", "--engine", "numpy",
                     "--json", str(out), "--quiet"]) == 0
    obj = json.loads(out.read_text())
    assert [r["engine"] for r in obj["runs"]] == ["numpy"] and obj["comparison"] is None


def test_cli_full_mnist_from_idx_files(tmp_path):
    """The full-MNIST path, on tiny IDX files written here (no network needed)."""
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 96), ("t10k", 32)):
        write_idx(tmp_path / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
        write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte", rng.integers(0, 10, n).astype(np.uint8))
    out = tmp_path / "r.json"
    r = _run_cli("train", "--model", "softmax-regression", "--epochs", "1", "--engine", "numpy",
                 "--data-dir", str(tmp_path), "--json", str(out), "--quiet")
    assert r.returncode == 0, r.stderr
    run = json.loads(out.read_text())["runs"][0]
    assert run["dataset"] == "mnist-full" and run["epochs"][0]["seconds"] > 0


def test_cli_corrupt_data_is_one_line(tmp_path):
    for prefix in ("train", "t10k"):
        (tmp_path / f"{prefix}-images-idx3-ubyte").write_bytes(b"\x00\x00\x08\x01garbage")
        (tmp_path / f"{prefix}-labels-idx1-ubyte").write_bytes(b"\x00\x00\x08\x01")
    r = _run_cli("train", "--model", "mlp3", "--epochs", "1", "--data-dir", str(tmp_path))
    assert r.returncode == 2
    assert r.stderr.startswith("scratchnet: error: ") and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_cli_unknown_model_and_engine():
    for args in (["train", "--model", "resnet50"], ["train", "--engine", "jax"], ["reproduce", "nope"]):
        r = _run_cli(*args)
        assert r.returncode == 2 and "Traceback" not in r.stderr and "invalid choice" in r.stderr


def test_cli_wrong_loss_for_model_is_one_line():
    r = _run_cli("train", "--model", "binary-linear", "--loss", "nll", "--epochs", "1")
    assert r.returncode == 2 and "Traceback" not in r.stderr and "binary_ce" in r.stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cli_cuda_absent_is_one_line():
    r = _run_cli("train", "--model", "softmax-toy", "--device", "cuda", "--engine", "torch", "--epochs", "1")
    assert r.returncode == 2 and "Traceback" not in r.stderr and "CUDA" in r.stderr


def test_cli_lists_experiments_and_models():
    r = _run_cli("experiments")
    assert r.returncode == 0
    for name in experiments.names():
        assert name in r.stdout
    r = _run_cli("models")
    assert r.returncode == 0 and "60,806" in r.stdout and "61,706" in r.stdout


def test_every_experiment_is_wired():
    """Each lecture experiment names a real model, a loss that fits it and data that exists."""
    from scratchnet import models

    for name in experiments.names():
        e = experiments.get(name)
        assert models.loss_for(e.model, e.loss) == e.loss
        assert e.dataset in ("toy", "mnist", "mnist-4v9")


def test_reproduce_runs_and_prints_lecture_figure():
    r = _run_cli("reproduce", "binary-ce", "--epochs", "1", "--engine", "both")
    assert r.returncode == 0, r.stderr
    assert "lecture reported (full MNIST, 60,000/10,000): 95.13% (1894/1991)" in r.stdout
    assert "measured here (numpy, mnist-embedded" in r.stdout
    assert "measured here (torch, mnist-embedded" in r.stdout


def test_reproduce_toy_softmax_cost_falls():
    r = _run_cli("reproduce", "softmax-toy", "--engine", "numpy", "--epochs", "200")
    assert r.returncode == 0, r.stderr
    costs = [float(l.split("mean training loss ")[1].split()[0]) for l in r.stdout.splitlines()
             if "mean training loss" in l]
    assert costs[0] == pytest.approx(np.log(3), rel=1e-6)  # zero weights: uniform softmax
    assert all(b < a for a, b in zip(costs, costs[1:]))


@pytest.mark.cuda
def test_torch_engine_on_cuda_matches_numpy():
    train, test = _small_mnist()
    cfg = TrainConfig(model="basic-cnn", epochs=1, batch_size=32, log_interval=0)
    a = NumpyEngine.build(cfg)
    b = TorchEngine.build(cfg, state_dict=a.state_dict(), device="cuda")
    assert b.put(*train)[0].is_cuda
    ra = fit(a, train, test, cfg, log=lambda s: None)
    rb = fit(b, train, test, cfg, log=lambda s: None)
    assert rb.device.startswith("cuda")
    assert compare(ra, rb)["epochs"][0]["train_loss_rel_diff"] < 1e-3


@pytest.mark.cuda
def test_torch_engine_cuda_bf16_autocast_trains():
    train, test = _small_mnist()
    cfg = TrainConfig(model="basic-cnn", epochs=2, batch_size=32, log_interval=0)
    r = fit(TorchEngine.build(cfg, device="cuda", amp=True), train, test, cfg, log=lambda s: None)
    assert r.epochs[-1].train_loss < r.epochs[0].train_loss


def test_torch_engine_bf16_autocast_runs_on_cpu_too():
    """The --amp path (bf16 autocast) is exercised here even without a GPU."""
    train, test = _small_mnist(256, 64)
    cfg = TrainConfig(model="basic-cnn", epochs=2, batch_size=32, log_interval=0)
    r = fit(TorchEngine.build(cfg, amp=True), train, test, cfg, log=lambda s: None)
    assert r.epochs[-1].train_loss < r.epochs[0].train_loss
    assert 0.0 <= r.epochs[-1].test_accuracy <= 1.0
