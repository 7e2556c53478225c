"""``scratchnet models``: the models, their sizes, inputs and losses."""
from __future__ import annotations

from ... import models


def add_parser(subparsers):
    return subparsers.add_parser("models", help="list the models")


def command(args) -> int:
    for name in models.names():
        s = models.spec(name)
        print(f"{name:<18} {s.num_parameters:>9,} params  input {str(tuple(s.input_shape)):<12} "
              f"loss {'/'.join(s.losses):<20} {s.description}")
    return 0
