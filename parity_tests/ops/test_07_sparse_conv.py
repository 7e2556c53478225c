"""sparse_conv2d, LeNet-5's sparse C3, against torch, its per-map oracle and finite differences.

torch has no sparse convolution; its reference here is the definition itself: one
``conv2d`` per output map over the input maps it reads, concatenated.

What this file proves, in order:

1. torch parity in float64 and float32; the fast path equals the per-map oracle; finite
   differences; LeNet's C3 table, with ``needs_input_grad=False``; fresh gradients and a
   second backward; bad input refused with the op and the shapes. (The tuned kernel
   against its textbook version: in ``test_05_conv2d.py``, with conv2d's kernel.)
2. empty shapes and non-finite values (NaN, +-inf) in every argument and in the upstream
   gradient: torch's answer or torch's refusal (the shared checks of ``edge_cases.py``);
   an infinite input map or upstream map reaches only the outputs that read it.
3. LeNet-5 (original) with its sparse C3: one training step equals its torch twin.
"""
import numpy as np
import pytest
import torch
from hypothesis import given, strategies as st

import scratchnet.functional as F
from scratchnet import models, torch_models
from scratchnet.functional.sparse_conv import sparse_conv2d, sparse_conv2d_naive
from scratchnet.models import LECUN_C3_TABLE

import edge_cases as edge
from helpers import assert_close, check_fd, check_op, randn

TF = torch.nn.functional


def torch_sparse_conv2d(input, weight, bias, table, stride=1, padding=0, dilation=1):
    outs, start = [], 0
    for j, inputs in enumerate(table):
        kernels = weight[start:start + len(inputs)].unsqueeze(0)
        start += len(inputs)
        b = None if bias is None else bias[j:j + 1]
        outs.append(TF.conv2d(input[..., list(inputs), :, :], kernels, b, stride, padding, dilation))
    return torch.cat(outs, dim=-3)


@st.composite
def sparse_cases(draw, max_channels=4, max_maps=5):
    """A valid sparse_conv2d call: (x, w, b, table, kwargs) on small shapes."""
    c_in = draw(st.integers(1, max_channels))
    table = [tuple(draw(st.permutations(range(c_in)))[:draw(st.integers(1, c_in))])
             for _ in range(draw(st.integers(1, max_maps)))]
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    stride = draw(st.one_of(st.integers(1, 2), st.tuples(st.integers(1, 2), st.integers(1, 2))))
    dilation = draw(st.one_of(st.just(1), st.tuples(st.integers(1, 2), st.integers(1, 2))))
    padding = draw(st.one_of(st.integers(0, 2), st.tuples(st.integers(0, 1), st.integers(0, 2)),
                             st.just("valid"), st.just("same") if stride in (1, (1, 1)) else st.just(0)))
    dh, dw = (dilation, dilation) if isinstance(dilation, int) else dilation
    h = draw(st.integers(dh * (kh - 1) + 1, 7))  # the kernel fits even without padding
    w = draw(st.integers(dw * (kw - 1) + 1, 7))
    batch = draw(st.integers(0, 3))
    unbatched = draw(st.booleans())
    shape = (c_in, h, w) if unbatched else (batch, c_in, h, w)
    bias = draw(st.booleans())
    seed = draw(st.integers(0, 2**16))
    return dict(c_in=c_in, table=table, kernel=(kh, kw), shape=shape, bias=bias, seed=seed,
                kwargs=dict(stride=stride, padding=padding, dilation=dilation))


def _arrays(case, dtype, scale=1.0):
    rng = np.random.default_rng(case["seed"])
    n_conn = sum(len(t) for t in case["table"])
    x = randn(rng, case["shape"], dtype, scale)
    w = randn(rng, (n_conn,) + case["kernel"], dtype)
    b = randn(rng, (len(case["table"]),), dtype) if case["bias"] else None
    return x, w, b


@pytest.mark.filterwarnings("ignore:Using padding='same':UserWarning")
@given(case=sparse_cases())
def test_matches_torch_float64(case):
    x, w, b = _arrays(case, np.float64)
    check_op(sparse_conv2d, torch_sparse_conv2d, (x, w, b, case["table"]), case["kwargs"],
             seed=case["seed"])


@pytest.mark.filterwarnings("ignore:Using padding='same':UserWarning")
@given(case=sparse_cases())
def test_matches_torch_float32(case):
    x, w, b = _arrays(case, np.float32, scale=10.0)
    check_op(sparse_conv2d, torch_sparse_conv2d, (x, w, b, case["table"]), case["kwargs"],
             rtol=1e-4, atol=1e-5, seed=case["seed"])


