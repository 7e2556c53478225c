"""``Optimizer``: the bookkeeping every optimizer shares, as ``torch.optim.Optimizer``.

An optimizer holds *param groups* (dicts with a ``"params"`` list and that group's
hyperparameters) and a per-parameter ``state`` (momentum buffers, moment estimates).
Subclasses only write :meth:`Optimizer._update`, the update rule for one parameter;
this base walks the groups, skips parameters whose ``.grad`` is ``None`` (a parameter
that took no part in the loss is left alone, as torch does), and implements
``zero_grad``, ``add_param_group``, ``state_dict`` and ``load_state_dict`` with torch's
formats and error messages.

Hyperparameters are converted to Python ``float`` before they touch an array: under
NumPy 2's promotion rules a Python float adapts to a float32 array, whereas a
``np.float64`` scalar would silently turn every float32 parameter into float64.
"""
from __future__ import annotations

import abc
import copy
import warnings
from collections import defaultdict
from typing import Any, Callable, Optional

import numpy as np

from ..nn.parameter import Parameter


def add_scaled(a: np.ndarray, b: np.ndarray, alpha: float) -> np.ndarray:
    r""":math:`a + \alpha b` rounded once, as torch's ``a.add(b, alpha=alpha)``.

    torch computes it with a fused multiply-add, ``alpha`` cast to the arrays' dtype.
    Two roundings (product, then sum) differ from it exactly where it matters most:
    weight decay that nearly cancels a gradient, whose small sum Adam then divides
    by its own magnitude. float32 gets the single rounding by computing in float64
    (the float32 product is exact there); float64 is left with two roundings.
    """
    if a.dtype == np.float32:
        wide = b.astype(np.float64)
        wide *= float(np.float32(alpha))
        wide += a
        return wide.astype(np.float32)
    return a + alpha * b


