"""``scratchnet.summary``: output shapes and parameter counts of the lectures' models."""
from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest
import torch

import scratchnet
import scratchnet.nn as nn


def basic_cnn(ns, fc_in=320):
    return ns.Sequential(
        ns.Conv2d(1, 10, kernel_size=5), ns.MaxPool2d(2), ns.ReLU(),
        ns.Conv2d(10, 20, kernel_size=5), ns.MaxPool2d(2), ns.ReLU(),
        ns.Flatten(), ns.Linear(fc_in, 50), ns.ReLU(), ns.Linear(50, 10),
    )


def lenet5(ns):
    """LeNet-5 with the full C3 table (every S2 map feeds every C3 map)."""
    return ns.Sequential(
        ns.Conv2d(1, 6, 5, padding=2), ns.Tanh(), ns.AvgPool2d(2),
        ns.Conv2d(6, 16, 5), ns.Tanh(), ns.AvgPool2d(2),
        ns.Flatten(), ns.Linear(16 * 5 * 5, 120), ns.Tanh(),
        ns.Linear(120, 84), ns.Tanh(), ns.Linear(84, 10),
    )


def torch_shapes(model, x):
    shapes = []
    handles = [m.register_forward_hook(lambda m, a, o: shapes.append(tuple(o.shape)))
               for m in model.children()]
    with torch.no_grad():
        model(x)
    for h in handles:
        h.remove()
    return shapes


def test_basic_cnn_flatten_is_320_and_counts_match_torch():
    s = scratchnet.summary(basic_cnn(nn), (1, 28, 28))
    assert [r.name for r in s.rows] == [str(i) for i in range(10)]
    assert s.rows[6].class_name == "Flatten" and s.rows[6].output_shape == (1, 320)
    assert s.rows[5].output_shape == (1, 20, 4, 4)
    assert [r.num_params for r in s.rows] == [260, 0, 0, 5020, 0, 0, 0, 16050, 0, 510]
    assert s.total_params == s.trainable_params == 21840
    assert s.total_params == sum(p.numel() for p in basic_cnn(torch.nn).parameters())
    assert [r.output_shape for r in s.rows] == torch_shapes(basic_cnn(torch.nn), torch.zeros(1, 1, 28, 28))
    assert s.output_shape == (1, 10) and s.input_shape == (1, 1, 28, 28)
    table = str(s)
    assert "20x4x4 = 320" in table and "Total params: 21,840" in table and "16,050" in table


def test_lenet5_has_61706_parameters():
    s = scratchnet.summary(lenet5(nn), (1, 28, 28), batch_size=3)
    assert s.total_params == 61706 == sum(p.numel() for p in lenet5(torch.nn).parameters())
    assert s.input_shape == (3, 1, 28, 28)
    assert [r.output_shape for r in s.rows] == torch_shapes(lenet5(torch.nn), torch.zeros(3, 1, 28, 28))
    assert [r.output_shape for r in s.rows][6] == (3, 400)
    assert "16x5x5 = 400" in str(s)


def test_wrong_flatten_size_raises_the_named_error():
    with pytest.raises(ValueError, match=r"^Sequential\[7\] Linear\(in_features=100, out_features=50, "
                                         r"bias=True\): got input of shape \(1, 320\)"):
        scratchnet.summary(basic_cnn(nn, fc_in=100), (1, 28, 28))


def test_nested_model_rows_frozen_params_and_no_leftover_state():
    model = nn.Sequential(OrderedDict(
        features=nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU()),
        head=nn.Sequential(nn.Flatten(), nn.Linear(4 * 6 * 6, 3)),
    ))
    model.features.requires_grad_(False)
    s = scratchnet.summary(model, (1, 8, 8), dtype=np.float32)
    assert [(r.name, r.depth, r.has_children) for r in s.rows] == [
        ("features", 0, True), ("features.0", 1, False), ("features.1", 1, False),
        ("head", 0, True), ("head.0", 1, False), ("head.1", 1, False)]
    assert s.total_params == 4 * 9 + 4 + 144 * 3 + 3
    assert s.trainable_params == 144 * 3 + 3 and s.non_trainable_params == 40
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())
    with pytest.raises(RuntimeError, match="no_grad"):  # the pass recorded no backward
        model.backward(np.zeros((1, 3), np.float32))


def test_single_layer_and_float64():
    s = scratchnet.summary(nn.Linear(5, 2, dtype=np.float64), (5,), dtype=np.float64)
    assert [(r.name, r.class_name, r.output_shape, r.num_params) for r in s.rows] == [("", "Linear", (1, 2), 12)]
    with pytest.raises(TypeError, match="Linear"):
        scratchnet.summary(nn.Linear(5, 2), (5,), dtype=np.float64)
    with pytest.raises(TypeError, match="Module"):
        scratchnet.summary(torch.nn.Linear(5, 2), (5,))


@pytest.mark.parametrize("name,flat,total", [
    ("basic-cnn", "20x4x4 = 320", 8_490),
    ("lenet5", "16x5x5 = 400", 61_706),
    ("lenet5-original", "16x5x5 = 400", 60_806),
])
def test_registry_models_lecture_counts(name, flat, total):
    """The lecture's flatten reasoning and parameter counts, on the registry's own models."""
    from scratchnet import models

    s = scratchnet.summary(models.build(name), (1, 28, 28))
    assert s.total_params == total
    assert flat in str(s) and f"Total params: {total:,}" in str(s)
    assert s.output_shape == (1, 10)
