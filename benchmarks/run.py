"""Command-line entry: ``python -m benchmarks.run [options]``.

Plans the run, starts one :mod:`benchmarks.worker` process per engine, and hands
them the same jobs (one op or training step at one batch size) in turn: NumPy, torch,
torch, NumPy, ... for ``--rounds`` rounds per job. Only one worker measures at a
time (two would compete for the same cores); the others wait, blocked on their
input. Because the engines take turns job by job, seconds apart, a machine whose
speed drifts over minutes (a shared VM) slows both alike, and each job's per-round
ratios pair measurements taken under the same conditions. It then merges what they
measured with the environment and the analytic FLOP counts, and writes
``results.json``, ``RESULTS.md`` and the ratio plots into ``--out``.

Examples
--------
The full run (every op, every lecture step, batch 1 to 1000; a few minutes on 2 cores)::

    python -m benchmarks.run

The CI smoke run (few repeats, two batch sizes, a handful of ops and models)::

    python -m benchmarks.run --quick --out /tmp/bench

Without ``--out`` a run writes into ``benchmarks/out/``, which git ignores; the
committed results in ``benchmarks/results/`` are replaced only on purpose::

    python -m benchmarks.run --rounds 6 --target-s 0.2 --out benchmarks/results   # make bench-results

The torch training steps on a GPU, against NumPy on the CPU::

    python -m benchmarks.run --device cuda --only steps
    python -m benchmarks.run --device cuda --only steps --amp --compile   # bf16 autocast, torch.compile
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from . import OUT_DIR
from . import cases as _cases
from . import env as _env
from .ceilings import COPY_ELEMENTS, GEMM_N
from .lockstep import run_lockstep
from .timing import TimerConfig, config_dict

DEFAULT_OUT = OUT_DIR


def parse_args(argv=None) -> argparse.Namespace:
    # Imported here, not at the top: a worker imports this package before it sets its
    # thread counts, and scratchnet imports NumPy.
    from scratchnet.cli.arguments import (ArgumentParser, csv_list, non_negative_float, positive_float,
                                     positive_int, positive_ints)

    p = ArgumentParser(
        prog="python -m benchmarks.run",
        description="Time scratchnet's NumPy ops and lecture training steps against torch.",
    )
    p.add_argument("--quick", action="store_true",
                   help="CI smoke mode: few repeats, batch sizes 1 and 64, a subset of ops and models")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT,
                   help="directory for results.json, RESULTS.md and the plots (default: benchmarks/out, "
                        "which git ignores; the committed results are written only by an explicit "
                        "--out benchmarks/results, as `make bench-results` does)")
    p.add_argument("--engines", type=csv_list("engines", ("numpy", "torch")), default=["numpy", "torch"],
                   help="comma-separated engines to time: numpy, torch (default: both)")
    p.add_argument("--device", type=csv_list("devices", ("cpu", "cuda")), default=["cpu"],
                   help="where the torch engine runs: cpu, cuda, or cpu,cuda (NumPy is always on the CPU; "
                        "default: %(default)s)")
    p.add_argument("--batch-sizes", type=positive_ints("batch sizes"), default=None,
                   help=f"comma-separated batch sizes (default: {','.join(map(str, _cases.BATCH_SIZES))}; "
                        f"--quick: {','.join(map(str, _cases.QUICK_BATCH_SIZES))})")
    p.add_argument("--only", choices=("ops", "steps"), default=None,
                   help="measure only the ops or only the training steps")
    p.add_argument("--ops", type=csv_list("op names"), default=None,
                   help="comma-separated op cases (or op names: conv2d picks every conv2d case)")
    p.add_argument("--steps", type=csv_list("experiment names"), default=None,
                   help="comma-separated lecture experiments (scratchnet.training.experiments names)")
    p.add_argument("--threads", type=positive_int, default=_env.available_cores(),
                   help="threads for each engine's pools, the same for both (default: all cores, %(default)s)")
    p.add_argument("--dtype", choices=("float32", "float64"), default="float32",
                   help="floating-point type of operands and models (default: %(default)s)")
    # Imported here: importing scratchnet loads NumPy, and the modules that import this one
    # are also worker entry points that must set their thread counts first.
    from scratchnet.training import run_options

    run_options.add_torch_options(p, loader=False)  # --amp, --compile, --tf32, as scratchnet train's
    p.add_argument("--no-plots", action="store_true", help="write JSON and Markdown only")
    p.add_argument("--rounds", type=positive_int, default=1,
                   help="measure every job this many times per engine, the engines taking turns "
                        "(NumPy, torch, torch, NumPy, ...), and report each case's median over the "
                        "rounds (default: %(default)s)")
    p.add_argument("--settle-s", type=non_negative_float, default=0.1,
                   help="pause before a worker measures after another one did, so the idle "
                        "one's BLAS/OpenMP threads have stopped spinning (default: %(default)s)")
    p.add_argument("--target-s", type=positive_float, default=None,
                   help="seconds of samples per measurement (default 0.2; --quick 0.01): more "
                        "gives steadier medians on a jittery machine")
    args = p.parse_args(argv)
    if args.amp and args.dtype != "float32":
        p.error(f"--amp runs float32 layers in bf16 autocast; with --dtype {args.dtype} it would change nothing")
    if (args.amp or args.compile or args.tf32) and "torch" not in args.engines:
        p.error("--amp, --compile and --tf32 apply to the torch engine; add torch to --engines")
    # A misspelt case name fails here, naming its option, not in both workers.
    for option, items, names, kind in (("--ops", _cases.OP_CASES, args.ops, "op"),
                                       ("--steps", _cases.step_cases(), args.steps, "step")):
        try:
            _cases.select(items, names, kind)
        except ValueError as exc:
            p.error(f"{option}: {exc}")
    return args


def plan(args) -> list[dict]:
    """One worker config per (engine, device) to run, in order: NumPy first, then torch."""
    quick = args.quick
    timer = TimerConfig.quick() if quick else TimerConfig.full()
    if args.target_s is not None:
        timer = dataclasses.replace(timer, target_s=args.target_s, max_s=max(timer.max_s, 4 * args.target_s))
    batch_sizes = args.batch_sizes or list(_cases.QUICK_BATCH_SIZES if quick else _cases.BATCH_SIZES)
    ops = args.ops or (list(_cases.QUICK_OPS) if quick else None)
    steps = args.steps or (list(_cases.QUICK_STEPS) if quick else None)
    if args.only == "ops":
        steps = []
    elif args.only == "steps":
        ops = []
    # Fail on a misspelt name here, in the parent, not in both workers.
    _cases.select(_cases.OP_CASES, ops, "op")
    _cases.select(_cases.step_cases(), steps, "step")
    common = {
        "dtype": args.dtype,
        "threads": args.threads,
        "timer": config_dict(timer),
        "batch_sizes": batch_sizes,
        "ops": ops,
        "steps": steps,
        # The torch engine's training-step options (the NumPy worker ignores them).
        "amp": args.amp, "compile": args.compile, "tf32": args.tf32,
        # The smoke run needs no 128 MiB copy to find out that the harness works.
        "ceiling_sizes": {"gemm_n": 512, "copy_elements": 2**23} if quick else
                         {"gemm_n": GEMM_N, "copy_elements": COPY_ELEMENTS},
    }
    configs = []
    if "numpy" in args.engines:
        configs.append({**common, "engine": "numpy", "device": "cpu"})
    if "torch" in args.engines:
        for device in args.device:
            configs.append({**common, "engine": "torch", "device": device})
    return configs


def cuda_unavailable_reason() -> str | None:
    """Why the torch engine cannot run on CUDA here, or ``None`` when it can."""
    try:
        import torch
    except ImportError:
        return "torch is not installed"
    if not torch.cuda.is_available():
        built = torch.version.cuda
        return (f"torch {torch.__version__} " +
                (f"was built with CUDA {built} but sees no CUDA device" if built else "was built without CUDA"))
    return None


def model_flops(step_names) -> dict:
    """Forward FLOPs per sample of every model the steps train, from its torch twin's layers.

    Runs in this (parent) process with torch on one thread, before any worker starts,
    so it cannot disturb a measurement. ``{}`` when torch is not installed.
    """
    try:
        import torch
        from scratchnet import models, torch_models
    except ImportError:
        return {}
    from .flops import count_torch_flops

    torch.set_num_threads(1)
    out = {}
    for case in _cases.select(_cases.step_cases(), step_names, "step"):
        if case.model in out:
            continue
        spec = models.spec(case.model)
        example = torch.zeros((1,) + tuple(spec.input_shape))
        out[case.model] = count_torch_flops(torch_models.build(case.model, seed=0), example)
    return out


def _case_key(entry: dict) -> tuple:
    return tuple((k, entry[k]) for k in ("engine", "device", "kind", "name", "pass", "batch") if k in entry)


def merge_rounds(entries: list) -> list:
    """Fold each case's rounds into one result.

    A case's reported median is the median of its per-round medians, its min and
    max the extremes over every round, its sample count the total, and
    ``round_medians_s`` keeps the per-round medians in round order, so that round
    ``k`` of NumPy pairs with round ``k`` of torch (:mod:`benchmarks.targets`).
    """
    grouped = {}
    for entry in entries:
        grouped.setdefault(_case_key(entry), []).append(entry)
    results = []
    for same in grouped.values():
        same.sort(key=lambda e: e.get("round", 0))
        timed = [e for e in same if "timing" in e]
        if not timed:  # failed in every round
            results.append({k: v for k, v in same[0].items() if k != "round"})
            continue
        medians = [e["timing"]["median_s"] for e in timed]
        merged = {k: v for k, v in sorted(timed, key=lambda e: e["timing"]["median_s"])[(len(timed) - 1) // 2].items()
                  if k != "round"}
        if len(timed) > 1:
            timing = dict(merged["timing"])
            timing["median_s"] = statistics.median(medians)
            timing["min_s"] = min(e["timing"]["min_s"] for e in timed)
            timing["max_s"] = max(e["timing"]["max_s"] for e in timed)
            timing["samples"] = sum(e["timing"]["samples"] for e in timed)
            timing["round_medians_s"] = medians
            merged["timing"] = timing
        if len(timed) < len(same):
            merged["round_errors"] = [e["error"] for e in same if "error" in e]
        results.append(merged)
    return results


def main(argv=None) -> int:
    from . import console, report
    from .report import BUSY_WARNING

    args = parse_args(argv)
    started = time.perf_counter()
    try:
        configs = plan(args)
    except ValueError as exc:
        print(f"benchmarks: {exc}", file=sys.stderr)
        return 2
    skipped = []
    if any(c["device"] == "cuda" for c in configs):
        reason = cuda_unavailable_reason()
        if reason:
            msg = f"--device cuda: {reason}; skipping the torch engine on CUDA"
            print(f"benchmarks: {msg}", file=sys.stderr)
            skipped.append(msg)
            configs = [c for c in configs if c["device"] != "cuda"]
    if not configs:
        print("benchmarks: nothing left to measure", file=sys.stderr)
        return 1

    machine = _env.machine()
    if (machine["cpu_busy_before"] or 0.0) > BUSY_WARNING:
        print(f"benchmarks: WARNING: other processes keep the CPU {100 * machine['cpu_busy_before']:.0f}% "
              "busy right now; the timings will share the cores with them", file=sys.stderr, flush=True)
    steps = configs[0]["steps"]
    flops = model_flops(steps) if steps != [] else {}
    with tempfile.TemporaryDirectory(prefix="scratchnet-bench-") as tmp:
        print(f"benchmarks: {len(configs)} worker(s) ("
              + ", ".join(f"{c['engine']} on {c['device']}" for c in configs)
              + f"), {configs[0]['threads']} threads, {configs[0]['dtype']}, {args.rounds} round(s) per job",
              file=sys.stderr, flush=True)
        runs, entries = run_lockstep(configs, args.rounds, Path(tmp), settle_s=args.settle_s)

    _env.machine_after(machine)
    results = merge_rounds(entries)
    data = {
        "schema": 1,
        "command": "python -m benchmarks.run " + " ".join(sys.argv[1:] if argv is None else argv),
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "plan": configs,
        "machine": machine,
        "model_flops_per_sample": flops,
        "runs": runs,
        "skipped": skipped,
        "results": results,
    }
    report.annotate(data)
    data["wall_s"] = time.perf_counter() - started
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(data, indent=1, default=str))
    written = report.write(data, args.out, plots=not args.no_plots)
    for line in console.run_summary(data):
        print(f"benchmarks: {line}", file=sys.stderr)
    print(f"benchmarks: done in {data['wall_s']:.0f} s; wrote " + ", ".join(str(p) for p in
          [args.out / "results.json", *written]), file=sys.stderr)
    return 1 if any("error" in r for r in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
