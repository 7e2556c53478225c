"""SGD's tuned kernel equals its textbook rule, and the override seam the capstone uses.

:func:`scratchnet.optim.fast_sgd.sgd_step_` (in place, through a reused work array, in
L2-sized slices) must give :func:`scratchnet.optim.sgd.sgd_step`'s numbers bit for bit:
the same operations in the same order. Checked for every option combination, float32
and float64, arrays smaller and larger than a slice, sliced and unsliced, and
non-contiguous gradients (which take the whole-array route); then through
:class:`~scratchnet.optim.SGD` against torch.
"""
from __future__ import annotations

import itertools
import subprocess
import sys
import threading

import numpy as np
import pytest
import torch

from scratchnet import optim
from scratchnet.functional.fast._cache import l2_bytes
from scratchnet.nn import Parameter
from scratchnet.optim import fast_sgd
from scratchnet.optim.sgd import override_step, sgd_step

from helpers import assert_close

#: (momentum, dampening, nesterov): every combination torch accepts.
MOMENTA = [(0.0, 0.0, False), (0.9, 0.0, False), (0.9, 0.0, True), (0.5, 0.3, False)]
OPTIONS = [dict(momentum=m, dampening=d, nesterov=n, weight_decay=wd, maximize=mx)
           for (m, d, n), wd, mx in itertools.product(MOMENTA, (0.0, 1e-2), (False, True))]
SLICE = 7


def _grad(rng, shape, dtype, layout):
    """A random gradient of ``shape`` in ``layout``: C order, transposed, or a stepped slice."""
    if layout == "transposed":
        return rng.standard_normal(shape[::-1]).astype(dtype).T
    if layout == "stepped":
        return rng.standard_normal((shape[0] * 2,) + shape[1:]).astype(dtype)[::2]
    return rng.standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: "-".join(f"{k}={v}" for k, v in o.items()))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(2, 3), (SLICE,), (SLICE + 1,), (20, 11)],
                         ids=["smaller", "one-slice", "one-more", "many-slices"])
@pytest.mark.parametrize("layout", ["contiguous", "transposed", "stepped"])
@pytest.mark.parametrize("sliced", [True, False])
def test_kernel_equals_the_textbook_rule_bit_for_bit(monkeypatch, options, dtype, shape, layout, sliced):
    monkeypatch.setitem(fast_sgd._SLICE, "size", SLICE if sliced else None)
    rng = np.random.default_rng([*shape, ["contiguous", "transposed", "stepped"].index(layout)])
    theta = rng.standard_normal(shape).astype(dtype)
    param, buf = theta.copy(), None       # the kernel's, updated in place
    ref, ref_buf = theta.copy(), None     # the textbook's
    for step in range(3):
        grad = _grad(rng, shape, dtype, layout)
        kept = grad.copy()
        before_ref, before_buf = ref.copy(), None if ref_buf is None else ref_buf.copy()
        ref, ref_buf_new = sgd_step(ref, grad, ref_buf, lr=0.05, **options)
        # The textbook rule is pure: its arguments are untouched.
        np.testing.assert_array_equal(grad, kept)
        if ref_buf is not None:
            np.testing.assert_array_equal(ref_buf, before_buf)
        ref_buf = ref_buf_new
        out, buf_out = fast_sgd.sgd_step_(param, grad, buf, lr=0.05, **options)
        assert out is param and (buf is None or buf_out is buf)  # in place
        buf = buf_out
        np.testing.assert_array_equal(grad, kept)  # the kernel does not touch the gradient
        assert param.dtype == ref.dtype == dtype
        np.testing.assert_array_equal(param, ref, err_msg=f"step {step}")
        if options["momentum"] == 0:
            assert buf is None and ref_buf is None
        else:
            np.testing.assert_array_equal(buf, ref_buf, err_msg=f"buffer, step {step}")
        assert not np.array_equal(ref, before_ref)  # every step moves the parameter


def test_the_sliced_kernel_visits_every_slice(monkeypatch):
    # 23 elements in slices of 7: four slices, the last one of 2 elements.
    monkeypatch.setitem(fast_sgd._SLICE, "size", SLICE)
    param = np.zeros(23)
    fast_sgd.sgd_step_(param, np.ones(23), None, lr=1.0)
    np.testing.assert_array_equal(param, -np.ones(23))
    pieces = list(fast_sgd._slices((np.zeros(23), np.zeros(23), None, np.zeros(23)), SLICE))
    assert [p[0].size for p in pieces] == [7, 7, 7, 2] and all(p[2] is None for p in pieces)
    assert len(list(fast_sgd._slices((np.zeros(7),), SLICE))) == 1
    assert len(list(fast_sgd._slices((np.zeros(8),), SLICE))) == 2
    assert len(list(fast_sgd._slices((np.zeros(8), np.zeros((4, 2)).T), SLICE))) == 1