@given(case=sparse_cases())
def test_fast_path_equals_the_per_map_oracle(case):
    x, w, b = _arrays(case, np.float64)
    args = (x, w, b, case["table"])
    out, backward = F.vjp(sparse_conv2d, *args, **case["kwargs"])
    ref, ref_backward = F.vjp(sparse_conv2d_naive, *args, **case["kwargs"])
    np.testing.assert_allclose(out, ref, rtol=1e-12, atol=1e-12)
    g = np.random.default_rng(case["seed"] + 1).standard_normal(out.shape)
    for got, want in zip(backward(g), ref_backward(g)):
        assert (got is None) == (want is None)
        if got is not None:
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("fn", [sparse_conv2d, sparse_conv2d_naive])
@pytest.mark.parametrize("kwargs", [dict(), dict(stride=2, padding=1), dict(padding="same", dilation=2)])
def test_finite_differences(fn, kwargs):
    rng = np.random.default_rng(3)
    table = [(0, 2), (1,), (2, 0, 1)]
    x, w, b = rng.standard_normal((2, 3, 5, 6)), rng.standard_normal((6, 3, 2)), rng.standard_normal(3)
    check_fd(fn, (x, w, b, table), kwargs)


def test_lenet_c3_matches_torch_and_skips_the_input_gradient_on_request():
    rng = np.random.default_rng(4)
    x, w, b = rng.standard_normal((5, 6, 14, 14)), rng.standard_normal((60, 5, 5)), rng.standard_normal(16)
    check_op(sparse_conv2d, torch_sparse_conv2d, (x, w, b, LECUN_C3_TABLE))
    out, backward = F.registration(sparse_conv2d).forward(x, w, b, LECUN_C3_TABLE)
    g = rng.standard_normal(out.shape)
    full, part = backward(g), backward(g, needs_input_grad=False)
    assert "input" in full and "input" not in part
    for k in part:
        np.testing.assert_array_equal(part[k], full[k])


def test_lecture_example_and_an_unread_input_map():
    """Map 1 feeds no output: its gradient is zero, the others' as by hand."""
    x = np.array([[[[1.0, 2.0]], [[5.0, 6.0]], [[3.0, 4.0]]]])  # (1, 3, 1, 2)
    w = np.array([[[2.0]], [[1.0]], [[10.0]]])                  # connections (0,0), (1,0), (1,2)
    out, backward = F.vjp(sparse_conv2d, x, w, np.array([0.5, -1.0]), [(0,), (0, 2)])
    np.testing.assert_array_equal(out, [[[[2.5, 4.5]], [[30.0, 41.0]]]])
    gx, gw, gb, gt = backward(np.array([[[[1.0, 2.0]], [[3.0, 4.0]]]]))
    np.testing.assert_array_equal(gx, [[[[2 + 3, 4 + 4]], [[0.0, 0.0]], [[30.0, 40.0]]]])
    np.testing.assert_array_equal(gw, [[[1 + 4.0]], [[3 + 8.0]], [[9 + 16.0]]])
    np.testing.assert_array_equal(gb, [3.0, 7.0])
    assert gt is None


def test_fresh_gradients_and_a_second_backward():
    rng = np.random.default_rng(5)
    x, w = rng.standard_normal((2, 3, 4, 4)), rng.standard_normal((4, 3, 3))
    out, backward = F.vjp(sparse_conv2d, x, w, None, [(0, 1), (2, 1)])
    g = rng.standard_normal(out.shape)
    first, second = backward(g), backward(g)
    for a, b in zip(first, second):
        if a is not None:
            np.testing.assert_array_equal(a, b)
            assert not np.shares_memory(a, b) and not np.shares_memory(a, g)


