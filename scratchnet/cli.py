"""``scratchnet`` on the command line: train, list and reproduce the lecture experiments.

    scratchnet train --model basic-cnn --engine both --epochs 5
    scratchnet experiments
    scratchnet reproduce mlp5

Every failure the user can cause (unknown model, missing or corrupt data, CUDA asked
for but absent) ends with one ``scratchnet: error: ...`` line and exit status 2,
never a traceback.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from . import experiments, models
from .cli_args import ArgumentParser, non_negative_float, non_negative_int, positive_int, seed
from .train import LOSSES, OPTIMIZERS, NumpyEngine, TrainConfig, compare, dataset_for, fit


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
        p.add_argument("--amp", action="store_true", help="torch engine: bf16 autocast")
        p.add_argument("--compile", action="store_true", help="torch engine: torch.compile the model")
        p.add_argument("--log-interval", type=non_negative_int, default=None,
                       help="batches between 'Train Epoch' lines (0: none)")
        p.add_argument("--quiet", action="store_true", help="only the summary")
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
    add_run_options(rep, defaults=False)
    return parser


# --------------------------------------------------------------------------- data
def load_data(kind: str, data_dir, download: bool):
    """Return ``((train_x, train_y), (test_x, test_y), source)`` for a dataset kind."""
    if kind == "toy":
        x, y = experiments.TOY_X, experiments.TOY_Y
        return (x, y), (x, y), "lecture toy data (8 samples x 4 features)"
    from .data import load_dataset

    data = load_dataset(kind, data_dir, download=download)
    return data.train.arrays, data.test.arrays, data.source


# --------------------------------------------------------------------------- running
def run(cfg: TrainConfig, args, dataset_kind: str):
    train_data, test_data, source = load_data(dataset_kind, args.data_dir, args.download)
    log = (lambda s: None) if args.quiet else print
    results = []
    state = None
    if args.engine in ("numpy", "both"):
        engine = NumpyEngine.build(cfg)
        state = engine.state_dict()  # the torch engine starts from these very weights
        results.append(fit(engine, train_data, test_data, cfg, dataset=source, log=log))
    if args.engine in ("torch", "both"):
        try:
            from .torch_engine import TorchEngine
        except ImportError as e:
            raise CLIError(f"the torch engine needs PyTorch installed ({e})") from None
        engine = TorchEngine.build(cfg, state_dict=state, device=args.device,
                                   amp=args.amp, compile=args.compile)
        if args.engine == "both":
            log("")
        results.append(fit(engine, train_data, test_data, cfg, dataset=source, log=log))
    return results, source


def summarize(results, out=print):
    out("")
    out(f"{'engine':<8} {'device':<8} {'epochs':>6} {'train loss':>11} {'test loss':>10} "
        f"{'accuracy':>17} {'time (s)':>9}")
    for r in results:
        last = r.epochs[-1]
        acc = f"{last.correct}/{last.total} ({100 * last.test_accuracy:.2f}%)"
        out(f"{r.engine:<8} {r.device:<8} {len(r.epochs):>6} {last.train_loss:>11.6f} "
            f"{last.test_loss:>10.4f} {acc:>17} {r.total_seconds:>9.2f}")
    if len(results) == 2:
        c = compare(*results)
        first = c["epochs"][0]["train_loss_rel_diff"] if c["epochs"] else float("nan")
        out(f"numpy vs torch: first-epoch mean training loss differs by {first:.2e} (relative), "
            f"at most {c['max_train_loss_rel_diff']:.2e} over all epochs; test accuracy by at most "
            f"{100 * c['max_test_accuracy_diff']:.2f} points; numpy took {c['speed_ratio']:.2f}x torch's time")
        return c
    return None


def write_outputs(results, args):
    if args.json:
        payload = [r.to_json() for r in results]
        obj = payload[0] if len(payload) == 1 else payload
        with open(args.json, "w") as f:
            json.dump(obj, f, indent=2)
    if args.plot:
        from .plot import plot_runs

        plot_runs(results, args.plot)


def _config_from_args(args) -> TrainConfig:
    return TrainConfig(
        model=args.model, loss=args.loss, optimizer=args.optimizer, lr=args.lr,
        momentum=args.momentum, weight_decay=args.weight_decay, batch_size=args.batch_size,
        test_batch_size=args.test_batch_size, epochs=args.epochs, drop_last=args.drop_last,
        seed=args.seed, dtype=args.dtype,
        log_interval=10 if args.log_interval is None else args.log_interval,
    )


def cmd_train(args):
    if args.device == "cuda" and args.engine == "numpy":
        raise CLIError("--device cuda applies to the torch engine; the NumPy engine runs on the CPU")
    cfg = _config_from_args(args)
    results, source = run(cfg, args, dataset_for(cfg.model))
    summarize(results)
    write_outputs(results, args)
    return 0


def _reproduce_one(name: str, args):
    exp = experiments.get(name)
    cfg = TrainConfig(
        model=exp.model, loss=exp.loss, optimizer=exp.optimizer, lr=exp.lr, momentum=exp.momentum,
        batch_size=exp.batch_size, test_batch_size=exp.test_batch_size,
        epochs=args.epochs or exp.epochs, drop_last=exp.drop_last, seed=exp.seed,
        zero_init=exp.zero_init, dtype=args.dtype, log_every_epochs=exp.log_every_epochs,
        log_interval=(100 if args.log_interval is None else args.log_interval),
    )
    print(f"Reproducing {exp.name}: model {exp.model}, {exp.optimizer.upper()} lr {exp.lr} "
          f"momentum {exp.momentum}, batch {exp.batch_size}, {cfg.epochs} epochs, loss {exp.loss}")
    if exp.notes:
        print(f"  ({exp.notes})")
    results, source = run(cfg, args, exp.dataset)
    comparison = summarize(results)
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
    return exp, results, source, comparison


def _markdown_row(exp, results, source, comparison) -> str:
    cells = []
    for engine in ("numpy", "torch"):
        r = next((r for r in results if r.engine == engine), None)
        if r is None:
            cells.append("—")
            continue
        last = r.epochs[-1]
        cells.append(f"{r.epochs[0].train_loss:.3f} → {last.train_loss:.3f}; "
                     f"{last.correct}/{last.total} ({100 * last.test_accuracy:.2f}%); "
                     f"{r.total_seconds:.1f} s")
    drift = "—" if comparison is None else (
        f"{comparison['epochs'][0]['train_loss_rel_diff']:.1e} / {comparison['max_train_loss_rel_diff']:.1e}")
    epochs = len(results[0].epochs)
    return (f"| {exp.name} | {exp.reported} | {source}, {epochs} ep | {cells[0]} | {cells[1]} | {drift} |")


MARKDOWN_HEADER = (
    "| experiment | lecture reported (on full MNIST, except the toy) | measured on | NumPy: cost first → last epoch; "
    "test accuracy; time | torch: the same | loss drift numpy vs torch (epoch 1 / max) |\n"
    "|---|---|---|---|---|---|"
)


def cmd_reproduce(args):
    names = experiments.names() if args.name == "all" else [args.name]
    rows, all_results = [], []
    for i, name in enumerate(names):
        if i:
            print("\n" + "=" * 100 + "\n")
        exp, results, source, comparison = _reproduce_one(name, args)
        rows.append(_markdown_row(exp, results, source, comparison))
        all_results.extend(results)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(MARKDOWN_HEADER + "\n" + "\n".join(rows) + "\n")
    write_outputs(all_results, args)
    return 0


def cmd_experiments(args):
    print(f"{'name':<20} {'model':<17} {'data':<10} {'settings':<44} lecture reported")
    for name in experiments.names():
        e = experiments.get(name)
        settings = (f"{e.optimizer} lr {e.lr:g}" + (f" mom {e.momentum:g}" if e.momentum else "")
                    + f", batch {e.batch_size}, {e.epochs} ep, {e.loss}")
        print(f"{name:<20} {e.model:<17} {e.dataset:<10} {settings:<44} {e.reported}")
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
    handlers = {"train": cmd_train, "reproduce": cmd_reproduce,
                "experiments": cmd_experiments, "models": cmd_models}
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
