r"""Where a training epoch's seconds go, per engine, the engines taking turns epoch by epoch.

:mod:`benchmarks.run` and :mod:`benchmarks.floor` time one training step; an epoch is
more than its steps. This runs the training loop itself
(:class:`scratchnet.training.loop.EpochLoop`, in the order ``scratchnet train --engine
both`` uses, :func:`scratchnet.training.lockstep.take_turns`) on a lecture experiment and
times, from outside, every call the loop makes:

* **steps**: ``engine.train_step``, summed over the epoch;
* **batch indices**: drawing the shuffled index batches from the seeded loader
  (``iter`` and ``next`` of :class:`scratchnet.data.DataLoader`);
* **gather**: ``engine.gather`` of the training batches (the batch copied out of the
  dataset, where the engine computes);
* **evaluation**: the test pass, ``engine.gather`` and ``engine.test_batch`` of every
  test batch;
* **logging**: the ``Train Epoch`` / ``Test set`` lines (the ``log`` callable; printing
  them reads the loss back) and the progress bar;
* **mode and sync**: ``engine.train()``, ``engine.eval()``, ``engine.synchronize()``;
* **instrumentation**: this benchmark's own wrappers (their per-call cost, measured
  before the run, times the calls);
* **remainder**: the epoch's wall time (``run_epoch`` timed from outside) minus the
  parts above: the loop's own per-batch Python (appending the loss, counting the
  samples) and the epoch's result record.

Every part also counts the page faults it took (``resource.getrusage``: ``ru_minflt``
and ``ru_majflt`` before and after each call): a fresh buffer's first touch is a
fault per page, a cost that a step timed on one reused batch never sees. Their time is
estimated with the cost of one fault measured here (fresh pages written twice: the
first pass's extra time over its faults, :func:`page_fault_cost`). The **first epoch's warm-up** is
epoch 1's time minus the median of the later epochs', part by part.

The engines share one process and its cores, as in ``scratchnet train --engine
both``; each part's time is the median over the epochs after the first (epoch 1
alone when there is one). The wrappers replace the engine's and the loop's methods
on their instances; the loop's code is not changed.

    python -m benchmarks.epoch_budget --data-dir ../shared/mnist --models basic-cnn --epochs 3
    make epoch-budget            # every lecture model on full MNIST, into benchmarks/out/
    make epoch-budget-results    # the committed EPOCH_BUDGET.md, into benchmarks/results/

Output: ``EPOCH_BUDGET.md`` and ``epoch_budget.json`` in ``--out`` (default
``benchmarks/out/``, which git ignores).
"""
from __future__ import annotations

import json
import mmap
import resource
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from scratchnet.cli.arguments import ArgumentParser, csv_list, non_negative_float, non_negative_int, positive_int
from scratchnet.cli.run_setup import build_engines, experiment_config, load_data
from scratchnet.training import experiments
from scratchnet.training.environment import OtherLoad, keep_freed_memory, threads
from scratchnet.training.lockstep import take_turns
from scratchnet.training.loop import EpochLoop

from . import OUT_DIR
from . import env as _env
from .console import load_lines

#: The lecture models the committed budget covers (``--models`` default).
DEFAULT_MODELS = ("softmax-regression", "mlp5", "mlp3", "sigmoid-mlp", "basic-cnn", "lenet5", "binary-ce")
#: The parts of an epoch, in the table's order; ``remainder`` is what none of them holds.
PARTS = ("steps", "batch_indices", "gather", "evaluation", "logging", "mode_and_sync", "instrumentation",
         "remainder")
LABELS = {"steps": "training steps (train_step)", "batch_indices": "batch indices (loader)",
          "gather": "batch gather (engine.gather)", "evaluation": "evaluation pass (test gather + test_batch)",
          "logging": "logging and progress", "mode_and_sync": "train() / eval() / synchronize()",
          "instrumentation": "this benchmark's wrappers (estimated)", "remainder": "remainder (loop bookkeeping)"}


