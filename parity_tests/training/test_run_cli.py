"""Training runs that take turns, keep their work and check the command line before training."""
import io
import json
import sys

import numpy as np
import pytest

from scratchnet import cli, nn
from scratchnet.training.lockstep import compare, fit_lockstep
from scratchnet.training.numpy_engine import NumpyEngine
from scratchnet.training.loop import EpochResult, RunResult, TrainConfig, TrainingInterrupted, _Progress, fit


def _digits(n_train=128, n_test=64):
    from scratchnet.data import load_embedded_mnist

    data = load_embedded_mnist()
    (x, y), (tx, ty) = data.train.arrays, data.test.arrays
    return (x[:n_train], y[:n_train]), (tx[:n_test], ty[:n_test])


QUIET = dict(log=lambda s: None, progress=False)


# --------------------------------------------------------------------------- lockstep
def test_lockstep_runs_equal_separate_runs():
    """Taking turns changes when each epoch runs, not what it computes."""
    train, test = _digits()
    cfg = TrainConfig(model="mlp3", epochs=3, batch_size=32, log_interval=0)
    alone = [fit(NumpyEngine.build(cfg), train, test, cfg, **QUIET) for _ in range(2)]
    together = fit_lockstep([NumpyEngine.build(cfg), NumpyEngine.build(cfg)], train, test, cfg,
                            settle_s=0, **QUIET)
    for a, b in zip(alone, together):
        assert [e.train_loss for e in a.epochs] == [e.train_loss for e in b.epochs]
        assert [e.correct for e in a.epochs] == [e.correct for e in b.epochs]
    assert all(r.lockstep for r in together) and not alone[0].lockstep


class _Clocked:
    """A NumpyEngine that logs which engine trains when, and can be interrupted."""

    def __init__(self, name, order, stop_at=None):
        self.inner = NumpyEngine.build(TrainConfig(model="softmax-toy", init="zeros"))
        self.name, self.device, self.order, self.stop_at = name, "cpu", order, stop_at
        self.epoch = 0

    def __getattr__(self, attr):
        return getattr(self.inner, attr)

    def train(self):
        self.epoch += 1
        self.order.append((self.name, self.epoch))
        if self.epoch == self.stop_at:
            raise KeyboardInterrupt
        self.inner.train()


def _toy():
    from scratchnet.training.experiments import TOY_X, TOY_Y

    return (TOY_X, TOY_Y), (TOY_X, TOY_Y)


def test_lockstep_alternates_abba():
    order = []
    cfg = TrainConfig(model="softmax-toy", epochs=4, batch_size=8, log_interval=0)
    fit_lockstep([_Clocked("a", order), _Clocked("b", order)], *_toy(), cfg, settle_s=0, **QUIET)
    assert [n for n, _ in order] == ["a", "b", "b", "a", "a", "b", "b", "a"]


def test_interrupt_keeps_finished_epochs():
    order = []
    cfg = TrainConfig(model="softmax-toy", epochs=5, batch_size=8, log_interval=0)
    with pytest.raises(TrainingInterrupted) as info:
        fit_lockstep([_Clocked("a", order), _Clocked("b", order, stop_at=3)], *_toy(), cfg,
                     settle_s=0, **QUIET)
    a, b = info.value.results
    assert a.interrupted and b.interrupted
    assert [len(a.epochs), len(b.epochs)] == [3, 2]  # epoch 3 runs a, then b (ABBA)


def test_compare_reports_per_epoch_ratio_spread():
    def run(engine, secs):
        r = RunResult("m", engine, "cpu", "d", lockstep=True)
        r.epochs = [EpochResult(i + 1, 1.0, 1.0, 0.5, 1, 2, s) for i, s in enumerate(secs)]
        return r

    c = compare(run("numpy", [2.0, 1.0, 3.0]), run("torch", [1.0, 1.0, 1.0]))
    assert c["epoch_time_ratios"] == {"median": 2.0, "min": 1.0, "max": 3.0, "n": 3}
    assert c["speed_ratio"] == 2.0 and c["lockstep"] is True
    assert c["median_epoch_seconds"] == [2.0, 1.0]


