"""The floor table's arithmetic (benchmarks.floor): FLOPs, bytes and GEMM shapes of known layers.

No timing is asserted: the smoke run only checks that the table is written with a
row per layer and that every floor is the roofline of the numbers beside it.
"""
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # ``benchmarks`` is a top-level package beside ``scratchnet``
    sys.path.insert(0, str(ROOT))

from benchmarks.floor import (MIN_COPY_BYTES, copy_bytes, layer_work, loss_bytes, model_work,  # noqa: E402
                              optimizer_bytes, roofline)
from benchmarks.flops import gemm_flops  # noqa: E402
from benchmarks import floor as floor_mod  # noqa: E402


def test_linear_gemms_flops_and_bytes():
    # MLP-5's l2 at batch 64 (520 -> 320), the input gradient needed.
    w = layer_work("Linear", (64, 520), (64, 320), [(320, 520), (320,)], True, 4)
    assert [(g["pass"], g["shape"]) for g in w["gemms"]] == [
        ("forward", (1, 64, 520, 320)), ("weight grad", (1, 320, 64, 520)), ("input grad", (1, 64, 320, 520))]
    assert w["flops"] == 3 * 2 * 64 * 520 * 320
    x, y, p = 64 * 520 * 4, 64 * 320 * 4, (320 * 520 + 320) * 4
    assert w["bytes"] == {"forward": x + p + y, "backward": y + x + p + p + x}
    # The first layer: no input gradient, one GEMM fewer, no weights read in the backward.
    first = layer_work("Linear", (64, 784), (64, 520), [(520, 784), (520,)], False, 8)
    assert len(first["gemms"]) == 2 and first["flops"] == 2 * 2 * 64 * 784 * 520
    x, y, p = 64 * 784 * 8, 64 * 520 * 8, (520 * 784 + 520) * 8
    assert first["bytes"]["backward"] == y + x + p


def test_linear_over_extra_leading_dims_counts_every_row():
    w = layer_work("Linear", (4, 3, 7), (4, 3, 5), [(5, 7)], True, 4)
    assert w["gemms"][0]["shape"] == (1, 12, 7, 5) and w["flops"] == 3 * 2 * 12 * 7 * 5


def test_conv_gemms_are_the_im2col_products():
    # The basic CNN's conv2 at batch 64: 10 -> 20 channels, 5x5, 12x12 -> 8x8.
    w = layer_work("Conv2d", (64, 10, 12, 12), (64, 20, 8, 8), [(20, 10, 5, 5), (20,)], True, 4)
    cols = 64 * 8 * 8
    assert [g["shape"] for g in w["gemms"]] == [(1, 20, 250, cols), (1, 20, cols, 250), (1, 250, 20, cols)]
    assert w["flops"] == 3 * 2 * 20 * 250 * cols
    x, y, p = 64 * 10 * 144 * 4, 64 * 20 * 64 * 4, (20 * 250 + 20) * 4
    assert w["bytes"] == {"forward": x + p + y, "backward": y + x + p + p + x}


def test_grouped_conv_is_one_gemm_per_group():
    w = layer_work("Conv2d", (2, 4, 5, 5), (2, 8, 3, 3), [(8, 2, 3, 3)], False, 4)
    assert w["gemms"][0]["shape"] == (2, 4, 18, 18) and w["flops"] == 2 * 2 * 2 * 4 * 18 * 18


def test_sparse_conv_counts_only_its_connections():
    dense = layer_work("Conv2d", (64, 6, 14, 14), (64, 16, 10, 10), [(16, 6, 5, 5), (16,)], True, 4)
    sparse = layer_work("SparseConv2d", (64, 6, 14, 14), (64, 16, 10, 10), [(60, 5, 5), (16,)], True, 4,
                        table_connections=60)
    assert sparse["flops"] == pytest.approx(dense["flops"] * 60 / 96)
    # Forward FLOPs as benchmarks.flops counts LeNet-5's sparse C3: 2 * outputs * 25 per connection.
    assert sparse["flops"] / 3 == pytest.approx(2 * 64 * 10 * 10 * 25 * 60)


@pytest.mark.parametrize("kind", ["ReLU", "Tanh", "MaxPool2d", "AvgPool2d"])
def test_parameter_free_layers_move_their_operands(kind):
    out = (1, 1, 10) if kind in ("ReLU", "Tanh") else (1, 1, 5, 2)
    inp = (1, 1, 10) if kind in ("ReLU", "Tanh") else (1, 1, 10, 4)
    work = layer_work(kind, inp, out, [], True, 4)
    assert work["gemms"] == [] and work["flops"] == 0
    x, y = math.prod(inp) * 4, math.prod(out) * 4
    expected = {"ReLU": 2 * y + x, "Tanh": 2 * y + x, "MaxPool2d": y + math.prod(out) + x, "AvgPool2d": y + x}
    assert work["bytes"] == {"forward": x + y, "backward": expected[kind]}
    # Before the first layer with parameters there is no backward at all.
    assert layer_work(kind, inp, out, [], False, 4)["bytes"]["backward"] == 0
    assert layer_work(kind, inp, out, [], False, 4)["backward"] is False