# -- measuring from outside: wrappers that count seconds and page faults ------------------


@dataclass
class Meter:
    """Seconds, calls and page faults (minor, major) of one part, summed over an epoch."""

    seconds: float = 0.0
    calls: int = 0
    minflt: int = 0
    majflt: int = 0


class Budget:
    """One engine's meters, one per measured part; :meth:`wrap` times a callable into one."""

    def __init__(self):
        self.meters = {part: Meter() for part in PARTS if part not in ("instrumentation", "remainder")}

    def reset(self) -> None:
        for part in self.meters:
            self.meters[part] = Meter()

    def wrap(self, part: str, fn):
        """``fn`` timed into ``self.meters[part]`` (looked up per call, so :meth:`reset` works)."""
        clock, usage, me, meters = time.perf_counter, resource.getrusage, resource.RUSAGE_SELF, self.meters

        def timed(*args, **kwargs):
            before = usage(me)
            start = clock()
            try:
                return fn(*args, **kwargs)
            finally:
                stop = clock()
                after = usage(me)
                m = meters[part]
                m.seconds += stop - start
                m.calls += 1
                m.minflt += after.ru_minflt - before.ru_minflt
                m.majflt += after.ru_majflt - before.ru_majflt

        return timed

    def timed_iterable(self, part: str, iterable):
        """``iterable`` whose ``iter`` and every ``next`` are timed into ``part``; ``len`` as before."""
        budget = self

        class Timed:
            def __len__(self):
                return len(iterable)

            def __iter__(self):
                it = budget.wrap(part, iter)(iterable)
                step = budget.wrap(part, next)
                while True:
                    try:
                        yield step(it)
                    except StopIteration:
                        return

        return Timed()


def wrapper_cost(repeats: int = 5, calls: int = 20000) -> float:
    """Seconds one :meth:`Budget.wrap` wrapper adds to a call (the fastest of ``repeats`` tries)."""
    def bare():
        pass

    wrapped = Budget().wrap("steps", bare)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            bare()
        mid = time.perf_counter()
        for _ in range(calls):
            wrapped()
        best = min(best, ((time.perf_counter() - mid) - (mid - start)) / calls)
    return max(best, 0.0)


def page_fault_cost(nbytes: int = 16 << 20, repeats: int = 3) -> dict:
    """Seconds one minor page fault costs here: fresh pages written, then written again.

    The buffer is a fresh anonymous mapping (:class:`mmap.mmap`), so its first write
    faults every page in, as a fresh NumPy buffer's does; the second write is the same
    work without faults. The first pass's extra time over its faults is one fault's cost
    (the median of ``repeats`` fresh buffers).
    """
    costs, faults = [], 0
    for _ in range(repeats):
        with mmap.mmap(-1, nbytes) as buffer:
            a = np.frombuffer(buffer, dtype=np.float32)
            before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            start = time.perf_counter()
            a.fill(1.0)
            first = time.perf_counter() - start
            faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
            start = time.perf_counter()
            a.fill(2.0)
            second = time.perf_counter() - start
            del a
        if faults:
            costs.append(max(first - second, 0.0) / faults)
    return {"bytes": nbytes, "faults": faults,
            "seconds_per_fault": float(statistics.median(costs)) if costs else None}


