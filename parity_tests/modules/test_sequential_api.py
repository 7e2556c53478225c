"""``nn.Sequential``'s and ``nn.ModuleList``'s list API against torch's, operation by operation.

The same operation runs on a scratchnet container and on its torch twin (built from the
same layer types, each layer of a distinct size so that order shows); afterwards both
must agree on length, layer order, keys, ``state_dict`` keys and repr (scratchnet
claims torch's repr exactly, including ModuleList's ``(1-3): 3 x Linear(...)``), and
a refused operation must raise the same exception type. Every index from ``-n - 1``
to ``n`` is tried, so an off-by-one in a bound or a sign fails here. Then the chain
seam :func:`scratchnet.nn.override_chain`.
"""
from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest
import torch

import scratchnet.nn as nn

N = 5  # layers in the container under test


def layers(ns, start=0, count=N):
    """``count`` layers whose reprs all differ: Linear(i, i + 1), with a Tanh every third."""
    return [ns.Tanh() if i % 3 == 2 else ns.Linear(i + 1, i + 2) for i in range(start, start + count)]


def make(ns, container, modules):
    """``ns.Sequential(*modules)`` or ``ns.ModuleList(modules)``."""
    return ns.Sequential(*modules) if container == "Sequential" else ns.ModuleList(modules)


def both(build):
    return build(nn), build(torch.nn)


def keys(container):
    return list(container._modules.keys())


