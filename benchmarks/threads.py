r"""Element-wise passes on both cores: does a second thread pay on this machine?

NumPy releases the GIL inside a ufunc's loop, so one pass over an array can be split:
the caller computes one half while a persistent worker thread computes the other.
The price is the hand-off, waking the worker and waiting for its answer. This
benchmark measures that round trip with an empty job, then the lectures' element-wise
passes, each on one thread against the same pass split in halves across two:

* ``tanh`` (transcendental: compute-bound), ``relu`` (``np.maximum(x, 0)``:
  memory-bound) and the SGD momentum update (``b *= m; b += g; p -= lr b``: five
  passes over three arrays, the optimizer's work);
* at the sizes the lectures give them: batch-64 activations (MLP-5's ``relu1``, the
  basic CNN's ``relu1``, LeNet-5's ``tanh1``), MLP-5's weights (the update), and the
  same activations at the evaluation batch of 1000.

Both variants run in one process, taking turns round after round; a round times each
variant ``--reps`` times and keeps the median call. Reported per case: the median over
rounds of each variant, and the median and spread of the rounds' ratios two / one
(below 1: the second thread pays). The split results are checked equal to the
one-thread results (the halves are the same element-wise arithmetic)::

    python -m benchmarks.threads                           # into benchmarks/out/
    python -m benchmarks.threads --out benchmarks/results  # the committed THREADS.md

Output: ``THREADS.md`` and ``threads.json`` in ``--out`` (default ``benchmarks/out/``,
which git ignores).
"""
from __future__ import annotations

import argparse
import json
import queue
import statistics
import sys
import threading
import time
from pathlib import Path

import numpy as np

from . import env as _env

OUT_DIR = Path(__file__).resolve().parent / "out"

#: (case, op, float32 elements): the lectures' element-wise passes at their sizes.
CASES = (
    ("relu, MLP-5 relu1 at batch 64", "relu", 64 * 520),
    ("relu, basic CNN relu1 at batch 64", "relu", 64 * 10 * 12 * 12),
    ("tanh, LeNet-5 tanh1 at batch 64", "tanh", 64 * 6 * 28 * 28),
    ("SGD momentum update, MLP-5's 680,880 weights", "sgd", 680_880),
    ("relu, basic CNN relu1 at batch 1000", "relu", 1000 * 10 * 12 * 12),
    ("tanh, LeNet-5 tanh1 at batch 1000", "tanh", 1000 * 6 * 28 * 28),
    ("relu, basic CNN conv1 output at batch 1000", "relu", 1000 * 10 * 24 * 24),
)


class Worker:
    """One persistent thread that runs the jobs it is handed, one at a time."""

    def __init__(self):
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._done: queue.SimpleQueue = queue.SimpleQueue()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            job = self._jobs.get()
            if job is None:
                return
            job()
            self._done.put(None)

    def start(self, job):
        self._jobs.put(job)

    def wait(self):
        self._done.get()

    def close(self):
        self._jobs.put(None)


def _pass(op: str, arrays: tuple, lo: int, hi: int) -> None:
    """``op`` over elements ``lo:hi`` of the flat ``arrays``."""
    if op == "tanh":
        x, out = arrays
        np.tanh(x[lo:hi], out=out[lo:hi])
    elif op == "relu":
        x, out = arrays
        np.maximum(x[lo:hi], 0, out=out[lo:hi])
    else:  # the SGD momentum update, in place, as the optimizer's kernel does it
        p, g, b = (a[lo:hi] for a in arrays)
        b *= np.float32(0.5)
        b += g
        p -= np.float32(0.01) * b


def make_arrays(op: str, n: int, seed: int = 0) -> tuple:
    rng = np.random.default_rng(seed)
    if op == "sgd":
        return tuple(rng.standard_normal(n, dtype=np.float32) for _ in range(3))
    return rng.standard_normal(n, dtype=np.float32), np.empty(n, dtype=np.float32)


def one_thread(op: str, arrays: tuple) -> None:
    _pass(op, arrays, 0, arrays[0].size)


def two_threads(op: str, arrays: tuple, worker: Worker) -> None:
    """The first half on the worker, the second on the caller, then wait for the worker."""
    half = arrays[0].size // 2
    worker.start(lambda: _pass(op, arrays, 0, half))
    _pass(op, arrays, half, arrays[0].size)
    worker.wait()


