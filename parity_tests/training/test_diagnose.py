"""`scratchnet diagnose`: its statistics are right, and NumPy's records equal torch's."""
import json
import math

import numpy as np
import pytest
import torch

from scratchnet import cli, nn
from scratchnet.training.diagnose import (diagnose, findings, max_abs_diff, output_stats, records_at,
                                 recorded_steps, weight_layers)
from scratchnet.training.torch_engine import TorchEngine
from scratchnet.training.numpy_engine import NumpyEngine
from scratchnet.training.loop import TrainConfig


def _digits(n=192):
    from scratchnet.data import load_embedded_mnist

    x, y = load_embedded_mnist().train.arrays
    return x[:n], y[:n]


def _pair(model, dtype="float64", **kw):
    cfg = TrainConfig(model=model, dtype=dtype, lr=kw.pop("lr", 0.05), momentum=kw.pop("momentum", 0.5),
                      batch_size=32, **kw)
    a = NumpyEngine.build(cfg)
    b = TorchEngine.build(cfg, state_dict=a.state_dict())
    return a, b


@pytest.mark.parametrize("model", ["mlp3", "sigmoid-mlp", "basic-cnn", "lenet5"])
def test_numpy_records_equal_torch_records_float64(model):
    """Same weights, same batches: every field of every record agrees (the acceptance test)."""
    a, b = _pair(model)
    ra = diagnose(a, _digits(), steps=5, every=2, batch_size=32)
    rb = diagnose(b, _digits(), steps=5, every=2, batch_size=32)
    assert recorded_steps(ra) == recorded_steps(rb) == [0, 2, 4]
    assert len(ra["records"]) == len(rb["records"]) == 3 * len(a.layers())
    for x, y in zip(ra["records"], rb["records"]):
        assert (x["step"], x["layer"], x["kind"]) == (y["step"], y["layer"], y["kind"])
        for f in ("out_mean", "out_std", "dead_fraction", "saturated_fraction", "grad_out_std"):
            assert (x[f] is None) == (y[f] is None), (x["layer"], f)
            if x[f] is not None:
                assert x[f] == pytest.approx(y[f], rel=1e-7, abs=1e-12), (x["layer"], f)
        assert x["histogram"]["counts"] == y["histogram"]["counts"]
        assert set(x["params"]) == set(y["params"])
        for p in x["params"]:
            for f in ("grad_norm", "norm", "update_ratio"):
                assert x["params"][p][f] == pytest.approx(y["params"][p][f], rel=1e-7), (x["layer"], p, f)
    for la, lb in zip(ra["losses"], rb["losses"]):
        assert la["loss"] == pytest.approx(lb["loss"], rel=1e-10)
    diff = max_abs_diff(ra, rb)
    assert max(v for k, v in diff.items() if k != "histogram_counts") < 1e-9


def test_statistics_are_what_they_claim():
    """Computed independently of the recorder: dead ReLUs, saturation, update ratio."""
    cfg = TrainConfig(model="mlp3", dtype="float64", lr=0.1, momentum=0.0, batch_size=32)
    engine = NumpyEngine.build(cfg)
    x, y = _digits(32)
    w_before = engine.model.l1.weight.data.copy()
    b_before = engine.model.l1.bias.data.copy()
    r = diagnose(engine, (x, y), steps=1, every=1, batch_size=32, seed=0)
    by = {rec["layer"]: rec for rec in r["records"]}
    # The batch the recorder saw: the loader's first batch of a seeded shuffle (all 32 here).
    hidden = np.maximum(x.reshape(32, -1).astype(np.float64) @ w_before.T + b_before, 0)
    assert by["relu1"]["dead_fraction"] == pytest.approx(np.mean(hidden == 0), abs=0)
    assert by["relu1"]["out_std"] == pytest.approx(hidden.std(), rel=1e-12)
    assert by["relu1"]["saturated_fraction"] is None and by["l1"]["dead_fraction"] is None
    # Plain SGD: dW = -lr * grad, so |dW| / |W| = lr * |grad| / |W| exactly.
    w = by["l1"]["params"]["weight"]
    assert w["update_ratio"] == pytest.approx(0.1 * w["grad_norm"] / w["norm"], rel=1e-12)
    assert w["norm"] == pytest.approx(np.linalg.norm(w_before), rel=1e-12)
    moved = np.linalg.norm(engine.model.l1.weight.data - w_before) / np.linalg.norm(w_before)
    assert w["update_ratio"] == pytest.approx(moved, rel=1e-12)
    assert by["flatten"]["grad_out_std"] is None  # no gradient flows into the images' Flatten
    assert by["l3"]["grad_out_std"] > 0


