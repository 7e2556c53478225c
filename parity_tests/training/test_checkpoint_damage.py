"""Damaged checkpoint files: one clear ``CheckpointError`` naming the file, never NumPy's own.

A checkpoint is an ``.npz`` (a zip of ``.npy`` members). Hypothesis truncates a real
one anywhere, overwrites bytes anywhere, or appends junk; loading it must either give
back exactly the saved arrays (damage in bytes nothing reads, such as a timestamp) or
raise :class:`scratchnet.checkpoint.CheckpointError` naming the file. The other kinds of
wrong file are spelled out below.
"""
import io
import zipfile

import numpy as np
import pytest
from hypothesis import given, strategies as st

from scratchnet import checkpoint, models
from scratchnet.checkpoint import CheckpointError


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt") / "good.npz"
    model = models.build("basic-cnn", seed=3)
    checkpoint.save(model, path)
    return path.read_bytes(), model.state_dict()


def _load_bytes(tmp_path, data, name="damaged.npz"):
    path = tmp_path / name
    path.write_bytes(data)
    return path, (lambda: checkpoint.load(path))


def _loads_intact_or_fails_clearly(path, load, original):
    try:
        state = load()
    except CheckpointError as err:
        assert str(path) in str(err), err
        return False
    assert list(state) == list(original)
    for key, value in original.items():
        np.testing.assert_array_equal(state[key], value, err_msg=key)
        assert state[key].dtype == value.dtype
    return True


@given(cut=st.floats(0, 1, exclude_max=True))
def test_truncated_anywhere(tmp_path_factory, saved, cut):
    data, original = saved
    path, load = _load_bytes(tmp_path_factory.mktemp("t"), data[:int(cut * len(data))])
    assert not _loads_intact_or_fails_clearly(path, load, original)


@given(where=st.floats(0, 1, exclude_max=True), junk=st.binary(min_size=1, max_size=16))
def test_bytes_overwritten_anywhere(tmp_path_factory, saved, where, junk):
    data, original = saved
    at = int(where * len(data))
    damaged = data[:at] + junk + data[at + len(junk):]
    path, load = _load_bytes(tmp_path_factory.mktemp("o"), damaged[:len(data)])
    _loads_intact_or_fails_clearly(path, load, original)


def _npz_bytes(**arrays):
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _npy_bytes(array):
    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()


def _zip_bytes(**members):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, content in members.items():
            z.writestr(name, content)
    return buf.getvalue()


@pytest.mark.parametrize("data,reason", [
    (b"", "is empty"),
    (b"conv1.weight,0.5\n", "is not an .npz archive"),
    ("pesos: 0,5 \u00e9\n".encode("latin-1"), "is not an .npz archive"),
    (_npy_bytes(np.zeros(3)), "is a single .npy array"),
    (_npz_bytes(w=np.array([None, 1], dtype=object)), "entry 'w' holds pickled Python objects"),
    (_npz_bytes(w=np.array(["a", "b"])), "entry 'w' has dtype <U1"),
    (_zip_bytes(**{"README.txt": "hello"}), "member 'README.txt' is not a .npy array"),
    (_zip_bytes(**{"w.npy": _npy_bytes(np.zeros((1000, 1000)))[:200]}), "entry 'w' is damaged"),
], ids=["empty", "text", "latin-1", "npy", "object", "strings", "zip-of-text", "short-entry"])
def test_each_kind_of_wrong_file_says_what_it_is(tmp_path, data, reason):
    path, load = _load_bytes(tmp_path, data)
    with pytest.raises(CheckpointError, match=reason) as info:
        load()
    assert str(path) in str(info.value)


def test_a_header_promising_a_huge_array_is_refused_before_allocating(tmp_path):
    huge = _npy_bytes(np.zeros(4)).replace(b"'shape': (4,), ", b"'shape': (999999999999,),")
    assert b"999999999999" in huge
    path, load = _load_bytes(tmp_path, _zip_bytes(**{"w.npy": huge}))
    with pytest.raises(CheckpointError, match=r"entry 'w' is damaged: its header says shape \(999999999999,\)"):
        load()


def test_missing_file_and_directory_stay_os_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.npz"):
        checkpoint.load(tmp_path / "nope.npz")
    with pytest.raises(IsADirectoryError):
        checkpoint.load(tmp_path)


def test_a_damaged_file_leaves_the_model_alone(tmp_path, saved):
    data, original = saved
    model = models.build("basic-cnn", seed=4)
    before = {k: v.copy() for k, v in model.state_dict().items()}
    path, _ = _load_bytes(tmp_path, data[:len(data) // 2])
    with pytest.raises(CheckpointError):
        checkpoint.load(path, model)
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, before[k])


def test_save_refuses_what_load_would_refuse(tmp_path):
    with pytest.raises(TypeError, match="'w' is not a numeric array"):
        checkpoint.save({"w": np.array(["a"])}, tmp_path / "x.npz")
