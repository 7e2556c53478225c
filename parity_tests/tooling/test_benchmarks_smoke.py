"""The benchmark harness works end to end. No timing is asserted: only that it runs and reports.

The quick mode runs in a subprocess on a tiny configuration (one batch size, two ops,
one lecture step, one thread) and must leave ``results.json``, ``RESULTS.md`` and the
two ratio plots behind, with one timed entry per (engine, case, pass, batch).
"""
import json
import os
import math
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # ``benchmarks`` is a top-level package beside ``scratchnet``
    sys.path.insert(0, str(ROOT))

from benchmarks import cases, timing  # noqa: E402
from benchmarks.flops import count_torch_flops  # noqa: E402


def _run(tmp_path, *extra):
    cmd = [sys.executable, "-m", "benchmarks.run", "--quick", "--threads", "1",
           "--out", str(tmp_path), *extra]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_every_functional_op_has_a_benchmark_case():
    import scratchnet.functional as F

    ops = {name for name in F.__all__ if F.is_op(getattr(F, name))}  # the ops, not the machinery
    missing = ops - {c.op for c in cases.OP_CASES}
    assert not missing, f"ops without a benchmark case: {sorted(missing)}"


def test_every_lecture_experiment_is_a_step_case():
    from scratchnet.training import experiments

    assert [c.name for c in cases.step_cases()] == experiments.names()


def test_unknown_case_names_are_rejected_with_the_valid_ones():
    with pytest.raises(ValueError, match="unknown op 'relu6'.*conv2d:basic-cnn-conv1"):
        cases.select(cases.OP_CASES, ["relu", "relu6"], "op")
    convs = cases.select(cases.OP_CASES, ["conv2d"], "op")
    assert [c.op for c in convs] == ["conv2d"] * 3


class _FakeClock:
    """A clock on which every call of the counted function lasts exactly ``per_call`` seconds."""

    def __init__(self, per_call):
        self.per_call, self.calls, self._at_start = per_call, 0, 0

    def fn(self):
        self.calls += 1

    def start(self):
        self._at_start = self.calls

    def stop(self):
        return (self.calls - self._at_start) * self.per_call


@pytest.mark.parametrize("per_call", [2e-6, 1e-3, 0.03, 0.7])
def test_timer_repeats_until_target_and_respects_the_cap(per_call):
    cfg = timing.TimerConfig.full()
    clock = _FakeClock(per_call)
    r = timing.measure(clock.fn, cfg, clock)
    assert r["number"] * per_call >= cfg.min_sample_s or r["number"] == 1
    spent = r["samples"] * r["number"] * per_call
    if r["samples"] > cfg.floor_samples:
        assert spent <= max(cfg.max_s, cfg.target_s + r["number"] * per_call)
    assert r["samples"] >= cfg.floor_samples
    assert spent >= min(cfg.target_s, cfg.floor_samples * r["number"] * per_call) - 1e-12
    assert r["min_s"] == r["median_s"] == r["max_s"] == pytest.approx(per_call)
    reused = 1 if r["number"] == 1 else 0  # the calibration call doubles as a sample
    assert clock.calls == cfg.warmup + 1 + r["samples"] * r["number"] - reused


def test_model_flops_follow_the_layer_formulas():
    torch = pytest.importorskip("torch")
    from scratchnet import torch_models

    # basic CNN: conv 1->10 k5 (28->24), conv 10->20 k5 (12->8), linear 320->10.
    cnn = 2 * 10 * 24 * 24 * 1 * 25 + 2 * 20 * 8 * 8 * 10 * 25 + 2 * 320 * 10
    assert count_torch_flops(torch_models.build("basic-cnn"), torch.zeros(1, 1, 28, 28)) == cnn
    # LeNet-5 with LeCun's sparse C3: its 16 maps see 6*3 + 9*4 + 1*6 = 60 input maps.
    head = 2 * 6 * 28 * 28 * 25 + 2 * 400 * 120 + 2 * 120 * 84 + 2 * 84 * 10
    assert count_torch_flops(torch_models.build("lenet5-original"), torch.zeros(1, 1, 28, 28)) == (
        head + 2 * 10 * 10 * 25 * 60)
    assert count_torch_flops(torch_models.build("lenet5"), torch.zeros(1, 1, 28, 28)) == (
        head + 2 * 16 * 10 * 10 * 6 * 25)


