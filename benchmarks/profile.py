"""Where a training step's time goes: per phase and per layer, NumPy against torch.

``benchmarks.run`` says *how much* slower or faster a step is; this says *where*.
For each lecture experiment and batch size it measures, in each engine:

* **Phases.** The training loop's own ``engine.train_step`` with a ``lap`` hook that
  reads the clock as ``zero_grad``, forward, loss, backward and the optimizer step
  end (:data:`scratchnet.training.engine.STEP_PHASES`). Each phase's median over many steps.
* **Layers.** Every child of the model alone, on the very activations it sees in the
  step (one forward pass through the model builds them): forward, and forward plus
  backward with a random upstream gradient laid out in memory as the layer's output (as
  the next layer's backward hands it over). The backward is the difference of the
  two. A layer computes its input gradient exactly when the step does: once some
  layer before it has parameters (the images need none). Parameter gradients are
  reset before each backward, as ``zero_grad`` does, so nothing accumulates.

Layers timed alone run with warm caches and no neighbours, so their sum is not the
step; the phase table is the step as trained, the layer table says which layer a gap
comes from.

    python -m benchmarks.profile        # mlp3, mlp5, basic-cnn, lenet5; batch 1 and 64; all cores and 1 thread
    python -m benchmarks.profile --steps lenet5 --batch-sizes 64 --threads 2 --rounds 5
    python -m benchmarks.profile --out benchmarks/results   # the committed PROFILE.md (make profile-results)

As in :mod:`benchmarks.run`, each engine runs in its own process with its pools set
to the same thread count, and the two take turns job by job (one experiment at one
batch size), NumPy, torch, torch, NumPy, ... for ``--rounds`` rounds; every reported
time is the median over the rounds. Output: ``PROFILE.md`` and ``profile.json`` in
``--out`` (default ``benchmarks/out/``, which git ignores).
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

from . import env as _env
from . import OUT_DIR
from .console import load_lines, profile_summary
from .steps import (ENGINES, StepSession, layer_calls, median, phase_times, run_engines, step_parser,
                    write_report)
from .timing import TimerConfig, config_dict, measure
from .worker import add_turn_options, parse_step_args, serve_session

DEFAULT_STEPS = ("mlp3", "mlp5", "basic-cnn", "lenet5")


# -- the worker side: one engine, in its own process ---------------------------------------


class ProfileSession(StepSession):
    """One engine's profiles, one (experiment, batch) job at a time (see :func:`benchmarks.worker.serve`)."""

    def __init__(self, config: dict):
        super().__init__(config)
        self.jobs = [(case, batch) for case in self.cases for batch in config["batch_sizes"]]

    def plan(self) -> list:
        return [["profile", case.name, batch] for case, batch in self.jobs]

    def measure(self, i: int) -> list:
        import numpy as np

        case, batch = self.jobs[i]
        engine, (x, y), _, torch = self.step_engine(case, batch)
        entry = {"name": case.name, "model": case.model, "batch": batch,
                 **phase_times(engine, x, y, self.timer.target_s), "layers": []}
        for name, kind, fwd, fwd_bwd, in_shape in layer_calls(engine.model, x, np.random.default_rng(1), torch):
            entry["layers"].append({
                "name": name, "type": kind, "input_shape": list(in_shape),
                "forward_s": measure(fwd, self.timer)["median_s"],
                "forward_backward_s": measure(fwd_bwd, self.timer)["median_s"],
            })
        print(f"[profile {self.config['engine']}, {self.config['threads']} threads] {case.name} "
              f"batch {batch}: step {entry['step_s'] * 1e3:.3f} ms", file=sys.stderr, flush=True)
        return [entry]


# -- the parent: rounds, merging, the report -----------------------------------------------


def merge(entries: list, engine: str) -> list:
    """One engine's rounds folded into one result per (experiment, batch): medians over rounds."""
    grouped = {}
    for e in entries:
        if e["engine"] == engine:
            grouped.setdefault((e["name"], e["batch"]), []).append(e)
    merged = []
    for same in grouped.values():
        same.sort(key=lambda e: e["round"])
        first = same[0]
        entry = {k: first[k] for k in ("name", "model", "batch")}
        entry["step_s"] = median([e["step_s"] for e in same])
        entry["round_step_s"] = [e["step_s"] for e in same]
        entry["phases_s"] = {p: median([e["phases_s"][p] for e in same]) for p in first["phases_s"]}
        entry["layers"] = [
            {**layer, **{k: median([e["layers"][j][k] for e in same])
                         for k in ("forward_s", "forward_backward_s")}}
            for j, layer in enumerate(first["layers"])
        ]
        merged.append(entry)
    return merged


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.3f}"


def _delta(a: float, b: float) -> str:
    return f"{(a - b) * 1e3:+.3f}"