@pytest.mark.parametrize("args,kwargs,match", [
    (((2, 3, 6, 6), (5, 3, 3), (2,), [(0, 1), (1, 2, 3)]), {},
     r"sparse_conv2d: output map 1 must see distinct input maps in \[0, 3\), got \(1, 2, 3\) "
     r"\(input of shape \(2, 3, 6, 6\)\)"),
    (((2, 3, 6, 6), (4, 3, 3), None, [(0, 1), (1, 1)]), {}, r"output map 1 must see distinct"),
    (((2, 3, 6, 6), (2, 3, 3), None, [(0, 1), ()]), {}, r"output map 1 must see distinct"),
    (((2, 3, 6, 6), (0, 3, 3), None, []), {}, r"at least one output map"),
    (((2, 3, 6, 6), (4, 3, 3), None, [(0, 1), (1, 2, 0)]), {},
     r"weight must be 3-D \(n_connections, kH, kW\) .* \(5, kH, kW\) here, got \(4, 3, 3\)"),
    (((2, 3, 6, 6), (1, 3, 3, 3), None, [(0, 1, 2)]), {}, r"weight must be 3-D"),
    (((2, 3, 6, 6), (3, 3, 3), (3,), [(0, 1), (2,)]), {}, r"bias must have shape \(2,\)"),
    (((2, 3, 6, 6), (3, 7, 7), None, [(0, 1), (2,)]), {}, r"kernel size can't be greater"),
    (((2, 3, 6, 6), (3, 3, 3), None, [(0, 1), (2,)]), dict(stride=0), r"stride must be positive"),
    (((2, 3, 6, 6), (3, 3, 3), None, [(0, 1), (2,)]), dict(dilation=0), r"dilation must be positive"),
    (((2, 3, 6, 6), (3, 3, 3), None, [(0, 1), (2,)]), dict(padding="same", stride=2), r"not supported"),
    (((3, 6, 6, 2, 1), (3, 3, 3), None, [(0, 1), (2,)]), {}, r"expected a 3-D .* or 4-D"),
])
def test_bad_input_is_rejected_with_the_op_and_shapes(args, kwargs, match):
    x_shape, w_shape, b_shape, table = args
    x, w = np.zeros(x_shape), np.zeros(w_shape)
    b = None if b_shape is None else np.zeros(b_shape)
    with pytest.raises(ValueError, match=match):
        sparse_conv2d(x, w, b, table, **kwargs)
    with pytest.raises(ValueError, match=match), F.textbook():
        sparse_conv2d(x, w, b, table, **kwargs)


def test_bad_types_are_rejected():
    x, w = np.zeros((1, 2, 4, 4)), np.zeros((2, 3, 3))
    with pytest.raises(TypeError, match=r"sparse_conv2d: input must be float32 or float64, got dtype int64"):
        sparse_conv2d(np.zeros((1, 2, 4, 4), np.int64), w, None, [(0, 1)])
    with pytest.raises(TypeError, match="share one dtype"):
        sparse_conv2d(x.astype(np.float32), w, None, [(0, 1)])
    with pytest.raises(TypeError, match=r"table must be a sequence of sequences of ints"):
        sparse_conv2d(x, w, None, [(0.0, 1)])
    with pytest.raises(TypeError, match=r"table must be a sequence of sequences of ints"):
        sparse_conv2d(x, w, None, 3)


# ======================================================================== empty shapes
@st.composite
def sparse_conv_case(draw, np_fn=sparse_conv2d):
    """LeNet-5's sparse C3 with an empty batch or empty images (channels and maps stay real:
    the connection table names them)."""
    n, c, maps = draw(edge.sizes), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    table = [tuple(draw(st.permutations(range(c)))[:draw(st.integers(1, c))]) for _ in range(maps)]
    k = draw(st.integers(1, 2))
    h, w = draw(edge.sizes), draw(edge.sizes)
    rng, dtype = np.random.default_rng(draw(st.integers(0, 2**16))), draw(edge.dtypes)
    args = [edge.normal(rng, (n, c, h, w), dtype), edge.normal(rng, (sum(map(len, table)), k, k), dtype),
            edge.normal(rng, (maps,), dtype), table]
    return np_fn, torch_sparse_conv2d, args, dict(padding=draw(st.integers(0, 1))), None


EMPTY_SHAPE_CASES = {
    "sparse_conv2d": sparse_conv_case(),
    "sparse_conv2d_naive": sparse_conv_case(sparse_conv2d_naive),
}


@pytest.mark.parametrize("case", sorted(EMPTY_SHAPE_CASES))
@given(data=st.data())
def test_zero_size_dimensions_follow_torch(case, data):
    edge.zero_size_dimensions_follow_torch(*data.draw(EMPTY_SHAPE_CASES[case]))


# =================================================================== non-finite values
def _sparse_conv2d_reference(x, w, b, table, **kwargs):
    """LeNet-5's sparse C3 in torch: one float64 reference conv per output map, concatenated."""
    outs, start = [], 0
    for j, inputs in enumerate(table):
        kernels = w[start:start + len(inputs)].unsqueeze(0)
        start += len(inputs)
        outs.append(edge.conv2d_reference(x[:, list(inputs)], kernels, b[j:j + 1], **kwargs))
    return torch.cat(outs, dim=1)