def test_cli_interrupt_writes_what_finished(tmp_path, monkeypatch, capsys):
    """Ctrl-C in epoch 3: epochs 1-2 of both engines reach --json, marked interrupted."""
    import scratchnet.training.loop as train

    real = train.EpochLoop.run_epoch

    def run_epoch(self):
        if self.epoch == 2 and self.engine.name == "torch":
            raise KeyboardInterrupt
        return real(self)

    monkeypatch.setattr(train.EpochLoop, "run_epoch", run_epoch)
    out, png = tmp_path / "r.json", tmp_path / "r.png"
    rc = cli.main(["train", "--model", "softmax-toy", "--epochs", "5", "--json", str(out),
                   "--plot", str(png), "--quiet"])
    assert rc == 130
    obj = json.loads(out.read_text())
    assert obj["interrupted"] is True
    assert [len(r["epochs"]) for r in obj["runs"]] == [3, 2]  # numpy ran epoch 3 first (ABBA)
    assert all(r["interrupted"] for r in obj["runs"])
    assert png.exists()
    assert "interrupted" in capsys.readouterr().err


# --------------------------------------------------------------------------- progress
def test_progress_bar_is_cleared_before_each_log_line():
    stream = io.StringIO()
    bar = _Progress(True, stream)
    lines = []

    def log(line):
        lines.append((stream.getvalue(), line))

    train, test = _digits(64, 16)
    cfg = TrainConfig(model="softmax-regression", epochs=1, batch_size=16, log_interval=1)
    from scratchnet.training.loop import EpochLoop

    loop = EpochLoop(NumpyEngine.build(cfg), train, test, cfg, log=log, progress=bar)
    loop.run_epoch()
    train_lines = [(before, line) for before, line in lines if line.startswith("Train Epoch")]
    assert len(train_lines) == 4
    for before, _ in train_lines[1:]:
        assert before.endswith("\r\033[K")  # the bar was wiped before the line was printed


# --------------------------------------------------------------------------- data dir
@pytest.mark.parametrize("kind", ["missing", "file", "empty"])
def test_typed_data_dir_is_used_or_refused(tmp_path, kind, capsys):
    path = tmp_path / "mnist"
    if kind == "file":
        path.write_text("not a folder")
    elif kind == "empty":
        path.mkdir()
    rc = cli.main(["train", "--model", "mlp3", "--epochs", "1", "--engine", "numpy",
                   "--data-dir", str(path)])
    out = capsys.readouterr()
    assert rc == 2 and "Training" not in out.out
    err = out.err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("scratchnet: error: --data-dir ")
    assert {"missing": "no such directory", "file": "is a file", "empty": "holds none"}[kind] in err[0]