def markdown(data: dict) -> str:
    m = data["machine"]
    lines = [
        "# Where the time goes: per-phase and per-layer profile, NumPy vs torch",
        "",
        f"Generated by `{data['command']}` on {m['time_utc']} in {data['wall_s']:.0f} s "
        f"({m['cpu_model']}, {m['cores_available']} cores available). float32; every time is "
        f"the median over {data['rounds']} rounds; each engine ran in its own process with the "
        "same thread count, the two taking turns experiment by experiment. Δ is NumPy minus torch (positive: NumPy "
        "slower). See `benchmarks/profile.py` for the method.",
        "",
    ]
    runs = [r for per_threads in data.get("runs", {}).values() for r in per_threads]
    lines += ["- " + line for line in load_lines(m, runs)] + [""]
    lines += [
        "| experiment | batch | threads | NumPy step ms | torch step ms | NumPy / torch | per-round ratios |",
        "|---|---|---|---|---|---|---|",
    ]
    for threads, per_engine in data["profiles"].items():
        for a, b in zip(per_engine["numpy"], per_engine["torch"]):
            rounds = ", ".join(f"{x / y:.2f}" for x, y in zip(a["round_step_s"], b["round_step_s"]))
            lines.append(f"| {a['name']} | {a['batch']} | {threads} | {_ms(a['step_s'])} | "
                         f"{_ms(b['step_s'])} | {a['step_s'] / b['step_s']:.2f} | {rounds} |")
    for threads, per_engine in data["profiles"].items():
        for a, b in zip(per_engine["numpy"], per_engine["torch"]):
            lines += ["", f"## {a['name']}, batch {a['batch']}, {threads} thread(s)", "",
                      "| phase | NumPy ms | torch ms | Δ ms |", "|---|---|---|---|"]
            for p, t_np in a["phases_s"].items():
                lines.append(f"| {p} | {_ms(t_np)} | {_ms(b['phases_s'][p])} | {_delta(t_np, b['phases_s'][p])} |")
            sum_np, sum_t = sum(a["phases_s"].values()), sum(b["phases_s"].values())
            lines.append(f"| **sum of phase medians** | {_ms(sum_np)} | {_ms(sum_t)} | {_delta(sum_np, sum_t)} |")
            lines += ["", "| layer | type | input | NumPy fwd | torch fwd | NumPy bwd | torch bwd | Δ fwd+bwd ms |",
                      "|---|---|---|---|---|---|---|---|"]
            gaps = []
            for la, lb in zip(a["layers"], b["layers"]):
                bwd_a = la["forward_backward_s"] - la["forward_s"]
                bwd_b = lb["forward_backward_s"] - lb["forward_s"]
                gap = la["forward_backward_s"] - lb["forward_backward_s"]
                gaps.append((gap, la["name"]))
                lines.append(
                    f"| {la['name']} | {la['type']} | {'×'.join(map(str, la['input_shape']))} | "
                    f"{_ms(la['forward_s'])} | {_ms(lb['forward_s'])} | {_ms(bwd_a)} | {_ms(bwd_b)} | "
                    f"{_delta(la['forward_backward_s'], lb['forward_backward_s'])} |")
            tot_a = sum(la["forward_backward_s"] for la in a["layers"])
            tot_b = sum(lb["forward_backward_s"] for lb in b["layers"])
            lines.append(f"| **sum of layers** | | | | | | | {_delta(tot_a, tot_b)} |")
            worst = [f"{name} ({gap * 1e3:+.3f} ms)" for gap, name in sorted(gaps, reverse=True)[:3] if gap > 0]
            if worst:
                lines += ["", "Largest NumPy deficits: " + ", ".join(worst) + "."]
    return "\n".join(lines) + "\n"


def parse_args(argv=None):
    # Imported here: this module is also the workers' entry point, which must not import
    # NumPy (scratchnet does) before its thread counts are set.
    from scratchnet.cli.arguments import positive_ints

    p = step_parser("python -m benchmarks.profile", __doc__, DEFAULT_STEPS)
    threads = sorted({_env.available_cores(), 1}, reverse=True)
    p.add_argument("--batch-sizes", type=positive_ints("batch sizes"), default=[1, 64],
                   help="comma-separated batch sizes")
    p.add_argument("--threads", type=positive_ints("thread counts"), default=threads,
                   help="comma-separated thread counts, one profile each (default: all cores and one, "
                        f"{','.join(map(str, threads))})")
    add_turn_options(p, target_s=0.3)
    p.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    p.add_argument("--out", type=Path, default=OUT_DIR,
                   help="directory for PROFILE.md and profile.json (default: benchmarks/out, which git "
                        "ignores; `make profile-results` writes the committed ones with --out "
                        "benchmarks/results)")
    return parse_step_args(p, argv)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if serve_session(argv, ProfileSession):
        return 0
    args = parse_args(argv)
    started = time.perf_counter()
    machine = _env.machine()
    timer = TimerConfig(target_s=args.target_s, max_s=max(2.0, 4 * args.target_s))
    profiles, records = {}, {}
    for threads in args.threads:
        common = {"dtype": args.dtype, "threads": threads, "steps": args.steps,
                  "batch_sizes": args.batch_sizes, "timer": config_dict(timer)}
        measured = run_engines(common, args.rounds, args.settle_s, "benchmarks.profile")
        if measured is None:
            return 1
        runs, entries = measured
        profiles[str(threads)] = {e: merge(entries, e) for e in ENGINES}
        records[str(threads)] = runs
    data = {
        "command": " ".join(["python -m benchmarks.profile", *argv]),
        "machine": machine,
        "rounds": args.rounds,
        "timer": config_dict(timer),
        "profiles": profiles,
        "runs": records,
    }
    _env.machine_after(machine)
    data["wall_s"] = time.perf_counter() - started
    written = write_report(args.out, data, "profile.json", "PROFILE.md", markdown(data))
    for line in profile_summary(data):
        print(f"benchmarks.profile: {line}", file=sys.stderr)
    print(f"benchmarks.profile: done in {data['wall_s']:.0f} s; wrote {written}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
