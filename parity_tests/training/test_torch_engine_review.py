"""The torch engine's CUDA path, checked on the CPU wherever torch allows (issue 19's review).

TF32 off for parity runs and recorded; --amp and --compile recorded, bf16's drift
labelled as such, --amp with float64 refused; torch.compile's compilation outside the
epochs; no host sync on the hot path; the time split taken after a synchronize;
diagnose's host copies on recorded steps only, bf16 widened first. The tests marked
``cuda`` run the same on a GPU (``make gpu-check``) and skip without one.
"""
import functools
import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from scratchnet.training import diagnose as diagnose_mod, torch_engine
from scratchnet.cli.commands import training_run
from scratchnet.data import load_embedded_mnist
from scratchnet.training.numpy_engine import NumpyEngine
from scratchnet.training.loop import TrainConfig, fit
from scratchnet.training.torch_engine import TorchEngine

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _run_cli(*args):
    env = dict(os.environ, PYTHONPATH=REPO)
    env.pop("SCRATCHNET_DEBUG", None)
    env.pop("SCRATCHNET_DATA", None)
    return subprocess.run([sys.executable, "-m", "scratchnet", *args], capture_output=True, text=True,
                          env=env, timeout=300)


def _small(n_train=200, n_test=50, binary=False):
    data = load_embedded_mnist()
    (x, y), (tx, ty) = data.train.arrays, data.test.arrays
    if binary:
        y, ty = np.where(y % 2 == 0, -1.0, 1.0).astype(np.float32), np.where(ty % 2 == 0, -1.0, 1.0).astype(np.float32)
    return (x[:n_train], y[:n_train]), (tx[:n_test], ty[:n_test])


@pytest.fixture(autouse=True)
def _restore_precision():
    """The TF32 switches are process-wide: every test leaves them as it found them."""
    saved = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32,
             torch.get_float32_matmul_precision())
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved[:2]
    torch.set_float32_matmul_precision(saved[2])


# --------------------------------------------------------------------------- TF32
def test_tf32_is_off_for_parity_runs_and_on_only_when_asked():
    torch.backends.cudnn.allow_tf32 = True  # torch's own default for cuDNN
    engine = TorchEngine.build(TrainConfig(model="softmax-regression"))
    assert torch.backends.cudnn.allow_tf32 is False and torch.backends.cuda.matmul.allow_tf32 is False
    assert torch.get_float32_matmul_precision() == "highest"
    setup = engine.setup()
    assert setup["tf32"] is False and setup["cudnn_allow_tf32"] is False
    assert setup["float32_matmul_precision"] == "highest"
    engine = TorchEngine.build(TrainConfig(model="softmax-regression", tf32=True))
    assert torch.backends.cudnn.allow_tf32 is True and torch.get_float32_matmul_precision() == "high"
    assert engine.setup()["tf32"] is True and engine.setup()["cudnn_allow_tf32"] is True


def test_determinism_flags_are_recorded():
    setup = TorchEngine.build(TrainConfig(model="softmax-regression")).setup()
    for key in ("cudnn_deterministic", "cudnn_benchmark", "deterministic_algorithms"):
        assert isinstance(setup[key], bool)
    assert setup["torch"] == torch.__version__


# --------------------------------------------------------------------------- amp
def test_amp_with_float64_is_refused():
    with pytest.raises(ValueError, match="--amp .* --dtype float64"):
        TorchEngine.build(TrainConfig(model="softmax-regression", dtype="float64", amp=True))
    r = _run_cli("train", "--model", "softmax-regression", "--engine", "torch", "--amp", "--dtype", "float64")
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    assert r.stderr.startswith("scratchnet: error: --amp") and "float64" in r.stderr


def test_amp_is_recorded_and_its_drift_labelled_as_bf16s(tmp_path):
    out = tmp_path / "run.json"
    r = _run_cli("train", "--model", "softmax-regression", "--engine", "both", "--epochs", "1", "--amp",
                 "--quiet", "--json", str(out))
    assert r.returncode == 0, r.stderr
    assert "torch: bf16 autocast (--amp)" in r.stdout
    assert "drift: it is bf16 autocast's drift (torch ran under --amp), not the engines'" in r.stdout
    numpy_run, torch_run = json.loads(out.read_text())["runs"]
    assert numpy_run["config"]["amp"] is True and torch_run["config"]["amp"] is True
    assert torch_run["engine_setup"]["amp"] == "bf16 autocast" and numpy_run["engine_setup"] == {}


def test_without_amp_the_drift_carries_no_caveat():
    r = _run_cli("train", "--model", "softmax-regression", "--engine", "both", "--epochs", "1", "--quiet")
    assert r.returncode == 0, r.stderr
    assert "drift:" not in r.stdout and "bf16" not in r.stdout


