"""``scratchnet`` on the command line: train, list and reproduce the lecture experiments.

    scratchnet train --model basic-cnn --engine both --epochs 5
    scratchnet experiments
    scratchnet reproduce mlp5
    scratchnet reproduce all --data-dir ../shared/mnist --out-dir results/
    scratchnet diagnose mlp9 --steps 200 --every 20 --plot mlp9.png

Every failure the user can cause (unknown model, missing or corrupt data, CUDA asked
for but absent) ends with one ``scratchnet: error: ...`` line and exit status 2,
never a traceback.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np

from . import experiments, models, run_options
from .cli_args import ArgumentParser, non_negative_float, non_negative_int, positive_int, seed
from .diagnose import add_diagnose_parser, cmd_diagnose
from .environment import OtherLoad, environment, load_average
from .explain import add_explain_parser, cmd_explain
from .nn.init import INIT_SCHEMES
from .train import (LOSSES, OPTIMIZERS, NumpyEngine, TrainConfig, TrainingInterrupted, compare,
                    fit_lockstep)


class CLIError(Exception):
    """An error to report in one line."""


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="scratchnet",
        description="Train the MNIST lectures' models in NumPy (scratchnet) and in torch, side by side.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def add_run_options(p, *, defaults: bool):
        p.add_argument("--engine", choices=["numpy", "torch", "both"], default="both",
                       help="which engine trains (default: both, from identical weights on identical batches)")
        p.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                       help="device of the torch engine (the NumPy engine always runs on the CPU)")
        p.add_argument("--data-dir", default=None,
                       help="directory with the MNIST IDX files (default: $SCRATCHNET_DATA, else ./data); "
                            "without them the 5,000 embedded digits are used")
        p.add_argument("--download", action="store_true", help="download full MNIST into --data-dir first")
        p.add_argument("--json", metavar="FILE", help="write the results as JSON")
        p.add_argument("--plot", metavar="FILE", help="write a PNG of the loss and accuracy curves")
        p.add_argument("--dtype", choices=["float32", "float64"], default="float32")
        # --- issue 19: the torch engine's options (--loader, --amp, --compile, --tf32) ---
        run_options.add_torch_options(p)
        # --- end issue 19 ---
        p.add_argument("--log-interval", type=non_negative_int, default=None,
                       help="batches between 'Train Epoch' lines (0: none)")
        p.add_argument("--quiet", action="store_true", help="only the summary")
        add_init_option(p, defaults)
        if defaults:
            c = TrainConfig()
            p.add_argument("--model", choices=models.names(), default=c.model)
            p.add_argument("--epochs", type=positive_int, default=c.epochs)
            p.add_argument("--batch-size", type=positive_int, default=c.batch_size)
            p.add_argument("--test-batch-size", type=positive_int, default=c.test_batch_size)
            p.add_argument("--lr", type=non_negative_float, default=c.lr)
            p.add_argument("--momentum", type=non_negative_float, default=c.momentum)
            p.add_argument("--weight-decay", type=non_negative_float, default=c.weight_decay)
            p.add_argument("--optimizer", choices=OPTIMIZERS, default=c.optimizer)
            p.add_argument("--loss", choices=LOSSES, default=None,
                           help="default: the model's own (NLL after log_softmax, else cross-entropy)")
            p.add_argument("--seed", type=seed, default=c.seed)
            p.add_argument("--drop-last", action="store_true")
        else:
            p.add_argument("--epochs", type=positive_int, default=None,
                           help="override the lecture's number of epochs")

    train = sub.add_parser("train", help="train one model",
                           description="Train a lecture model with one or both engines.")
    add_run_options(train, defaults=True)

    sub.add_parser("experiments", help="list the lecture experiments")
    sub.add_parser("models", help="list the models")

    rep = sub.add_parser("reproduce", help="run a lecture experiment with the lecture's settings",
                         description="Run a lecture experiment and print the lecture's figure beside ours.")
    rep.add_argument("name", choices=experiments.names() + ["all"], metavar="NAME",
                     help="one of: " + ", ".join(experiments.names()) + "; or all")
    rep.add_argument("--markdown", metavar="FILE",
                     help="write a Markdown table: lecture figure beside the measured ones")
    rep.add_argument("--out-dir", metavar="DIR",
                     help="write, after each experiment, NAME.json and NAME.png (curves of both engines) "
                          "and RESULTS.md (the table) into DIR")
    add_run_options(rep, defaults=False)
    add_diagnose_parser(sub, add_init_option)
    add_explain_parser(sub)
    return parser


def add_init_option(p, defaults: bool = True):
    p.add_argument("--init", choices=list(INIT_SCHEMES), default="default" if defaults else None,
                   help="initialise every weight with this torch.nn.init scheme, biases zero "
                        "(default: each layer's own, torch's default"
                        + ("" if defaults else "; reproduce: the lecture's") + ")")


# --------------------------------------------------------------------------- data
def load_data(kind: str, data_dir, download: bool, note=print):
    """Return ``((train_x, train_y), (test_x, test_y), source)`` for a dataset kind.

    A ``data_dir`` the user typed is used or refused, never replaced: it must be a
    directory holding the four MNIST files (or ``download`` fetches them there). Only
    the default place (``$SCRATCHNET_DATA``, else ``./data``) falls back to the
    embedded digits, and ``note`` says so in one line.
    """
    if kind == "toy":
        x, y = experiments.TOY_X, experiments.TOY_Y
        return (x, y), (x, y), "lecture toy data (8 samples x 4 features)"
    from .data import default_data_dir, find_mnist, load_dataset

    if data_dir is not None:
        path = Path(data_dir)
        if path.exists() and not path.is_dir():
            raise CLIError(f"--data-dir {data_dir}: is a file, not a directory")
        if not download:
            if not path.is_dir():
                raise CLIError(f"--data-dir {data_dir}: no such directory "
                               "(add --download to fetch full MNIST into it)")
            if find_mnist(path) is None:
                raise CLIError(
                    f"--data-dir {data_dir}: holds none of the MNIST files (train-images-idx3-ubyte, "
                    "train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, "
                    "optionally .gz); add --download to fetch them, or leave --data-dir out to "
                    "use the 5,000 embedded digits")
    elif not download and find_mnist(default_data_dir()) is None:
        where = ("$SCRATCHNET_DATA=" + os.environ["SCRATCHNET_DATA"]) if os.environ.get("SCRATCHNET_DATA") \
            else f"./{default_data_dir()}"
        note(f"scratchnet: no MNIST files in {where}: using the 5,000 embedded digits "
             "(--data-dir DIR or --download for full MNIST)")
    data = load_dataset(kind, data_dir, download=download)
    return data.train.arrays, data.test.arrays, data.source


# --------------------------------------------------------------------------- checks
def check_outputs(args, *paths_attrs: str) -> None:
    """Refuse, before any training, an output that could only fail after it.

    Every ``--json``/``--plot``/``--markdown``/``--out-dir`` must be writable where
    it points, ``--plot`` needs matplotlib, and a torch engine needs torch.
    """
    for attr in paths_attrs:
        value = getattr(args, attr, None)
        if not value:
            continue
        option = "--" + attr.replace("_", "-")
        target = Path(value)
        if attr == "out_dir":  # created with its parents, as mkdir -p
            if target.exists() and not target.is_dir():
                raise CLIError(f"{option} {value}: is a file, not a directory")
            parent = next((p for p in (target, *target.parents) if p.exists()), Path("."))
            if not parent.is_dir():
                raise CLIError(f"{option} {value}: {parent} is a file, not a directory")
        else:
            if target.is_dir():
                raise CLIError(f"{option} {value}: is a directory; expected a file name")
            parent = target.parent
        parent = parent if str(parent) else Path(".")
        if not parent.is_dir():
            raise CLIError(f"{option} {value}: directory {parent} does not exist")
        if not os.access(parent, os.W_OK):
            raise CLIError(f"{option} {value}: directory {parent} is not writable")
    if getattr(args, "plot", None) or getattr(args, "out_dir", None):
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            option = "--plot" if getattr(args, "plot", None) else "--out-dir"
            raise CLIError(f"{option} needs matplotlib (pip install matplotlib)") from None
    if getattr(args, "engine", "numpy") in ("torch", "both"):
        if importlib.util.find_spec("torch") is None:  # looked up, not imported
            raise CLIError(f"--engine {args.engine} needs PyTorch installed (pip install torch); "
                           "--engine numpy runs without it")
    run_options.check_torch_options(args)  # issue 19
    if getattr(args, "device", "cpu") == "cuda":
        if getattr(args, "engine", "numpy") == "numpy":
            raise CLIError("--device cuda applies to the torch engine; the NumPy engine runs on the CPU")
        from .torch_engine import cuda_available

        if not cuda_available():
            raise CLIError("--device cuda: CUDA was asked for, but torch sees no CUDA device on this machine")


# --------------------------------------------------------------------------- running
def build_engines(cfg: TrainConfig, args):
    """The engines ``--engine`` asks for; with both, torch starts from NumPy's very weights."""
    engines = []
    state = None
    if args.engine in ("numpy", "both"):
        engines.append(NumpyEngine.build(cfg))
        state = engines[0].state_dict()
    if args.engine in ("torch", "both"):
        from .torch_engine import TorchEngine

        # amp, compile and tf32 come from cfg (issue 19)
        engines.append(TorchEngine.build(cfg, state_dict=state, device=args.device))
    return engines


