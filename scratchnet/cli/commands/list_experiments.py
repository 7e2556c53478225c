"""``scratchnet experiments``: the lecture experiments and their settings."""
from __future__ import annotations

from ...training import experiments


def add_parser(subparsers):
    return subparsers.add_parser("experiments", help="list the lecture experiments")


def command(args) -> int:
    print(f"{'name':<20} {'model':<19} {'data':<10} {'settings':<50} lecture reported")
    for name in experiments.names():
        e = experiments.get(name)
        settings = (f"{e.optimizer} lr {e.lr:g}" + (f" mom {e.momentum:g}" if e.momentum else "")
                    + f", batch {e.batch_size}, {e.epochs} ep, {e.loss}")
        print(f"{name:<20} {e.model:<19} {e.dataset:<10} {settings:<50} {e.reported}")
    return 0
