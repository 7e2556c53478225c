"""``scratchnet`` on the command line: train, list and reproduce the lecture experiments.

    scratchnet train --model basic-cnn --engine both --epochs 5
    scratchnet experiments
    scratchnet reproduce mlp5
    scratchnet reproduce all --data-dir ../shared/mnist --out-dir results/
    scratchnet diagnose mlp9 --steps 200 --every 20 --plot mlp9.png
    scratchnet explain max_pool2d --input 1,1,4,4 --kernel 2 --numbers
    scratchnet exercise start softmax

Every failure the user can cause (unknown model, missing or corrupt data, CUDA asked
for but absent) ends with one ``scratchnet: error: ...`` line and exit status 2,
never a traceback.
"""
from __future__ import annotations

import argparse
import os
import sys

from .arguments import ArgumentParser
from .commands import diagnose, exercise, explain, list_experiments, list_models, reproduce, train
from .run_setup import SetupError

#: The sub-commands, in the order ``--help`` lists them: each a module with
#: ``add_parser(subparsers)`` and ``command(args) -> int``.
COMMANDS = {
    "train": train,
    "experiments": list_experiments,
    "models": list_models,
    "reproduce": reproduce,
    "diagnose": diagnose,
    "explain": explain,
    "exercise": exercise,
}


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return COMMANDS[args.command].command(args)
    except KeyboardInterrupt:
        print("scratchnet: interrupted", file=sys.stderr)
        return 130
    except (SetupError, ValueError, TypeError, KeyError, OSError, RuntimeError, ImportError) as e:
        # OSError covers missing files; the data package's CorruptDataError is a ValueError.
        # SCRATCHNET_DEBUG=1 shows the traceback instead, for bugs rather than bad input.
        if os.environ.get("SCRATCHNET_DEBUG"):
            raise
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        print(f"scratchnet: error: {msg}", file=sys.stderr)
        return 2


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="scratchnet",
        description="Train the MNIST lectures' models in NumPy (scratchnet) and in torch, side by side.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMANDS.values():
        module.add_parser(subparsers)
    return parser
