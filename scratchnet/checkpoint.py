"""Save and load a model's weights as a NumPy ``.npz`` archive.

The archive holds one array per ``state_dict`` key (``conv1.weight``, ...), in the
state_dict's order, and nothing else: no pickled objects, so loading a checkpoint
cannot run code (it is read with ``allow_pickle=False``), and any NumPy, or torch
through :func:`scratchnet.torch_models.numpy_to_torch`, can read it.
"""
from __future__ import annotations

import math
import os
import zipfile
from collections import OrderedDict
from typing import Mapping, Union

import numpy as np

PathLike = Union[str, "os.PathLike[str]"]


def save(model_or_state_dict, path: PathLike) -> None:
    """Write the weights of a model (anything with ``state_dict()``) or of a state_dict.

    Parameters
    ----------
    model_or_state_dict : Module or mapping of str to array
        A :class:`scratchnet.nn.Module`, or its ``state_dict()``. Values are stored as
        NumPy arrays with their dtype (a torch CPU tensor converts too).
    path : str or path-like
        Written exactly as given (``np.savez`` would append ``.npz``; we do not).
    """
    state = (model_or_state_dict.state_dict() if hasattr(model_or_state_dict, "state_dict")
             else model_or_state_dict)
    if not isinstance(state, Mapping):
        raise TypeError(
            f"checkpoint.save: expected a model or a state_dict mapping, got {type(state).__name__}"
        )
    arrays = OrderedDict()
    for key, value in state.items():
        if not isinstance(key, str):
            raise TypeError(f"checkpoint.save: state_dict keys must be strings, got {key!r}")
        arrays[key] = np.asarray(value)
        if arrays[key].dtype.kind not in "biuf":  # what load() accepts back
            raise TypeError(
                f"checkpoint.save: entry {key!r} is not a numeric array (dtype {arrays[key].dtype})"
            )
    with open(path, "wb") as f:
        np.savez(f, **arrays)


class CheckpointError(ValueError):
    """A file that is not a readable checkpoint; the message names the file and the damage."""


# What a checkpoint file may start with, and what else it is likely to be otherwise.
_ZIP_MAGIC = b"PK\x03\x04"
_EMPTY_ZIP_MAGIC = b"PK\x05\x06"
_NPY_MAGIC = b"\x93NUMPY"


def _read_entry(archive: zipfile.ZipFile, info: zipfile.ZipInfo, where: str) -> np.ndarray:
    """Read one ``.npy`` member, checking its header against its size before reading it.

    The size check catches a truncated or altered entry before NumPy allocates the
    array its header promises (a damaged header can promise terabytes).
    """
    key = info.filename[:-len(".npy")]
    with archive.open(info) as member:
        version = np.lib.format.read_magic(member)
        read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                       else np.lib.format.read_array_header_2_0)
        shape, _, dtype = read_header(member)
        header_bytes = member.tell()
    if dtype.hasobject:
        raise CheckpointError(f"{where}: entry {key!r} holds pickled Python objects "
                              f"(dtype {dtype}); a checkpoint holds numeric arrays only")
    if dtype.kind not in "biuf":
        raise CheckpointError(f"{where}: entry {key!r} has dtype {dtype}; a checkpoint holds "
                              f"numeric arrays only")
    need = math.prod(shape) * dtype.itemsize
    have = info.file_size - header_bytes
    if have != need:
        raise CheckpointError(
            f"{where}: entry {key!r} is damaged: its header says shape {tuple(shape)} of "
            f"{dtype} ({need} bytes) but it holds {have} bytes"
        )
    with archive.open(info) as member:
        return np.lib.format.read_array(member, allow_pickle=False)


def _read_archive(path: PathLike) -> OrderedDict:
    """Every array of the ``.npz`` archive at ``path``, or one :class:`CheckpointError`.

    OS errors (no such file, a directory, no permission) pass through unchanged: they
    already name the file and say what is wrong.
    """
    where = f"checkpoint.load: {os.fspath(path)!r}"
    with open(path, "rb") as f:
        head = f.read(len(_NPY_MAGIC))
        if not head:
            raise CheckpointError(f"{where} is empty (0 bytes); expected an .npz archive")
        if head.startswith(_NPY_MAGIC):
            raise CheckpointError(
                f"{where} is a single .npy array, not an .npz archive of named arrays "
                f"(write checkpoints with checkpoint.save)"
            )
        if not head.startswith((_ZIP_MAGIC, _EMPTY_ZIP_MAGIC)):
            raise CheckpointError(
                f"{where} is not an .npz archive (a zip file): it starts with {head!r}"
            )
        f.seek(0)
        try:
            with zipfile.ZipFile(f) as archive:
                state = OrderedDict()
                for info in archive.infolist():
                    if not info.filename.endswith(".npy"):
                        raise CheckpointError(
                            f"{where}: member {info.filename!r} is not a .npy array; not a "
                            f"checkpoint written by checkpoint.save"
                        )
                    state[info.filename[:-len(".npy")]] = _read_entry(archive, info, where)
        except CheckpointError:
            raise
        # Damaged bytes make zipfile and NumPy's header parser raise almost anything
        # (BadZipFile, zlib.error, EOFError, ValueError, SyntaxError from the header's
        # dict literal, NotImplementedError for an unknown compression method...); all
        # of it means the same here. The file was opened above, so no OSError of the
        # path itself is caught.
        except Exception as err:  # noqa: BLE001
            raise CheckpointError(
                f"{where} is truncated or damaged: {type(err).__name__}: {err}"
            ) from err
    return state


def load(path: PathLike, model=None, strict: bool = True):
    """Read a checkpoint written by :func:`save`.

    Parameters
    ----------
    path : str or path-like
    model : Module, optional
        When given, the weights are loaded into it (``model.load_state_dict(state,
        strict)``, which checks keys and shapes and casts to the model's dtype) and
        the model is returned.
    strict : bool, default True

    Returns
    -------
    OrderedDict of str to ndarray, in the saved order; or ``model`` if one was given.

    Raises
    ------
    CheckpointError
        The file is empty, truncated or damaged, is no ``.npz`` archive (a text file, a
        single ``.npy``), or holds something other than numeric arrays; the message
        names the file (and the entry) and what is wrong. Nothing is loaded then.
    OSError
        The file cannot be opened (missing, a directory, no permission).
    RuntimeError
        From ``model.load_state_dict``: keys or shapes that do not fit the model.
    """
    state = _read_archive(path)
    if model is None:
        return state
    model.load_state_dict(state, strict=strict)
    return model