def instrument(loop: EpochLoop, budget: Budget, records: list, per_call_s: float, reference=None) -> None:
    """Wrap ``loop``'s engine calls, batches and progress bar, and its ``run_epoch``, on the instances.

    The ``log`` callable is wrapped before the loop is built (:func:`budget_model`).
    ``reference()``, when given, runs after each epoch (outside its wall time) and
    returns the median seconds of a step on one random batch, recorded beside the epoch.
    """
    engine = loop.engine
    engine.train_step = budget.wrap("steps", engine.train_step)
    engine.test_batch = budget.wrap("evaluation", engine.test_batch)
    for name in ("train", "eval", "synchronize"):
        setattr(engine, name, budget.wrap("mode_and_sync", getattr(engine, name)))
    # A gather is a training batch's between engine.train() and engine.eval(), a test batch's after.
    gather = engine.gather
    train_gather, test_gather = budget.wrap("gather", gather), budget.wrap("evaluation", gather)
    phase = {"test": False}
    train, evaluate = engine.train, engine.eval

    def to_train():
        phase["test"] = False
        return train()

    def to_eval():
        phase["test"] = True
        return evaluate()

    engine.train, engine.eval = to_train, to_eval
    engine.gather = lambda data, idx: (test_gather if phase["test"] else train_gather)(data, idx)
    loop.batches = budget.timed_iterable("batch_indices", loop.batches)
    loop.progress.draw = budget.wrap("logging", loop.progress.draw)
    loop.progress.clear = budget.wrap("logging", loop.progress.clear)
    run_epoch = loop.run_epoch

    def timed_epoch():
        budget.reset()
        before = resource.getrusage(resource.RUSAGE_SELF)
        start = time.perf_counter()
        result = run_epoch()
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_SELF)
        parts = {part: asdict(m) for part, m in budget.meters.items()}
        calls = sum(m["calls"] for m in parts.values())
        parts["instrumentation"] = {"seconds": calls * per_call_s, "calls": calls, "minflt": 0, "majflt": 0}
        measured = sum(m["seconds"] for m in parts.values())
        minflt, majflt = after.ru_minflt - before.ru_minflt, after.ru_majflt - before.ru_majflt
        parts["remainder"] = {"seconds": wall - measured, "calls": 0,
                              "minflt": minflt - sum(m["minflt"] for m in parts.values()),
                              "majflt": majflt - sum(m["majflt"] for m in parts.values())}
        records.append({"epoch": result.epoch, "wall_s": wall, "loop_seconds": result.seconds,
                        "train_seconds": result.train_seconds, "test_seconds": result.test_seconds,
                        "train_loss": result.train_loss, "test_accuracy": result.test_accuracy,
                        "minflt": minflt, "majflt": majflt, "parts": parts,
                        "reference_step_s": reference() if reference is not None else None})
        return result

    loop.run_epoch = timed_epoch


# -- one experiment, both engines ------------------------------------------------------------


def random_batch_steps(name: str, cfg, like, steps: int):
    """A callable: the median seconds of ``steps`` training steps of a fresh ``name`` engine
    on one random batch shaped as ``like`` (the benchmarks' step: :mod:`benchmarks.run`,
    :mod:`benchmarks.floor`), or ``None`` for ``steps == 0``.

    A twin engine of its own, so that the run being budgeted is not trained on noise.
    """
    if not steps:
        return None
    from scratchnet.cli.run_setup import build_engine

    x_like, y_like = like
    engine = build_engine(name, cfg)
    engine.train()
    rng = np.random.default_rng(0)
    x, y = engine.put(rng.random(x_like.shape).astype(x_like.dtype), np.array(y_like))
    engine.train_step(x, y)

    def median_step() -> float:
        times = []
        for _ in range(steps):
            engine.synchronize()
            start = time.perf_counter()
            engine.train_step(x, y)
            engine.synchronize()
            times.append(time.perf_counter() - start)
        return float(statistics.median(times))

    return median_step


def _head(data, n):
    x, y = data
    return (x, y) if n is None else (x[:n], y[:n])


