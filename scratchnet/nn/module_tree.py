"""The attribute side of :class:`~scratchnet.nn.Module`: registering and walking its parts.

A module's :class:`~scratchnet.nn.Parameter` s, buffers and child modules are
registered by plain attribute assignment (``self.fc = Linear(320, 50)``) into three
ordered stores, ``_parameters``, ``_buffers`` and ``_modules``, in insertion order;
the traversals (``named_parameters``, ``named_modules``, ``children``, ...) walk
them depth first, which gives torch's names (``"fc.weight"``). Everything here is
torch's API and messages; :class:`ModuleTree` is a base of ``Module``, whose
``__init__`` creates the stores.
"""
from __future__ import annotations

from typing import Callable, Iterator, Optional

import numpy as np

from .parameter import Parameter

__all__ = ["ModuleTree"]


class ModuleTree:
    """Registration (attributes, ``add_module``, ``register_*``) and traversal of a module's parts."""

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

    def add_module(self, name: str, module: Optional["ModuleTree"]) -> None:
        """Add a child module, reachable as attribute ``name``."""
        if not isinstance(module, ModuleTree) and module is not None:
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
        """``self.name = value``: a Parameter, a child module or a buffer goes to its store, as torch's."""
        attrs = self.__dict__

        def remove_from(*stores):
            for store in stores:
                if name in store:
                    if isinstance(store, set):
                        store.discard(name)
                    else:
                        del store[name]

        params = attrs.get("_parameters")
        if isinstance(value, Parameter):
            if params is None:
                raise AttributeError("cannot assign parameters before Module.__init__() call")
            remove_from(attrs, self._buffers, self._modules, self._non_persistent_buffers_set)
            self.register_parameter(name, value)
        elif params is not None and name in params:
            if value is not None:
                raise TypeError(
                    f"cannot assign '{type(value).__name__}' as parameter '{name}' "
                    "(scratchnet.nn.Parameter or None expected)"
                )
            self.register_parameter(name, value)
        else:
            modules = attrs.get("_modules")
            if isinstance(value, ModuleTree):
                if modules is None:
                    raise AttributeError("cannot assign module before Module.__init__() call")
                remove_from(attrs, self._parameters, self._buffers, self._non_persistent_buffers_set)
                modules[name] = value
            elif modules is not None and name in modules:
                if value is not None:
                    raise TypeError(
                        f"cannot assign '{type(value).__name__}' as child module '{name}' "
                        "(scratchnet.nn.Module or None expected)"
                    )
                modules[name] = value
            else:
                buffers = attrs.get("_buffers")
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
        # Called only when normal lookup fails: the registered parts are not in __dict__.
        attrs = self.__dict__
        for store in ("_parameters", "_buffers", "_modules"):
            if store in attrs and name in attrs[store]:
                return attrs[store][name]
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

    def modules(self) -> Iterator["ModuleTree"]:
        for _, module in self.named_modules():
            yield module

    def named_children(self) -> Iterator:
        """Yield ``(name, child)`` for the direct children (each distinct child once)."""
        memo = set()
        for name, module in self._modules.items():
            if module is not None and id(module) not in memo:
                memo.add(id(module))
                yield name, module

    def children(self) -> Iterator["ModuleTree"]:
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

    def get_submodule(self, target: str) -> "ModuleTree":
        """The descendant at dotted path ``target`` (``""`` is self), as torch's."""
        module = self
        if target == "":
            return module
        for item in target.split("."):
            if item not in module._modules or module._modules[item] is None:
                raise AttributeError(f"{type(module).__name__} has no attribute `{item}`")
            module = module._modules[item]
        return module

    def apply(self, fn: Callable) -> "ModuleTree":
        """Call ``fn`` on every child (recursively), then on self; return self."""
        for module in self.children():
            module.apply(fn)
        fn(self)
        return self

    def num_parameters(self, trainable_only: bool = False) -> int:
        """Total number of scalars in the (distinct) parameters, e.g. 61,706 for LeNet-5."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)