# --------------------------------------------------------------------------- compile
def _counting_compile(monkeypatch):
    """torch.compile with a backend that counts graph compilations (and runs them eagerly)."""
    graphs = []

    def backend(gm, example_inputs):
        graphs.append([tuple(t.shape) for t in example_inputs if isinstance(t, torch.Tensor)])
        return gm.forward

    torch._dynamo.reset()
    monkeypatch.setattr(torch, "compile", functools.partial(torch.compile, backend=backend))
    return graphs


@pytest.mark.parametrize("model, n_train, n_test, batch, drop_last", [
    ("softmax-regression", 200, 50, 64, False),  # a shorter last batch: 3 x 64 + 8
    ("basic-cnn", 128, 40, 64, True),
    ("binary-linear", 100, 30, 64, False),
])
def test_compile_happens_before_the_first_epoch(monkeypatch, model, n_train, n_test, batch, drop_last):
    graphs = _counting_compile(monkeypatch)
    cfg = TrainConfig(model=model, epochs=2, batch_size=batch, test_batch_size=16, drop_last=drop_last,
                      log_interval=0, compile=True)
    train, test = _small(n_train, n_test, binary=model == "binary-linear")
    engine = TorchEngine.build(cfg)
    plain = TorchEngine.build(dict_replace(cfg, compile=False), state_dict=engine.state_dict())
    weights = {k: v.clone() for k, v in engine.model.state_dict().items()}
    loop_graphs = []
    real_warm_up = engine.warm_up

    def warm_up(*args):
        seconds = real_warm_up(*args)
        loop_graphs.append(len(graphs))
        # The warm-up leaves the model as it found it: same weights, no gradients.
        for k, v in engine.model.state_dict().items():
            assert torch.equal(v, weights[k])
        assert all(p.grad is None for p in engine.model.parameters())
        return seconds

    engine.warm_up = warm_up
    result = fit(engine, train, test, cfg, log=None)
    assert loop_graphs[0] >= 2 and len(graphs) == loop_graphs[0], "a graph was compiled during the epochs"
    assert result.engine_setup["compile"] is True and result.engine_setup["compile_seconds"] > 0
    reference = fit(plain, train, test, cfg, log=None)
    for a, b in zip(result.epochs, reference.epochs):
        assert a.train_loss == pytest.approx(b.train_loss, rel=1e-6)
        assert a.correct == b.correct


def dict_replace(cfg, **changes):
    import dataclasses

    return dataclasses.replace(cfg, **changes)


def test_compile_time_is_reported_apart_in_the_summary(capsys):
    from scratchnet.training.loop import RunResult, EpochResult

    r = RunResult("basic-cnn", "torch", "cpu", "x", epochs=[EpochResult(1, 1.0, 1.0, 0.5, 5, 10, 0.1)],
                  engine_setup={"data": {"loader": "scratchnet"}, "compile": True, "compile_seconds": 12.34})
    training_run.summarize([r], out=print)
    assert "torch.compile compiled every batch shape in 12.3 s before epoch 1" in capsys.readouterr().out


# --------------------------------------------------------------------------- host syncs
def test_binary_labels_are_checked_once_at_load_not_every_step(monkeypatch):
    cfg = TrainConfig(model="binary-linear", epochs=1, batch_size=16, log_interval=0)
    engine = TorchEngine.build(cfg)
    train, test = _small(64, 16, binary=True)
    bad = train[1].copy()
    bad[3] = 0.0
    with pytest.raises(ValueError, match=r"BinaryLogisticLoss: target must hold the labels -1 and \+1 only"):
        engine.put(train[0], bad)
    x, y = engine.put(*train)
    syncs = []
    real_bool = torch.Tensor.__bool__
    monkeypatch.setattr(torch.Tensor, "__bool__", lambda t: syncs.append(1) or real_bool(t))
    for s in range(0, 64, 16):
        engine.train_step(x[s:s + 16], y[s:s + 16])
    assert syncs == []
    # The loss module itself, as an API, still checks every call.
    monkeypatch.undo()
    from scratchnet import torch_models
    with pytest.raises(ValueError, match="target must hold"):
        torch_models.criterion("binary_ce")(torch.zeros(4), torch.tensor([1.0, -1.0, 0.0, 1.0]))