def budget_model(name: str, args, per_call_s: float, log) -> dict:
    """Every engine's epochs of experiment ``name``, in turns, each part of each epoch measured."""
    exp = experiments.get(name)
    cfg = experiment_config(exp, epochs=args.epochs, log_interval=args.log_interval)
    train_data, test_data, source = load_data(exp.dataset, args.data_dir, False, note=log or (lambda _: None))
    train_data, test_data = _head(train_data, args.train_samples), _head(test_data, args.test_samples)
    # As `scratchnet train --engine both`: torch starts from NumPy's very weights.
    engines = build_engines(cfg, "both" if len(args.engines) == 2 else args.engines[0])
    several = len(engines) > 1
    loops, records = [], {}
    for engine in engines:
        budget = Budget()
        start = time.perf_counter()
        loop = EpochLoop(engine, train_data, test_data, cfg, dataset=source,
                         log=None if log is None else budget.wrap("logging", log),
                         prefix=f"[{engine.name}] " if several else "")
        records[engine.name] = {"setup_s": time.perf_counter() - start, "epochs": []}
        like = (train_data[0][:cfg.batch_size], train_data[1][:cfg.batch_size])
        instrument(loop, budget, records[engine.name]["epochs"], per_call_s,
                   random_batch_steps(engine.name, cfg, like, args.reference_steps))
        loops.append(loop)
    with OtherLoad() as load:
        for loop in loops:
            loop.start()
        take_turns(loops, cfg.epochs, args.settle_s)
    for loop in loops:
        loop.finish()
    return {"name": name, "model": exp.model, "dataset": source, "batch_size": cfg.batch_size,
            "train_samples": len(train_data[1]), "test_samples": len(test_data[1]),
            "batches_per_epoch": len(loops[0].batches), "epochs": cfg.epochs,
            "other_load": load.fraction, "engines": {n: summarize(r) for n, r in records.items()}}


def summarize(record: dict) -> dict:
    """Each part's median over the epochs after the first, and epoch 1's warm-up over them."""
    epochs = record["epochs"]
    steady = epochs[1:] or epochs

    def med(values):
        return float(statistics.median(values))

    parts = {part: {"seconds": med([e["parts"][part]["seconds"] for e in steady]),
                    "calls": med([e["parts"][part]["calls"] for e in steady]),
                    "minflt": med([e["parts"][part]["minflt"] for e in steady]),
                    "majflt": med([e["parts"][part]["majflt"] for e in steady])} for part in PARTS}
    summary = {**record, "steady_epochs": [e["epoch"] for e in steady], "wall_s": med([e["wall_s"] for e in steady]),
               "loop_seconds": med([e["loop_seconds"] for e in steady]),
               "minflt": med([e["minflt"] for e in steady]), "parts": parts}
    references = [e["reference_step_s"] for e in steady if e["reference_step_s"] is not None]
    if references:
        summary["reference_step_s"] = med(references)
    if len(epochs) > 1:
        summary["warm_up_s"] = epochs[0]["wall_s"] - summary["wall_s"]
        summary["warm_up_parts_s"] = {p: epochs[0]["parts"][p]["seconds"] - parts[p]["seconds"] for p in PARTS}
    return summary


# -- the report ------------------------------------------------------------------------------


def _s(seconds) -> str:
    return "–" if seconds is None else f"{seconds:.3f}" if abs(seconds) >= 0.01 else f"{seconds * 1e3:.2f} ms"


