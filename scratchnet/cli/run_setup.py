"""Setting up a run, below every command: options, data, output checks, engines, config.

The commands (:mod:`scratchnet.cli.commands`, :mod:`scratchnet.cli.commands.explain`) and the
benchmarks build on these, and nothing here imports a command:

* the **options** a run takes, each declared once (:func:`add_engine_options`,
  :func:`add_data_options`, :func:`add_output_options`, :func:`add_init_option`,
  :func:`add_log_options`, :func:`add_recipe_options`, :func:`add_override_options`);
* the **data** (:func:`load_data`), with the command line's policy for ``--data-dir``;
* the **output checks** (:func:`check_outputs`), made before any training;
* the **engines** (:func:`build_engine`, :func:`build_engines`), from explicit arguments;
* the **config**: :func:`config_from_args` (every field from the options) and
  :func:`experiment_config` (a lecture experiment with the options that override it).

Every failure the user can cause is a :class:`SetupError`, reported in one line.
"""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from ..training import experiments
from .. import models
from ..training import run_options
from .arguments import non_negative_float, non_negative_int, positive_int, seed
from ..training.config import TrainConfig, config_from
from ..training.engine import OPTIMIZERS
from ..nn.init import INIT_SCHEMES

#: The engines a run can train with; ``both`` trains NumPy and torch from identical weights.
ENGINES = ("numpy", "torch", "both")


class SetupError(Exception):
    """A run that cannot start as asked (bad data directory, unwritable output, no torch)."""


# --------------------------------------------------------------------------- options
def add_engine_options(p, *, default: str = "both", devices: bool = True) -> None:
    """``--engine`` and ``--dtype``; with ``devices`` also ``--device`` and the torch engine's
    options (:func:`scratchnet.training.run_options.add_torch_options`: ``--loader``, ``--amp``,
    ``--compile``, ``--tf32``)."""
    p.add_argument("--engine", choices=ENGINES, default=default,
                   help=f"which engine trains (default: {default}"
                        + ("; both: from identical weights on identical batches)" if default != "both"
                           else ", from identical weights on identical batches)"))
    p.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    if devices:
        p.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                       help="device of the torch engine (the NumPy engine always runs on the CPU)")
        run_options.add_torch_options(p)


def add_data_options(p) -> None:
    """``--data-dir`` and ``--download`` (the policy is :func:`load_data`'s)."""
    p.add_argument("--data-dir", default=None,
                   help="directory with the MNIST IDX files (default: $SCRATCHNET_DATA, else ./data); "
                        "without them the 5,000 embedded digits are used")
    p.add_argument("--download", action="store_true", help="download full MNIST into --data-dir first")


def add_output_options(p, *, json_what: str = "the results",
                       plot_what: str = "the loss and accuracy curves") -> None:
    """``--json FILE`` and ``--plot FILE`` (checked by :func:`check_outputs`)."""
    p.add_argument("--json", metavar="FILE", help=f"write {json_what} as JSON")
    p.add_argument("--plot", metavar="FILE", help=f"write a PNG of {plot_what}")


def add_init_option(p, *, lecture_default: bool = False) -> None:
    """``--init SCHEME``; with ``lecture_default`` leaving it out means the lecture's own."""
    p.add_argument("--init", choices=list(INIT_SCHEMES), default=None if lecture_default else "default",
                   help="initialise every weight with this torch.nn.init scheme, biases zero "
                        "(default: each layer's own, torch's default"
                        + ("; reproduce: the lecture's" if lecture_default else "") + ")")


def add_log_options(p, *, quiet_help: str = "only the summary") -> None:
    """``--log-interval N`` and ``--quiet``."""
    p.add_argument("--log-interval", type=non_negative_int, default=None,
                   help="batches between 'Train Epoch' lines (0: none)")
    p.add_argument("--quiet", action="store_true", help=quiet_help)


