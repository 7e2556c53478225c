"""``scratchnet reproduce NAME``: a lecture experiment with the lecture's settings, the
lecture's figure beside the measured one."""
from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np

from ...training import experiments
from ... import models
from ...training import run_options
from ..run_setup import (add_data_options, add_engine_options, add_init_option, add_log_options,
                         add_output_options, add_override_options, check_outputs, experiment_config)
from ...training.environment import machine_line
from ...training.loop import TrainConfig, TrainingInterrupted
from .training_run import comparison as finished_comparison
from .training_run import interrupted, results_json, run, run_environment, summarize


def add_parser(subparsers):
    p = subparsers.add_parser("reproduce", help="run a lecture experiment with the lecture's settings",
                              description="Run a lecture experiment and print the lecture's figure beside ours.")
    p.add_argument("name", choices=experiments.names() + ["all"], metavar="NAME",
                   help="one of: " + ", ".join(experiments.names()) + "; or all")
    p.add_argument("--markdown", metavar="FILE",
                   help="write a Markdown table: lecture figure beside the measured ones")
    p.add_argument("--out-dir", metavar="DIR",
                   help="write, after each experiment, NAME.json and NAME.png (curves of both engines) "
                        "and RESULTS.md (the table) into DIR")
    add_engine_options(p)
    add_data_options(p)
    add_output_options(p)
    add_log_options(p)
    add_init_option(p, lecture_default=True)
    add_override_options(p, "epochs")
    return p


def command(args) -> int:
    check_outputs(out_dir=args.out_dir)
    out_dir = Path(args.out_dir) if args.out_dir else None
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)  # so that --json may point into it
    check_outputs(engine=args.engine, device=args.device, json=args.json, plot=args.plot,
                  markdown=args.markdown)
    names = experiments.names() if args.name == "all" else [args.name]
    done = []

    def record(exp, results, source, comparison, other_load, interrupted):
        env = run_environment(args, source, other_load)
        payload = results_json(results, comparison=comparison, environment=env, interrupted=interrupted,
                               experiment=dict(asdict(exp), dataset=exp.dataset))
        init = results[0].config["init"]
        # A run with another --init than the lecture's is a different result: its own files.
        stem = exp.name if init == exp.init else f"{exp.name}-init-{init}"
        stem += run_options.stem_suffix(results[0].config)  # --loader torchvision, --amp, --tf32: their own files
        done.append(dict(exp=exp, results=results, source=source, comparison=comparison,
                         payload=payload, stem=stem))

    for i, name in enumerate(names):
        if i:
            print("\n" + "=" * 100 + "\n")
        try:
            exp, results, source, comparison, other_load = _reproduce_one(name, args)
        except TrainingInterrupted as stop:
            exp = experiments.get(name)
            if any(r.epochs for r in stop.results):
                record(exp, stop.results, stop.source, finished_comparison(stop.results), stop.other_load, True)
            return interrupted(stop, args, lambda s: _write_reproduction(
                out_dir, done, args.markdown, args, True))
        record(exp, results, source, comparison, other_load, False)
        # Written after every experiment, so a long `reproduce all` keeps what finished.
        _write_reproduction(out_dir, done, args.markdown, args, False)
    return 0


def _config(exp, args) -> TrainConfig:
    """The lecture's settings, with the options the user gave (``--epochs``, ``--init``, ...)."""
    return experiment_config(exp, epochs=args.epochs, init=args.init, dtype=args.dtype,
                             log_interval=100 if args.log_interval is None else args.log_interval,
                             **run_options.config_fields(args))


def _reproduce_one(name: str, args):
    exp = experiments.get(name)
    cfg = _config(exp, args)
    print(f"Reproducing {exp.name}: model {exp.model}, {exp.optimizer.upper()} lr {exp.lr} "
          f"momentum {exp.momentum}, batch {exp.batch_size}, {cfg.epochs} epochs, loss {exp.loss}"
          + (f", init {cfg.init}" if cfg.init != "default" else ""))
    if exp.notes:
        print(f"  ({exp.notes})")
    results, source, other_load = run(cfg, args, exp.dataset)
    comparison = summarize(results, other_load)
    print("")
    where = "" if exp.dataset == "toy" else " (full MNIST, 60,000/10,000)"
    print(f"lecture reported{where}: {exp.reported}")
    n_params = models.spec(exp.model).num_parameters
    for r in results:
        last = r.epochs[-1]
        print(f"measured here ({r.engine}, {source}): "
              f"cost {r.epochs[0].train_loss:.3f} -> {last.train_loss:.3f}, "
              f"accuracy {last.correct}/{last.total} ({100 * last.test_accuracy:.2f}%), "
              f"{r.total_seconds:.1f} s; {n_params:,} trainable parameters")
    return exp, results, source, comparison, other_load


