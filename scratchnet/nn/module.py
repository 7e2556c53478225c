r"""``Module``: the base class of every layer and model, shaped like ``torch.nn.Module``.

A module owns :class:`~scratchnet.nn.Parameter` s and child modules, registered by
plain attribute assignment (``self.fc = Linear(320, 50)``) in insertion order, which
gives torch's parameter names (``"fc.weight"``) and ``state_dict`` keys.

There is no autograd. Each forward keeps the closure its backward needs, and

.. math::

    \texttt{module.backward}(g) = \frac{\partial L}{\partial \text{input}}
    \quad\text{given}\quad g = \frac{\partial L}{\partial \text{output}},

while *adding* :math:`\partial L/\partial\theta` into every parameter's ``.grad``,
as torch's ``loss.backward()`` does. A training step is therefore::

    out = model(x)
    loss = criterion(out, y)
    model.zero_grad()
    model.backward(criterion.backward())
    optimizer.step()

Writing a module
----------------
A leaf layer runs a :mod:`scratchnet.functional` op through
:meth:`Module._call_functional`, which records the op's backward and routes the
gradients of the Parameters passed to it::

    class NoBiasLinear(Module):
        def __init__(self, n_in, n_out):
            super().__init__()
            self.weight = Parameter(np.zeros((n_out, n_in), dtype=np.float32))
        def forward(self, input):
            return self._call_functional(F.linear, input, self.weight)

A composite model calls its children in ``forward`` and chains their ``backward``
in reverse order in its own ``backward`` (what :class:`Sequential` does for you)::

    def backward(self, grad_out):
        g = self.fc.backward(grad_out)
        g = g.reshape(self._conv_shape)
        return self.conv.backward(g)

Alternatively, ``forward`` can record one closure for the whole computation with
:meth:`Module._set_grad_fn` (and :meth:`Module._clear_grad_fn` under ``no_grad``);
the inherited ``backward`` then checks ``grad_out`` and calls it. Capturing each
child's ``_grad_fn`` right after calling it is what lets a layer be used twice in
one forward (weight sharing), as :class:`Sequential` does.

A layer's bad input is reported with its place in the model (see
:mod:`scratchnet.nn.error_location`).
"""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from typing import Callable, Iterator, Optional

import numpy as np

from ..checks import FLOAT_DTYPES, check_device, shape_str
from ..functional import dispatch
from .error_location import LOCATED_ERRORS, locate_error
from .grad_mode import is_grad_enabled
from .hooks import RemovableHandle
from .incompatible_keys import _IncompatibleKeys
from .parameter import Parameter
from .recorded_backward import OpBackward, RecordedBackward
from .repr import module_repr

__all__ = ["Module", "RemovableHandle"]