def split_equals_one(op: str, n: int, worker: Worker) -> bool:
    """Whether the split pass gives the one-thread pass's numbers, bit for bit."""
    a, b = make_arrays(op, n), make_arrays(op, n)
    one_thread(op, a)
    two_threads(op, b, worker)
    return all(np.array_equal(x, y) for x, y in zip(a, b))


def _median_call(fn, reps: int) -> float:
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(cases, rounds: int, reps: int, worker: Worker) -> dict:
    """Per case: each variant's per-round median call, the rounds taking turns."""
    results = {"round trip": {"two": []}}  # an empty job handed off and back
    for name, op, n in cases:
        results[name] = {"one": [], "two": [], "op": op, "elements": n}
    for r in range(rounds):
        results["round trip"]["two"].append(
            _median_call(lambda: (worker.start(lambda: None), worker.wait()), reps))
        for name, op, n in cases:
            arrays = make_arrays(op, n, seed=r)
            variants = [("one", lambda: one_thread(op, arrays)),
                        ("two", lambda: two_threads(op, arrays, worker))]
            for label, fn in (variants if r % 2 == 0 else variants[::-1]):
                fn()  # warm: the arrays in cache as far as they fit, the worker awake
                results[name][label].append(_median_call(fn, reps))
    return results


def summary(row: dict) -> dict:
    ratios = [t / o for o, t in zip(row["one"], row["two"])]
    return {"one_s": statistics.median(row["one"]), "two_s": statistics.median(row["two"]),
            "ratio": statistics.median(ratios), "ratio_min": min(ratios), "ratio_max": max(ratios)}


def markdown(data: dict) -> str:
    m = data["machine"]
    trip = data["results"]["round trip"]["two"]
    lines = [
        "# Element-wise passes on both cores: one thread against two", "",
        f"`{data['command']}` on {m['time_utc']}: {data['rounds']} rounds x {data['reps']} calls per "
        "case and variant, the variants taking turns; a case's time is the median over rounds of "
        "each round's median call. See `benchmarks/threads.py` for the method.", "",
        f"- machine: {m['cpu_model']}, {m['cores_available']} cores available, caches per core "
        + ", ".join(f"{k} {v}" for k, v in (m.get("cpu_caches") or {}).items())
        + f"; NumPy {np.__version__}, Python {m['python']}",
        f"- load average before {m['load_average']}, after {m.get('load_average_after')}",
        f"- a hand-off to the worker thread and back (an empty job): median "
        f"{statistics.median(trip) * 1e6:.1f} µs [{min(trip) * 1e6:.1f}–{max(trip) * 1e6:.1f} over rounds]",
        "- the split results equal the one-thread results bit for bit: "
        + ("yes, every case" if all(data["equal"].values()) else
           "NO: " + ", ".join(k for k, v in data["equal"].items() if not v)), "",
        "| pass | floats | MB per array | one thread µs | two threads µs | two / one [rounds' range] |",
        "|---|---|---|---|---|---|",
    ]
    for name, row in data["results"].items():
        if name == "round trip":
            continue
        s = summary(row)
        lines.append(f"| {name} | {row['elements']:,} | {row['elements'] * 4 / 2**20:.2f} | "
                     f"{s['one_s'] * 1e6:,.0f} | {s['two_s'] * 1e6:,.0f} | "
                     f"{s['ratio']:.2f} [{s['ratio_min']:.2f}–{s['ratio_max']:.2f}] |")
    return "\n".join(lines) + "\n"


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks.threads", description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=7, help="rounds, the variants taking turns (default 7)")
    p.add_argument("--reps", type=int, default=30, help="timed calls per case, variant and round (default 30)")
    p.add_argument("--scale", type=float, default=1.0,
                   help="multiply every case's size by this (a smoke run: 0.001)")
    p.add_argument("--out", type=Path, default=OUT_DIR, help="directory for THREADS.md and threads.json")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    cases = [(name, op, max(2, int(n * args.scale))) for name, op, n in CASES]
    machine = _env.machine()
    worker = Worker()
    try:
        equal = {name: split_equals_one(op, n, worker) for name, op, n in cases}
        results = measure(cases, args.rounds, args.reps, worker)
    finally:
        worker.close()
    machine["load_average_after"] = _env.load_average()
    command = "python -m benchmarks.threads " + " ".join(sys.argv[1:] if argv is None else argv)
    data = {"command": command.strip(), "rounds": args.rounds, "reps": args.reps, "machine": machine,
            "equal": equal, "results": results}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "threads.json").write_text(json.dumps(data, indent=1))
    (args.out / "THREADS.md").write_text(markdown(data))
    print(markdown(data))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