def add_recipe_options(p, defaults: TrainConfig = TrainConfig()) -> None:
    """One option per hyper-parameter of :class:`~scratchnet.training.config.TrainConfig`, with its default."""
    p.add_argument("--model", choices=models.names(), default=defaults.model)
    p.add_argument("--epochs", type=positive_int, default=defaults.epochs)
    p.add_argument("--batch-size", type=positive_int, default=defaults.batch_size)
    p.add_argument("--test-batch-size", type=positive_int, default=defaults.test_batch_size)
    p.add_argument("--lr", type=non_negative_float, default=defaults.lr)
    p.add_argument("--momentum", type=non_negative_float, default=defaults.momentum)
    p.add_argument("--weight-decay", type=non_negative_float, default=defaults.weight_decay)
    p.add_argument("--optimizer", choices=OPTIMIZERS, default=defaults.optimizer)
    p.add_argument("--loss", choices=models.LOSSES, default=None,
                   help="default: the model's own (NLL after log_softmax, else cross-entropy)")
    p.add_argument("--seed", type=seed, default=defaults.seed)
    p.add_argument("--drop-last", action="store_true")


#: The hyper-parameters a command may override in a lecture's recipe: type and what it is.
_OVERRIDES = {
    "epochs": (positive_int, "number of epochs"),
    "lr": (non_negative_float, "learning rate"),
    "momentum": (non_negative_float, "SGD momentum"),
    "batch_size": (positive_int, "batch size"),
}


def add_override_options(p, *names: str) -> None:
    """``--lr``, ``--epochs``, ...: each overrides the lecture's value; left out (None), it stays."""
    for name in names:
        type_, what = _OVERRIDES[name]
        p.add_argument("--" + name.replace("_", "-"), type=type_, default=None,
                       help=f"{what} (default: the lecture's)")


# --------------------------------------------------------------------------- config
def config_from_args(args, *, log_interval: int = 10) -> TrainConfig:
    """The :class:`TrainConfig` of a command whose options are :func:`add_recipe_options`'.

    Every field the options name comes from them; ``--log-interval`` left out is ``log_interval``.
    """
    return config_from(TrainConfig(), **{
        name: getattr(args, name) for name in (
            "model", "loss", "optimizer", "lr", "momentum", "weight_decay", "batch_size",
            "test_batch_size", "epochs", "drop_last", "seed", "dtype", "init")},
        log_interval=log_interval if args.log_interval is None else args.log_interval,
        **run_options.config_fields(args))


def experiment_config(exp: experiments.Experiment, **overrides) -> TrainConfig:
    """The :class:`TrainConfig` of a lecture experiment; an override of ``None`` keeps the lecture's."""
    return config_from(exp, **overrides)


# --------------------------------------------------------------------------- data
def load_data(kind: str, data_dir, download: bool, note=print):
    """Return ``((train_x, train_y), (test_x, test_y), source)`` for a dataset kind.

    A ``data_dir`` the user typed is used or refused, never replaced: it must be a
    directory holding the four MNIST files (or ``download`` fetches them there). Only
    the default place (``$SCRATCHNET_DATA``, else ``./data``) falls back to the
    embedded digits, and ``note`` says so in one line.
    """
    if kind == "toy":
        x, y = experiments.TOY_X, experiments.TOY_Y
        return (x, y), (x, y), "lecture toy data (8 samples x 4 features)"
    from ..data import default_data_dir, find_mnist, load_dataset

    if data_dir is not None:
        path = Path(data_dir)
        if path.exists() and not path.is_dir():
            raise SetupError(f"--data-dir {data_dir}: is a file, not a directory")
        if not download:
            if not path.is_dir():
                raise SetupError(f"--data-dir {data_dir}: no such directory "
                                 "(add --download to fetch full MNIST into it)")
            if find_mnist(path) is None:
                raise SetupError(
                    f"--data-dir {data_dir}: holds none of the MNIST files (train-images-idx3-ubyte, "
                    "train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, "
                    "optionally .gz); add --download to fetch them, or leave --data-dir out to "
                    "use the 5,000 embedded digits")
    elif not download and find_mnist(default_data_dir()) is None:
        where = ("$SCRATCHNET_DATA=" + os.environ["SCRATCHNET_DATA"]) if os.environ.get("SCRATCHNET_DATA") \
            else f"./{default_data_dir()}"
        note(f"scratchnet: no MNIST files in {where}: using the 5,000 embedded digits "
             "(--data-dir DIR or --download for full MNIST)")
    data = load_dataset(kind, data_dir, download=download)
    return data.train.arrays, data.test.arrays, data.source