def run(cfg: TrainConfig, args, dataset_kind: str):
    """Train with the engines of ``--engine``; both take turns epoch by epoch.

    Returns ``(results, source, other_load)``. On Ctrl-C raises
    :class:`TrainingInterrupted` with what finished, and its ``source`` and
    ``other_load`` set.
    """
    log = None if args.quiet else print  # None: no log line, so no loss read back per line
    run_options.check_torch_options(args, dataset_kind)  # issue 19
    download = args.download
    if download and cfg.loader == "torchvision":  # issue 19: torchvision's own downloader
        from .torch_data import download_with_torchvision

        download_with_torchvision(args.data_dir)
        download = False  # the files are there now, in the layout scratchnet reads
    train_data, test_data, source = load_data(dataset_kind, args.data_dir, download, note=print)
    engines = build_engines(cfg, args)
    if cfg.loader == "torchvision":  # issue 19: the torch engine reads the lectures' pipeline
        from .torch_data import attach_feed

        attach_feed(engines, dataset_kind, source, args.data_dir, cfg)
    load = OtherLoad()
    try:
        with load:
            results = fit_lockstep(engines, train_data, test_data, cfg, dataset=source, log=log)
    except TrainingInterrupted as stop:
        stop.source, stop.other_load = source, load.fraction
        raise
    return results, source, load.fraction


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


