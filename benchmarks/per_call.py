r"""Per-call cost: what one layer call costs through ``scratchnet.nn`` against torch.

Each case is one forward and one backward of a lecture layer on the smallest valid
input (one element where the layer allows it): ``out = layer(x); layer.backward(g)``
(a loss: ``loss = criterion(x, y); criterion.backward()``) against torch's
``out = layer(x); out.backward(g)`` (``loss.backward()``), with ``x`` requiring grad
in torch as scratchnet always computes the input's gradient. On one element the
arithmetic is nothing: what is timed is the mechanism around it (the module call,
the argument checks, the recorded backward, the gradient accumulation, torch's
dispatcher and autograd). The same layers at the lectures' batch 64 separate the
per-call cost from the per-element cost, and whole training steps (zero_grad,
forward, loss, backward, SGD step) of MLP-5 and the basic CNN at batch 1 and 64 show
what it adds up to.

Every engine runs in its own worker process on one thread (``threadpoolctl`` and
``torch.set_num_threads(1)``); the engines take turns, round after round, each round
timing every case ``--reps`` times, one call per timing. Reported per case: the
minimum (the machine's best, what a loaded machine still shows) and the median of
every call, and the spread of the rounds' minima. ``--baseline DIR`` adds a third
engine, ``numpy-base``: scratchnet imported from another checkout (``git worktree
add --detach DIR <sha>``), for paired old/new timings::

    python -m benchmarks.per_call                            # into benchmarks/out/
    python -m benchmarks.per_call --rounds 9 --reps 400
    python -m benchmarks.per_call --baseline ../scratchnet-main --engines numpy,numpy-base

Output: ``PER_CALL.md`` and ``per_call.json`` in ``--out`` (default
``benchmarks/out/``, which git ignores).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from . import env as _env

OUT_DIR = Path(__file__).resolve().parent / "out"
ENGINES = ("numpy", "torch")

#: (case name, what it is). The one-element cases first, then batch 64, then steps.
CASES = (
    ("Linear(1->1)", "x (1, 1)"),
    ("Conv2d(1->1 k1)", "x (1, 1, 1, 1)"),
    ("ReLU", "x (1, 1)"),
    ("Tanh", "x (1, 1)"),
    ("Sigmoid", "x (1, 1)"),
    ("MaxPool2d(2)", "x (1, 1, 2, 2)"),
    ("AvgPool2d(2)", "x (1, 1, 2, 2)"),
    ("Flatten", "x (1, 1)"),
    ("LogSoftmax(dim=1)", "x (1, 1)"),
    ("CrossEntropyLoss", "x (1, 1), target (1,)"),
    ("NLLLoss", "x (1, 1), target (1,)"),
    ("Sequential(Linear ReLU Linear)", "x (1, 1)"),
    ("ReLU b64 MLP-5 l1", "x (64, 520): 33,280 floats"),
    ("ReLU b64 CNN relu1", "x (64, 10, 12, 12): 92,160 floats"),
    ("ReLU b64 CNN relu2", "x (64, 20, 4, 4): 20,480 floats"),
    ("CrossEntropyLoss b64", "x (64, 10), target (64,)"),
    ("NLLLoss b64", "x (64, 10), target (64,)"),
    ("step MLP-5 b1", "SGD(lr=0.01, momentum=0.5), cross-entropy"),
    ("step MLP-5 b64", "SGD(lr=0.01, momentum=0.5), cross-entropy"),
    ("step basic CNN b1", "SGD(lr=0.01, momentum=0.5), NLL"),
    ("step basic CNN b64", "SGD(lr=0.01, momentum=0.5), NLL"),
)


# ------------------------------------------------------------------ the cases, per engine
def _layer_shapes():
    """``{case: (layer factory args, input shape)}`` shared by both engines."""
    return {
        "Linear(1->1)": ("Linear", (1, 1), (1, 1)),
        "Conv2d(1->1 k1)": ("Conv2d", (1, 1, 1), (1, 1, 1, 1)),
        "ReLU": ("ReLU", (), (1, 1)),
        "Tanh": ("Tanh", (), (1, 1)),
        "Sigmoid": ("Sigmoid", (), (1, 1)),
        "MaxPool2d(2)": ("MaxPool2d", (2,), (1, 1, 2, 2)),
        "AvgPool2d(2)": ("AvgPool2d", (2,), (1, 1, 2, 2)),
        "Flatten": ("Flatten", (), (1, 1)),
        "LogSoftmax(dim=1)": ("LogSoftmax", (1,), (1, 1)),
        "ReLU b64 MLP-5 l1": ("ReLU", (), (64, 520)),
        "ReLU b64 CNN relu1": ("ReLU", (), (64, 10, 12, 12)),
        "ReLU b64 CNN relu2": ("ReLU", (), (64, 20, 4, 4)),
    }


_LOSSES = {"CrossEntropyLoss": ("CrossEntropyLoss", 1), "NLLLoss": ("NLLLoss", 1),
           "CrossEntropyLoss b64": ("CrossEntropyLoss", 64), "NLLLoss b64": ("NLLLoss", 64)}
_STEPS = {"step MLP-5 b1": ("mlp5", "cross_entropy", 1), "step MLP-5 b64": ("mlp5", "cross_entropy", 64),
          "step basic CNN b1": ("basic-cnn", "nll", 1), "step basic CNN b64": ("basic-cnn", "nll", 64)}


def numpy_calls(seed: int = 0) -> dict:
    """``{case: fn}``: one forward + backward through ``scratchnet.nn`` per call of ``fn``."""
    import numpy as np

    from scratchnet import models, nn, optim

    rng = np.random.default_rng(seed)
    calls = {}

    def layer_call(layer, x, g):
        def call():
            layer(x)
            layer.backward(g)
        return call

    for case, (kind, args, shape) in _layer_shapes().items():
        layer = getattr(nn, kind)(*args)
        x = rng.standard_normal(shape).astype(np.float32)
        out = layer(x)
        calls[case] = layer_call(layer, x, rng.standard_normal(out.shape).astype(np.float32))
    seq = nn.Sequential(nn.Linear(1, 1), nn.ReLU(), nn.Linear(1, 1))
    calls["Sequential(Linear ReLU Linear)"] = layer_call(seq, np.ones((1, 1), np.float32),
                                                         rng.standard_normal((1, 1)).astype(np.float32))

    def loss_call(criterion, x, y):
        def call():
            criterion(x, y)
            criterion.backward()
        return call

    for case, (kind, n) in _LOSSES.items():
        c = 1 if n == 1 else 10
        x = rng.standard_normal((n, c)).astype(np.float32)
        calls[case] = loss_call(getattr(nn, kind)(), x, rng.integers(0, c, n))

    for case, (name, loss, batch) in _STEPS.items():
        model = models.build(name, seed=seed, dtype=np.float32)
        criterion = models.criterion(loss)
        opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.5)
        x = rng.standard_normal((batch, 1, 28, 28)).astype(np.float32)
        y = rng.integers(0, 10, batch)

        def step(model=model, criterion=criterion, opt=opt, x=x, y=y):
            opt.zero_grad()
            criterion(model(x), y)
            model.backward(criterion.backward(), needs_input_grad=False)
            opt.step()
        calls[case] = step
    return calls


def torch_calls(seed: int = 0) -> dict:
    """``{case: fn}``: the same with torch's modules and autograd."""
    import numpy as np
    import torch

    from scratchnet import torch_models

    rng = np.random.default_rng(seed)
    nn = torch.nn
    calls = {}

    def tensor(shape, grad=True):
        return torch.tensor(rng.standard_normal(shape).astype(np.float32), requires_grad=grad)

    def layer_call(layer, x, g):
        def call():
            layer(x).backward(g)
        return call

    for case, (kind, args, shape) in _layer_shapes().items():
        layer = getattr(nn, kind)(*args)
        x = tensor(shape)
        out = layer(x)
        calls[case] = layer_call(layer, x, tensor(out.shape, grad=False))
    seq = nn.Sequential(nn.Linear(1, 1), nn.ReLU(), nn.Linear(1, 1))
    calls["Sequential(Linear ReLU Linear)"] = layer_call(seq, torch.ones((1, 1), requires_grad=True),
                                                         tensor((1, 1), grad=False))

    def loss_call(criterion, x, y):
        def call():
            criterion(x, y).backward()
        return call

    for case, (kind, n) in _LOSSES.items():
        c = 1 if n == 1 else 10
        calls[case] = loss_call(getattr(nn, kind)(), tensor((n, c)), torch.tensor(rng.integers(0, c, n)))

    for case, (name, loss, batch) in _STEPS.items():
        model = torch_models.build(name, seed=seed)
        criterion = torch_models.criterion(loss)
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.5)
        x = tensor((batch, 1, 28, 28), grad=False)
        y = torch.tensor(rng.integers(0, 10, batch))

        def step(model=model, criterion=criterion, opt=opt, x=x, y=y):
            opt.zero_grad()
            criterion(model(x), y).backward()
            opt.step()
        calls[case] = step
    return calls


