"""``python -m benchmarks.per_call`` runs end to end: workers in turns, a table and the JSON."""
from __future__ import annotations

import json

import pytest

from benchmarks import per_call


def test_every_case_is_built_by_both_engines():
    names = [c for c, _ in per_call.CASES]
    assert len(names) == len(set(names)) and not any("," in n for n in names)  # --cases splits on commas
    numpy_calls = per_call.numpy_calls()
    assert set(numpy_calls) == set(names)
    pytest.importorskip("torch")
    assert set(per_call.torch_calls()) == set(names)


def test_a_small_run_writes_the_table_and_the_json(tmp_path):
    pytest.importorskip("torch")
    cases = "ReLU,CrossEntropyLoss"
    assert per_call.main(["--rounds", "2", "--reps", "3", "--warmup", "1", "--cases", cases,
                          "--out", str(tmp_path)]) == 0
    data = json.loads((tmp_path / "per_call.json").read_text())
    assert data["engines"] == ["numpy", "torch"] and data["rounds"] == 2
    for case in cases.split(","):
        for engine in ("numpy", "torch"):
            r = data["results"][case][engine]
            assert len(r["round_min_s"]) == 2 and 0 < r["min_s"] <= r["median_s"]
    table = (tmp_path / "PER_CALL.md").read_text()
    assert "| ReLU |" in table and "numpy / torch (min)" in table


def test_numpy_base_needs_a_baseline():
    with pytest.raises(SystemExit):
        per_call.main(["--engines", "numpy,numpy-base"])
