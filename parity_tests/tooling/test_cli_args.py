"""Argument errors are one line naming the option and what it allows; ``--help`` shows the defaults.

For ``scratchnet`` and for ``python -m benchmarks.run`` / ``benchmarks.profile``
(all built on :class:`scratchnet.cli.arguments.ArgumentParser`).
"""
import argparse
import sys
from pathlib import Path

import numpy as np
import pytest

from scratchnet import cli
from scratchnet.cli import arguments as cli_args
from scratchnet.training.loop import TrainConfig

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # ``benchmarks`` is a top-level package beside ``scratchnet``
    sys.path.insert(0, str(ROOT))


def _error(parse, argv, capsys) -> str:
    """The one stderr line of a usage error (asserting exit status 2, no usage, one line)."""
    with pytest.raises(SystemExit) as exc:
        parse(argv)
    assert exc.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert "usage:" not in captured.err
    return lines[0]


def _scratchnet(argv):
    return cli.build_parser().parse_args(argv)


@pytest.mark.parametrize("argv, names", [
    (["train", "--epochs", "0"], ["--epochs", "expected a positive integer, got '0'"]),
    (["train", "--epochs", "two"], ["--epochs", "positive integer", "'two'"]),
    (["train", "--batch-size", "1.5"], ["--batch-size", "positive integer"]),
    (["train", "--test-batch-size", "-4"], ["--test-batch-size", "positive integer"]),
    (["train", "--seed", "-1"], ["--seed", "[0, 2**64 - 1]", "'-1'"]),
    (["train", "--seed", str(2**64)], ["--seed", "[0, 2**64 - 1]"]),
    (["train", "--seed", "1.5"], ["--seed", "integer"]),
    (["train", "--lr", "fast"], ["--lr", "finite number >= 0", "'fast'"]),
    (["train", "--lr", "-0.1"], ["--lr", ">= 0"]),
    (["train", "--momentum", "nan"], ["--momentum", "finite"]),
    (["train", "--weight-decay", "inf"], ["--weight-decay", "finite"]),
    (["train", "--log-interval", "-1"], ["--log-interval", "non-negative integer"]),
    (["train", "--model", "resnet50"], ["--model", "invalid choice", "'resnet50'", "lenet5"]),
    (["train", "--engine", "jax"], ["--engine", "'jax'", "numpy", "torch", "both"]),
    (["train", "--epochs"], ["--epochs", "expected one argument"]),
    (["train", "--modle", "mlp3"], ["--modle", "did you mean --model?"]),
    (["train", "--frobnicate"], ["--frobnicate", "'scratchnet train --help'"]),
    (["reproduce"], ["NAME", "required"]),
    (["reproduce", "nope"], ["NAME", "'nope'", "mlp5"]),
    (["reproduce", "mlp5", "--epochs", "0"], ["--epochs", "positive integer"]),
    (["trian"], ["'trian'", "train"]),
])
def test_scratchnet_argument_errors_are_one_line_naming_the_option(argv, names, capsys):
    line = _error(_scratchnet, argv, capsys)
    # Every error of the program starts alike, whichever sub-command raised it.
    assert line.startswith("scratchnet: error: "), line
    for name in names:
        assert name in line, (name, line)


def test_an_option_error_leads_with_the_option_name(capsys):
    line = _error(_scratchnet, ["train", "--epochs", "0"], capsys)
    assert line == "scratchnet: error: --epochs: expected a positive integer, got '0'"