def summarize(results, other_load=None, out=print):
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
    for note in run_options.summary_notes(results):  # issue 19
        out(note)
    if len(results) == 2 and results[0].epochs and results[1].epochs:
        c = compare(*results)
        first = c["epochs"][0]["train_loss_rel_diff"]
        out(f"{c['engines'][0]} vs {c['engines'][1]}: first-epoch mean training loss differs by "
            f"{first:.2e} (relative), at most {c['max_train_loss_rel_diff']:.2e} over all epochs; "
            f"test accuracy by at most {100 * c['max_test_accuracy_diff']:.2f} points")
        for caveat in run_options.drift_caveats(results):  # issue 19
            out(f"  drift: {caveat}")
        out(f"speed: {c['engines'][0]}'s median epoch took {c['speed_ratio']:.2f}x {c['engines'][1]}'s "
            f"({noise_note(c, other_load)})")
        return c
    return None


def results_json(results, *, comparison=None, environment=None, interrupted=False, **extra) -> dict:
    """The ``--json`` object: every run, how the engines compare, and where it ran."""
    return {"runs": [r.to_json() for r in results], "comparison": comparison,
            "interrupted": interrupted, "environment": environment, **extra}


def write_outputs(results, args, payload: dict):
    if args.json:
        with open(args.json, "w") as f:
            json.dump(payload, f, indent=2)
    if args.plot and any(r.epochs for r in results):
        from .plot import plot_runs

        plot_runs(results, args.plot)


def _environment(args, source, other_load):
    env = environment(device=args.device, data_source=source)
    env["other_load_fraction"] = other_load
    env["load_average_end"] = load_average()
    return env


def _config_from_args(args) -> TrainConfig:
    return TrainConfig(
        model=args.model, loss=args.loss, optimizer=args.optimizer, lr=args.lr,
        momentum=args.momentum, weight_decay=args.weight_decay, batch_size=args.batch_size,
        test_batch_size=args.test_batch_size, epochs=args.epochs, drop_last=args.drop_last,
        seed=args.seed, dtype=args.dtype, init=args.init,
        log_interval=10 if args.log_interval is None else args.log_interval,
        **run_options.config_fields(args),  # issue 19
    )


def _comparison(results):
    return compare(*results) if len(results) == 2 and all(r.epochs for r in results) else None


def _interrupted(stop: TrainingInterrupted, args, write) -> int:
    """Ctrl-C: keep what finished, marked as interrupted, and say where it went."""
    print("\nscratchnet: interrupted; keeping the epochs that finished", file=sys.stderr)
    write(stop)
    written = [p for p in (getattr(args, "json", None), getattr(args, "plot", None),
                           getattr(args, "out_dir", None), getattr(args, "markdown", None)) if p]
    if written:
        print("scratchnet: wrote what finished (marked interrupted) to " + ", ".join(written),
              file=sys.stderr)
    return 130


def cmd_train(args):
    check_outputs(args, "json", "plot")
    cfg = _config_from_args(args)

    def write(results, source, other_load, interrupted):
        write_outputs(results, args, results_json(
            results, comparison=_comparison(results), interrupted=interrupted,
            environment=_environment(args, source, other_load)))

    try:
        results, source, other_load = run(cfg, args, models.spec(cfg.model).dataset)
    except TrainingInterrupted as stop:
        return _interrupted(stop, args, lambda s: write(s.results, s.source, s.other_load, True))
    summarize(results, other_load)
    write(results, source, other_load, False)
    return 0


