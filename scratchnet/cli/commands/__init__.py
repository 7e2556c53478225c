"""The sub-commands of ``scratchnet``, one module each.

A sub-command is a module with ``add_parser(subparsers)`` (its options) and
``command(args) -> int`` (what it does, the exit status); :data:`scratchnet.cli.COMMANDS`
lists them. The options they share are declared in :mod:`scratchnet.cli.run_setup`; the
training and reporting that ``train`` and ``reproduce`` share is in :mod:`.training_run`.
"""
