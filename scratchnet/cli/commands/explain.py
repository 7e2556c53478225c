"""``scratchnet explain OP ...``: the command over :func:`~scratchnet.explain.explain`.

The options of every op are declared once here; which of them an op takes is its
builder's signature (:func:`~scratchnet.explain.api.options_of`).
"""
from __future__ import annotations

import argparse
import json
import sys

from ..arguments import positive_int, seed
from ..run_setup import SetupError, check_outputs
from ...explain.api import OPS, explain, options_of
from ...explain.trace import NUMBERS_LIMIT, ExplainError


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``explain`` command to a CLI's subparsers."""
    p = subparsers.add_parser(
        "explain", help="watch one op work step by step (shapes, strides, bytes, FLOPs)",
        description="Run one op of scratchnet.functional step by step on data of the given shapes:\n"
                    "every forward and backward step with its shapes, strides, memory moved and\n"
                    "FLOPs, checked against the op itself.",
        epilog="examples:\n  scratchnet explain conv2d --input 2,3,7,7 --weight 4,3,3,3 --stride 2 --padding 1\n"
               "  scratchnet explain max_pool2d --input 1,1,4,4 --kernel 2 --numbers",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        error_prefix="explain")  # its usage errors read "scratchnet: error: explain: ..."
    p.add_argument("op", metavar="OP", help="one of: " + ", ".join(OPS))
    p.add_argument("--input", type=_shape_arg, metavar="SHAPE", help="input shape, e.g. 2,3,7,7")
    p.add_argument("--weight", type=_shape_arg, metavar="SHAPE",
                   help="conv2d: (C_out, C_in/groups, kH, kW); linear: (out, in)")
    p.add_argument("--bias", action=argparse.BooleanOptionalAction, default=None,
                   help="conv2d, linear: with a bias (default) or without")
    p.add_argument("--kernel", type=_int_or_pair, metavar="K", help="pools: kernel size (K or KH,KW)")
    p.add_argument("--stride", type=_int_or_pair, metavar="S",
                   help="stride (conv2d default 1, pools default the kernel)")
    p.add_argument("--padding", type=_padding, metavar="P",
                   help="padding, P or PH,PW (conv2d also 'same' or 'valid')")
    p.add_argument("--dilation", type=_int_or_pair, metavar="D", help="conv2d, max_pool2d: dilation")
    p.add_argument("--groups", type=positive_int, metavar="G", help="conv2d: groups")
    p.add_argument("--ceil-mode", action="store_true", default=None, help="pools: ceil mode")
    p.add_argument("--count-include-pad", action=argparse.BooleanOptionalAction, default=None,
                   help="avg_pool2d: count the padding in the divisor (default yes)")
    p.add_argument("--divisor-override", type=int, metavar="D", help="avg_pool2d: divide by D")
    p.add_argument("--dim", type=int, metavar="D", help="softmax: dimension (default -1)")
    p.add_argument("--target", type=_int_list, metavar="T",
                   help="cross_entropy: class indices, e.g. 0,2,1 (default: drawn from the seed; "
                        "write --target=-100,1 when the first is negative)")
    p.add_argument("--ignore-index", type=int, metavar="I", help="cross_entropy: ignore_index (default -100)")
    p.add_argument("--reduction", choices=["mean", "sum", "none"], help="cross_entropy: reduction")
    p.add_argument("--numbers", action="store_true",
                   help=f"print the actual arrays and where each gradient goes (at most "
                        f"{NUMBERS_LIMIT} numbers per array)")
    p.add_argument("--seed", type=seed, default=0, help="seed of the data")
    p.add_argument("--dtype", choices=["float32", "float64"], default=None,
                   help="default float64 with --numbers, else float32")
    p.add_argument("--json", metavar="FILE", help="write the steps as JSON")
    p.add_argument("--plot", metavar="FILE",
                   help="draw the op for these shapes (PNG, SVG or PDF by the suffix; needs matplotlib)")
    return p


#: The ``dest`` of every op option above; an op takes those its builder names.
_OP_OPTIONS = ("input", "weight", "bias", "kernel", "stride", "padding", "dilation", "groups",
               "ceil_mode", "count_include_pad", "divisor_override", "dim", "target",
               "ignore_index", "reduction")


def command(args) -> int:
    """Handle ``scratchnet explain``; errors raise :class:`ExplainError` (a ValueError)."""
    op = args.op
    takes = options_of(op)
    try:
        check_outputs(json=args.json, plot=args.plot)
    except SetupError as e:  # said as every explain error is
        raise ExplainError(f"explain: {e}") from None
    options = {}
    for dest in _OP_OPTIONS:
        value = getattr(args, dest)
        if value is None:
            continue
        if dest not in takes:
            flag = "--" + dest.replace("_", "-")
            raise ExplainError(f"explain {op}: {flag} does not apply to {op}; it takes "
                               + ", ".join("--" + t.replace("_", "-") for t in takes))
        options[dest] = value
    ex = explain(op, numbers=args.numbers, seed=args.seed, dtype=args.dtype, strict=False, **options)
    print(ex.render())
    if args.json:
        with open(args.json, "w") as f:
            json.dump(ex.to_json(), f, indent=1)
    if args.plot:
        from ... import figures  # matplotlib only when a picture is asked for

        try:
            figures.draw_op(op, args.plot, seed=args.seed, **options)
        except ValueError as e:
            raise ExplainError(f"explain {op}: --plot: {e}") from None
        print(f"wrote {args.plot}")
    if not ex.check["passed"]:
        print(f"scratchnet: error: explain {op}: the explained steps differ from the op "
              f"({', '.join(ex.check['failed'])}); this is a bug in scratchnet", file=sys.stderr)
        return 1
    return 0


# --------------------------------------------------------------------------- argument types
def _int_or_pair(text: str):
    try:
        parts = [int(p) for p in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an int or two ints like 2,1, got {text!r}") from None
    if len(parts) not in (1, 2):
        raise argparse.ArgumentTypeError(f"expected an int or two ints like 2,1, got {text!r}")
    return parts[0] if len(parts) == 1 else tuple(parts)


def _padding(text: str):
    return text if text in ("same", "valid") else _int_or_pair(text)


def _shape_arg(text: str):
    try:
        shape = tuple(int(p) for p in text.split(","))
    except ValueError:
        shape = ()
    if not shape or min(shape) < 0:
        raise argparse.ArgumentTypeError(
            f"expected a shape of non-negative integers like 2,3,7,7, got {text!r}")
    return shape


def _int_list(text: str):
    try:
        return [int(p) for p in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected integers like 0,2,1, got {text!r}") from None