def test_a_view_is_free_and_an_unknown_layer_is_refused():
    assert layer_work("Flatten", (2, 3, 4), (2, 12), [], True, 4)["bytes"] == {"forward": 0, "backward": 0}
    with pytest.raises(ValueError, match="no work model for a Dropout layer"):
        layer_work("Dropout", (2, 3), (2, 3), [], True, 4)


def test_optimizer_loss_roofline_and_probe_sizes():
    assert optimizer_bytes(1000, 4, momentum=True) == 5 * 4000
    assert optimizer_bytes(1000, 4, momentum=False) == 3 * 4000
    assert loss_bytes((64, 10), 4) == 3 * 640 * 4
    assert roofline(2e-3, 1e-3) == 2e-3 and roofline(1e-4, 3e-4) == 3e-4
    assert copy_bytes(10) == MIN_COPY_BYTES and copy_bytes(3 * MIN_COPY_BYTES) == 3 * MIN_COPY_BYTES


@pytest.mark.parametrize("name", ["mlp5", "basic-cnn", "lenet5", "lenet5-original"])
def test_model_forward_flops_agree_with_the_torch_twins_count(name):
    torch = pytest.importorskip("torch")
    from benchmarks.flops import count_torch_flops
    from scratchnet import models, torch_models

    x = np.zeros((3, 1, 28, 28), dtype=np.float32)
    work = model_work(models.build(name), x, momentum=True, itemsize=4)
    forward = sum(g["scale"] * gemm_flops(g["shape"]) for layer in work["layers"]
                  for g in layer["gemms"] if g["pass"] == "forward")
    assert forward == pytest.approx(count_torch_flops(torch_models.build(name), torch.from_numpy(x)))
    # Only the first layer with parameters skips its input gradient.
    skipped = [layer["name"] for layer in work["layers"] if layer["gemms"] and len(layer["gemms"]) == 2]
    assert skipped == [next(layer["name"] for layer in work["layers"] if layer["gemms"])]
    assert work["params"] == sum(p.data.size for p in models.build(name).parameters())


def test_floor_smoke_run_writes_a_row_per_layer(tmp_path):
    cmd = [sys.executable, "-m", "benchmarks.floor", "--steps", "mlp3", "--threads", "1", "--rounds", "2",
           "--target-s", "0.002", "--out", str(tmp_path)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    data = json.loads((tmp_path / "floor.json").read_text())
    (model,) = data["floor"]["models"]
    assert [r["name"] for r in model["layers"]] == ["flatten", "l1", "relu1", "l2", "relu2", "l3"]
    for r in model["layers"]:
        assert r["floor_s"] == max(r["compute_s"], r["memory_s"])
        assert r["compute_s"] == sum(g["scale"] * min(g["numpy_s"], g["torch_s"]) for g in r["gemms"])
        assert r["numpy_s"] > 0 and r["torch_s"] > 0
    assert model["floor_s"] == pytest.approx(sum(r["floor_s"] for r in model["layers"])
                                             + model["loss_floor_s"] + model["optimizer_floor_s"])
    assert set(data["floor"]["ceilings"]) == {"numpy", "torch"}
    text = (tmp_path / "FLOOR.md").read_text()
    assert "| l1 | Linear | 64×784 |" in text and "- load: other processes used" in text
    assert "benchmarks.floor: mlp3 batch 64: floor" in proc.stderr


def test_conv_rows_judge_each_convolution_against_the_limit():
    layer = dict(type="Conv2d", input_shape=(64, 10, 12, 12), floor_s=1e-3, torch_s=1.6e-3)
    floor = {"models": [{"name": "basic-cnn", "layers": [
        dict(layer, name="conv1", numpy_s=1.4e-3), dict(layer, name="conv2", numpy_s=1.8e-3),
        dict(layer, name="fc", type="Linear", numpy_s=9e-3)]}]}
    rows = floor_mod.conv_rows(floor, limit=1.5)
    assert len(rows) == 2  # the Linear layer is not a convolution
    assert rows[0].endswith("| 1.4 | 1.6 | yes |") and "| conv1 | 64×10×12×12 |" in rows[0]
    assert rows[1].endswith("| 1.8 | 1.6 | no: 1.20 × the limit |")
