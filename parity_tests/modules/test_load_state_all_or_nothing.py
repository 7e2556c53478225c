"""``Module.load_state_dict`` loads everything or nothing.

Hypothesis takes a lecture model's own state_dict, fills it with new values, damages a
random set of entries (a missing key, an extra key, a wrong shape, a non-numeric
value) in random places of the key order, and loads it into a fresh model. Whatever
was damaged, the load must raise one error listing every problem and leave every
parameter and buffer exactly as it was (same arrays, same bits): the entries checked
before the damaged one must not have been copied in. Torch itself leaves the model
half-loaded here; strict=False with only missing/extra keys still loads the rest, as
torch does.
"""
import re
from collections import OrderedDict

import numpy as np
import pytest
import torch
from hypothesis import given, strategies as st

from scratchnet import models, nn

MODELS = ["mlp3", "lenet5", "basic-cnn"]


def _arrays(model):
    """Every parameter's ``.data`` and every buffer, by state_dict key (the objects)."""
    return {k: getattr(v, "data", v) for k, v in model.state_dict(keep_vars=True).items()}


def _snapshot(model):
    return {k: (a, a.copy()) for k, a in _arrays(model).items()}


def _assert_unchanged(model, snapshot):
    now = _arrays(model)
    for key, (array, copy) in snapshot.items():
        assert now[key] is array, f"{key}: array replaced"
        np.testing.assert_array_equal(array, copy, err_msg=key)


_MODELS: dict = {}


def _model(name):
    if name not in _MODELS:
        _MODELS[name] = models.build(name, seed=0)
    return _MODELS[name]


DAMAGES = ["missing", "extra", "shape", "text", "object", "complex"]


def _damage(state, kind, key, rng):
    if kind == "missing":
        del state[key]
        return rf'Missing key\(s\) in state_dict: .*"{re.escape(key)}"'
    if kind == "extra":
        state[key + "_extra"] = np.zeros(3)
        return rf'Unexpected key\(s\) in state_dict: .*"{re.escape(key)}_extra"'
    if kind == "shape":
        state[key] = np.zeros(state[key].shape + (2,), state[key].dtype)
        return f"size mismatch for {re.escape(key)}"
    if kind == "text":
        state[key] = "weights"
        return f'copying the parameter named "{re.escape(key)}"'
    if kind == "object":
        state[key] = np.array([None, 1], dtype=object)
        return f'copying the parameter named "{re.escape(key)}".*object'
    state[key] = state[key].astype(np.complex64)
    return f'copying the parameter named "{re.escape(key)}".*complex'


@given(name=st.sampled_from(MODELS), seed=st.integers(0, 2**32 - 1),
       damages=st.lists(st.tuples(st.sampled_from(DAMAGES), st.floats(0, 1)), min_size=1, max_size=3),
       assign=st.booleans())
def test_a_damaged_state_dict_loads_nothing(name, seed, damages, assign):
    rng = np.random.default_rng(seed)
    model = _model(name)  # reused: a failed load must leave it as it was anyway
    state = OrderedDict((k, rng.standard_normal(v.shape).astype(v.dtype))
                        for k, v in model.state_dict().items())
    keys = list(state)
    patterns, damaged = [], set()
    for kind, where in damages:
        key = keys[min(int(where * len(keys)), len(keys) - 1)]
        if key not in damaged:
            damaged.add(key)
            patterns.append(_damage(state, kind, key, rng))
    snapshot = _snapshot(model)
    with pytest.raises(RuntimeError, match="Error\\(s\\) in loading state_dict") as info:
        model.load_state_dict(state, assign=assign)
    for pattern in patterns:
        assert re.search(pattern, str(info.value)), (pattern, str(info.value))
    _assert_unchanged(model, snapshot)


def test_the_last_entry_wrong_leaves_the_first_ones_alone():
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    before = {k: v.copy() for k, v in model.state_dict().items()}
    state = {k: np.full(v.shape, 7.0, np.float32) for k, v in before.items()}
    state["2.bias"] = np.zeros(3, np.float32)
    with pytest.raises(RuntimeError, match=r"size mismatch for 2\.bias"):
        model.load_state_dict(state)
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, before[k], err_msg=k)


@pytest.mark.parametrize("damage", ["missing", "extra"])
def test_non_strict_still_loads_what_matches_as_torch(damage):
    model = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    twin = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 2))
    state = OrderedDict((k, np.full(v.shape, 0.5, np.float32)) for k, v in model.state_dict().items())
    if damage == "missing":
        del state["1.weight"]
    else:
        state["2.weight"] = np.zeros(1, np.float32)
    result = model.load_state_dict(state, strict=False)
    t_result = twin.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()}, strict=False)
    assert result.missing_keys == t_result.missing_keys
    assert result.unexpected_keys == t_result.unexpected_keys
    loaded = [k for k in state if k in model.state_dict()]
    assert loaded
    for k in loaded:  # what matched is loaded, by both
        np.testing.assert_array_equal(model.state_dict()[k], state[k], err_msg=k)
        np.testing.assert_array_equal(twin.state_dict()[k].numpy(), state[k], err_msg=k)