# ------------------------------------------------------------------------- the worker
def _worker(engine: str, scratchnet_dir: str | None) -> int:
    """Serve timing requests on stdin (one JSON line each), answer on stdout."""
    if scratchnet_dir:
        sys.path.insert(0, str(Path(scratchnet_dir).resolve()))
    threads = _env.limit_threads(1, "torch" if engine == "torch" else "numpy")
    calls = torch_calls() if engine == "torch" else numpy_calls()
    import scratchnet

    info = {"engine": engine, "scratchnet": str(Path(scratchnet.__file__).resolve().parent),
            "threads": threads, **_env.engine_info("torch" if engine == "torch" else "numpy")}
    print(json.dumps({"ready": info}, default=str), flush=True)
    clock = time.perf_counter
    for line in sys.stdin:
        request = json.loads(line)
        fn, reps = calls[request["case"]], request["reps"]
        for _ in range(request["warmup"]):
            fn()
        times = []
        for _ in range(reps):
            t0 = clock()
            fn()
            times.append(clock() - t0)
        print(json.dumps({"times": times}), flush=True)
    return 0


class _Worker:
    def __init__(self, engine: str, scratchnet_dir: str | None):
        cmd = [sys.executable, "-m", "benchmarks.per_call", "--worker", engine]
        if scratchnet_dir:
            cmd += ["--scratchnet", scratchnet_dir]
        root = Path(__file__).resolve().parent.parent
        self.engine = engine
        self.proc = subprocess.Popen(cmd, cwd=root, env=_env.thread_env(1), stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, bufsize=1)
        ready = self.proc.stdout.readline()
        if not ready:
            raise RuntimeError(f"benchmarks.per_call: the {engine} worker did not start")
        self.info = json.loads(ready)["ready"]

    def time(self, case: str, reps: int, warmup: int) -> list:
        self.proc.stdin.write(json.dumps({"case": case, "reps": reps, "warmup": warmup}) + "\n")
        answer = self.proc.stdout.readline()
        if not answer:
            raise RuntimeError(f"benchmarks.per_call: the {self.engine} worker died on {case!r}")
        return json.loads(answer)["times"]

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