# --------------------------------------------------------------------------- reproduce
def _reproduce_config(exp, args) -> TrainConfig:
    return TrainConfig(
        model=exp.model, loss=exp.loss, optimizer=exp.optimizer, lr=exp.lr, momentum=exp.momentum,
        batch_size=exp.batch_size, test_batch_size=exp.test_batch_size,
        epochs=args.epochs or exp.epochs, drop_last=exp.drop_last, seed=exp.seed,
        init=args.init or exp.init, dtype=args.dtype, log_every_epochs=exp.log_every_epochs,
        log_interval=(100 if args.log_interval is None else args.log_interval),
        **run_options.config_fields(args),  # issue 19
    )


def _reproduce_one(name: str, args):
    exp = experiments.get(name)
    cfg = _reproduce_config(exp, args)
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
        (out_dir / "RESULTS.md").write_text(
            f"# Lecture experiments, both engines\n\n{MARKDOWN_METHOD}\n\n{table}")
        from .plot import plot_runs

        for d in done:
            name = d["stem"]
            (out_dir / f"{name}.json").write_text(json.dumps(d["payload"], indent=2))
            if any(r.epochs for r in d["results"]):
                plot_runs(d["results"], str(out_dir / f"{name}.png"), title=f"{name} ({d['exp'].reported})")
    if getattr(args, "json", None):
        Path(args.json).write_text(json.dumps(
            {"experiments": [d["payload"] for d in done], "interrupted": interrupted}, indent=2))
    if getattr(args, "plot", None) and done:
        from .plot import plot_runs

        plot_runs([r for d in done for r in d["results"]], args.plot)


def cmd_reproduce(args):
    check_outputs(args, "out_dir")
    out_dir = Path(args.out_dir) if args.out_dir else None
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)  # so that --json may point into it
    check_outputs(args, "json", "plot", "markdown")
    names = experiments.names() if args.name == "all" else [args.name]
    done = []

    def record(exp, results, source, comparison, other_load, interrupted):
        env = _environment(args, source, other_load)
        payload = results_json(results, comparison=comparison, environment=env, interrupted=interrupted,
                               experiment=dict(asdict(exp), dataset=exp.dataset))
        init = results[0].config["init"]
        # A run with another --init than the lecture's is a different result: its own files.
        stem = exp.name if init == exp.init else f"{exp.name}-init-{init}"
        stem += run_options.stem_suffix(results[0].config)  # issue 19
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
                record(exp, stop.results, stop.source, _comparison(stop.results), stop.other_load, True)
            return _interrupted(stop, args, lambda s: _write_reproduction(
                out_dir, done, args.markdown, args, True))
        record(exp, results, source, comparison, other_load, False)
        # Written after every experiment, so a long `reproduce all` keeps what finished.
        _write_reproduction(out_dir, done, args.markdown, args, False)
    return 0


def cmd_experiments(args):
    print(f"{'name':<20} {'model':<19} {'data':<10} {'settings':<50} lecture reported")
    for name in experiments.names():
        e = experiments.get(name)
        settings = (f"{e.optimizer} lr {e.lr:g}" + (f" mom {e.momentum:g}" if e.momentum else "")
                    + f", batch {e.batch_size}, {e.epochs} ep, {e.loss}")
        print(f"{name:<20} {e.model:<19} {e.dataset:<10} {settings:<50} {e.reported}")
    return 0


def cmd_models(args):
    for name in models.names():
        s = models.spec(name)
        print(f"{name:<18} {s.num_parameters:>9,} params  input {str(tuple(s.input_shape)):<12} "
              f"loss {'/'.join(s.losses):<20} {s.description}")
    return 0


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    handlers = {"train": cmd_train, "reproduce": cmd_reproduce, "diagnose": cmd_diagnose,
                "explain": cmd_explain, "experiments": cmd_experiments, "models": cmd_models}
    try:
        return handlers[args.command](args)
    except KeyboardInterrupt:
        print("scratchnet: interrupted", file=sys.stderr)
        return 130
    except (CLIError, ValueError, TypeError, KeyError, OSError, RuntimeError, ImportError) as e:
        # OSError covers missing files; the data package's CorruptDataError is a ValueError.
        # SCRATCHNET_DEBUG=1 shows the traceback instead, for bugs rather than bad input.
        if os.environ.get("SCRATCHNET_DEBUG"):
            raise
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        print(f"scratchnet: error: {msg}", file=sys.stderr)
        return 2
