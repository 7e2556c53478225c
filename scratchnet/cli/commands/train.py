"""``scratchnet train``: train one model with one or both engines."""
from __future__ import annotations

import contextlib
import sys

from ... import models
from ..run_setup import (add_data_options, add_engine_options, add_init_option, add_log_options,
                         add_output_options, add_recipe_options, check_outputs, config_from_args)
from ...training.loop import TrainingInterrupted
from .training_run import comparison, interrupted, results_json, run, run_environment, summarize, write_outputs


def add_parser(subparsers):
    p = subparsers.add_parser("train", help="train one model",
                              description="Train a lecture model with one or both engines.")
    add_engine_options(p)
    add_data_options(p)
    add_output_options(p)
    add_log_options(p)
    add_init_option(p)
    add_recipe_options(p)
    p.add_argument("--ops", metavar="DIR",
                   help="the Practice track's capstone: train with your passed exercise ops "
                        "from DIR in place of scratchnet's (NumPy engine)")
    return p


def command(args) -> int:
    check_outputs(engine=args.engine, device=args.device, json=args.json, plot=args.plot)
    cfg = config_from_args(args)

    def write(results, source, other_load, was_interrupted):
        write_outputs(results, args, results_json(
            results, comparison=comparison(results), interrupted=was_interrupted,
            environment=run_environment(args, source, other_load)))

    ops, refused = contextlib.nullcontext(), ()
    if args.ops:  # the learner's ops in scratchnet's place, refused until each has passed
        from ...exercise.capstone import REFUSALS, learner_ops_for

        ops, refused = learner_ops_for(cfg, args.ops, engine=args.engine), REFUSALS
    try:
        with ops:
            results, source, other_load = run(cfg, args, models.spec(cfg.model).dataset)
    except refused as e:  # every line of it: which op, where, on which call
        print(f"scratchnet: error: {e}", file=sys.stderr)
        return 2
    except TrainingInterrupted as stop:
        return interrupted(stop, args, lambda s: write(s.results, s.source, s.other_load, True))
    summarize(results, other_load)
    write(results, source, other_load, False)
    return 0
