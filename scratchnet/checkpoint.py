"""Save and load a model's weights as a NumPy ``.npz`` archive.

The archive holds one array per ``state_dict`` key (``conv1.weight``, ...), in the
state_dict's order, and nothing else: no pickled objects, so loading a checkpoint
cannot run code (it is read with ``allow_pickle=False``), and any NumPy, or torch
through :func:`scratchnet.torch_models.numpy_to_torch`, can read it.
"""
from __future__ import annotations

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
        if arrays[key].dtype == object:
            raise TypeError(f"checkpoint.save: entry {key!r} is not a numeric array")
    with open(path, "wb") as f:
        np.savez(f, **arrays)


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
    """
    with np.load(path, allow_pickle=False) as archive:
        state = OrderedDict((key, archive[key]) for key in archive.files)
    if model is None:
        return state
    model.load_state_dict(state, strict=strict)
    return model
