"""What ``train`` and ``reproduce`` share: run the engines, summarise, write the outputs."""
from __future__ import annotations

import json
import sys

from ...training.environment import OtherLoad, environment, keep_freed_memory, load_average
from ...training.lockstep import compare, fit_lockstep
from ...training import run_options
from ..run_setup import build_engines, load_data
from ...training.loop import TrainConfig, TrainingInterrupted


def run(cfg: TrainConfig, args, dataset_kind: str):
    """Train with the engines of ``--engine``; both take turns epoch by epoch.

    Returns ``(results, source, other_load)``. On Ctrl-C raises
    :class:`~scratchnet.training.loop.TrainingInterrupted` with what finished, and its
    ``source`` and ``other_load`` set.
    """
    log = None if args.quiet else print  # None: no log line, so no loss read back per line
    run_options.check_torch_options(args, dataset_kind)
    keep_freed_memory()  # the steps reuse freed pages instead of faulting in new ones
    download = args.download
    if download and cfg.loader == "torchvision":  # torchvision's own downloader
        from ...training.torch_data import download_with_torchvision

        download_with_torchvision(args.data_dir)
        download = False  # the files are there now, in the layout scratchnet reads
    train_data, test_data, source = load_data(dataset_kind, args.data_dir, download, note=print)
    engines = build_engines(cfg, args.engine, device=args.device)
    if cfg.loader == "torchvision":  # the torch engine reads the lectures' pipeline
        from ...training.torch_data import attach_feed

        attach_feed(engines, dataset_kind, source, args.data_dir, cfg)
    load = OtherLoad()
    try:
        with load:
            results = fit_lockstep(engines, train_data, test_data, cfg, dataset=source, log=log)
    except TrainingInterrupted as stop:
        stop.source, stop.other_load = source, load.fraction
        raise
    return results, source, load.fraction


def summarize(results, other_load=None, out=print):
    """The final table of a run, and how the two engines compare; returns the comparison or None."""
    out("")
    out(f"{'engine':<8} {'device':<8} {'epochs':>6} {'train loss':>11} {'test loss':>10} "
        f"{'accuracy':>17} {'time (s)':>9}")
    for r in results:
        if not r.epochs:
            out(f"{r.engine:<8} {r.device:<8} {0:>6}  (no epoch finished)")
            continue
        last = r.epochs[-1]
        acc = f"{last.correct}/{last.total} ({100 * last.test_accuracy:.2f}%)"
        out(f"{r.engine:<8} {r.device:<8} {len(r.epochs):>6} {last.train_loss:>11.6f} "
            f"{last.test_loss:>10.4f} {acc:>17} {r.total_seconds:>9.2f}")
    for note in run_options.summary_notes(results):
        out(note)
    c = comparison(results)
    if c is None:
        return None
    first = c["epochs"][0]["train_loss_rel_diff"]
    out(f"{c['engines'][0]} vs {c['engines'][1]}: first-epoch mean training loss differs by "
        f"{first:.2e} (relative), at most {c['max_train_loss_rel_diff']:.2e} over all epochs; "
        f"test accuracy by at most {100 * c['max_test_accuracy_diff']:.2f} points")
    for caveat in run_options.drift_caveats(results):
        out(f"  drift: {caveat}")
    out(f"speed: {c['engines'][0]}'s median epoch took {c['speed_ratio']:.2f}x {c['engines'][1]}'s "
        f"({noise_note(c, other_load)})")
    return c


def comparison(results):
    """:func:`~scratchnet.training.lockstep.compare` of two runs that both finished an epoch, else None."""
    return compare(*results) if len(results) == 2 and all(r.epochs for r in results) else None


def noise_note(c: dict, other_load) -> str:
    """How far to trust a speed ratio, said where it is printed."""
    spread = c["epoch_time_ratios"]
    if spread["n"] >= 2:
        how = (f"median of {spread['n']} per-epoch ratios, range {spread['min']:.2f}-{spread['max']:.2f}"
               + ("; engines took turns epoch by epoch" if c["lockstep"] else ""))
    else:
        how = "one epoch each: a single pair of timings, easily off by 1.5x on a busy machine"
    if other_load is not None and other_load >= 0.1:
        how += (f"; other processes kept {100 * other_load:.0f}% of the CPU busy meanwhile, so both "
                + ("times are inflated" if other_load >= 0.3 else "times may be somewhat inflated"))
    return how


def results_json(results, *, comparison=None, environment=None, interrupted=False, **extra) -> dict:
    """The ``--json`` object: every run, how the engines compare, and where it ran."""
    return {"runs": [r.to_json() for r in results], "comparison": comparison,
            "interrupted": interrupted, "environment": environment, **extra}


def write_outputs(results, args, payload: dict) -> None:
    """``--json`` and ``--plot`` of one run."""
    if args.json:
        with open(args.json, "w") as f:
            json.dump(payload, f, indent=2)
    if args.plot and any(r.epochs for r in results):
        from ...training.plot import plot_runs

        plot_runs(results, args.plot)


def run_environment(args, source, other_load) -> dict:
    """Where the run ran (:func:`~scratchnet.training.environment.environment`) and how busy the machine was."""
    env = environment(device=args.device, data_source=source)
    env["other_load_fraction"] = other_load
    env["load_average_end"] = load_average()
    return env


def interrupted(stop: TrainingInterrupted, args, write) -> int:
    """Ctrl-C: keep what finished, marked as interrupted, and say where it went."""
    print("\nscratchnet: interrupted; keeping the epochs that finished", file=sys.stderr)
    write(stop)
    written = [p for p in (getattr(args, "json", None), getattr(args, "plot", None),
                           getattr(args, "out_dir", None), getattr(args, "markdown", None)) if p]
    if written:
        print("scratchnet: wrote what finished (marked interrupted) to " + ", ".join(written),
              file=sys.stderr)
    return 130