def markdown(data: dict) -> str:
    m = data["machine"]
    lib = data["libraries"]
    blas = ", ".join(f"{b['internal_api']} {b['version']} ({b['num_threads']} threads)"
                     for b in (lib["threads"].get("blas") or [])) or "unknown"
    lines = [
        "# Epoch budget: where a training epoch's seconds go, NumPy and torch taking turns",
        "",
        f"Generated by `{data['command']}` on {m['time_utc']} in {data['wall_s']:.0f} s.",
        "",
        f"- machine: {m['cpu_model']}, {m['cores_available']} cores available, caches per core "
        + ", ".join(f"{k} {v}" for k, v in m.get("cpu_caches", {}).items()),
        f"- NumPy {lib['numpy']} ({blas}); torch {lib.get('torch') or 'not installed'} "
        f"({lib['threads'].get('torch_num_threads', '–')} threads); both engines in one process, "
        "as `scratchnet train --engine both`",
        f"- one page fault here costs about {_fault_us(data['page_fault'])} µs (fresh 16 MiB of pages written twice); "
        f"this benchmark's wrappers {data['wrapper_s'] * 1e6:.2f} µs a call",
    ]
    lines += ["- " + line for line in load_lines(m, [{"other_cpu_load": md["other_load"]} for md in data["models"]])]
    lines += ["", "Each part is the median over the epochs after the first (epoch 1 alone where only one ran); "
              "**warm-up** is epoch 1 minus that median. The remainder is the epoch's wall time minus every "
              "part: the loop's own per-batch Python and the epoch's result record. Faults: minor page faults "
              "taken inside the part (thousands). See `benchmarks/epoch_budget.py` for the method."]
    engines = data["engines"]
    for md in data["models"]:
        per = md["engines"]
        lines += ["", f"## {md['name']} ({md['model']}), batch {md['batch_size']}: {md['batches_per_epoch']} steps, "
                  f"{md['train_samples']} train / {md['test_samples']} test samples of {md['dataset']}", ""]
        head = "| part |" + "".join(f" {e} s | {e} share | {e} faults (k) |" for e in engines)
        if len(engines) == 2:
            head += f" {engines[0]} / {engines[1]} |"
        lines += [head, "|---|" + "---|" * (3 * len(engines) + (len(engines) == 2))]
        for part in PARTS:
            row = f"| {LABELS[part]} |"
            for e in engines:
                p = per[e]["parts"][part]
                row += f" {_s(p['seconds'])} | {100 * p['seconds'] / per[e]['wall_s']:.1f}% | {p['minflt'] / 1e3:.1f} |"
            if len(engines) == 2:
                a, b = (per[e]["parts"][part]["seconds"] for e in engines)
                row += f" {a / b:.2f} |" if b > 0 and a > 0 else " – |"
            lines.append(row)
        row = "| **epoch (wall)** |"
        for e in engines:
            row += f" **{_s(per[e]['wall_s'])}** | 100% | {per[e]['minflt'] / 1e3:.1f} |"
        if len(engines) == 2:
            row += f" **{per[engines[0]]['wall_s'] / per[engines[1]]['wall_s']:.2f}** |"
        lines.append(row)
        outside = "| outside the steps |" + "".join(
            f" {_s(per[e]['wall_s'] - per[e]['parts']['steps']['seconds'])} | "
            f"{100 * (1 - per[e]['parts']['steps']['seconds'] / per[e]['wall_s']):.1f}% | |" for e in engines)
        lines.append(outside + (" |" if len(engines) == 2 else ""))
        if all("reference_step_s" in per[e] for e in engines):
            lines.append("| the steps at a random batch's step time (the other benchmarks' step) |" + "".join(
                f" {_s(per[e]['reference_step_s'] * per[e]['parts']['steps']['calls'])} | | |" for e in engines)
                + (" |" if len(engines) == 2 else ""))
        faults = "| page-fault time (estimated, inside the parts) |" + "".join(
            f" {_s(_fault_s(data['page_fault'], per[e]['minflt']))} | | |" for e in engines)
        lines.append(faults + (" |" if len(engines) == 2 else ""))
        if all("warm_up_s" in per[e] for e in engines):
            lines.append("| first epoch's warm-up (epoch 1 − median) |" + "".join(
                f" {_s(per[e]['warm_up_s'])} | | |" for e in engines) + (" |" if len(engines) == 2 else ""))
        lines.append("| setup before epoch 1 (put, warm_up) |" + "".join(
            f" {_s(per[e]['setup_s'])} | | |" for e in engines) + (" |" if len(engines) == 2 else ""))
    return "\n".join(lines) + "\n"