# ---------------------------------------------------------------------------- reports
def summarize(times_by_round: list) -> dict:
    """Min, median and the rounds' minima (their spread) of per-call seconds."""
    every = [t for r in times_by_round for t in r]
    minima = [min(r) for r in times_by_round]
    return {"min_s": min(every), "median_s": statistics.median(every),
            "round_min_s": minima, "round_median_s": [statistics.median(r) for r in times_by_round]}


def _us(s: float) -> str:
    return f"{s * 1e6:,.1f}" if s < 1e-3 else f"{s * 1e6:,.0f}"


def markdown(data: dict) -> str:
    engines = data["engines"]
    m = data["machine"]
    lines = [
        "# Per-call cost: one forward + backward through scratchnet.nn vs torch", "",
        f"`{data['command']}`: {data['rounds']} rounds x {data['reps']} calls per case and engine, "
        "engines taking turns, 1 thread each. Microseconds per call: min (median) "
        "[spread of the rounds' minima].", "",
        f"Machine: {m['cpu_model']}, {m['cores_available']} cores available, Python {m['python']}, "
        + ", ".join(f"the {w['engine']} worker: NumPy {w['numpy']}" + (f", torch {w['torch']}" if 'torch' in w else "")
                    + ("" if w["engine"] != "numpy-base" else f" ({w['scratchnet']})")
                    for w in data["workers"])
        + f"; load average before {m['load_average']}, after {m.get('load_average_after')}.", "",
    ]
    ratio_pairs = [(a, b) for a, b in (("numpy", "torch"), ("numpy", "numpy-base")) if a in engines and b in engines]
    head = ["case", "input"] + [f"{e} us" for e in engines] + [f"{a} / {b} (min)" for a, b in ratio_pairs]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for case, what in CASES:
        row = data["results"].get(case)
        if row is None:
            continue
        cells = [case, what]
        for e in engines:
            r = row[e]
            lo, hi = min(r["round_min_s"]), max(r["round_min_s"])
            cells.append(f"{_us(r['min_s'])} ({_us(r['median_s'])}) [{_us(lo)}–{_us(hi)}]")
        for a, b in ratio_pairs:
            cells.append(f"{row[a]['min_s'] / row[b]['min_s']:.2f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks.per_call", description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=5, help="rounds, the engines taking turns (default 5)")
    p.add_argument("--reps", type=int, default=200, help="timed calls per case, engine and round (default 200)")
    p.add_argument("--warmup", type=int, default=20, help="untimed calls before each round's timing")
    p.add_argument("--engines", default=None,
                   help="comma-separated: numpy, torch, numpy-base (default numpy,torch; with --baseline "
                        "also numpy-base)")
    p.add_argument("--baseline", default=None, help="another checkout whose scratchnet runs as numpy-base")
    p.add_argument("--cases", default=None, help="comma-separated case names (default: all)")
    p.add_argument("--out", type=Path, default=OUT_DIR, help="directory for PER_CALL.md and per_call.json")
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    p.add_argument("--scratchnet", default=None, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.worker:
        return _worker(args.worker, args.scratchnet)
    engines = (args.engines.split(",") if args.engines
               else list(ENGINES) + (["numpy-base"] if args.baseline else []))
    if "numpy-base" in engines and not args.baseline:
        raise SystemExit("benchmarks.per_call: numpy-base needs --baseline DIR")
    cases = [c for c, _ in CASES] if args.cases is None else args.cases.split(",")
    unknown = sorted(set(cases) - {c for c, _ in CASES})
    if unknown:
        raise SystemExit(f"benchmarks.per_call: unknown cases {unknown}; known: {[c for c, _ in CASES]}")
    started = time.perf_counter()
    machine = _env.machine()
    workers = {e: _Worker(e, args.baseline if e == "numpy-base" else None) for e in engines}
    raw = {c: {e: [] for e in engines} for c in cases}
    try:
        for r in range(args.rounds):
            order = engines if r % 2 == 0 else engines[::-1]  # who goes first alternates
            for case in cases:
                for e in order:
                    raw[case][e].append(workers[e].time(case, args.reps, args.warmup))
            print(f"benchmarks.per_call: round {r + 1}/{args.rounds} done", file=sys.stderr)
    finally:
        for w in workers.values():
            w.close()
    machine["load_average_after"] = _env.load_average()
    results = {c: {e: summarize(raw[c][e]) for e in engines} for c in cases}
    data = {"command": " ".join(["python -m benchmarks.per_call", *(argv if argv is not None else sys.argv[1:])]),
            "machine": machine, "engines": engines, "workers": [w.info for w in workers.values()],
            "rounds": args.rounds, "reps": args.reps, "warmup": args.warmup, "results": results,
            "wall_s": time.perf_counter() - started}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "per_call.json").write_text(json.dumps(data, indent=1, default=str))
    md = markdown(data)
    (args.out / "PER_CALL.md").write_text(md)
    print(md)
    print(f"benchmarks.per_call: done in {data['wall_s']:.0f} s; wrote {args.out / 'PER_CALL.md'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
