"""scratchnet.data.CSVDataset on small generated Otto-style files, checked against pandas."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import scratchnet.data as D


def write_otto(path: Path, n=40, n_features=6, n_classes=10, seed=0) -> pd.DataFrame:
    """An Otto-shaped CSV: id, feat_1..feat_F (counts), target Class_1..Class_K."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"id": np.arange(1, n + 1)})
    for j in range(1, n_features + 1):
        frame[f"feat_{j}"] = rng.integers(0, 60, n)
    classes = [f"Class_{k}" for k in range(1, n_classes + 1)]
    codes = np.concatenate([np.arange(n_classes), rng.integers(0, n_classes, n - n_classes)])  # every class present
    frame["target"] = [classes[k] for k in codes]
    frame.to_csv(path, index=False)
    return frame


def test_otto_style_file(tmp_path):
    path = tmp_path / "train.csv"
    frame = write_otto(path)
    ds = D.CSVDataset(path, target_column="target", drop_columns=("id",))
    reference = pd.read_csv(path)
    features = reference.drop(columns=["id", "target"]).to_numpy(np.float32)
    assert ds.features.dtype == np.float32 and ds.features.shape == (40, 6)
    np.testing.assert_array_equal(ds.features, features)
    # Natural order: Class_2 before Class_10 (plain string sorting would invert them).
    assert ds.classes == [f"Class_{k}" for k in range(1, 11)]
    assert ds.class_to_idx["Class_10"] == 9
    assert ds.targets.dtype == np.int64
    np.testing.assert_array_equal(ds.targets, [ds.classes.index(c) for c in frame["target"]])
    assert ds.feature_names == [f"feat_{j}" for j in range(1, 7)]
    x, y = ds[3]
    np.testing.assert_array_equal(x, features[3])
    assert ds.classes[y] == frame["target"][3]
    batches = list(D.DataLoader(ds, batch_size=16, shuffle=True, seed=0))
    assert [b[0].shape for b in batches] == [(16, 6), (16, 6), (8, 6)]
    assert sorted(np.concatenate([b[1] for b in batches]).tolist()) == sorted(ds.targets.tolist())


def test_defaults_last_column_is_target_and_float64(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,b,label\n0.1,2,yes\n-3.5e2,4,no\n7,nan,yes\n")
    ds = D.CSVDataset(path, dtype=np.float64)
    assert ds.classes == ["no", "yes"]
    np.testing.assert_array_equal(ds.targets, [1, 0, 1])
    assert ds.features.dtype == np.float64
    np.testing.assert_array_equal(ds.features, [[0.1, 2], [-350, 4], [7, np.nan]])
    single = D.CSVDataset(path)
    assert single.features.dtype == np.float32 and single.features[0, 0] == np.float32(0.1)
    with pytest.raises(TypeError, match="float32 or float64"):
        D.CSVDataset(path, dtype=np.int32)


def test_numeric_labels_sort_by_value_and_given_classes(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("x,y\n1,10\n2,2\n3,-1\n4,2\n")
    ds = D.CSVDataset(path, target_column="y")
    assert ds.classes == ["-1", "2", "10"]
    np.testing.assert_array_equal(ds.targets, [2, 1, 0, 1])
    fixed = D.CSVDataset(path, target_column="y", classes=["10", "2", "-1", "7"])
    np.testing.assert_array_equal(fixed.targets, [0, 1, 2, 1])
    assert fixed.classes == ["10", "2", "-1", "7"]
    with pytest.raises(ValueError, match=r"class\(es\) '-1' not in the given classes"):
        D.CSVDataset(path, target_column="y", classes=["2", "10"])
    with pytest.raises(ValueError, match="duplicates"):
        D.CSVDataset(path, target_column="y", classes=["2", "2", "10", "-1"])


def test_sort_classes():
    assert D.sort_classes(["Class_10", "Class_9", "Class_1"]) == ["Class_1", "Class_9", "Class_10"]
    assert D.sort_classes(["b", "a10", "a2", "A"]) == ["A", "a2", "a10", "b"]
    assert D.sort_classes(["2.5", "-1", "10"]) == ["-1", "2.5", "10"]
    assert D.sort_classes(["nan", "1"]) == ["1", "nan"]


def test_blank_lines_bom_and_whitespace(tmp_path):
    path = tmp_path / "t.csv"
    path.write_bytes("\ufeffid , f1,f2,target\n\n1, 1.5 ,2,Class_2\n\n2,3,4, Class_1\n".encode("utf-8"))
    ds = D.CSVDataset(path, target_column="target", drop_columns="id")
    np.testing.assert_array_equal(ds.features, np.array([[1.5, 2], [3, 4]], np.float32))
    assert ds.classes == ["Class_1", "Class_2"]
    np.testing.assert_array_equal(ds.targets, [1, 0])


@pytest.mark.parametrize(
    "content, kwargs, message",
    [
        ("", {}, r"is empty \(no header row\)"),
        ("a,b,target\n", {}, "has a header but no data rows"),
        ("a,b,target\n1,2,x\n", {"target_column": "label"}, r"no column 'label'; columns are a, b, target"),
        ("a,b,target\n1,2,x\n", {"drop_columns": ("id",)}, "no column 'id'"),
        ("a,b,target\n1,2,x\n3,oops,y\n", {}, r"line 3, feature column 'b': non-numeric value 'oops'"),
        ("a,b,target\n1,,x\n", {}, r"line 2, feature column 'b': an empty \(missing\) value"),
        ("a,b,target\n1,2,x\n1,2\n", {}, "line 3 has 2 fields, the header has 3"),
        ("a,b,target\n1,2,\n", {}, "empty value in target column 'target'"),
        ("a,b,target\n1,2,x\n", {"drop_columns": ("target",)}, "also in drop_columns"),
        ("a,target\n1,x\n", {"drop_columns": ("a",)}, "leaves no feature column"),
        ("a,a,target\n1,2,x\n", {"drop_columns": ("a",)}, "more than one column named 'a'"),
    ],
)
def test_errors_name_the_problem(tmp_path, content, kwargs, message):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(ValueError, match=message) as info:
        D.CSVDataset(path, **kwargs)
    assert "bad.csv" in str(info.value) or "drop_columns" in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        D.CSVDataset(tmp_path / "absent.csv")


def test_large_file_spans_several_parse_chunks(tmp_path):
    path = tmp_path / "big.csv"
    frame = write_otto(path, n=20000, n_features=3, n_classes=9, seed=1)
    ds = D.CSVDataset(path, target_column="target", drop_columns=["id"])
    np.testing.assert_array_equal(ds.features, frame[["feat_1", "feat_2", "feat_3"]].to_numpy(np.float32))
    codes = pd.Categorical(frame["target"], categories=ds.classes).codes
    np.testing.assert_array_equal(ds.targets, codes)
    path.write_text(path.read_text() + "20001,1,bad,3,Class_1\n")
    with pytest.raises(ValueError, match="line 20002, feature column 'feat_2'"):
        D.CSVDataset(path, target_column="target", drop_columns=["id"])