def test_quick_run_writes_json_markdown_and_plots(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("matplotlib")
    proc = _run(tmp_path, "--batch-sizes", "3", "--ops", "relu,linear", "--steps", "softmax-toy",
                "--rounds", "2", "--settle-s", "0")
    assert proc.returncode == 0, proc.stderr[-4000:]

    data = json.loads((tmp_path / "results.json").read_text())
    assert [(r["engine"], r["device"]) for r in data["runs"]] == [("numpy", "cpu"), ("torch", "cpu")]
    for r in data["runs"]:
        assert r["threads"]["requested"] == 1
        assert r["ceilings"]["gemm_gflops"] > 0 and r["ceilings"]["bandwidth_gbs"] > 0
        assert r["env"]["thread_env"]["OMP_NUM_THREADS"] == "1"
        assert "other_cpu_load" in r and r["ru_maxrss_kib"] > 0
    assert data["runs"][1]["threads"]["torch_num_threads"] == 1

    got = sorted((r["engine"], r["kind"], r["name"], r["pass"], r["batch"]) for r in data["results"])
    want = sorted(
        [(e, "op", op, p, 3) for e in ("numpy", "torch") for op in ("relu", "linear") for p in cases.PASSES]
        + [(e, "step", "softmax-toy", "train step", 3) for e in ("numpy", "torch")])
    assert got == want
    for r in data["results"]:
        assert "error" not in r, r
        t = r["timing"]
        assert t["min_s"] <= t["median_s"] <= t["max_s"] and t["samples"] >= 2
        assert len(t["round_medians_s"]) == 2  # the engines took turns, twice each
        assert math.isfinite(r["ceiling_share"])
    linear = [r for r in data["results"] if r["name"] == "linear"]
    assert {r["flops"] for r in linear if r["pass"] == "forward"} == {2 * 3 * 784 * 520}
    assert {r["flops"] for r in linear if r["pass"] != "forward"} == {3 * 2 * 3 * 784 * 520}

    md = (tmp_path / "RESULTS.md").read_text()
    for needle in ("## Ceilings", "## Targets", "NumPy / torch", "| relu | forward | 3 |",
                   "| linear | forward+backward | 3 |", "| softmax-toy | softmax-toy |"):
        assert needle in md
    for name in ("ratio_ops.png", "ratio_steps.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # The console gives each ratio with its per-round range and the load the run saw.
    err = proc.stderr
    assert "benchmarks: NumPy / torch (cpu) time per training step" in err
    assert re.search(r"benchmarks:\s+softmax-toy\s+\d[\d.]* \[\d[\d.e-]*–\d[\d.e+-]*\]", err), err[-2000:]
    assert "benchmarks: load: other processes used" in err
    busy = max(data["machine"]["cpu_busy_before"], data["machine"]["cpu_busy_after"],
               *(r["other_cpu_load"] for r in data["runs"]))
    assert ("benchmarks: WARNING: the machine was busy" in err) == (busy > 0.10)


def test_cuda_request_without_a_gpu_is_skipped_with_a_message(tmp_path):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: the skip path does not apply")
    proc = _run(tmp_path, "--engines", "numpy,torch", "--device", "cuda", "--only", "ops",
                "--ops", "relu", "--batch-sizes", "2", "--no-plots")
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "--device cuda:" in proc.stderr and "skipping the torch engine on CUDA" in proc.stderr
    data = json.loads((tmp_path / "results.json").read_text())
    assert [r["engine"] for r in data["runs"]] == ["numpy"]
    assert data["skipped"] and "skipping" in (tmp_path / "RESULTS.md").read_text()


@pytest.mark.parametrize("engine_kind", ["numpy", "torch"])
def test_train_step_laps_name_every_phase_in_order(engine_kind):
    import numpy as np

    from scratchnet.training.engine import STEP_PHASES
    from scratchnet.training.loop import TrainConfig

    cfg = TrainConfig(model="mlp3", seed=0)
    if engine_kind == "numpy":
        from scratchnet.training.numpy_engine import NumpyEngine

        engine = NumpyEngine.build(cfg)
    else:
        from scratchnet.training.torch_engine import TorchEngine

        engine = TorchEngine.build(cfg, device="cpu")
    rng = np.random.default_rng(0)
    x, y = engine.put(rng.random((4, 1, 28, 28)).astype(np.float32), rng.integers(0, 10, 4))
    seen = []
    loss_with_laps = float(engine.train_step(x, y, seen.append))
    assert tuple(seen) == STEP_PHASES
    assert math.isfinite(loss_with_laps)


def test_profile_writes_phases_and_layers_for_both_engines(tmp_path):
    cmd = [sys.executable, "-m", "benchmarks.profile", "--steps", "mlp3", "--batch-sizes", "2",
           "--threads", "1", "--rounds", "2", "--target-s", "0.002", "--out", str(tmp_path)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    data = json.loads((tmp_path / "profile.json").read_text())
    per_engine = data["profiles"]["1"]
    names = ["flatten", "l1", "relu1", "l2", "relu2", "l3"]
    for engine in ("numpy", "torch"):
        (entry,) = per_engine[engine]
        assert (entry["name"], entry["batch"]) == ("mlp3", 2)
        assert len(entry["round_step_s"]) == 2
        assert [layer["name"] for layer in entry["layers"]] == names
        assert set(entry["phases_s"]) == {"zero_grad", "forward", "loss", "backward", "optimizer"}
        for layer in entry["layers"]:
            assert layer["forward_s"] > 0 and layer["forward_backward_s"] > 0
    text = (tmp_path / "PROFILE.md").read_text()
    assert "## mlp3, batch 2, 1 thread(s)" in text and "| l1 | Linear | 2×784 |" in text
    assert "- load: other processes used" in text
    assert re.search(r"benchmarks.profile: mlp3 batch 2, 1 thread\(s\): NumPy / torch step time "
                     r"\d[\d.]* \[\d[\d.e-]*–\d[\d.e+-]*\]", proc.stderr), proc.stderr[-2000:]
    assert "benchmarks.profile: load: other processes used" in proc.stderr


def test_profile_rejects_an_unknown_experiment(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "benchmarks.profile", "--steps", "mlp4",
                           "--out", str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "mlp4" in proc.stderr


def _entry(name, batch, engine, medians, kind="step", pass_="train step"):
    return [{"kind": kind, "name": name, "pass": pass_, "batch": batch, "engine": engine, "device": "cpu",
             "round": k, "timing": {"median_s": m, "min_s": m, "max_s": m, "samples": 5}}
            for k, m in enumerate(medians)]


def test_rounds_merge_to_the_median_and_keep_round_order():
    from benchmarks.run import merge_rounds

    entries = _entry("mlp3", 64, "numpy", [3.0, 1.0, 2.0]) + _entry("mlp3", 64, "torch", [2.0, 2.0, 2.0])
    entries.append({**entries[0], "round": 3, "timing": None, "error": "boom"})
    del entries[-1]["timing"]
    merged = {r["engine"]: r for r in merge_rounds(entries)}
    assert merged["numpy"]["timing"]["median_s"] == 2.0
    assert merged["numpy"]["timing"]["round_medians_s"] == [3.0, 1.0, 2.0]  # round order, not sorted
    assert merged["numpy"]["round_errors"] == ["boom"] and "round" not in merged["numpy"]
    assert merged["torch"]["timing"]["samples"] == 15


def test_target_verdicts_follow_the_median_ratio_and_report_the_rounds():
    from benchmarks.run import merge_rounds
    from benchmarks.targets import Target, evaluate, markdown_rows

    results = merge_rounds(
        _entry("mlp3", 64, "numpy", [1.0, 0.8, 0.85]) + _entry("mlp3", 64, "torch", [1.0, 1.0, 1.0])
        + _entry("mlp5", 64, "numpy", [1.3, 1.2, 1.25]) + _entry("mlp5", 64, "torch", [1.0, 1.0, 1.0]))
    targets = (Target("MLP-3", "step", ("mlp3",), (64,), 0.9),
               Target("MLP-5", "step", ("mlp5",), (64,), 0.9),
               Target("all at 64 and 8", "step", None, (8, 64), 1.0),
               Target("LeNet-5", "step", ("lenet5",), (64,), 1.2))
    mlp3, mlp5, every, lenet = evaluate(results, targets)
    assert mlp3["met"] is True and mlp5["met"] is False and lenet["met"] is None
    assert [c[:2] for c in mlp5["failing"]] == [("mlp5", 64)]
    assert every["met"] is False and set(every["missing"]) == {("mlp3", 8), ("mlp5", 8)}
    rows = markdown_rows([mlp3, mlp5, every, lenet])
    assert rows[0] == ["MLP-3", "≤ 0.9", "0.85", "0.8–1 (1 of 3 over)", "yes"]
    assert rows[1][4] == "**no**: mlp5 1.25"
    assert rows[2][2] == "worst 1.25 (mlp5, N=64)" and rows[2][4].startswith("**no**: mlp5 N=64 1.25")
    assert rows[3][2:] == ["not measured", "–", "–"]


# -- where the results go: never the committed ones by accident ---------------------------


def _git_ignores(path: Path) -> bool:
    proc = subprocess.run(["git", "check-ignore", "-q", str(path)], cwd=ROOT, capture_output=True)
    if proc.returncode not in (0, 1):  # 128: not a git checkout (an sdist) or no git
        pytest.skip(f"git check-ignore unavailable here: {proc.stderr.decode().strip()}")
    return proc.returncode == 0


@pytest.mark.parametrize("module", ["run", "profile", "gemm_shapes", "floor", "gpu_check", "epoch_budget"])
def test_a_run_without_out_writes_to_a_git_ignored_folder_not_the_committed_results(module):
    import importlib

    committed = ROOT / "benchmarks" / "results"
    out = Path(importlib.import_module(f"benchmarks.{module}").parse_args([]).out).resolve()
    assert out != committed and committed not in out.parents
    assert _git_ignores(out / "results.json") and _git_ignores(out / "quick" / "RESULTS.md")
    assert not _git_ignores(committed / "results.json")
    from benchmarks import OUT_DIR, RESULTS_DIR

    assert (out, RESULTS_DIR) == (OUT_DIR, committed)


def _make_recipes() -> dict:
    """``{target: recipe text}`` of the Makefile's rules."""
    recipes, target = {}, None
    for line in (ROOT / "Makefile").read_text().splitlines():
        if line.startswith("\t") and target:
            recipes[target] += line.strip() + "\n"
        elif ":" in line and not line.startswith(("#", ".", "\t", " ")) and "=" not in line.split(":")[0]:
            target = line.split(":")[0].strip()
            recipes[target] = ""
    return recipes


def test_only_the_results_targets_of_the_makefile_write_the_committed_results():
    recipes = _make_recipes()
    for target in ("bench", "bench-quick", "profile", "floor", "epoch-budget"):
        assert "benchmarks." in recipes[target], target
        assert "benchmarks/results" not in recipes[target], target
        assert "--out benchmarks/out" in recipes[target], target
    assert "-m benchmarks.run" in recipes["bench-results"]
    assert "--out benchmarks/results" in recipes["bench-results"]
    assert "-m benchmarks.profile --out benchmarks/results" in recipes["profile-results"]
    assert "-m benchmarks.floor --out benchmarks/results" in recipes["floor-results"]
    assert recipes["epoch-budget-results"].replace("benchmarks/results", "benchmarks/out") == recipes["epoch-budget"]
    # make bench-results measures what make bench measures.
    assert recipes["bench-results"].replace("benchmarks/results", "benchmarks/out") == recipes["bench"]


def _machine(before=0.0, after=0.0):
    return {"cpu_busy_before": before, "cpu_busy_after": after, "load_average": [0.5, 0.4, 0.3],
            "load_average_after": [1.5, 0.6, 0.3], "cores_available": 2}


@pytest.mark.parametrize("before, during, busy", [(0.0, 0.02, False), (0.3, 0.02, True), (0.0, 0.45, True)])
def test_the_console_says_when_the_machine_was_busy(before, during, busy):
    from benchmarks.console import load_lines

    lines = load_lines(_machine(before=before), [{"other_cpu_load": during}, {"other_cpu_load": 0.01}])
    assert lines[0].startswith(f"load: other processes used {100 * during:.0f}% of the CPU while the workers")
    assert f"({100 * before:.0f}% just before, 0% just after)" in lines[0]
    assert "load average 0.5 -> 1.5 on 2 cores" in lines[0]
    assert (len(lines) == 2 and lines[1].startswith("WARNING: the machine was busy")) == busy
    if busy:
        assert f"up to {100 * max(before, during):.0f}% of the CPU" in lines[1]


def test_the_console_summary_gives_every_ratio_with_its_per_round_range():
    from benchmarks.console import ratio_with_spread, run_summary
    from benchmarks.run import merge_rounds

    assert ratio_with_spread(0.857, [0.633, 1.19, 0.8]) == "0.857 [0.633–1.19]"
    assert ratio_with_spread(0.857, [0.857]) == "0.857 [1 round]"  # no spread measured: says so
    results = merge_rounds(
        _entry("mlp3", 64, "numpy", [1.0, 0.6, 0.85]) + _entry("mlp3", 64, "torch", [1.0, 1.0, 1.0])
        + _entry("mlp3", 8, "numpy", [0.5, 0.4, 0.45]) + _entry("mlp3", 8, "torch", [1.0, 1.0, 1.0]))
    data = {"results": results, "config": {"rounds": 3, "dtype": "float32"},
            "plan": [{"batch_sizes": [8, 64]}], "machine": _machine(after=0.5),
            "runs": [{"engine": "numpy", "device": "cpu", "other_cpu_load": 0.0},
                     {"engine": "torch", "device": "cpu", "other_cpu_load": 0.0}]}
    lines = run_summary(data)
    row = next(line for line in lines if line.strip().startswith("mlp3"))
    assert row.split() == ["mlp3", "0.45", "[0.4–0.5]", "0.85", "[0.6–1]"]
    assert ("  MLP-5, MLP-3, sigmoid MLP, basic CNN, LeNet-5 step (per-epoch target) ≤ 0.85: 0.85, "
            "per round 0.6–1 (1 of 3 over): undecided: 4 case(s) not measured") in lines
    # batch 1 and 8 cover the five networks: with only MLP-3 at batch 8 measured, nothing is decided
    assert ("  the same five networks' step at batch 1 and 8 ≤ 0.9: 0.45, per round 0.4–0.5: "
            "undecided: 9 case(s) not measured") in lines
    assert lines[-1].startswith("WARNING: the machine was busy") and "50%" in lines[-1]


@pytest.mark.parametrize("module", ["run", "worker", "profile", "floor", "gemm_shapes", "gpu_check"])
def test_a_benchmark_entry_point_loads_no_numpy_on_import(module):
    """Each is also a worker's entry point, which sets its thread counts before NumPy loads."""
    code = f"import sys, benchmarks.{module}; print('numpy' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"


def test_epoch_budget_parts_add_up_to_the_epoch(tmp_path):
    """A fraction of an epoch on the embedded digits: every call the loop makes is counted
    in its part, and the parts leave only a small remainder of each epoch's wall time."""
    pytest.importorskip("torch")
    empty = tmp_path / "no-mnist"
    empty.mkdir()
    cmd = [sys.executable, "-m", "benchmarks.epoch_budget", "--models", "mlp3", "--epochs", "3",
           "--train-samples", "320", "--test-samples", "150", "--log-interval", "2", "--settle-s", "0",
           "--out", str(tmp_path)]
    env = {**os.environ, "SCRATCHNET_DATA": str(empty)}  # no MNIST files there: the embedded digits
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=180, env=env)
    assert proc.returncode == 0, proc.stderr[-4000:]
    data = json.loads((tmp_path / "epoch_budget.json").read_text())
    (model,) = data["models"]
    assert (model["train_samples"], model["test_samples"], model["batches_per_epoch"]) == (320, 150, 5)
    # The two engines trained the same batches from the same weights (the loop's behaviour).
    numpy_epochs, torch_epochs = (model["engines"][e]["epochs"] for e in ("numpy", "torch"))
    for a, b in zip(numpy_epochs, torch_epochs):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-4)
    for engine in ("numpy", "torch"):
        epochs = model["engines"][engine]["epochs"]
        assert [e["epoch"] for e in epochs] == [1, 2, 3]
        for e in epochs:
            parts = e["parts"]
            assert set(parts) == set(("steps", "batch_indices", "gather", "evaluation", "logging",
                                      "mode_and_sync", "instrumentation", "remainder"))
            assert parts["steps"]["calls"] == parts["gather"]["calls"] == 5
            assert parts["batch_indices"]["calls"] == 5 + 2  # iter, five batches, the last next
            assert parts["evaluation"]["calls"] == 2 * 1  # one test batch of 150: its gather and test_batch
            # Train Epoch lines at batches 0, 2, 4, and the epoch's two summary lines.
            assert parts["logging"]["calls"] >= 3 + 2
            assert e["loop_seconds"] <= e["wall_s"]
            total = sum(p["seconds"] for p in parts.values())
            assert total == pytest.approx(e["wall_s"], rel=1e-9, abs=1e-12)
            assert parts["remainder"]["seconds"] > -1e-3
        # What no part holds is the loop's own few lines per batch and epoch. A part the
        # wrappers missed (a whole gather or evaluation) would be most of the epoch; the
        # bound is that loose on purpose: CI asserts no timing, and a loaded machine
        # stretches those lines (the committed EPOCH_BUDGET.md shows 0.8-5 %).
        share = min(e["parts"]["remainder"]["seconds"] / e["wall_s"] for e in epochs)
        assert share < 0.5, [e["parts"]["remainder"] for e in epochs]
    md = (tmp_path / "EPOCH_BUDGET.md").read_text()
    for needle in ("| training steps (train_step) |", "| remainder (loop bookkeeping) |", "**epoch (wall)**",
                   "first epoch's warm-up", "page-fault time", "caches per core", "torch "):
        assert needle in md


def test_threads_benchmark_smoke_run_reports_every_pass(tmp_path):
    cmd = [sys.executable, "-m", "benchmarks.threads", "--scale", "0.001", "--rounds", "2", "--reps", "3",
           "--out", str(tmp_path)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    from benchmarks.threads import CASES

    text = (tmp_path / "THREADS.md").read_text()
    for name, _, _ in CASES:
        assert f"| {name} |" in text
    assert "bit for bit: yes, every case" in text and "an empty job): median" in text
    data = json.loads((tmp_path / "threads.json").read_text())
    assert all(len(row["one"]) == len(row["two"]) == 2 for row in data["results"].values() if "one" in row)


def test_threads_benchmark_split_pass_equals_the_one_thread_pass():
    from benchmarks.threads import Worker, split_equals_one

    worker = Worker()
    try:
        assert all(split_equals_one(op, n, worker) for op in ("tanh", "relu", "sgd") for n in (2, 7, 1000))
    finally:
        worker.close()