def _fault_us(cost: dict) -> str:
    return "–" if cost["seconds_per_fault"] is None else f"{cost['seconds_per_fault'] * 1e6:.2f}"


def _fault_s(cost: dict, faults):
    return None if cost["seconds_per_fault"] is None else faults * cost["seconds_per_fault"]


# -- the command line ------------------------------------------------------------------------


def parse_args(argv=None):
    p = ArgumentParser(prog="python -m benchmarks.epoch_budget", description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", help="the folder with full MNIST's four IDX files (default: ./data or "
                                      "$SCRATCHNET_DATA, else the 5,000 embedded digits)")
    p.add_argument("--models", type=csv_list("lecture experiments", experiments.names()),
                   default=list(DEFAULT_MODELS), help="comma-separated lecture experiments (scratchnet's "
                                                      "`list` names them); default: every lecture model")
    p.add_argument("--engines", type=csv_list("engines", ("numpy", "torch")), default=["numpy", "torch"],
                   help="comma-separated engines (default: both, taking turns)")
    p.add_argument("--epochs", type=positive_int, default=3,
                   help="epochs per engine; the first is the warm-up, the others give the medians (default: 3)")
    p.add_argument("--train-samples", type=positive_int, default=None,
                   help="train on the first N samples only (a fraction of an epoch; default: all)")
    p.add_argument("--test-samples", type=positive_int, default=None,
                   help="evaluate on the first N test samples only (default: all)")
    p.add_argument("--reference-steps", type=non_negative_int, default=20,
                   help="after each epoch, time this many steps of a twin engine on one random batch: "
                        "the step the other benchmarks time (default: 20; 0: none)")
    p.add_argument("--log-interval", type=non_negative_int, default=10,
                   help="batches between Train Epoch lines, as `scratchnet train` (default: 10; 0: one per epoch)")
    p.add_argument("--quiet", action="store_true", help="no log lines at all (as `scratchnet train --quiet`)")
    p.add_argument("--settle-s", type=non_negative_float, default=0.2,
                   help="pause at each switch of engine, as `scratchnet train --engine both` (default: 0.2)")
    p.add_argument("--out", type=Path, default=OUT_DIR,
                   help="directory for EPOCH_BUDGET.md and epoch_budget.json (default: benchmarks/out, which "
                        "git ignores; `make epoch-budget-results` writes the committed ones)")
    return p.parse_args(argv)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    started = time.perf_counter()
    machine = _env.machine()
    if "torch" in args.engines:
        import torch  # noqa: F401  (loaded now, so that the library record names its version and threads)
    libraries = {"numpy": np.__version__, "torch": getattr(sys.modules.get("torch"), "__version__", None),
                 "threads": threads(), "malloc": keep_freed_memory()}  # as the training CLI does
    log = None if args.quiet else print
    per_call_s, fault = wrapper_cost(), page_fault_cost()
    models = [budget_model(name, args, per_call_s, log) for name in args.models]
    _env.machine_after(machine)
    data = {"command": " ".join(["python -m benchmarks.epoch_budget", *argv]), "machine": machine,
            "libraries": libraries, "engines": args.engines, "wrapper_s": per_call_s, "page_fault": fault,
            "models": models, "wall_s": time.perf_counter() - started}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "epoch_budget.json").write_text(json.dumps(data, indent=1, default=str))
    (args.out / "EPOCH_BUDGET.md").write_text(markdown(data))
    for md in models:
        print(f"benchmarks.epoch_budget: {md['name']}: " + "; ".join(
            f"{e} epoch {per['wall_s']:.3f} s, steps {per['parts']['steps']['seconds']:.3f} s, "
            f"outside the steps {per['wall_s'] - per['parts']['steps']['seconds']:.3f} s"
            for e, per in md["engines"].items()), file=sys.stderr)
    print(f"benchmarks.epoch_budget: done in {data['wall_s']:.0f} s; wrote {args.out / 'EPOCH_BUDGET.md'}",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
