"""The state side of :class:`~scratchnet.nn.Module`: ``state_dict``, loading, modes and dtypes.

``state_dict`` and ``load_state_dict`` keep torch's keys, formats and error
messages, with one difference: a load is all or nothing (every entry is checked
before any is written). ``train``/``eval``, ``requires_grad_``, ``zero_grad`` and
the dtype moves ``to``/``float``/``double`` walk every parameter of the tree.
:class:`ModuleState` is a base of ``Module``.
"""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping

import numpy as np

from ..checks import FLOAT_DTYPES, check_device, shape_str
from .incompatible_keys import _IncompatibleKeys

__all__ = ["ModuleState"]


class ModuleState:
    """``state_dict``/``load_state_dict``, train/eval, ``zero_grad`` and dtype moves of a module tree."""

    # -------------------------------------------------------------------- state
    def _save_to_state_dict(self, destination, prefix, keep_vars):
        for name, p in self._parameters.items():
            if p is not None:
                destination[prefix + name] = p if keep_vars else p.data.copy()
        for name, b in self._buffers.items():
            if b is not None and name not in self._non_persistent_buffers_set:
                destination[prefix + name] = b if keep_vars else b.copy()

    def state_dict(self, *, destination=None, prefix: str = "", keep_vars: bool = False):
        """An ``OrderedDict`` of copies of every parameter and persistent buffer, with torch's keys.

        ``keep_vars=True`` returns the Parameter objects themselves instead of copies.
        """
        if destination is None:
            destination = OrderedDict()
        self._save_to_state_dict(destination, prefix, keep_vars)
        for name, module in self._modules.items():
            if module is not None:
                module.state_dict(destination=destination, prefix=prefix + name + ".", keep_vars=keep_vars)
        return destination

    def _load_from_state_dict(self, state_dict, prefix, missing_keys, unexpected_keys,
                              error_msgs, pending):
        """Check this module's own entries of ``state_dict``; queue their copies in ``pending``.

        Nothing is written here: :meth:`load_state_dict` runs the queued copies only
        once every module has been checked and nothing is wrong, so a checkpoint loads
        entirely or not at all.
        """
        local = [(n, p, True) for n, p in self._parameters.items() if p is not None]
        local += [(n, b, False) for n, b in self._buffers.items()
                  if b is not None and n not in self._non_persistent_buffers_set]
        for name, current, is_param in local:
            key = prefix + name
            if key not in state_dict:
                missing_keys.append(key)
                continue
            value = state_dict[key]
            try:
                value = np.asarray(value)
            except Exception:  # noqa: BLE001 - anything not array-like is reported, like torch
                value = None
            if value is None or value.dtype.kind not in "fiub":
                error_msgs.append(
                    f'While copying the parameter named "{key}", expected an ndarray or array-like '
                    f"object of numbers from checkpoint but received "
                    f"{type(state_dict[key]).__name__}"
                    + (f" of dtype {value.dtype}" if value is not None else "")
                )
                continue
            target = current.data if is_param else current
            if value.shape != target.shape:
                error_msgs.append(
                    f"size mismatch for {key}: copying a param with shape {shape_str(value.shape)} "
                    f"from checkpoint, the shape in current model is {shape_str(target.shape)}."
                )
                continue
            pending.append((self, name, is_param, value))
        local_names = {n for n, _, _ in local}
        for key in state_dict:
            if key.startswith(prefix):
                input_name = key[len(prefix):].split(".", 1)
                if len(input_name) > 1:
                    if input_name[0] not in self._modules:
                        unexpected_keys.append(key)
                elif input_name[0] not in local_names:
                    unexpected_keys.append(key)

    def load_state_dict(self, state_dict: Mapping, strict: bool = True, assign: bool = False):
        """Copy ``state_dict``'s arrays into this module's parameters and buffers, as torch does.

        Values (ndarrays, or anything array-like such as CPU torch tensors) are copied
        into the existing ``.data`` arrays and cast to the module's dtype, so
        optimizers holding the Parameters keep working. With ``assign=True`` the
        arrays replace ``.data`` instead (keeping their own float dtype).

        All or nothing: every entry is checked before any is written, so a failed
        load leaves the model exactly as it was (torch's leaves it half-loaded).

        Raises
        ------
        RuntimeError
            On any shape mismatch or non-numeric value, and (if ``strict``) on missing
            or unexpected keys; the message lists every problem, as torch's does, and
            nothing has been loaded.

        Returns
        -------
        IncompatibleKeys
            ``(missing_keys, unexpected_keys)``; empty lists when everything matched.
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"Expected state_dict to be dict-like, got {type(state_dict)}.")
        missing_keys: list = []
        unexpected_keys: list = []
        error_msgs: list = []
        pending: list = []  # (module, name, is_param, value), written only if all is well

        def load(module, local_state_dict, prefix=""):
            module._load_from_state_dict(local_state_dict, prefix, missing_keys, unexpected_keys,
                                         error_msgs, pending)
            for name, child in module._modules.items():
                if child is not None:
                    child_prefix = prefix + name + "."
                    child_state = {k: v for k, v in local_state_dict.items() if k.startswith(child_prefix)}
                    load(child, child_state, child_prefix)

        load(self, OrderedDict(state_dict))
        if strict:
            if unexpected_keys:
                error_msgs.insert(0, "Unexpected key(s) in state_dict: {}. ".format(
                    ", ".join(f'"{k}"' for k in unexpected_keys)))
            if missing_keys:
                error_msgs.insert(0, "Missing key(s) in state_dict: {}. ".format(
                    ", ".join(f'"{k}"' for k in missing_keys)))
        if error_msgs:
            # torch's message, word for word; unlike torch, nothing has been copied.
            raise RuntimeError("Error(s) in loading state_dict for {}:\n\t{}".format(
                type(self).__name__, "\n\t".join(error_msgs)))
        for module, name, is_param, value in pending:
            module._copy_loaded(name, is_param, value, assign)
        return _IncompatibleKeys(missing_keys, unexpected_keys)

    def _copy_loaded(self, name: str, is_param: bool, value: np.ndarray, assign: bool) -> None:
        """Write one checked checkpoint entry (see :meth:`load_state_dict`)."""
        current = self._parameters[name] if is_param else self._buffers[name]
        target = current.data if is_param else current
        if assign:
            fresh = np.array(value, dtype=value.dtype if value.dtype.kind == "f" else target.dtype)
            if is_param:
                current.data = fresh
            else:
                self._buffers[name] = fresh
        else:
            np.copyto(target, value, casting="unsafe")

    # -------------------------------------------------------------- mode, dtype
    def train(self, mode: bool = True) -> "ModuleState":
        """Set training mode on this module and every descendant; return self."""
        if not isinstance(mode, bool):
            raise ValueError("training mode is expected to be boolean")
        self.training = mode
        for module in self.children():
            module.train(mode)
        return self

    def eval(self) -> "ModuleState":
        """``train(False)``."""
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> "ModuleState":
        """Freeze (``False``) or unfreeze every parameter; return self."""
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset every parameter's ``.grad``: to ``None`` (torch's default) or to zeros in place."""
        for p in self.parameters():
            if p.grad is None:
                continue
            if set_to_none:
                p.grad = None
            else:
                p.grad[...] = 0

    def to(self, *args, dtype=None, device=None) -> "ModuleState":
        """Cast every parameter (and its gradient) and float buffer to ``dtype``; return self.

        Accepts torch's spellings ``to(dtype)``, ``to(dtype=...)`` and ``to("cpu")``.
        Only float32 and float64 are supported.
        """
        for arg in args:
            if isinstance(arg, str) and arg == "cpu":
                device = arg
            elif dtype is None:
                dtype = arg
            else:
                raise TypeError(f"{type(self).__name__}.to: unexpected argument {arg!r}")
        check_device(device, f"{type(self).__name__}.to")
        if dtype is None:
            return self
        try:
            target = np.dtype(dtype)
        except TypeError:
            raise TypeError(f"{type(self).__name__}.to: expected a dtype, got {dtype!r}") from None
        if target not in FLOAT_DTYPES:
            raise TypeError(
                f"nn.Module.to only accepts floating point dtypes (float32, float64), but got desired dtype={target}"
            )
        for module in self.modules():
            for p in module._parameters.values():
                if p is not None:
                    p.data = p.data.astype(target, copy=False)
                    if p.grad is not None:
                        p.grad = p.grad.astype(target, copy=False)
            for name, b in module._buffers.items():
                if b is not None and b.dtype.kind == "f":
                    module._buffers[name] = b.astype(target, copy=False)
        return self

    def float(self) -> "ModuleState":
        """``to(np.float32)``."""
        return self.to(np.float32)

    def double(self) -> "ModuleState":
        """``to(np.float64)``."""
        return self.to(np.float64)