def _sparse_conv(rng, dtype, np_fn=sparse_conv2d):
    c, maps = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    table = [tuple(int(i) for i in rng.permutation(c)[:int(rng.integers(1, c + 1))]) for _ in range(maps)]
    n, k = int(rng.integers(1, 3)), int(rng.integers(1, 3))
    args = [edge.normal(rng, (n, c, 5, 5), dtype), edge.normal(rng, (sum(map(len, table)), k, k), dtype),
            edge.normal(rng, (maps,), dtype), table]
    kwargs = dict(stride=int(rng.integers(1, 3)), padding=int(rng.integers(0, 2)),
                  dilation=int(rng.integers(1, 3)))
    return dict(np_fn=np_fn, torch_fn=_sparse_conv2d_reference, args=args, kwargs=kwargs, poison=[0, 1, 2])


NON_FINITE_CASES = {
    "sparse_conv2d": _sparse_conv,
    # The loop-by-loop oracle must agree with torch on non-finite input too.
    "sparse_conv2d_naive": lambda rng, dtype: _sparse_conv(rng, dtype, sparse_conv2d_naive),
}


@pytest.mark.parametrize("case", sorted(NON_FINITE_CASES))
@given(**edge.NON_FINITE_DRAWS)
def test_non_finite_forward_and_backward_match_torch(case, seed, density, grad_density, dtype):
    edge.non_finite_forward_and_backward_match_torch(NON_FINITE_CASES[case], seed, density,
                                                     grad_density, dtype)


# -------------------------------------------------------------- sparse C3, non-finite maps
def _sparse_pair(dtype=np.float64, **kw):
    rng = np.random.default_rng(6)
    layer = models.SparseConv2d(6, 5, models.LECUN_C3_TABLE, dtype=dtype, generator=rng, **kw)
    twin = torch_models.SparseConv2d(6, 5, models.LECUN_C3_TABLE, **kw).to(
        torch.float64 if dtype == np.float64 else torch.float32)
    twin.load_state_dict({k: torch.from_numpy(v) for k, v in layer.state_dict().items()})
    return layer, twin


# inf * 0 in the maps that do read the infinite one: NumPy flags it, on purpose here.
@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
def test_sparse_conv_keeps_an_infinite_map_out_of_outputs_that_do_not_read_it():
    layer, twin = _sparse_pair()
    x = np.random.default_rng(8).standard_normal((2, 6, 14, 14))
    x[:, 5] = np.inf  # outputs 0, 1, 2, 6, 7 and 12 do not read map 5
    out = layer(x)
    t_out = twin(torch.from_numpy(x)).detach().numpy()
    assert_close(out, t_out, rtol=1e-12, atol=1e-14, what="output")
    assert np.isfinite(out[:, [0, 1, 2, 6, 7, 12]]).all()


# inf * 0 in the maps that do read the infinite one: NumPy flags it, on purpose here.
@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
def test_sparse_conv_gradient_with_an_infinite_upstream_map_stays_local():
    layer, twin = _sparse_pair()
    rng = np.random.default_rng(9)
    x = rng.standard_normal((2, 6, 14, 14))
    g = rng.standard_normal((2, 16, 10, 10))
    g[:, 0] = np.inf  # output 0 reads maps 0, 1, 2 only
    layer(x)
    gx = layer.backward(g)
    tx = torch.from_numpy(x.copy()).requires_grad_(True)
    twin(tx).backward(torch.from_numpy(g))
    assert_close(gx, tx.grad.numpy(), rtol=1e-12, atol=1e-14, what="input grad")
    assert np.isfinite(gx[:, 3:]).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_lenet5_original_training_step_matches_its_torch_twin(dtype):
    name = "lenet5-original"
    model = models.build(name, dtype=dtype)
    twin = torch_models.build(name).to(torch.float64 if dtype == np.float64 else torch.float32)
    twin.load_state_dict({k: torch.from_numpy(v) for k, v in model.state_dict().items()})
    rng = np.random.default_rng(10)
    x, y = rng.standard_normal((4, 1, 28, 28)).astype(dtype), rng.integers(0, 10, 4)
    criterion = models.criterion("cross_entropy")
    loss = criterion(model(x), y)
    model.backward(criterion.backward())
    t_loss = torch.nn.functional.cross_entropy(twin(torch.from_numpy(x)), torch.from_numpy(y))
    t_loss.backward()
    tol = dict(rtol=1e-4, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-12)
    assert_close(loss, t_loss.detach().numpy(), what="loss", **tol)
    t_params = dict(twin.named_parameters())
    for pname, p in model.named_parameters():
        assert p.grad.dtype == dtype
        assert_close(p.grad, t_params[pname].grad.numpy(), what=pname, **tol)