def test_cli_main_reports_the_same_one_line(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["train", "--seed", "-1"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err == "scratchnet: error: --seed: expected an integer in [0, 2**64 - 1], got '-1'\n"


def test_the_seed_range_is_what_both_engines_accept():
    torch = pytest.importorskip("torch")
    for text in ("0", str(cli_args.SEED_MAX)):
        seed = _scratchnet(["train", "--seed", text]).seed
        np.random.default_rng(seed)
        torch.manual_seed(seed)
    # Just outside: NumPy refuses negative seeds, torch seeds beyond 64 bits.
    with pytest.raises(ValueError):
        np.random.default_rng(-1)
    with pytest.raises((ValueError, RuntimeError, OverflowError)):
        torch.manual_seed(cli_args.SEED_MAX + 1)


def test_valid_values_still_parse():
    args = _scratchnet(["train", "--epochs", "3", "--lr", "0", "--momentum", "0.5", "--seed", "7",
                        "--log-interval", "0", "--batch-size", "1"])
    assert (args.epochs, args.lr, args.momentum, args.seed, args.log_interval, args.batch_size) == (
        3, 0.0, 0.5, 7, 0, 1)


def _option_blocks(help_text: str) -> dict:
    """``{"--epochs": "help text of --epochs", ...}`` from an argparse ``--help`` page."""
    blocks, current = {}, None
    for line in help_text.splitlines():
        stripped = line.strip()
        if line.startswith("  -"):
            current = stripped.split()[0].rstrip(",")
            if current == "-h":
                current = "--help"
            blocks[current] = stripped
        elif current and line.startswith("   "):
            blocks[current] += " " + stripped
        else:
            current = None
    return blocks


def _help(parse, argv, capsys) -> str:
    with pytest.raises(SystemExit) as exc:
        parse(argv)
    assert exc.value.code == 0
    return capsys.readouterr().out


def test_train_help_shows_every_default(capsys):
    blocks = _option_blocks(_help(_scratchnet, ["train", "--help"], capsys))
    c = TrainConfig()
    for option, value in (("--epochs", c.epochs), ("--batch-size", c.batch_size), ("--lr", c.lr),
                          ("--momentum", c.momentum), ("--seed", c.seed), ("--model", c.model),
                          ("--optimizer", c.optimizer), ("--dtype", "float32"), ("--device", "cpu"),
                          ("--test-batch-size", c.test_batch_size), ("--weight-decay", c.weight_decay)):
        assert f"(default: {value})" in blocks[option], (option, blocks[option])
    # Flags and options whose default is "not given" do not print a meaningless default.
    for option in ("--quiet", "--amp", "--drop-last", "--json", "--plot"):
        assert "(default:" not in blocks[option], blocks[option]


def test_help_writes_a_list_default_as_the_option_would_take_it(capsys):
    p = cli_args.ArgumentParser(prog="x")
    p.add_argument("--sizes", type=cli_args.positive_ints("sizes"), default=[1, 64], help="batch sizes")
    p.add_argument("--flag", action="store_true", help="a flag")
    blocks = _option_blocks(_help(p.parse_args, ["--help"], capsys))
    assert blocks["--sizes"].endswith("batch sizes (default: 1,64)")
    assert blocks["--flag"].endswith("a flag")


@pytest.mark.parametrize("text, value", [("3", 3), (" 12 ", 12)])
def test_positive_int_accepts(text, value):
    assert cli_args.positive_int(text) == value


@pytest.mark.parametrize("parse, text", [
    (cli_args.positive_int, "0"), (cli_args.positive_int, "2.0"), (cli_args.non_negative_int, "-1"),
    (cli_args.seed, "-1"), (cli_args.seed, str(2**64)), (cli_args.non_negative_float, "-1e-9"),
    (cli_args.non_negative_float, "inf"), (cli_args.positive_float, "0"), (cli_args.positive_float, "nan"),
    (cli_args.positive_ints("sizes"), "1,0"), (cli_args.positive_ints("sizes"), ","),
    (cli_args.csv_list("engines", ("numpy", "torch")), "numpy,jax"),
])
def test_types_reject_with_what_they_expected_and_what_they_got(parse, text):
    with pytest.raises(argparse.ArgumentTypeError, match="expected|unknown") as exc:
        parse(text)
    assert repr(text) in str(exc.value) or "'jax'" in str(exc.value)


# -- the benchmarks' command lines ----------------------------------------------------------


def _bench_run(argv):
    from benchmarks.run import parse_args

    return parse_args(argv)


def _bench_profile(argv):
    from benchmarks.profile import parse_args

    return parse_args(argv)


@pytest.mark.parametrize("argv, names", [
    (["--rounds", "0"], ["--rounds", "positive integer"]),
    (["--threads", "0"], ["--threads", "positive integer"]),
    (["--target-s", "0"], ["--target-s", "> 0"]),
    (["--settle-s", "-1"], ["--settle-s", ">= 0"]),
    (["--batch-sizes", "1,0"], ["--batch-sizes", "positive integers"]),
    (["--engines", "numpy,jax"], ["--engines", "'jax'", "numpy, torch"]),
    (["--device", "tpu"], ["--device", "'tpu'", "cpu, cuda"]),
    (["--ops", "relu6"], ["--ops", "'relu6'", "conv2d:basic-cnn-conv1"]),
    (["--steps", "mlp4"], ["--steps", "'mlp4'", "mlp3"]),
    (["--dtype", "float16"], ["--dtype", "'float16'", "float32"]),
    (["--quick", "--roundz", "3"], ["--roundz", "did you mean --rounds?"]),
])
def test_benchmarks_run_argument_errors_are_one_line(argv, names, capsys):
    line = _error(_bench_run, argv, capsys)
    assert line.startswith("python -m benchmarks.run: error: "), line
    for name in names:
        assert name in line, (name, line)


@pytest.mark.parametrize("argv, names", [
    (["--steps", "mlp4"], ["--steps", "'mlp4'", "lenet5"]),
    (["--threads", "2,0"], ["--threads", "positive integers"]),
    (["--rounds", "0"], ["--rounds", "positive integer"]),
    (["--target-s", "-1"], ["--target-s", "> 0"]),
])
def test_benchmarks_profile_argument_errors_are_one_line(argv, names, capsys):
    line = _error(_bench_profile, argv, capsys)
    assert line.startswith("python -m benchmarks.profile: error: "), line
    for name in names:
        assert name in line, (name, line)


def test_benchmarks_help_shows_defaults(capsys):
    blocks = _option_blocks(_help(_bench_profile, ["--help"], capsys))
    assert "(default: mlp3,mlp5,basic-cnn,lenet5)" in blocks["--steps"]
    assert "(default: 3)" in blocks["--rounds"] and "(default: 0.3)" in blocks["--target-s"]
    blocks = _option_blocks(_help(_bench_run, ["--help"], capsys))
    assert "(default: 1)" in blocks["--rounds"] and "(default: float32)" in blocks["--dtype"]
    assert "benchmarks/out" in blocks["--out"]