def assert_same(ours, theirs):
    assert type(ours).__name__ == type(theirs).__name__
    assert len(ours) == len(theirs)
    assert [type(m).__name__ for m in ours] == [type(m).__name__ for m in theirs]
    assert keys(ours) == keys(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert repr(ours) == repr(theirs)


def run_both(container, operation):
    """``operation(ns, container)`` on a scratchnet and a torch container; the results, or the errors."""
    ours, theirs = both(lambda ns: make(ns, container, layers(ns)))
    outcome = []
    for ns, c in ((nn, ours), (torch.nn, theirs)):
        try:
            outcome.append(("ok", operation(ns, c)))
        except Exception as exc:  # noqa: BLE001 - the two sides must raise alike
            outcome.append(("raised", type(exc)))
    (kind, ours_result), (tkind, theirs_result) = outcome
    assert kind == tkind, (ours_result, theirs_result)
    if kind == "raised":
        assert ours_result is theirs_result
    assert_same(ours, theirs)
    return ours_result, theirs_result, kind


INDICES = range(-N - 1, N + 1)
SLICES = [slice(1, 3), slice(None, None, -1), slice(None, None, 2), slice(-2, None), slice(N, None),
          slice(1, -1), slice(-4, -1, 2), slice(None, 0)]


@pytest.mark.parametrize("container", ["Sequential", "ModuleList"])
@pytest.mark.parametrize("index", INDICES)
def test_indexing_every_index_and_one_past_either_end(container, index):
    ours, theirs, kind = run_both(container, lambda ns, c: c[index])
    if kind == "ok":
        assert repr(ours) == repr(theirs)
        assert kind == "ok" and -N <= index < N
    else:
        assert theirs is IndexError and not -N <= index < N


@pytest.mark.parametrize("container", ["Sequential", "ModuleList"])
@pytest.mark.parametrize("index", SLICES, ids=str)
def test_slicing_returns_the_same_container_with_the_same_keys(container, index):
    ours, theirs, _ = run_both(container, lambda ns, c: c[index])
    assert_same(ours, theirs)


@pytest.mark.parametrize("container", ["Sequential", "ModuleList"])
@pytest.mark.parametrize("index", INDICES)
def test_insert_at_every_index(container, index):
    ours, theirs, kind = run_both(container, lambda ns, c: c.insert(index, ns.Linear(40, 41)))
    if kind == "ok" and container == "Sequential":
        assert isinstance(ours, nn.Sequential)  # returns self, as torch's


@pytest.mark.parametrize("container", ["Sequential", "ModuleList"])
@pytest.mark.parametrize("index", list(INDICES) + SLICES, ids=str)
def test_del_every_index_and_slice_renumbers(container, index):
    def delete(ns, c):
        del c[index]

    run_both(container, delete)


@pytest.mark.parametrize("container", ["Sequential", "ModuleList"])
@pytest.mark.parametrize("index", INDICES)
def test_setitem_every_index(container, index):
    def put(ns, c):
        c[index] = ns.Linear(30, 31)

    run_both(container, put)


@pytest.mark.parametrize("container", ["Sequential", "ModuleList"])
@pytest.mark.parametrize("index", list(INDICES) + [slice(1, 3)], ids=str)
def test_pop_returns_the_layer_and_renumbers(container, index):
    ours, theirs, kind = run_both(container, lambda ns, c: c.pop(index))
    if kind == "ok":
        assert repr(ours) == repr(theirs)


@pytest.mark.parametrize("container", ["Sequential", "ModuleList"])
def test_append_chain_extend_and_add(container):
    def grow(ns, c):
        c.append(ns.Linear(20, 21)).append(ns.ReLU())
        c.extend(layers(ns, start=10, count=3))
        c.extend(make(ns, container, layers(ns, start=14, count=2)))
        return None

    run_both(container, grow)
    ours, theirs, _ = run_both(container, lambda ns, c: c + make(ns, container, layers(ns, start=20, count=2)))
    assert_same(ours, theirs)
    assert len(ours) == N + 2

    def iadd(ns, c):
        c += make(ns, container, layers(ns, start=30, count=3))

    run_both(container, iadd)


def test_extend_offsets_the_keys_of_a_slice_like_torch():
    # A slice keeps its keys ("2", "3", "4"); append names by length ("3"), replacing.
    def sliced_then_extended(ns, c):
        part = c[2:]
        part.extend([ns.Linear(50, 51), ns.Linear(51, 52)])
        return part

    ours, theirs, _ = run_both("Sequential", sliced_then_extended)
    assert_same(ours, theirs)
    assert keys(ours) == ["2", "3", "4"]


def test_adding_anything_but_a_sequential_is_refused_like_torch():
    run_both("Sequential", lambda ns, c: c + [ns.ReLU()])

    def iadd(ns, c):
        c += [ns.ReLU()]

    run_both("Sequential", iadd)


def test_named_sequential_keeps_its_names_through_slices_and_appends():
    def build(ns):
        return ns.Sequential(OrderedDict(conv=ns.Conv2d(1, 2, 3), relu=ns.ReLU(), fc=ns.Linear(3, 4)))

    ours, theirs = both(build)
    assert_same(ours, theirs)
    assert_same(ours[1:], theirs[1:])
    for c, ns in ((ours, nn), (theirs, torch.nn)):
        c.append(ns.Tanh())
        del c[0]
    assert_same(ours, theirs)
    assert keys(ours) == ["0", "1", "2"]  # a deletion renumbers, names and all, as torch's


def test_module_list_repr_compresses_repeated_blocks_like_torch():
    def build(ns):
        return ns.ModuleList([ns.ReLU(), ns.Linear(2, 3), ns.Linear(2, 3), ns.Linear(2, 3),
                              ns.Tanh(), ns.Tanh(), ns.Linear(2, 3)])

    ours, theirs = both(build)
    assert repr(ours) == repr(theirs)
    assert "(1-3): 3 x Linear(in_features=2, out_features=3, bias=True)" in repr(ours)
    assert "(4-5): 2 x Tanh()" in repr(ours)
    assert repr(nn.ModuleList()) == repr(torch.nn.ModuleList()) == "ModuleList()"
    # Sequential prints every layer, as torch's does.
    ours, theirs = both(lambda ns: ns.Sequential(*[ns.Linear(2, 3) for _ in range(3)]))
    assert repr(ours) == repr(theirs) and "x Linear" not in repr(ours)


def test_module_list_extend_refuses_a_non_iterable_like_torch():
    run_both("ModuleList", lambda ns, c: c.extend(ns.ReLU()))


# ------------------------------------------------------------------ override_chain
def _chain_of_last_backwards(calls):
    def chain(seq, input):
        calls.append(len(seq))
        for layer in seq:
            input = layer(input)

        def backward(grad_out):
            for layer in reversed(list(seq)):
                grad_out = layer.backward(grad_out)
            return grad_out

        return input, backward

    return chain


def test_override_chain_runs_the_chain_given_with_the_same_numbers():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 3))
    g = rng.standard_normal((4, 2))
    grads = []
    calls = []
    for overridden in (False, True):
        nn.manual_seed(0)
        model = nn.Sequential(nn.Linear(3, 5, dtype=np.float64), nn.Tanh(), nn.Linear(5, 2, dtype=np.float64))
        if overridden:
            with nn.override_chain(_chain_of_last_backwards(calls)):
                out = model(x)
        else:
            out = model(x)
        gx = model.backward(g)
        grads.append([out, gx] + [p.grad for p in model.parameters()])
    assert calls == [3]
    for a, b in zip(*grads):
        np.testing.assert_array_equal(a, b)


def test_override_chain_nests_restores_and_leaves_no_grad_to_sequential():
    outer, inner = [], []
    model = nn.Sequential(nn.Linear(2, 2), nn.ReLU())
    x = np.ones((1, 2), np.float32)
    with nn.override_chain(_chain_of_last_backwards(outer)):
        model(x)
        with nn.override_chain(_chain_of_last_backwards(inner)):
            model(x)
        model(x)
        with nn.no_grad():
            model(x)  # nothing to chain: Sequential's own loop
    model(x)
    assert outer == [2, 2] and inner == [2]
    with pytest.raises(TypeError, match="override_chain: chain must be callable"):
        with nn.override_chain("not a function"):
            pass


def test_override_chain_checks_the_gradient_it_is_given():
    model = nn.Sequential(nn.Linear(2, 3))
    with nn.override_chain(_chain_of_last_backwards([])):
        model(np.ones((4, 2), np.float32))
    with pytest.raises(ValueError, match=r"\(4, 3\)"):
        model.backward(np.ones((4, 2), np.float32))
