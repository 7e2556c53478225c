"""Command-line parsing shared by ``scratchnet`` and the benchmarks.

:class:`ArgumentParser` is :class:`argparse.ArgumentParser` with two changes:

* A usage error is **one line** that names the argument and says what is allowed,
  for example ``scratchnet: error: --epochs: expected a positive integer, got '0'``,
  and exits with status 2. argparse would print the whole usage first (8 to 14 lines
  for ``scratchnet train``), burying the one line that matters; the usage is on
  ``--help``. A misspelt option gets the nearest real one as a suggestion.
* ``--help`` shows every option's default (:class:`DefaultsHelpFormatter`).

The ``type=`` functions below turn a command-line string into a checked value or
raise :class:`argparse.ArgumentTypeError` with a message saying what was expected and
what was given; argparse puts the option's name in front of it.
"""
from __future__ import annotations

import argparse
import copy
import difflib
import functools
import math
import re

#: The seeds every engine accepts: ``numpy.random.default_rng`` takes any integer
#: >= 0, ``torch.manual_seed`` any integer that fits in 64 bits (it maps negative
#: ones onto the same range), so the common range is [0, 2**64 - 1].
SEED_MAX = 2**64 - 1


# --------------------------------------------------------------------------- types
def _number(text: str, parse, expected: str, accept) -> int | float:
    """``parse(text)`` if it parses and ``accept`` takes it, else argparse's error naming ``expected``."""
    try:
        value = parse(text)
    except ValueError:
        value = None
    if value is None or not accept(value):
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
    return value


def positive_int(text: str) -> int:
    """An integer >= 1."""
    return _number(text, int, "a positive integer", lambda v: v >= 1)


def non_negative_int(text: str) -> int:
    """An integer >= 0."""
    return _number(text, int, "a non-negative integer", lambda v: v >= 0)


def seed(text: str) -> int:
    """A random seed both engines accept: an integer in [0, 2**64 - 1] (see :data:`SEED_MAX`)."""
    return _number(text, int, "an integer in [0, 2**64 - 1]", lambda v: 0 <= v <= SEED_MAX)


def non_negative_float(text: str) -> float:
    """A finite number >= 0."""
    return _number(text, float, "a finite number >= 0", lambda v: math.isfinite(v) and v >= 0)


def positive_float(text: str) -> float:
    """A finite number > 0."""
    return _number(text, float, "a finite number > 0", lambda v: math.isfinite(v) and v > 0)


def csv_list(kind: str, choices=None):
    """A type: a comma-separated list of ``kind`` (at least one), each in ``choices`` if given."""
    def parse(text):
        items = [t.strip() for t in text.split(",") if t.strip()]
        if not items:
            raise argparse.ArgumentTypeError(f"expected a comma-separated list of {kind}, got {text!r}")
        if choices is not None:
            bad = [t for t in items if t not in choices]
            if bad:
                raise argparse.ArgumentTypeError(
                    f"unknown {kind} {', '.join(map(repr, bad))}; choose from {', '.join(choices)}")
        return items

    return parse


def positive_ints(kind: str):
    """A type: a comma-separated list of integers >= 1."""
    def parse(text):
        items = csv_list(kind)(text)
        try:
            values = [int(t) for t in items]
        except ValueError:
            values = None
        if values is None or any(v < 1 for v in values):
            raise argparse.ArgumentTypeError(
                f"expected a comma-separated list of positive integers ({kind}), got {text!r}")
        return values

    return parse


# --------------------------------------------------------------------------- help
def _shows_default(action) -> bool:
    """Whether ``--help`` should state this action's default (not for flags or ``None``)."""
    return (bool(action.option_strings) and action.nargs != 0
            and action.default is not None and action.default is not argparse.SUPPRESS)


class DefaultsHelpFormatter(argparse.HelpFormatter):
    """Appends ``(default: ...)`` to every option that takes a value and has a default.

    Unlike :class:`argparse.ArgumentDefaultsHelpFormatter` it also covers options
    without a help text, leaves alone a help text that already names its default,
    skips flags and ``None`` defaults (which say nothing), and writes a list default
    as the comma-separated text the option would take.
    """

    def _get_help_string(self, action):
        text = action.help or ""
        if _shows_default(action) and "default" not in text.lower():
            text = (text + " " if text else "") + "(default: %(default)s)"
        return text

    def _format_action(self, action):
        if not action.help and _shows_default(action):
            action = copy.copy(action)
            action.help = self._get_help_string(action)
        return super()._format_action(action)

    def _expand_help(self, action):
        if isinstance(action.default, (list, tuple)):
            action = copy.copy(action)
            action.default = ",".join(map(str, action.default))
        return super()._expand_help(action)


# --------------------------------------------------------------------------- parser
class ArgumentParser(argparse.ArgumentParser):
    """An :class:`argparse.ArgumentParser` whose usage errors are one line (see the module doc).

    Parameters
    ----------
    error_prog : str, optional
        The name in front of ``error:`` (default: ``prog``). Sub-command parsers
        inherit their root's, so every error of a program starts the same way
        (``scratchnet: error: ...``, whichever sub-command raised it).
    error_prefix : str, optional
        Put in front of each message of this parser (``explain`` gives
        ``scratchnet: error: explain: ...``).
    *args, **kwargs
        As :class:`argparse.ArgumentParser`; ``formatter_class`` defaults to
        :class:`DefaultsHelpFormatter`.
    """

    def __init__(self, *args, error_prog: str | None = None, error_prefix: str | None = None, **kwargs):
        kwargs.setdefault("formatter_class", DefaultsHelpFormatter)
        super().__init__(*args, **kwargs)
        self.error_prog = error_prog or self.prog
        self.error_prefix = error_prefix

    def add_subparsers(self, **kwargs):
        kwargs.setdefault("parser_class", functools.partial(type(self), error_prog=self.error_prog))
        return super().add_subparsers(**kwargs)

    def parse_args(self, args=None, namespace=None):
        args, extras = self.parse_known_args(args, namespace)
        if extras:
            self.error(self._unrecognized(args, extras))
        return args

    def _unrecognized(self, namespace, extras) -> str:
        """``unrecognized arguments: ...``, with the nearest option of the chosen sub-command."""
        parser = self
        while True:  # descend into the sub-command that was chosen, if any
            sub = next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)
            chosen = getattr(namespace, sub.dest, None) if sub is not None else None
            if chosen not in (sub.choices if sub is not None else {}):
                break
            parser = sub.choices[chosen]
        # Compared without the dashes, which every option shares.
        options = [s[2:] for a in parser._actions for s in a.option_strings if s.startswith("--")]
        msg = f"unrecognized argument{'s' if len(extras) > 1 else ''}: {' '.join(extras)}"
        for word in extras:
            guess = difflib.get_close_matches(word.split("=", 1)[0].lstrip("-"), options, n=1, cutoff=0.7)
            if word.startswith("-") and guess:
                return f"{msg}; did you mean --{guess[0]}?"
        return f"{msg}; '{parser.prog} --help' lists the options"

    def error(self, message: str):
        """Print ``PROG: error: MESSAGE`` on one line to stderr and exit with status 2."""
        # argparse says "argument --epochs: ..."; the option's name alone reads better.
        message = re.sub(r"^argument ([^:]+): ", r"\1: ", " ".join(str(message).split()))
        if message.startswith("the following arguments are required"):
            message += f" ('{self.prog} --help' lists them)"
        if self.error_prefix:
            message = f"{self.error_prefix}: {message}"
        self.exit(2, f"{self.error_prog}: error: {message}\n")
