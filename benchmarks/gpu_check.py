"""The CUDA path on a machine's first GPU, in one command: ``make gpu-check``.

    PYTHONPATH=. python -m benchmarks.gpu_check [--data-dir DIR]

For a machine with a GPU and whatever torch >= 2.1 it already has: nothing is installed,
nothing is downloaded, the code is the checkout's. In about 3 to 5 minutes it runs

1. one basic-CNN epoch of ``scratchnet train`` (each its own process, the data resident on
   the GPU) on full MNIST when it is found (``--data-dir``, ``$SCRATCHNET_DATA``,
   ``../shared/mnist``, ``./shared/mnist``; else the 5,000 embedded digits, said so):
   NumPy beside torch on CUDA in float32 (TF32 off, so their drift measures the engines),
   then torch on CUDA with ``--tf32``, ``--amp`` and ``--compile``, and torch on the CPU;
2. the CUDA-marked tests of the parity suite (``pytest -m cuda``), if pytest is there;

prints a table of seconds per epoch and writes it, with the machine's description, to
``gpu_check.json`` and ``GPU_CHECK.md`` in ``--out`` (default ``benchmarks/out``, which git
ignores; ``make gpu-check`` writes the committed ``benchmarks/results``).

Exit status: 0 when every run and test passed; 1 when one failed; 0 as well, after one
line saying so, on a machine where torch sees no CUDA device (nothing to check, nothing
written), so that the target is harmless elsewhere; ``--require-gpu`` makes that 2.
"""
from __future__ import annotations

import importlib.util
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import OUT_DIR

REPO = Path(__file__).resolve().parent.parent
#: (label, ``scratchnet train`` options): the runs, in order. The first has both engines.
RUNS = [
    ("cuda float32 (+ NumPy)", ["--engine", "both", "--device", "cuda"]),
    ("cuda --tf32", ["--engine", "torch", "--device", "cuda", "--tf32"]),
    ("cuda --amp (bf16)", ["--engine", "torch", "--device", "cuda", "--amp"]),
    ("cuda --compile", ["--engine", "torch", "--device", "cuda", "--compile"]),
    ("cpu float32", ["--engine", "torch", "--device", "cpu"]),
]


def find_data(data_dir):
    """The full-MNIST directory to use, or None for the embedded digits."""
    from scratchnet.data import find_mnist

    candidates = [data_dir] if data_dir else [os.environ.get("SCRATCHNET_DATA"), REPO.parent / "shared" / "mnist",
                                              REPO / "shared" / "mnist"]
    for c in candidates:
        if c and Path(c).is_dir() and find_mnist(c) is not None:
            return str(c)
    if data_dir:
        raise SystemExit(f"gpu-check: --data-dir {data_dir}: no MNIST files there")
    return None


def train(options, data_dir, json_path, timeout):
    """One ``scratchnet train`` of the basic CNN for one epoch; returns (payload or None, error)."""
    cmd = [sys.executable, "-m", "scratchnet", "train", "--model", "basic-cnn", "--epochs", "1", "--quiet",
           "--json", str(json_path), *options]
    if data_dir:
        cmd += ["--data-dir", data_dir]
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    print("+ " + " ".join(cmd[1:]), flush=True)
    try:
        proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, f"timed out after {timeout:.0f} s"
    if proc.returncode != 0:
        return None, (proc.stderr.strip().splitlines() or ["exit status %d" % proc.returncode])[-1]
    return json.loads(Path(json_path).read_text()), None


def rows_of(label, payload):
    """Table rows of one run: one per engine."""
    rows = []
    comparison = payload.get("comparison")
    for run in payload["runs"]:
        epoch = run["epochs"][0]
        setup = run.get("engine_setup") or {}
        name = "numpy cpu" if run["engine"] == "numpy" else label
        drift = None
        if comparison and run["engine"] == "torch":
            drift = comparison["epochs"][0]["train_loss_rel_diff"]
        rows.append({"run": name, "engine": run["engine"], "device": run["device"], "seconds": epoch["seconds"],
                     "train_seconds": epoch["train_seconds"], "test_seconds": epoch["test_seconds"],
                     "compile_seconds": setup.get("compile_seconds"), "accuracy": epoch["test_accuracy"],
                     "train_loss": epoch["train_loss"], "drift_vs_numpy": drift,
                     "tf32": setup.get("cudnn_allow_tf32"), "amp": setup.get("amp")})
    return rows


