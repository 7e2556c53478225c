"""The torch engine's options of a run (``--loader``, ``--amp``, ``--compile``, ``--tf32``).

Each of them changes what a NumPy/torch comparison measures, so each is recorded in the
run's config (:class:`scratchnet.training.loop.TrainConfig`) and said in the summary:

* ``--loader torchvision``: the torch engine reads MNIST as the lectures do
  (:mod:`scratchnet.training.torch_data`); the NumPy engine keeps scratchnet's seeded batches, so
  the engines no longer see the same batches and their drift is no longer a parity measure.
* ``--amp``: bf16 autocast; the drift is then bf16's, not the engines'.
* ``--tf32``: TF32 in cuDNN convolutions and float32 matmuls on a GPU (off by default, so
  that a GPU run compares full float32 with full float32).
* ``--compile``: ``torch.compile``; its compilation time is reported apart from the epochs.

This module does not import torch.
"""
from __future__ import annotations

import importlib.util

LOADERS = ("scratchnet", "torchvision")
_TORCH_FLAGS = ("amp", "compile", "tf32")


def add_torch_options(p, *, loader: bool = True) -> None:
    """The torch engine's options, on a ``train`` or ``reproduce`` parser (and, without
    ``--loader``, on the benchmarks')."""
    if loader:
        p.add_argument("--loader", choices=LOADERS, default="scratchnet",
                       help="how the torch engine reads MNIST: scratchnet's seeded batches (default, "
                            "the same as the NumPy engine's) or the lectures' "
                            "torchvision.datasets.MNIST + ToTensor() + shuffled DataLoader")
    p.add_argument("--amp", action="store_true",
                   help="torch engine: bf16 autocast (float32 only; the drift is then bf16's)")
    p.add_argument("--compile", action="store_true",
                   help="torch engine: torch.compile the model (compiled before epoch 1, timed apart)")
    p.add_argument("--tf32", action="store_true",
                   help="torch engine on CUDA: allow TF32 in convolutions and matmuls (faster; "
                        "default full float32, so that the drift measures the engines)")


def config_fields(args) -> dict:
    """The :class:`~scratchnet.training.loop.TrainConfig` fields these options set."""
    return {"loader": getattr(args, "loader", "scratchnet"),
            **{flag: bool(getattr(args, flag, False)) for flag in _TORCH_FLAGS}}


def check_amp_dtype(amp: bool, dtype: str) -> None:
    """Refuse ``--amp`` with ``--dtype float64``: autocast leaves float64 alone, so it would do nothing."""
    if amp and dtype != "float32":
        raise ValueError(f"--amp runs float32 layers in bf16 autocast; with --dtype {dtype} it would "
                         "change nothing (autocast leaves float64 alone): drop --amp or use --dtype float32")


def check_torch_options(args, dataset_kind=None) -> None:
    """Refuse, before any data is read, torch options that cannot do what they say."""
    engine = getattr(args, "engine", "numpy")
    asked = [f"--{flag}" for flag in _TORCH_FLAGS if getattr(args, flag, False)]
    if getattr(args, "loader", "scratchnet") == "torchvision":
        asked.append("--loader torchvision")
    if asked and engine == "numpy":
        raise ValueError(f"{', '.join(asked)} applies to the torch engine; add --engine torch or both")
    check_amp_dtype(getattr(args, "amp", False), getattr(args, "dtype", "float32"))
    if getattr(args, "loader", "scratchnet") == "torchvision":
        if dataset_kind == "toy":
            raise ValueError("--loader torchvision reads MNIST; this experiment trains on the lecture's toy data")
        if importlib.util.find_spec("torchvision") is None:  # looked up, not imported
            raise ValueError("--loader torchvision needs torchvision installed (pip install torchvision, "
                             "from the index your torch came from)")


def stem_suffix(config: dict) -> str:
    """A file-name suffix for ``reproduce --out-dir``: a run whose numbers these options change
    gets its own files (``mlp5-loader-torchvision.json``), beside the lecture's settings' ones."""
    suffix = "-loader-torchvision" if config.get("loader") == "torchvision" else ""
    return suffix + "".join(f"-{flag}" for flag in ("amp", "tf32") if config.get(flag))


# --------------------------------------------------------------------------- summary
def _setup(result) -> dict:
    return getattr(result, "engine_setup", None) or {}


def _loader(result) -> str:
    return _setup(result).get("data", {}).get("loader", "scratchnet")


def summary_notes(results) -> list:
    """One line per thing the summary's numbers depend on beyond the engines themselves."""
    notes = []
    for r in results:
        s = _setup(r)
        if not s:
            continue
        data = s.get("data", {})
        if data.get("loader") == "torchvision":
            notes.append(f"{r.engine}: data through torchvision {data['torchvision']}: datasets.MNIST, "
                         f"{data['transform']}, {data['train_loader']}")
        if s.get("amp"):
            notes.append(f"{r.engine}: {s['amp']} (--amp)")
        if s.get("compile"):
            seconds = s.get("compile_seconds")
            notes.append(f"{r.engine}: torch.compile compiled every batch shape in "
                         + (f"{seconds:.1f} s" if seconds is not None else "(not measured)")
                         + " before epoch 1; the epoch times hold no compilation")
        if str(r.device).startswith("cuda"):
            notes.append(f"{r.engine}: " + ("TF32 allowed in convolutions and matmuls (--tf32)" if s.get("tf32")
                                           else "full float32 (TF32 off)")
                         + f"; cuDNN deterministic={s.get('cudnn_deterministic')}, "
                           f"benchmark={s.get('cudnn_benchmark')}")
    return notes


def drift_caveats(results) -> list:
    """Why the drift between two runs may not measure the two engines, one clause each."""
    caveats = []
    loaders = {_loader(r) for r in results}
    if len(loaders) > 1:
        caveats.append("the engines saw different batches (" + "; ".join(
            f"{r.engine}: {_loader(r)}'s" for r in results) + "), so this drift is not a parity measure")
    for r in results:
        s = _setup(r)
        if s.get("amp"):
            caveats.append(f"it is bf16 autocast's drift ({r.engine} ran under --amp), not the engines'")
        if s.get("tf32") and str(r.device).startswith("cuda"):
            caveats.append(f"it includes TF32's rounding ({r.engine} ran with --tf32)")
    return caveats