@pytest.mark.parametrize("quiet", [True, False])
def test_quiet_reads_no_loss_back_during_training(monkeypatch, quiet):
    cfg = TrainConfig(model="softmax-regression", epochs=1, batch_size=20, log_interval=1)
    engine = TorchEngine.build(cfg)
    reads, at_eval = [], []
    def counting(real):
        def read(t):
            reads.append(1)
            return real(t)
        return read

    for name in ("__float__", "item"):
        monkeypatch.setattr(torch.Tensor, name, counting(getattr(torch.Tensor, name)))
    real_eval = engine.eval
    engine.eval = lambda: (at_eval.append(len(reads)), real_eval())
    lines = []
    fit(engine, *_small(100, 20), cfg, log=None if quiet else lines.append)
    assert at_eval == [0 if quiet else 5]
    assert (lines == []) == quiet


def test_train_and_test_times_are_read_after_a_synchronize():
    cfg = TrainConfig(model="softmax-regression", epochs=1, batch_size=50, test_batch_size=25, log_interval=0)
    engine = TorchEngine.build(cfg)
    events = []
    for name in ("synchronize", "train_step", "test_batch", "eval"):
        real = getattr(engine, name)
        setattr(engine, name, functools.partial(lambda real, name, *a: (events.append(name), real(*a))[1], real, name))
    real_clock = time.perf_counter
    import scratchnet.training.loop as train_mod

    class Clock:
        @staticmethod
        def perf_counter():
            events.append("clock")
            return real_clock()

        sleep = staticmethod(time.sleep)

    train_mod.time, saved = Clock, train_mod.time
    try:
        fit(engine, *_small(100, 50), cfg, log=None)
    finally:
        train_mod.time = saved
    assert events == ["synchronize", "clock", "train_step", "train_step", "synchronize", "clock", "eval",
                      "test_batch", "test_batch", "synchronize", "clock"]


# --------------------------------------------------------------------------- diagnose
def test_diagnose_under_amp_widens_bf16_and_copies_only_on_recorded_steps(monkeypatch):
    cfg = TrainConfig(model="mlp3", batch_size=16, amp=True)
    train, _ = _small(160, 10)
    copies = []
    real_host = torch_engine._host
    monkeypatch.setattr(torch_engine, "_host", lambda t: copies.append(t.dtype) or real_host(t))
    r = diagnose_mod.diagnose(TorchEngine.build(cfg), train, steps=10, every=5, batch_size=16)
    assert [l["step"] for l in r["losses"]] == [0, 5, 9]
    sparse = len(copies)
    assert torch.bfloat16 in copies  # autocast's outputs, widened before NumPy
    records = [rec for rec in r["records"] if rec["out_std"] is not None]
    assert records and all(np.isfinite(rec["out_std"]) for rec in records)
    copies.clear()
    diagnose_mod.diagnose(TorchEngine.build(cfg), train, steps=10, every=1, batch_size=16)
    assert len(copies) * 3 == sparse * 10  # the same copies per recorded step, none in between


def test_diagnose_records_agree_between_engines_with_hooks_per_recorded_step():
    cfg = TrainConfig(model="mlp3", batch_size=16)
    train, _ = _small(96, 10)
    a = NumpyEngine.build(cfg)
    b = TorchEngine.build(cfg, state_dict=a.state_dict())
    ra = diagnose_mod.diagnose(a, train, steps=6, every=2, batch_size=16)
    rb = diagnose_mod.diagnose(b, train, steps=6, every=2, batch_size=16)
    diff = diagnose_mod.max_abs_diff(ra, rb)
    assert max(v for k, v in diff.items() if k != "histogram_counts") < 1e-4


# --------------------------------------------------------------------------- on a GPU
@pytest.mark.cuda
def test_cli_train_on_cuda_is_full_float32_and_recorded(tmp_path):
    out = tmp_path / "run.json"
    r = _run_cli("train", "--model", "basic-cnn", "--engine", "both", "--device", "cuda", "--epochs", "2",
                 "--quiet", "--json", str(out))
    assert r.returncode == 0, r.stderr
    assert "torch: full float32 (TF32 off)" in r.stdout
    payload = json.loads(out.read_text())
    setup = payload["runs"][1]["engine_setup"]
    assert setup["device"].startswith("cuda") and setup["cudnn_allow_tf32"] is False
    assert payload["comparison"]["max_train_loss_rel_diff"] < 1e-3


@pytest.mark.cuda
def test_cli_train_on_cuda_with_compile_and_amp(tmp_path):
    out = tmp_path / "run.json"
    # The smallest model: make gpu-check has 5 minutes, and inductor compiles each graph for seconds.
    r = _run_cli("train", "--model", "softmax-regression", "--engine", "torch", "--device", "cuda",
                 "--epochs", "2", "--compile", "--amp", "--quiet", "--json", str(out))
    assert r.returncode == 0, r.stderr
    run = json.loads(out.read_text())["runs"][0]
    assert run["engine_setup"]["compile_seconds"] > 0 and run["engine_setup"]["amp"] == "bf16 autocast"
    first, second = run["epochs"][0]["seconds"], run["epochs"][1]["seconds"]
    assert first < 3 * second + 1.0, "epoch 1 still holds a compilation"