class Optimizer(abc.ABC):
    """Base class of :class:`SGD`, :class:`Adam` and :class:`AdamW`.

    Parameters
    ----------
    params : iterable of Parameter, of ``(name, Parameter)`` pairs, or of dicts
        What to optimize. Dicts define param groups: each holds ``"params"`` and may
        override any hyperparameter for its parameters, exactly as in torch.
    defaults : dict
        The hyperparameters a group gets when it does not name them.

    Attributes
    ----------
    param_groups : list of dict
        One dict per group: ``"params"`` (list of :class:`Parameter`) plus every
        hyperparameter. Changing ``group["lr"]`` between steps changes the learning
        rate (that is how torch's learning-rate schedulers work).
    state : defaultdict(dict)
        Per-parameter state, keyed by the :class:`Parameter` object.
    """

    def __init__(self, params, defaults: dict[str, Any]) -> None:
        self.defaults = defaults
        if isinstance(params, (Parameter, np.ndarray)):
            raise TypeError(
                "params argument given to the optimizer should be an iterable of "
                f"Parameters or dicts, but got {type(params).__name__}"
            )
        self.state: defaultdict = defaultdict(dict)
        self.param_groups: list[dict[str, Any]] = []
        param_groups = list(params)
        if len(param_groups) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for group in param_groups:
            self.add_param_group(dict(group) if isinstance(group, dict) else group)

    # -- hooks for subclasses ------------------------------------------------------------

    def _validate(self, group: dict[str, Any]) -> None:
        """Reject invalid hyperparameters with torch's messages (``Invalid learning rate: -1``)."""

    @abc.abstractmethod
    def _update(self, param: Parameter, grad: np.ndarray, state: dict, group: dict) -> None:
        """Update ``param.data`` in place from ``grad`` (its ``.grad``), using and updating ``state``."""

    # -- the public API ------------------------------------------------------------------

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Append a param group, filling in the defaults for what it does not specify.

        Raises as torch does when the group is not a dict, its params are a ``set``
        (unordered, so the state would not be reproducible), one of them is not a
        :class:`Parameter`, or a parameter already belongs to another group. A group's
        own hyperparameters are validated like the constructor's (torch checks only
        the constructor's, so a group ``lr=-1`` would silently ascend there).
        """
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group)}")
        params = param_group["params"]
        if isinstance(params, Parameter):
            params = [params]
        elif isinstance(params, set):
            raise TypeError(
                "optimizer parameters need to be organized in ordered collections, but "
                "the ordering of tensors in sets will change between runs. Please use a list instead."
            )
        else:
            params = list(params)

        tensors, names = [], []
        for p in params:
            if isinstance(p, tuple):
                names.append(p[0])
                tensors.append(p[1])
            else:
                tensors.append(p)
        param_group["params"] = tensors
        if names:
            if len(names) != len(tensors):
                raise ValueError(
                    "all optimizer params should be with/without names. Some param names are missing"
                )
            param_group["param_names"] = names

        for p in tensors:
            if not isinstance(p, Parameter):
                raise TypeError(
                    "optimizer can only optimize Parameters, but one of the params is "
                    f"{type(p).__name__}"
                )
        for name, default in self.defaults.items():
            param_group.setdefault(name, default)
        self._validate(param_group)

        ids = [id(p) for p in tensors]
        if len(ids) != len(set(ids)):
            warnings.warn(
                "optimizer contains a parameter group with duplicate parameters; "
                "in future, this will cause an error",
                stacklevel=3,
            )
        seen = set()
        for group in self.param_groups:
            seen.update(id(p) for p in group["params"])
            if ("param_names" in param_group) != ("param_names" in group):
                which = "with names" if "param_names" in param_group else "without names"
                raise ValueError(
                    "all optimizer param groups should be with/without names. "
                    f"cannot add param group {which} to the optimizer"
                )
        if not seen.isdisjoint(ids):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(param_group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset every parameter's ``.grad``: to ``None`` (default) or to zeros in place.

        The difference matters, as in torch: a parameter whose ``.grad`` is ``None`` is
        skipped by :meth:`step`, one with a zero gradient is still updated (weight
        decay and momentum keep moving it).
        """
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    if set_to_none:
                        p.grad = None
                    else:
                        p.grad[...] = 0

    def step(self, closure: Optional[Callable[[], Any]] = None):
        """Perform one optimization step over every parameter that has a ``.grad``.

        Parameters
        ----------
        closure : callable, optional
            Re-evaluates the model and returns the loss (torch's API, needed by
            optimizers that evaluate the loss several times per step).

        Returns
        -------
        The closure's loss, or ``None``.
        """
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = np.asarray(p.grad)
                if grad.shape != p.data.shape or grad.dtype != p.data.dtype:
                    raise RuntimeError(
                        f"{type(self).__name__}.step: gradient of shape {grad.shape} and dtype "
                        f"{grad.dtype} for a parameter of shape {p.data.shape} and dtype {p.data.dtype}"
                    )
                self._update(p, grad, self.state[p], group)
        return loss

    def state_dict(self) -> dict[str, Any]:
        """Return the optimizer's state in torch's format.

        ``{"state": {index: {...}}, "param_groups": [{..., "params": [index, ...]}]}``,
        parameters being replaced by their position across all groups so that the dict
        does not depend on object identity. Arrays are copied, so later steps do not
        change a saved state.
        """
        index: dict[int, int] = {}
        groups = []
        start = 0
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            for i, p in enumerate(group["params"], start):
                index.setdefault(id(p), i)
            packed["params"] = [index[id(p)] for p in group["params"]]
            start += len(packed["params"])
            groups.append(packed)
        state = {
            index[id(p)]: {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in s.items()}
            for p, s in self.state.items()
            if id(p) in index
        }
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load a state from :meth:`state_dict` (or torch's, converted to arrays).

        The groups must match in number and size. Floating-point state arrays are cast
        to their parameter's dtype, except ``"step"``, which stays a scalar, as in
        torch. The loaded groups' hyperparameters replace the current ones.
        """
        state_dict = copy.deepcopy(state_dict)
        groups = self.param_groups
        saved_groups = state_dict["param_groups"]
        if len(groups) != len(saved_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        if any(len(g["params"]) != len(s["params"]) for g, s in zip(groups, saved_groups)):
            raise ValueError(
                "loaded state dict contains a parameter group that doesn't match the size of optimizer's group"
            )
        id_map = {
            old: p
            for g, s in zip(groups, saved_groups)
            for old, p in zip(s["params"], g["params"])
        }

        def cast(param: Parameter, key, value):
            if key == "step":
                return float(np.asarray(value))
            if value is None:
                return None
            arr = np.asarray(value)
            if arr.dtype.kind == "f":
                arr = arr.astype(param.data.dtype, copy=True)
                if arr.shape != param.data.shape:
                    raise ValueError(
                        f"{type(self).__name__}.load_state_dict: state {key!r} has shape "
                        f"{arr.shape} for a parameter of shape {param.data.shape}"
                    )
            return arr

        state: defaultdict = defaultdict(dict)
        for k, v in state_dict["state"].items():
            k = int(k)
            if k in id_map:
                param = id_map[k]
                state[param] = {key: cast(param, key, val) for key, val in v.items()}
            else:
                state[k] = v

        new_groups = []
        for group, saved in zip(groups, saved_groups):
            saved["params"] = group["params"]
            if "param_names" in group and "param_names" not in saved:
                saved["param_names"] = group["param_names"]
            new_groups.append(saved)
        for group in new_groups:
            for name, default in self.defaults.items():
                group.setdefault(name, default)
            self._validate(group)
        self.state = state
        self.param_groups = new_groups

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for key in sorted(group):
                if key not in ("params", "param_names"):
                    lines.append(f"    {key}: {group[key]}")
        lines.append(")")
        return "\n".join(lines)