def test_default_data_dir_falls_back_and_says_so(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SCRATCHNET_DATA", str(tmp_path / "nothing-here"))
    rc = cli.main(["train", "--model", "softmax-regression", "--epochs", "1", "--engine", "numpy",
                   "--batch-size", "500", "--quiet"])
    assert rc == 0
    notes = [l for l in capsys.readouterr().out.splitlines() if "embedded digits" in l]
    assert len(notes) == 1 and "SCRATCHNET_DATA" in notes[0]


# --------------------------------------------------------------------------- early checks
def _fails_before_training(args, capsys, expect):
    rc = cli.main(args)
    out = capsys.readouterr()
    assert rc == 2, out
    assert "Training" not in out.out and "Reproducing" not in out.out and "Diagnosing" not in out.out
    err = out.err.strip().splitlines()
    assert len(err) == 1 and expect in err[0], err


@pytest.mark.parametrize("command", [
    ["train", "--model", "softmax-toy", "--epochs", "1"],
    ["reproduce", "softmax-toy", "--epochs", "1"],
    ["diagnose", "mlp3", "--steps", "1"],
])
def test_output_paths_are_checked_first(tmp_path, capsys, command):
    missing = tmp_path / "no" / "such" / "dir"
    _fails_before_training(command + ["--json", str(missing / "r.json")], capsys, "does not exist")
    _fails_before_training(command + ["--plot", str(tmp_path)], capsys, "is a directory")


def test_plot_without_matplotlib_is_refused_first(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    _fails_before_training(["train", "--model", "softmax-toy", "--epochs", "1", "--plot",
                            str(tmp_path / "p.png")], capsys, "needs matplotlib")


def test_torch_engine_without_torch_is_refused_first(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "torch", None)
    _fails_before_training(["train", "--model", "softmax-toy", "--epochs", "1", "--engine", "both"],
                           capsys, "needs PyTorch")


def test_reproduce_out_dir_writes_each_experiment(tmp_path, capsys):
    rc = cli.main(["reproduce", "softmax-toy", "--epochs", "3", "--out-dir", str(tmp_path), "--quiet"])
    assert rc == 0
    payload = json.loads((tmp_path / "softmax-toy.json").read_text())
    assert [r["engine"] for r in payload["runs"]] == ["numpy", "torch"]
    assert payload["experiment"]["init"] == "zeros" and payload["comparison"]["lockstep"]
    table = (tmp_path / "RESULTS.md").read_text()
    assert "| softmax-toy |" in table and "take turns epoch by epoch" in table
    # The machine the figures were measured on: its CPU, NumPy's and torch's versions and threads.
    from scratchnet.training.environment import cpu_model

    env = payload["environment"]
    assert env["cpu_model"] == cpu_model() and cpu_model() in table
    assert f"NumPy {env['numpy']}" in table and f"torch {env['torch']}" in table
    assert (tmp_path / "softmax-toy.png").read_bytes()[:4] == b"\x89PNG"


# --------------------------------------------------------------------------- --init
@pytest.mark.parametrize("scheme", ["kaiming_normal", "kaiming_uniform", "xavier_normal", "xavier_uniform"])
def test_init_schemes_have_the_right_spread_in_both_engines(scheme):
    import torch

    from scratchnet import models, torch_models

    fan_in, fan_out = 520, 320  # mlp5's l2
    expected = {"kaiming_normal": np.sqrt(2 / fan_in), "kaiming_uniform": np.sqrt(2 / fan_in),
                "xavier_normal": np.sqrt(2 / (fan_in + fan_out)),
                "xavier_uniform": np.sqrt(2 / (fan_in + fan_out))}[scheme]
    a = nn.init.init_parameters_(models.build("mlp5"), scheme, np.random.default_rng(0))
    b = torch_models.init_parameters_(torch_models.build("mlp5"), scheme, seed=0)
    for w, bias in ((a.l2.weight.data, a.l2.bias.data),
                    (b.l2.weight.detach().numpy(), b.l2.bias.detach().numpy())):
        assert w.std() == pytest.approx(expected, rel=0.02)
        assert not bias.any()
    assert torch.is_tensor(b.l2.weight)


@pytest.mark.parametrize("engine", ["numpy", "torch"])
def test_init_of_the_sparse_c3_uses_each_maps_fan_in(engine):
    """LeNet-5's packed sparse C3: map j's kernels are one conv's weight with fan_in |T_j|*25."""
    from scratchnet import models, torch_models

    if engine == "numpy":
        model = nn.init.init_parameters_(models.build("lenet5-original"), "kaiming_uniform",
                                         np.random.default_rng(0))
        w = model.c3.weight.data
    else:
        model = torch_models.init_parameters_(torch_models.build("lenet5-original"), "kaiming_uniform")
        w = model.c3.weight.detach().numpy()
    start = 0
    for inputs in models.LECUN_C3_TABLE:
        block = w[start:start + len(inputs)]
        start += len(inputs)
        bound = np.sqrt(6 / (len(inputs) * 25))  # kaiming_uniform, gain sqrt(2)
        assert np.abs(block).max() <= bound
        assert np.abs(block).max() > 0.8 * bound  # the draws fill the map's own range


def test_init_default_keeps_the_layers_own():
    from scratchnet import models

    a, b = models.build("mlp3", seed=3), models.build("mlp3", seed=3)
    nn.init.init_parameters_(b, "default")
    for k, v in a.state_dict().items():
        assert np.array_equal(v, b.state_dict()[k])
    with pytest.raises(ValueError, match="unknown scheme 'he'"):
        nn.init.init_parameters_(b, "he")


def test_cli_init_both_engines_start_equal(tmp_path):
    out = tmp_path / "r.json"
    assert cli.main(["train", "--model", "mlp3", "--epochs", "1", "--init", "kaiming_normal",
                     "--batch-size", "500", "--json", str(out), "--quiet"]) == 0
    obj = json.loads(out.read_text())
    assert all(r["config"]["init"] == "kaiming_normal" for r in obj["runs"])
    assert obj["comparison"]["epochs"][0]["train_loss_rel_diff"] < 1e-4