@pytest.mark.cuda
def test_cli_loader_torchvision_on_cuda(tmp_path):
    r = _run_cli("train", "--model", "softmax-regression", "--engine", "torch", "--device", "cuda",
                 "--epochs", "1", "--loader", "torchvision", "--quiet")
    assert r.returncode == 0, r.stderr
    assert "data through torchvision" in r.stdout


@pytest.mark.cuda
def test_benchmarks_cuda_clock_measures_device_time():
    from benchmarks.timing import CudaEventClock

    clock = CudaEventClock(torch)
    a = torch.randn(2048, 2048, device="cuda")
    clock.start()
    for _ in range(20):
        a @ a
    device_s = clock.stop()
    # The same work on the host clock, synchronized: the event time is the device's share of it.
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(20):
        a @ a
    torch.cuda.synchronize()
    wall_s = time.perf_counter() - t0
    assert 0 < device_s <= wall_s * 1.5 + 1e-3
    assert device_s > 0.2 * wall_s


@pytest.mark.cuda
def test_benchmarks_steps_on_cuda_with_amp_and_compile(tmp_path):
    env = dict(os.environ, PYTHONPATH=REPO)
    r = subprocess.run([sys.executable, "-m", "benchmarks.run", "--quick", "--engines", "torch", "--device", "cuda",
                        "--only", "steps", "--steps", "softmax-regression", "--batch-sizes", "64", "--amp",
                        "--compile", "--no-plots",
                        "--out", str(tmp_path)], capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stderr
    record = json.loads((tmp_path / "results.json").read_text())
    assert "cuda" in json.dumps(record) and '"amp": true' in json.dumps(record)


# --------------------------------------------------------------------------- make gpu-check
def test_gpu_check_without_a_gpu_says_so_and_writes_nothing(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    env = dict(os.environ, PYTHONPATH=REPO)
    for extra, status in (([], 0), (["--require-gpu"], 2)):
        r = subprocess.run([sys.executable, "-m", "benchmarks.gpu_check", "--out", str(tmp_path / "out"), *extra],
                           capture_output=True, text=True, env=env, timeout=120, cwd=REPO)
        assert r.returncode == status, r.stderr
        assert "sees no CUDA device" in r.stdout and "nothing to check, nothing written" in r.stdout
    assert not (tmp_path / "out").exists()


def test_gpu_check_reads_what_scratchnet_train_writes(tmp_path):
    """Its table comes from the CLI's JSON: the same keys, checked here on a CPU run."""
    from benchmarks import gpu_check

    payload, error = gpu_check.train(["--engine", "both", "--device", "cpu", "--model", "softmax-regression"],
                                     None, tmp_path / "run.json", timeout=300)
    assert error is None
    rows = gpu_check.rows_of("cpu float32", payload)
    assert [r["run"] for r in rows] == ["numpy cpu", "cpu float32"]
    assert rows[1]["compile_seconds"] is None and rows[1]["drift_vs_numpy"] < 1e-4
    text = gpu_check.table(rows)
    assert text.count("\n") == 3 and "| numpy cpu |" in text


def test_gpu_check_main_writes_its_table(tmp_path, monkeypatch, capsys):
    """The whole script on a pretend GPU: its runs swapped for one CPU run, the tests skipped."""
    from benchmarks import gpu_check

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda i=0: "pretend GPU")
    monkeypatch.setattr(torch.backends.cudnn, "version", lambda: 90000)
    monkeypatch.setattr(gpu_check, "RUNS", [("cpu float32", ["--engine", "both", "--device", "cpu",
                                                             "--model", "softmax-regression"])])
    from scratchnet.data import write_idx

    rng = np.random.default_rng(0)
    for prefix in ("train", "t10k"):  # a tiny "full MNIST", so the run takes seconds
        write_idx(tmp_path / "mnist" / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (40, 28, 28), dtype=np.uint8))
        write_idx(tmp_path / "mnist" / f"{prefix}-labels-idx1-ubyte", (np.arange(40) % 10).astype(np.uint8))
    assert gpu_check.main(["--skip-tests", "--out", str(tmp_path), "--data-dir", str(tmp_path / "mnist")]) == 0
    out = capsys.readouterr().out
    assert "| numpy cpu |" in out and "| cpu float32 |" in out and f"full MNIST ({tmp_path / 'mnist'})" in out
    record = json.loads((tmp_path / "gpu_check.json").read_text())
    assert record["device"]["gpu"] == "pretend GPU" and len(record["rows"]) == 2 and record["failures"] == []
    assert "| cpu float32 |" in (tmp_path / "GPU_CHECK.md").read_text()