def table(rows) -> str:
    lines = ["| run | s/epoch (train + test) | train s | test s | compile s (apart) | test accuracy | "
             "epoch-1 loss drift vs NumPy |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        compile_s = "—" if r["compile_seconds"] is None else f"{r['compile_seconds']:.1f}"
        drift = "—" if r["drift_vs_numpy"] is None else f"{r['drift_vs_numpy']:.1e}"
        lines.append(f"| {r['run']} | {r['seconds']:.2f} | {r['train_seconds']:.2f} | {r['test_seconds']:.2f} | "
                     f"{compile_s} | {100 * r['accuracy']:.2f}% | {drift} |")
    return "\n".join(lines)


def cuda_tests(timeout) -> tuple:
    """``pytest -m cuda`` on the parity suite: (passed, summary line)."""
    missing = [m for m in ("pytest", "hypothesis") if importlib.util.find_spec(m) is None]
    if missing:
        return None, f"not run: {', '.join(missing)} not installed (nothing is installed here)"
    cmd = [sys.executable, "-m", "pytest", "-q", "-m", "cuda", "-p", "no:cacheprovider", "parity_tests"]
    env = dict(os.environ, PYTHONPATH=str(REPO))
    print("+ " + " ".join(cmd[1:]), flush=True)
    try:
        proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return False, f"timed out after {timeout:.0f} s"
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0:
        print(proc.stdout[-4000:], proc.stderr[-2000:], sep="\n")
    return proc.returncode == 0, lines[-1] if lines else f"exit status {proc.returncode}"


def parse_args(argv=None):
    from scratchnet.cli.arguments import ArgumentParser

    p = ArgumentParser(prog="python -m benchmarks.gpu_check", description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", help="full MNIST (default: $SCRATCHNET_DATA, ../shared/mnist, ./shared/mnist)")
    p.add_argument("--out", type=Path, default=OUT_DIR,
                   help="where gpu_check.json and GPU_CHECK.md go (default: benchmarks/out, which git ignores)")
    p.add_argument("--skip-tests", action="store_true", help="only the epochs, not pytest -m cuda")
    p.add_argument("--budget-s", type=float, default=280.0,
                   help="seconds for the whole check: no run starts with under 20 s left, and the tests "
                        "get what is left (at least 90 s)")
    p.add_argument("--require-gpu", action="store_true", help="exit 2, not 0, without a CUDA device")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()

    import torch

    version = tuple(int(v) for v in torch.__version__.split("+")[0].split(".")[:2])
    if not torch.cuda.is_available():
        built = torch.version.cuda
        print(f"gpu-check: torch {torch.__version__} sees no CUDA device "
              f"({'built with CUDA ' + built if built else 'a CPU-only build'}): nothing to check, nothing written")
        return 2 if args.require_gpu else 0
    if version < (2, 1):
        print(f"gpu-check: torch {torch.__version__} is older than 2.1, the oldest scratchnet supports")
        return 1
    device = {"gpu": torch.cuda.get_device_name(0), "torch": torch.__version__, "cuda": torch.version.cuda,
              "cudnn": torch.backends.cudnn.version(), "python": platform.python_version(),
              "cpu_count": os.cpu_count(), "machine": platform.machine()}
    print("gpu-check: " + ", ".join(f"{k} {v}" for k, v in device.items()), flush=True)
    data_dir = find_data(args.data_dir)
    data = f"full MNIST ({data_dir})" if data_dir else "the 5,000 embedded digits (no full MNIST found)"
    print(f"gpu-check: data: {data}", flush=True)

    rows, failures = [], []
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as tmp:
        for i, (label, options) in enumerate(RUNS):
            left = args.budget_s - (time.perf_counter() - started)
            if left < 20:
                failures.append(f"{label}: not run, the time budget is spent")
                continue
            payload, error = train(options, data_dir, Path(tmp) / f"run{i}.json", timeout=left)
            if error:
                failures.append(f"{label}: {error}")
                print(f"gpu-check: {label}: FAILED: {error}", flush=True)
                continue
            rows += rows_of(label, payload)
    tests_ok, tests_line = None, "skipped (--skip-tests)"
    if not args.skip_tests:
        left = args.budget_s - (time.perf_counter() - started)
        tests_ok, tests_line = cuda_tests(timeout=max(left, 90))
        if tests_ok is False:
            failures.append(f"pytest -m cuda: {tests_line}")

    print("")
    text = table(rows) if rows else "(no run finished)"
    print(text)
    print(f"\nCUDA-marked tests: {tests_line}")
    for f in failures:
        print(f"FAILED: {f}")
    elapsed = time.perf_counter() - started
    print(f"gpu-check: {elapsed:.0f} s in all")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "gpu_check.json").write_text(json.dumps(
        {"device": device, "data": data, "rows": rows, "tests": tests_line, "failures": failures,
         "seconds": elapsed}, indent=2))
    (args.out / "GPU_CHECK.md").write_text(
        f"# gpu-check: one basic-CNN epoch per configuration\n\n"
        f"{device['gpu']}; torch {device['torch']} (CUDA {device['cuda']}, cuDNN {device['cudnn']}); "
        f"{device['cpu_count']} CPUs; data: {data}. Written by `make gpu-check`. Each row is one epoch "
        "(training pass and test pass) of `scratchnet train --model basic-cnn` in its own process; "
        "torch.compile's compilation is timed apart (before the epoch). The drift is the relative difference "
        "of the epoch's mean training loss from NumPy's, both from the same weights on the same batches.\n\n"
        f"{text}\n\nCUDA-marked tests: {tests_line}\n"
        + "".join(f"\nFAILED: {f}\n" for f in failures))
    print(f"gpu-check: wrote {args.out / 'gpu_check.json'} and {args.out / 'GPU_CHECK.md'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