def test_saturation_and_histogram():
    s = output_stats("Sigmoid", np.array([0.0, 0.01, 0.5, 0.98, 1.0, 0.96]))
    assert s["saturated_fraction"] == pytest.approx(4 / 6)
    t = output_stats("Tanh", np.array([-1.0, -0.969, 0.0, 0.971]))
    assert t["saturated_fraction"] == pytest.approx(2 / 4)
    h = output_stats("ReLU", np.array([0.0, 0.0, 1.0, np.inf]))
    assert h["dead_fraction"] == 0.5 and sum(h["histogram"]["counts"]) == 3  # inf left out


def test_backward_hook_reports_torch_gradients():
    """register_full_backward_hook gives (grad_input,), (grad_output,) as torch's does."""
    rng = np.random.default_rng(0)
    layer = nn.Linear(5, 3, dtype=np.float64)
    seen = []
    handle = layer.register_full_backward_hook(lambda m, gi, go: seen.append((gi[0], go[0])))
    x = rng.standard_normal((4, 5))
    g = rng.standard_normal((4, 3))
    gx = layer.backward(g) if layer(x) is not None else None
    t = torch.nn.Linear(5, 3, dtype=torch.float64)
    with torch.no_grad():
        t.weight.copy_(torch.from_numpy(layer.weight.data))
        t.bias.copy_(torch.from_numpy(layer.bias.data))
    tseen = []
    t.register_full_backward_hook(lambda m, gi, go: tseen.append((gi[0], go[0])))
    tx = torch.from_numpy(x).requires_grad_()
    t(tx).backward(torch.from_numpy(g))
    np.testing.assert_allclose(seen[0][0], tseen[0][0].numpy(), rtol=1e-12)
    np.testing.assert_allclose(seen[0][1], tseen[0][1].numpy(), rtol=1e-12)
    np.testing.assert_allclose(gx, tx.grad.numpy(), rtol=1e-12)
    # A hook may replace grad_input; a removed hook is not called.
    layer.register_full_backward_hook(lambda m, gi, go: (np.zeros_like(gi[0]),))
    layer(x)
    assert not layer.backward(g).any()
    handle.remove()
    layer(x)
    layer.backward(g)
    assert len(seen) == 2


def test_mlp9_gradient_vanishes_and_kaiming_fixes_it():
    """The lecture's point, measured: default init starves MLP-9's first layers."""
    x, y = _digits(256)
    cfg = dict(model="mlp9", lr=0.01, momentum=0.5, batch_size=64)
    bad = diagnose(NumpyEngine.build(TrainConfig(**cfg)), (x, y), steps=1, every=1)
    good = diagnose(NumpyEngine.build(TrainConfig(init="kaiming_normal", **cfg)), (x, y), steps=1, every=1)

    def ratio(r):
        wl = weight_layers(records_at(r, 0))
        return wl[0]["grad_out_std"] / wl[-1]["grad_out_std"]

    assert ratio(bad) < 1e-2 < 0.1 < ratio(good)
    assert any("vanishes" in f for f in findings(bad))
    assert not any("vanishes" in f for f in findings(good))


def test_cli_diagnose_both_engines_json_and_plot(tmp_path, capsys):
    out, png = tmp_path / "d.json", tmp_path / "d.png"
    rc = cli.main(["diagnose", "basic-cnn", "--engine", "both", "--steps", "3", "--every", "2",
                   "--dtype", "float64", "--json", str(out), "--plot", str(png)])
    assert rc == 0
    obj = json.loads(out.read_text())
    assert set(obj["engines"]) == {"numpy", "torch"}
    one = obj["engines"]["numpy"]
    assert {"model", "engine", "init", "lr", "records"} <= set(one)
    rec = one["records"][0]
    assert set(rec) >= {"step", "layer", "kind", "out_mean", "out_std", "dead_fraction",
                        "saturated_fraction", "grad_out_std", "params"}
    assert set(rec["params"]["weight"]) == {"grad_norm", "norm", "update_ratio"}
    assert one["lr"] == 0.01 and one["momentum"] == 0.5  # the lecture's settings
    assert obj["max_abs_diff"]["out_std"] < 1e-9
    assert png.read_bytes()[:4] == b"\x89PNG"
    text = capsys.readouterr().out
    assert "records agree" in text and "step 0" in text


def test_cli_diagnose_bad_steps_is_one_line(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["diagnose", "mlp3", "--steps", "0"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--steps" in err[0]


def test_update_ratio_is_none_for_zero_weights():
    cfg = TrainConfig(model="softmax-regression", init="zeros", lr=0.1, momentum=0.0, batch_size=16)
    r = diagnose(NumpyEngine.build(cfg), _digits(32), steps=1, every=1, batch_size=16)
    w = records_at(r, 0)[-1]["params"]["weight"]
    assert w["norm"] == 0 and w["update_ratio"] is None and w["grad_norm"] > 0
    assert not any(isinstance(v, float) and math.isnan(v) for v in w.values())
