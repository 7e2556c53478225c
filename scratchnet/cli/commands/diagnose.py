"""``scratchnet diagnose MODEL``: record what happens inside each layer while a model trains
(the statistics, tables and plots are :mod:`scratchnet.training.diagnose`'s)."""
from __future__ import annotations

import json
from pathlib import Path

from ...training import experiments
from ... import models
from ..arguments import positive_int, seed
from ...training.diagnose import diagnose, findings, max_abs_diff, plot, recorded_steps, records_at, table
from ..run_setup import (add_data_options, add_engine_options, add_init_option, add_output_options,
                         add_override_options, build_engines, check_outputs, experiment_config, load_data)


def add_parser(subparsers):
    p = subparsers.add_parser(
        "diagnose", help="record what happens inside each layer while a model trains",
        description="Train MODEL with the lecture's settings (overridable) for --steps steps and record, "
                    "at step 0 and every --every steps, each layer's output statistics, the gradient "
                    "arriving at it, and each parameter's gradient norm, norm and update ratio.")
    p.add_argument("model", choices=models.names(), metavar="MODEL", help="one of: " + ", ".join(models.names()))
    add_engine_options(p, default="numpy", devices=False)
    add_data_options(p)
    p.add_argument("--steps", type=positive_int, default=100, help="optimizer steps")
    p.add_argument("--every", type=positive_int, default=10, help="record every K steps")
    add_init_option(p)
    add_override_options(p, "lr", "momentum", "batch_size")
    p.add_argument("--seed", type=seed, default=0, help="weights and batches")
    add_output_options(p, json_what="the records", plot_what="the diagnosis")
    p.add_argument("--quiet", action="store_true", help="no tables, only the findings")
    return p


def command(args) -> int:
    check_outputs(engine=args.engine, json=args.json, plot=args.plot)
    exp = experiments.for_model(args.model)
    # The lecture's recipe for the model; the seed is diagnose's own (weights and batches).
    cfg = experiment_config(exp, lr=args.lr, momentum=args.momentum, batch_size=args.batch_size,
                            seed=args.seed, dtype=args.dtype,
                            init=args.init if args.init != "default" else None)
    train_data, _, source = load_data(exp.dataset, args.data_dir, args.download, note=print)
    print(f"Diagnosing {cfg.model} on {source}: {cfg.optimizer.upper()} lr {cfg.lr} momentum {cfg.momentum}, "
          f"batch {cfg.batch_size}, init {cfg.init}, {args.steps} steps, recorded every {args.every}")
    results = {}
    for engine in build_engines(cfg, args.engine):
        r = diagnose(engine, train_data, steps=args.steps, every=args.every, batch_size=cfg.batch_size,
                     seed=cfg.seed)
        r = {"model": cfg.model, "engine": r.pop("engine"), "init": cfg.init, "lr": cfg.lr,
             "momentum": cfg.momentum, "dataset": source, **r}
        results[r["engine"]] = r
    main = next(iter(results.values()))
    if not args.quiet:
        for step in (recorded_steps(main)[0], recorded_steps(main)[-1]):
            loss = next(l["loss"] for l in main["losses"] if l["step"] == step)
            print(f"\nstep {step} ({main['engine']} engine), loss {loss:.4f}:")
            print(table(records_at(main, step)))
    print("")
    for note in findings(main):
        print("finding: " + note)
    payload = main
    if len(results) == 2:
        diff = max_abs_diff(results["numpy"], results["torch"])
        worst = max(v for k, v in diff.items() if k != "histogram_counts")
        print(f"numpy vs torch: records agree to {worst:.2e} (largest absolute difference of any field), "
              f"histogram counts to {diff['histogram_counts']}")
        payload = {"engines": results, "max_abs_diff": diff}
    if args.json:
        Path(args.json).write_text(json.dumps(payload, indent=2))
    if args.plot:
        plot(main, args.plot)
    return 0