@pytest.mark.parametrize("l2,expected", [
    (2 << 20, 1 << 16),          # four 64Ki-element float32 slices fill half of a 2 MiB L2
    ((2 << 20) - 1, None),       # one byte less: 32Ki-element slices, too small to pay
    (4 << 20, 1 << 17),
    (3 << 20, 1 << 16),          # rounded down to a power of two
    (512 << 10, None),           # 16Ki-element slices would cost more than they save
    (None, None),                # unknown: whole arrays
    (0, None),
])
def test_slices_only_where_the_l2_holds_large_slices(l2, expected):
    assert fast_sgd.slice_size(l2) == expected


def test_l2_size_is_read_lazily_and_none_where_it_cannot_be():
    """Both kernels that size their blocks by the L2 (this update, conv2d's slices) probe it
    at their first call, not at import."""
    assert l2_bytes(cpu=10**6) is None  # no such CPU in sysfs
    code = ("import numpy as np\nimport scratchnet.functional as F\nfrom scratchnet import optim, nn\n"
            "from scratchnet.functional.fast import conv\nfrom scratchnet.optim import fast_sgd\n"
            "assert fast_sgd._SLICE == {} and conv._L2 == {}, 'probed at import'\n"
            "p = nn.Parameter(np.ones(3)); p.grad = np.ones(3)\n"
            "optim.SGD([p], lr=0.1).step()\n"
            "assert 'size' in fast_sgd._SLICE and conv._L2 == {}\n"
            "F.conv2d(np.ones((1, 1, 3, 3)), np.ones((1, 1, 2, 2)))\n"
            "assert set(conv._L2) == {'bytes'}\n")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_work_arrays_are_per_thread():
    seen = {}

    def grab(name):
        seen[name] = fast_sgd._work_array(np.zeros(5, np.float32))

    threads = [threading.Thread(target=grab, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not np.shares_memory(seen["a"], seen["b"])
    here = fast_sgd._work_array(np.zeros((2, 3), np.float64))
    assert here.shape == (2, 3) and here.dtype == np.float64
    assert np.shares_memory(here, fast_sgd._work_array(np.zeros(4, np.float64)))  # reused


def test_every_slice_takes_the_same_slice_sized_work_array(monkeypatch):
    """The scratch for -lr*g is one slice long and reused slice after slice (so it stays in
    L2), not a parameter-sized array cut into slices that each come from memory."""
    monkeypatch.setitem(fast_sgd._SLICE, "size", SLICE)
    sizes = {}

    def update():  # in a fresh thread: a work array of its own, grown only by this update
        fast_sgd.sgd_step_(np.zeros(23, np.float32), np.ones(23, np.float32), None, lr=1.0,
                           momentum=0.9)
        sizes["work"] = fast_sgd._WORK.by_dtype[np.dtype(np.float32)].size

    thread = threading.Thread(target=update)
    thread.start()
    thread.join()
    assert sizes["work"] == SLICE


@pytest.mark.parametrize("options", OPTIONS[::3] + OPTIONS[-1:],
                         ids=lambda o: "-".join(f"{k}={v}" for k, v in o.items()))
def test_sgd_runs_the_kernel_by_default_and_equals_the_textbook_and_torch(monkeypatch, options):
    monkeypatch.setitem(fast_sgd._SLICE, "size", SLICE)
    rng = np.random.default_rng(11)
    shapes = [((20, 11), np.float32), ((3,), np.float64), ((11, 20), np.float64)]
    values = [rng.standard_normal(s).astype(d) for s, d in shapes]
    runs = []
    for textbook in (False, True):
        params = [Parameter(v.copy()) for v in values]
        views = [p.data[:1] for p in params]
        twins = [torch.nn.Parameter(torch.from_numpy(v.copy())) for v in values]
        opt = optim.SGD(params, lr=0.05, **options)
        topt = torch.optim.SGD(twins, lr=0.05, **options)
        grads = np.random.default_rng(12)
        for _ in range(4):
            for i, (p, t) in enumerate(zip(params, twins)):
                g = grads.standard_normal(p.shape[::-1] if i == 2 else p.shape).astype(p.dtype)
                g = g.T if i == 2 else g  # a non-contiguous gradient
                p.grad, t.grad = g, torch.from_numpy(g.copy())
            if textbook:
                with override_step(sgd_step):
                    opt.step()
            else:
                opt.step()
            topt.step()
        for p, t, view in zip(params, twins, views):
            np.testing.assert_array_equal(view, p.data[:1])  # updated in place: views follow
            tol = dict(rtol=1e-5, atol=1e-6) if p.dtype == np.float32 else dict(rtol=1e-12, atol=1e-14)
            assert_close(p.data, t.detach().numpy(), what="param", **tol)
        runs.append([p.data.copy() for p in params] + [opt.state[p].get("momentum_buffer") for p in params])
    for kernel, textbook in zip(*runs):
        np.testing.assert_array_equal(kernel, textbook)


def test_override_step_runs_the_rule_it_is_given_and_nests():
    calls = []

    def halve(param, grad, momentum_buffer, **hyper):
        calls.append((param.shape, sorted(hyper)))
        return param / 2, None

    def zero(param, grad, momentum_buffer, **hyper):
        return np.zeros_like(param), np.ones_like(param)

    p = Parameter(np.full(3, 8.0))
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    p.grad = np.ones(3)
    with override_step(halve):
        opt.step()
        with override_step(zero):
            opt.step()
        np.testing.assert_array_equal(p.data, np.zeros(3))
        np.testing.assert_array_equal(opt.state[p]["momentum_buffer"], np.ones(3))
        p.data[...] = 8.0
        opt.step()  # the outer override is back
    np.testing.assert_array_equal(p.data, np.full(3, 4.0))
    assert calls == [((3,), ["dampening", "lr", "maximize", "momentum", "nesterov", "weight_decay"])] * 2
    opt.step()  # and the kernel after the block: 4 - 0.1 * (0.9 * 1 + 1)
    np.testing.assert_allclose(p.data, 4.0 - 0.1 * 1.9)
    with pytest.raises(TypeError, match="override_step: step must be callable"):
        with override_step(None):
            pass


def test_override_step_is_restored_after_an_error():
    p = Parameter(np.ones(2))
    p.grad = np.ones(2)

    def broken(*args, **kwargs):
        raise ArithmeticError("learner's bug")

    with pytest.raises(ArithmeticError):
        with override_step(broken):
            optim.SGD([p], lr=0.5).step()
    optim.SGD([p], lr=0.5).step()
    np.testing.assert_array_equal(p.data, np.full(2, 0.5))


# -------------------------------------------------------------- SGD's work array
@pytest.mark.parametrize("momentum,nesterov,dampening,weight_decay,maximize", [
    (0.0, False, 0.0, 0.0, False), (0.9, False, 0.0, 0.0, False), (0.9, True, 0.0, 1e-2, False),
    (0.5, False, 0.3, 0.0, True),
])
def test_sgd_updates_params_of_mixed_sizes_and_dtypes_as_torch(momentum, nesterov, dampening,
                                                               weight_decay, maximize):
    rng = np.random.default_rng(5)
    shapes = [((7, 5), np.float32), ((3,), np.float64), ((20, 11), np.float32), ((4, 4), np.float64)]
    params = [Parameter(rng.standard_normal(s).astype(d)) for s, d in shapes]
    twins = [torch.nn.Parameter(torch.from_numpy(p.data.copy())) for p in params]
    kw = dict(lr=0.05, momentum=momentum, nesterov=nesterov, dampening=dampening,
              weight_decay=weight_decay, maximize=maximize)
    opt, topt = optim.SGD(params, **kw), torch.optim.SGD(twins, **kw)
    for _ in range(4):
        for p, t in zip(params, twins):
            g = rng.standard_normal(p.shape).astype(p.dtype)
            p.grad, t.grad = g, torch.from_numpy(g.copy())
        opt.step()
        topt.step()
    for p, t in zip(params, twins):
        assert p.data.dtype == t.detach().numpy().dtype
        tol = dict(rtol=1e-5, atol=1e-6) if p.dtype == np.float32 else dict(rtol=1e-12, atol=1e-14)
        assert_close(p.data, t.detach().numpy(), what="param", **tol)