def _median_epoch(r) -> float:
    return float(np.median([e.seconds for e in r.epochs]))


def _markdown_row(exp, results, source, comparison, stem: str) -> str:
    cells = []
    for engine in ("numpy", "torch"):
        r = next((r for r in results if r.engine == engine), None)
        if r is None or not r.epochs:
            cells.append("—")
            continue
        last = r.epochs[-1]
        cells.append(f"{r.epochs[0].train_loss:.3f} → {last.train_loss:.3f}; "
                     f"{last.correct}/{last.total} ({100 * last.test_accuracy:.2f}%)")
    drift = "—" if comparison is None else (
        f"{comparison['epochs'][0]['train_loss_rel_diff']:.1e} / {comparison['max_train_loss_rel_diff']:.1e}"
        f"; acc ≤ {100 * comparison['max_test_accuracy_diff']:.2f} pt")
    times = " / ".join(f"{_median_epoch(r):.2f}" for r in results if r.epochs)
    if comparison is not None:
        q = comparison["epoch_time_ratios"]
        ratio = f"{comparison['speed_ratio']:.2f} ({q['min']:.2f}–{q['max']:.2f})"
    else:
        ratio = "—"
    lecture_time = "—"
    if exp.reported_seconds:
        lecture_time = f"{exp.reported_seconds / exp.epochs:.1f} ({exp.reported_seconds:g} s in all)"
    epochs = max(len(r.epochs) for r in results)
    return (f"| {stem} | {exp.reported} | {source}, {epochs} ep | {cells[0]} | {cells[1]} | {drift} "
            f"| {times} | {ratio} | {lecture_time} |")


MARKDOWN_HEADER = (
    "| experiment | lecture reported (on full MNIST, except the toy) | measured on | NumPy: cost first → last "
    "epoch; test accuracy | torch: the same | drift numpy vs torch: train loss epoch 1 / max (relative); "
    "test accuracy | median epoch time, s (NumPy / torch) | NumPy / torch time: median per-epoch ratio "
    "(range) | lecture's time per epoch, s |\n"
    "|---|---|---|---|---|---|---|---|---|"
)

MARKDOWN_METHOD = (
    "Both engines start from identical weights and see identical batches. They take turns epoch by "
    "epoch (NumPy, torch, torch, NumPy, ...) in one process, so each epoch's pair of times is taken "
    "under nearly the same machine conditions; an epoch's time is its training pass plus its test pass. "
    "The ratio column is the median of the per-epoch NumPy/torch time ratios with their range."
)


def _write_reproduction(out_dir: Path, done: list, markdown_path, args, interrupted: bool) -> None:
    """Write every finished experiment: its JSON and curves, the table and the combined JSON."""
    rows = [_markdown_row(d["exp"], d["results"], d["source"], d["comparison"], d["stem"]) for d in done]
    table = MARKDOWN_HEADER + "\n" + "\n".join(rows) + "\n"
    if interrupted:
        table += "\n(interrupted: only the experiments above finished)\n"
    if markdown_path:
        Path(markdown_path).write_text(table)
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        first = done[0]["payload"].get("environment") if done else None
        machine = f"{machine_line(first)}\n\n" if first else ""
        (out_dir / "RESULTS.md").write_text(
            f"# Lecture experiments, both engines\n\n{MARKDOWN_METHOD}\n\n{machine}{table}")
        from ...training.plot import plot_runs

        for d in done:
            name = d["stem"]
            (out_dir / f"{name}.json").write_text(json.dumps(d["payload"], indent=2))
            if any(r.epochs for r in d["results"]):
                plot_runs(d["results"], str(out_dir / f"{name}.png"), title=f"{name} ({d['exp'].reported})")
    if getattr(args, "json", None):
        Path(args.json).write_text(json.dumps(
            {"experiments": [d["payload"] for d in done], "interrupted": interrupted}, indent=2))
    if getattr(args, "plot", None) and done:
        from ...training.plot import plot_runs

        plot_runs([r for d in done for r in d["results"]], args.plot)