class Module:
    """Base class for all layers and models, as ``torch.nn.Module``.

    Attributes
    ----------
    training : bool
        ``True`` after :meth:`train`, ``False`` after :meth:`eval`. None of the
        lectures' layers behave differently in the two modes, but the flag is kept
        and propagated as torch does so that models written against it port as is.
    """

    training: bool

    def __init__(self) -> None:
        d = self.__dict__
        d["training"] = True
        d["_parameters"] = OrderedDict()
        d["_buffers"] = OrderedDict()
        d["_non_persistent_buffers_set"] = set()
        d["_modules"] = OrderedDict()
        d["_forward_pre_hooks"] = OrderedDict()
        d["_forward_hooks"] = OrderedDict()
        d["_backward_hooks"] = OrderedDict()
        d["_grad_fn"] = None
        d["_grad_fn_output"] = None
        d["_forward_state"] = "never"

    # ------------------------------------------------------------------ forward
    def forward(self, *args, **kwargs):
        """The computation; every subclass defines it."""
        raise TypeError(f'Module [{type(self).__name__}] is missing the required "forward" function')

    def __call__(self, *args, **kwargs):
        if self._forward_pre_hooks:
            for hook in list(self._forward_pre_hooks.values()):
                result = hook(self, args)
                if result is not None:
                    args = result if isinstance(result, tuple) else (result,)
        try:
            output = self.forward(*args, **kwargs)
        except LOCATED_ERRORS as exc:
            located = locate_error(self, exc, args, kwargs)
            if located is exc:
                raise
            raise located from exc
        if self._forward_hooks:
            for hook in list(self._forward_hooks.values()):
                result = hook(self, args, output)
                if result is not None:
                    output = result
        return output

    def register_forward_pre_hook(self, hook: Callable) -> RemovableHandle:
        """Call ``hook(module, args)`` before every forward; it may return replacement args."""
        handle = RemovableHandle(self._forward_pre_hooks)
        self._forward_pre_hooks[handle.id] = hook
        return handle

    def register_forward_hook(self, hook: Callable) -> RemovableHandle:
        """Call ``hook(module, args, output)`` after every forward; it may return a new output."""
        handle = RemovableHandle(self._forward_hooks)
        self._forward_hooks[handle.id] = hook
        return handle

    def register_full_backward_hook(self, hook: Callable) -> RemovableHandle:
        """Call ``hook(module, grad_input, grad_output)`` each time this module back-propagates.

        As torch's: ``grad_output = (dL/d output,)`` and ``grad_input = (dL/d input,)``,
        the latter ``(None,)`` when the backward skipped the input gradient
        (``needs_input_grad=False``); a hook may return a replacement ``grad_input`` tuple.
        ``scratchnet diagnose`` watches every layer's gradients through it.
        """
        handle = RemovableHandle(self._backward_hooks)
        self._backward_hooks[handle.id] = hook
        return handle

    # ----------------------------------------------------------------- backward
    def _call_functional(self, fn: Callable, *args, **kwargs):
        """Run ``fn(*args, **kwargs)``, a :mod:`scratchnet.functional` op, and record its backward.

        :class:`Parameter` arguments are passed to the op as their ``.data``; the
        recorded backward adds the op's gradient for each of them (looked up by the
        op's parameter name, e.g. ``"weight"``) into its ``.grad`` and returns the
        gradient of the op's first argument, the layer's input.

        Under :class:`~scratchnet.nn.no_grad` the op runs without keeping anything.
        """
        op = dispatch(fn)
        positional = op.positional
        if len(args) > len(positional):
            op.signature.bind(*args, **kwargs)  # raises the signature's own TypeError
        # Which arguments are Parameters, by the op's parameter name. This runs for
        # every layer call, so it is a plain scan instead of ``Signature.bind``.
        params = [(positional[i], a) for i, a in enumerate(args) if isinstance(a, Parameter)]
        params += [(k, v) for k, v in kwargs.items() if isinstance(v, Parameter)]
        if params:
            args = tuple(a.data if isinstance(a, Parameter) else a for a in args)
            kwargs = {k: (v.data if isinstance(v, Parameter) else v) for k, v in kwargs.items()}
        if not is_grad_enabled():
            self._clear_grad_fn("no_grad")
            return fn(*args, **kwargs)
        out, backward = op.forward(*args, **kwargs)
        primary = out[0] if isinstance(out, tuple) else out
        self._set_grad_fn(OpBackward(op, backward, params), primary, honors_needs_input_grad=True)
        return out

    def _set_grad_fn(self, grad_fn: Callable, output, *, honors_needs_input_grad: bool = False) -> None:
        """Record ``grad_fn`` (``grad_out -> grad_input``) as the backward of the forward that made ``output``.

        It is stored as a :class:`~scratchnet.nn.recorded_backward.RecordedBackward`,
        which first checks ``grad_out`` against ``output``'s shape and casts it to
        ``output``'s dtype, so every backward path validates alike. It takes
        ``needs_input_grad`` too (see :meth:`backward`): passed on as
        ``grad_fn(grad_out, needs_input_grad)`` when ``honors_needs_input_grad``;
        otherwise ``grad_fn(grad_out)`` runs in full and, for ``False``, its result
        is dropped.
        """
        if isinstance(output, np.ndarray):
            expected = (output.shape, output.dtype)
        else:
            expected = (tuple(np.shape(output)), np.asarray(output).dtype)
        d = self.__dict__
        d["_grad_fn"] = RecordedBackward(self, grad_fn, expected, honors_needs_input_grad)
        d["_grad_fn_output"] = expected
        d["_forward_state"] = "recorded"

    def _clear_grad_fn(self, why: str = "no_grad") -> None:
        d = self.__dict__
        d["_grad_fn"] = None
        d["_grad_fn_output"] = None
        d["_forward_state"] = why

    def _backward_unavailable(self) -> RuntimeError:
        if self._forward_state == "no_grad":
            why = "its last forward ran under scratchnet.nn.no_grad(), which records no backward"
        else:
            why = "no forward pass has been recorded; call the module on an input first"
        return RuntimeError(f"{self._short_repr()}.backward: {why}")

    def backward(self, grad_out, needs_input_grad=True):
        r"""Back-propagate through the last forward.

        Parameters
        ----------
        grad_out : ndarray, shaped like the last forward's output
            :math:`\partial L / \partial \text{output}`.
        needs_input_grad : bool, default True
            ``False`` when nobody needs :math:`\partial L/\partial\,\text{input}`,
            as when the input is a batch of images: torch's ``requires_grad=False``
            input. Layers then skip that part of their work where they can (a
            convolution's col2im, a linear layer's :math:`GW`, and every
            parameter-free layer in front of the first one with parameters) and
            ``None`` is returned. Parameter gradients are the same either way.

        Returns
        -------
        ndarray shaped like the last forward's input, or None
            :math:`\partial L / \partial \text{input}`. As a side effect,
            :math:`\partial L / \partial \theta` is added into every parameter's
            ``.grad`` (calling it twice adds twice, like torch's accumulation).
        """
        if self._grad_fn is None:
            raise self._backward_unavailable()
        return self._grad_fn(grad_out, needs_input_grad=needs_input_grad)

    def _short_repr(self) -> str:
        return repr(self) if not self._modules else type(self).__name__

    # ------------------------------------------------------------- registration
    def register_parameter(self, name: str, param: Optional[Parameter]) -> None:
        """Add ``param`` (or ``None``, a declared-but-absent parameter such as ``bias=False``)."""
        self._check_new_name("parameter", "_parameters", name)
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(
                f"cannot assign '{type(param).__name__}' object to parameter '{name}' "
                "(scratchnet.nn.Parameter or None required)"
            )
        self._parameters[name] = param

    def register_buffer(self, name: str, tensor: Optional[np.ndarray], persistent: bool = True) -> None:
        """Add a non-trainable array that is part of the state (in ``state_dict`` if ``persistent``)."""
        self._check_new_name("buffer", "_buffers", name)
        if tensor is not None and not isinstance(tensor, np.ndarray):
            raise TypeError(
                f"cannot assign '{type(tensor).__name__}' object to buffer '{name}' "
                "(numpy.ndarray or None required)"
            )
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers_set.discard(name)
        else:
            self._non_persistent_buffers_set.add(name)

    def _check_new_name(self, kind: str, store: str, name) -> None:
        """torch's checks, and messages, on the name of a new parameter or buffer."""
        if store not in self.__dict__:
            raise AttributeError(f"cannot assign {kind} before Module.__init__() call")
        if not isinstance(name, str):
            raise TypeError(f"{kind} name should be a string. Got {type(name).__name__}")
        if "." in name:
            raise KeyError(f'{kind} name can\'t contain "."')
        if name == "":
            raise KeyError(f'{kind} name can\'t be empty string ""')
        if hasattr(self, name) and name not in self.__dict__[store]:
            raise KeyError(f"attribute '{name}' already exists")

    def add_module(self, name: str, module: Optional["Module"]) -> None:
        """Add a child module, reachable as attribute ``name``."""
        if not isinstance(module, Module) and module is not None:
            raise TypeError(f"{type(module).__name__} is not a Module subclass")
        if not isinstance(name, str):
            raise TypeError(f"module name should be a string. Got {type(name).__name__}")
        if hasattr(self, name) and name not in self._modules:
            raise KeyError(f"attribute '{name}' already exists")
        if "." in name:
            raise KeyError(f'module name can\'t contain ".", got: {name}')
        if name == "":
            raise KeyError('module name can\'t be empty string ""')
        self._modules[name] = module

    register_module = add_module

    def __setattr__(self, name: str, value) -> None:
        d = self.__dict__

        def remove_from(*stores):
            for store in stores:
                if name in store:
                    if isinstance(store, set):
                        store.discard(name)
                    else:
                        del store[name]

        params = d.get("_parameters")
        if isinstance(value, Parameter):
            if params is None:
                raise AttributeError("cannot assign parameters before Module.__init__() call")
            remove_from(d, self._buffers, self._modules, self._non_persistent_buffers_set)
            self.register_parameter(name, value)
        elif params is not None and name in params:
            if value is not None:
                raise TypeError(
                    f"cannot assign '{type(value).__name__}' as parameter '{name}' "
                    "(scratchnet.nn.Parameter or None expected)"
                )
            self.register_parameter(name, value)
        else:
            modules = d.get("_modules")
            if isinstance(value, Module):
                if modules is None:
                    raise AttributeError("cannot assign module before Module.__init__() call")
                remove_from(d, self._parameters, self._buffers, self._non_persistent_buffers_set)
                modules[name] = value
            elif modules is not None and name in modules:
                if value is not None:
                    raise TypeError(
                        f"cannot assign '{type(value).__name__}' as child module '{name}' "
                        "(scratchnet.nn.Module or None expected)"
                    )
                modules[name] = value
            else:
                buffers = d.get("_buffers")
                if buffers is not None and name in buffers:
                    if value is not None and not isinstance(value, np.ndarray):
                        raise TypeError(
                            f"cannot assign '{type(value).__name__}' as buffer '{name}' "
                            "(numpy.ndarray or None expected)"
                        )
                    buffers[name] = value
                else:
                    object.__setattr__(self, name, value)

    def __getattr__(self, name: str):
        d = self.__dict__
        for store in ("_parameters", "_buffers", "_modules"):
            if store in d and name in d[store]:
                return d[store][name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name: str) -> None:
        for store in (self._parameters, self._buffers, self._modules):
            if name in store:
                del store[name]
                self._non_persistent_buffers_set.discard(name)
                return
        object.__delattr__(self, name)

    def __dir__(self):
        return sorted(set(dir(type(self))) | set(self.__dict__)
                      | set(self._parameters) | set(self._modules) | set(self._buffers))

    def __getstate__(self):
        # Recorded backward closures are transient (and not picklable); hooks are dropped
        # with them, as a pickled model should not call back into the pickling session.
        state = self.__dict__.copy()
        state["_grad_fn"] = None
        state["_grad_fn_output"] = None
        state["_forward_state"] = "never"
        state["_forward_pre_hooks"] = OrderedDict()
        state["_forward_hooks"] = OrderedDict()
        state["_backward_hooks"] = OrderedDict()
        return state

    def __setstate__(self, state):
        state.setdefault("_backward_hooks", OrderedDict())  # pickled before backward hooks existed
        self.__dict__.update(state)

    # ---------------------------------------------------------------- traversal
    def named_modules(self, memo: Optional[set] = None, prefix: str = "",
                      remove_duplicate: bool = True) -> Iterator:
        """Yield ``(name, module)`` for this module and every descendant, depth first (``""`` is self)."""
        if memo is None:
            memo = set()
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, module in self._modules.items():
            if module is None:
                continue
            sub_prefix = prefix + ("." if prefix else "") + name
            yield from module.named_modules(memo, sub_prefix, remove_duplicate)

    def modules(self) -> Iterator["Module"]:
        for _, module in self.named_modules():
            yield module

    def named_children(self) -> Iterator:
        """Yield ``(name, child)`` for the direct children (each distinct child once)."""
        memo = set()
        for name, module in self._modules.items():
            if module is not None and id(module) not in memo:
                memo.add(id(module))
                yield name, module

    def children(self) -> Iterator["Module"]:
        for _, module in self.named_children():
            yield module

    def _named_members(self, get_members, prefix="", recurse=True, remove_duplicate=True):
        memo = set()
        modules = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) \
            if recurse else [(prefix, self)]
        for module_prefix, module in modules:
            for k, v in get_members(module):
                if v is None or (remove_duplicate and id(v) in memo):
                    continue
                if remove_duplicate:
                    memo.add(id(v))
                yield module_prefix + ("." if module_prefix else "") + k, v

    def named_parameters(self, prefix: str = "", recurse: bool = True,
                         remove_duplicate: bool = True) -> Iterator:
        """Yield ``(name, Parameter)`` with torch's names: ``"0.weight"``, ``"fc1.bias"``, ..."""
        yield from self._named_members(lambda m: m._parameters.items(), prefix, recurse, remove_duplicate)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "", recurse: bool = True,
                      remove_duplicate: bool = True) -> Iterator:
        yield from self._named_members(lambda m: m._buffers.items(), prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True) -> Iterator[np.ndarray]:
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def get_submodule(self, target: str) -> "Module":
        """The descendant at dotted path ``target`` (``""`` is self), as torch's."""
        module = self
        if target == "":
            return module
        for item in target.split("."):
            if item not in module._modules or module._modules[item] is None:
                raise AttributeError(f"{type(module).__name__} has no attribute `{item}`")
            module = module._modules[item]
        return module

    def apply(self, fn: Callable) -> "Module":
        """Call ``fn`` on every child (recursively), then on self; return self."""
        for module in self.children():
            module.apply(fn)
        fn(self)
        return self

    def num_parameters(self, trainable_only: bool = False) -> int:
        """Total number of scalars in the (distinct) parameters, e.g. 61,706 for LeNet-5."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)

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
    def train(self, mode: bool = True) -> "Module":
        """Set training mode on this module and every descendant; return self."""
        if not isinstance(mode, bool):
            raise ValueError("training mode is expected to be boolean")
        self.training = mode
        for module in self.children():
            module.train(mode)
        return self

    def eval(self) -> "Module":
        """``train(False)``."""
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> "Module":
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

    def to(self, *args, dtype=None, device=None) -> "Module":
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

    def float(self) -> "Module":
        """``to(np.float32)``."""
        return self.to(np.float32)

    def double(self) -> "Module":
        """``to(np.float64)``."""
        return self.to(np.float64)

    # --------------------------------------------------------------------- repr
    def extra_repr(self) -> str:
        """The layer's own settings, shown inside its repr (one line for built-in layers)."""
        return ""

    def _get_name(self) -> str:
        return type(self).__name__

    def __repr__(self) -> str:
        return module_repr(self._get_name(), self.extra_repr(), self._modules.items())