# --------------------------------------------------------------------------- checks
def check_outputs(*, engine: str = "numpy", device: str = "cpu", json=None, plot=None,
                  markdown=None, out_dir=None) -> None:
    """Refuse, before any training, an output that could only fail after it.

    Every output file (``json``, ``plot``, ``markdown``) must be writable where it
    points and ``out_dir`` creatable; a plot needs matplotlib, a torch engine needs
    torch, and ``device="cuda"`` a CUDA device. Each is named by its option.
    """
    for option, value in (("--json", json), ("--plot", plot), ("--markdown", markdown),
                          ("--out-dir", out_dir)):
        if value:
            _check_writable(option, value, directory=option == "--out-dir")
    if plot or out_dir:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise SetupError(f"{'--plot' if plot else '--out-dir'} needs matplotlib "
                             "(pip install 'scratchnet[plot]')") from None
    if engine in ("torch", "both") and importlib.util.find_spec("torch") is None:  # looked up, not imported
        raise SetupError(f"--engine {engine} needs PyTorch installed (pip install 'scratchnet[torch]'); "
                         "--engine numpy runs without it")
    if device == "cuda":
        if engine == "numpy":
            raise SetupError("--device cuda applies to the torch engine; the NumPy engine runs on the CPU")
        from ..training.torch_engine import cuda_available

        if not cuda_available():
            raise SetupError("--device cuda: CUDA was asked for, but torch sees no CUDA device on this machine")


def _check_writable(option: str, value, *, directory: bool) -> None:
    """A file (or, with ``directory``, a folder made as ``mkdir -p``) can be written at ``value``."""
    target = Path(value)
    if directory:
        if target.exists() and not target.is_dir():
            raise SetupError(f"{option} {value}: is a file, not a directory")
        parent = next((p for p in (target, *target.parents) if p.exists()), Path("."))
        if not parent.is_dir():
            raise SetupError(f"{option} {value}: {parent} is a file, not a directory")
    else:
        if target.is_dir():
            raise SetupError(f"{option} {value}: is a directory; expected a file name")
        parent = target.parent
    parent = parent if str(parent) else Path(".")
    if not parent.is_dir():
        raise SetupError(f"{option} {value}: its directory does not exist ({parent})")
    if not os.access(parent, os.W_OK):
        raise SetupError(f"{option} {value}: directory {parent} is not writable")


# --------------------------------------------------------------------------- engines
def build_engines(cfg: TrainConfig, engine: str = "both", *, device: str = "cpu") -> list:
    """The engines ``engine`` names (one of :data:`ENGINES`); with both, torch starts from NumPy's very weights."""
    if engine not in ENGINES:
        raise SetupError(f"unknown engine {engine!r}; expected one of {', '.join(ENGINES)}")
    engines = []
    state = None
    if engine in ("numpy", "both"):
        engines.append(build_engine("numpy", cfg))
        state = engines[0].state_dict()
    if engine in ("torch", "both"):
        engines.append(build_engine("torch", cfg, state_dict=state, device=device))
    return engines


def build_engine(name: str, cfg: TrainConfig, *, state_dict=None, device: str = "cpu", amp=None,
                 compile=None, tf32=None):
    """One engine, ``"numpy"`` or ``"torch"`` (imported only then), built from ``cfg``.

    The torch engine's ``amp``, ``compile`` and ``tf32`` are ``cfg``'s unless given here
    (the benchmarks pass their own).
    """
    if name == "numpy":
        from ..training.numpy_engine import NumpyEngine

        return NumpyEngine.build(cfg, state_dict=state_dict)
    if name == "torch":
        from ..training.torch_engine import TorchEngine

        return TorchEngine.build(cfg, state_dict=state_dict, device=device, amp=amp, compile=compile, tf32=tf32)
    raise SetupError(f"unknown engine {name!r}; expected numpy or torch")
