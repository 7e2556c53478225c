r"""Containers: ``Sequential`` (a chain with its backward) and ``ModuleList`` (a list).

:class:`Sequential` is where back-propagation is the chain rule, literally: the
forward calls each layer in order and remembers each one's backward; the backward
calls them in reverse,

.. math::

    \frac{\partial L}{\partial x} = J_1^\top J_2^\top \cdots J_n^\top\, g,

each :math:`J_k^\top` being layer :math:`k`'s hand-written vector-Jacobian product.
"""
from __future__ import annotations

import contextlib
import operator
from collections import OrderedDict
from itertools import islice
from typing import Callable, Iterable, Iterator, Optional

from .grad_mode import is_grad_enabled
from .error_location import path_segment
from .module import Module
from .repr import addindent

__all__ = ["Sequential", "ModuleList", "override_chain"]


class Sequential(Module):
    r"""A chain of modules: ``forward`` feeds each one's output to the next, as ``torch.nn.Sequential``.

    Build it from modules (named ``"0"``, ``"1"``, ...) or from an ``OrderedDict``
    of named modules::

        model = Sequential(Conv2d(1, 10, 5), MaxPool2d(2), ReLU(), Flatten(), Linear(1440, 10))
        model = Sequential(OrderedDict(conv=Conv2d(1, 10, 5), relu=ReLU()))

    ``backward(grad_out)`` runs every layer's backward in reverse order and returns
    the gradient of the input; parameter gradients accumulate into ``.grad``.
    Indexing (``model[0]``, ``model[-1]``, slices), ``len``, iteration, ``append``,
    ``insert``, ``extend``, ``pop``, ``del`` and ``+`` behave as in torch.

    A layer that rejects its input is reported with its place:
    ``Sequential[7] Linear(in_features=100, ...): got input of shape (64, 320): ...``.
    """

    def __init__(self, *args):
        super().__init__()
        if len(args) == 1 and isinstance(args[0], OrderedDict):
            for key, module in args[0].items():
                self.add_module(key, module)
        else:
            for idx, module in enumerate(args):
                self.add_module(str(idx), module)

    # ------------------------------------------------------------ the chain rule
    def forward(self, input):
        """Call each layer on the previous one's output, recording the backward of the chain.

        Inside :func:`override_chain` (and with gradients enabled) the chain in force
        runs instead.
        """
        if _CHAIN is not None and is_grad_enabled():
            output, backward = _CHAIN(self, input)
            self._set_grad_fn(backward, output)
            return output
        steps = []
        for key, module in self._modules.items():
            input = module(input)
            steps.append((key, module, _backward_step(module)))
        if is_grad_enabled():
            self._set_grad_fn(self._chain(steps), input, honors_needs_input_grad=True)
        else:
            self._clear_grad_fn("no_grad")
        return input

    def _chain(self, steps):
        """The backward of a forward that ran ``steps``, ``[(key, module, backward)]``: each layer's
        backward from the last to the first, each one's parameter gradients adding into ``.grad``."""
        def grad_fn(grad_out, needs_input_grad=True):
            # Without an input gradient, the layers in front of the first one with
            # trainable parameters need no backward at all, and that one needs no
            # input gradient (torch: nothing before it requires grad).
            first = 0
            if not needs_input_grad:
                first = next((i for i, (_, m, _) in enumerate(steps) if _has_trainable(m)), len(steps))
            for i in range(len(steps) - 1, first - 1, -1):
                key, module, step = steps[i]
                if step is None:
                    raise RuntimeError(
                        f"{path_segment(self, key)} {module._short_repr()}: recorded no backward "
                        f"during the forward pass (a custom module must override backward() or "
                        f"record one with _call_functional/_set_grad_fn)"
                    )
                grad_out = step(grad_out, needs_input_grad=needs_input_grad or i > first)
            return grad_out if needs_input_grad else None

        return grad_fn

    # -------------------------------------------------------------- the list API
    def _get_item_by_idx(self, iterator, idx):
        size = len(self)
        idx = operator.index(idx)
        if not -size <= idx < size:
            raise IndexError(f"index {idx} is out of range")
        idx %= size
        return next(islice(iterator, idx, None))

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return self.__class__(OrderedDict(list(self._modules.items())[idx]))
        return self._get_item_by_idx(self._modules.values(), idx)

    def __setitem__(self, idx, module: Module) -> None:
        key = self._get_item_by_idx(self._modules.keys(), idx)
        setattr(self, key, module)

    def __delitem__(self, idx) -> None:
        if isinstance(idx, slice):
            for key in list(self._modules.keys())[idx]:
                delattr(self, key)
        else:
            delattr(self, self._get_item_by_idx(self._modules.keys(), idx))
        _renumber(self)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __add__(self, other) -> "Sequential":
        if not isinstance(other, Sequential):
            raise ValueError(
                f"add operator supports only objects of Sequential class, but {type(other)} is given."
            )
        ret = Sequential()
        for layer in self:
            ret.append(layer)
        for layer in other:
            ret.append(layer)
        return ret

    def __iadd__(self, other) -> "Sequential":
        if not isinstance(other, Sequential):
            raise ValueError(
                f"add operator supports only objects of Sequential class, but {type(other)} is given."
            )
        offset = len(self)
        for i, module in enumerate(other):
            self.add_module(str(i + offset), module)
        return self

    def pop(self, key) -> Module:
        v = self[key]
        del self[key]
        return v

    def append(self, module: Module) -> "Sequential":
        """Append ``module`` at the end (named ``str(len(self))``); return self."""
        self.add_module(str(len(self)), module)
        return self

    def insert(self, index: int, module: Module) -> "Sequential":
        """Insert ``module`` before position ``index``, renumbering the ones after it; return self."""
        if not isinstance(module, Module):
            raise TypeError(f"Sequential.insert: module should be a Module, got {type(module).__name__}")
        n = len(self._modules)
        if not -n <= index <= n:
            raise IndexError(f"Index out of range: {index}")
        if index < 0:
            index += n
        for i in range(n, index, -1):
            self._modules[str(i)] = self._modules[str(i - 1)]
        self._modules[str(index)] = module
        return self

    def extend(self, sequential: Iterable[Module]) -> "Sequential":
        """Append every module of ``sequential``; return self."""
        for layer in sequential:
            self.append(layer)
        return self


#: The chain every Sequential runs inside :func:`override_chain` (``None``: none in force).
_CHAIN: Optional[Callable] = None


@contextlib.contextmanager
def override_chain(chain: Callable):
    """Run ``chain`` in place of every :class:`Sequential`'s chain rule for the ``with`` block.

    Parameters
    ----------
    chain : callable
        ``chain(sequential, input) -> (output, backward)``: runs the layers of
        ``sequential`` on ``input``; ``backward(grad_out)`` returns the input's
        gradient and adds the parameters' into their ``.grad``. The Sequential
        records that backward as its own. Under :class:`~scratchnet.nn.no_grad`
        there is nothing to chain, and Sequential's own loop runs. Overrides nest;
        leaving the block restores what ran before.

    Examples
    --------
    The chain rule over each layer's last backward (a layer used twice would need
    its two recorded backwards, which is what Sequential's own chain keeps):

    >>> import numpy as np
    >>> from scratchnet import nn
    >>> def chain(seq, input):
    ...     for layer in seq:
    ...         input = layer(input)
    ...     def backward(grad_out):
    ...         for layer in reversed(list(seq)):
    ...             grad_out = layer.backward(grad_out)
    ...         return grad_out
    ...     return input, backward
    >>> model = nn.Sequential(nn.Linear(2, 3), nn.ReLU())
    >>> with nn.override_chain(chain):
    ...     out = model(np.ones((4, 2), np.float32))
    >>> model.backward(np.ones((4, 3), np.float32)).shape
    (4, 2)
    """
    global _CHAIN
    if not callable(chain):
        raise TypeError(f"override_chain: chain must be callable, got {chain!r}")
    saved, _CHAIN = _CHAIN, chain
    try:
        yield
    finally:
        _CHAIN = saved


def _backward_step(module: Module):
    """The callable that back-propagates through ``module``'s forward that just ran.

    For a module that uses the recorded closure (every built-in layer) this is the
    closure itself, captured now, so a layer instance used twice in one chain is
    back-propagated through both of its calls; it accepts ``needs_input_grad=False``. A
    module that overrides ``backward`` is asked at backward time, with ``grad_out``
    alone.
    """
    if type(module).backward is Module.backward:
        return module._grad_fn
    return lambda grad_out, needs_input_grad=True: module.backward(grad_out)


def _has_trainable(module: Module) -> bool:
    return any(p.requires_grad for p in module.parameters())


def _renumber(container: Module) -> None:
    """Rename children "0", "1", ... in order after a deletion, as torch does."""
    container.__dict__["_modules"] = OrderedDict(
        (str(i), m) for i, m in enumerate(container._modules.values()))


class ModuleList(Module):
    """A list of modules whose parameters are registered, as ``torch.nn.ModuleList``.

    It has no forward: a model iterates it in its own ``forward`` (and its own
    ``backward``, in reverse). Its repr compresses runs of identical layers
    (``(0-2): 3 x Linear(...)``) exactly as torch's does.
    """

    def __init__(self, modules: Iterable[Module] = None):
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def _get_abs_string_index(self, idx) -> str:
        idx = operator.index(idx)
        if not -len(self) <= idx < len(self):
            raise IndexError(f"index {idx} is out of range")
        if idx < 0:
            idx += len(self)
        return str(idx)

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return self.__class__(list(self._modules.values())[idx])
        return self._modules[self._get_abs_string_index(idx)]

    def __setitem__(self, idx, module: Module) -> None:
        setattr(self, self._get_abs_string_index(idx), module)

    def __delitem__(self, idx) -> None:
        if isinstance(idx, slice):
            for k in range(len(self._modules))[idx]:
                delattr(self, str(k))
        else:
            delattr(self, self._get_abs_string_index(idx))
        _renumber(self)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __iadd__(self, modules: Iterable[Module]) -> "ModuleList":
        return self.extend(modules)

    def __add__(self, other: Iterable[Module]) -> "ModuleList":
        combined = ModuleList()
        for i, module in enumerate(list(self) + list(other)):
            combined.add_module(str(i), module)
        return combined

    def insert(self, index: int, module: Module) -> None:
        """Insert ``module`` before position ``index``."""
        for i in range(len(self._modules), index, -1):
            self._modules[str(i)] = self._modules[str(i - 1)]
        self._modules[str(index)] = module

    def append(self, module: Module) -> "ModuleList":
        self.add_module(str(len(self)), module)
        return self

    def pop(self, key) -> Module:
        v = self[key]
        del self[key]
        return v

    def extend(self, modules: Iterable[Module]) -> "ModuleList":
        if isinstance(modules, (str, bytes)) or not hasattr(modules, "__iter__"):
            raise TypeError(
                "ModuleList.extend should be called with an iterable, but got " + type(modules).__name__
            )
        offset = len(self)
        for i, module in enumerate(modules):
            self.add_module(str(offset + i), module)
        return self

    def forward(self, *args, **kwargs):
        raise TypeError(
            "ModuleList has no forward: iterate over it in your model's forward (and over "
            "reversed(...) in its backward)"
        )

    def __repr__(self) -> str:
        list_of_reprs = [repr(item) for item in self]
        if not list_of_reprs:
            return self._get_name() + "()"
        start_end_indices = [[0, 0]]
        repeated_blocks = [list_of_reprs[0]]
        for i, r in enumerate(list_of_reprs[1:], 1):
            if r == repeated_blocks[-1]:
                start_end_indices[-1][1] += 1
                continue
            start_end_indices.append([i, i])
            repeated_blocks.append(r)
        lines = []
        for (start_id, end_id), b in zip(start_end_indices, repeated_blocks):
            local_repr = f"({start_id}): {b}"
            if start_id != end_id:
                local_repr = f"({start_id}-{end_id}): {end_id - start_id + 1} x {b}"
            lines.append(addindent(local_repr, 2))
        return self._get_name() + "(\n  " + "\n  ".join(lines) + "\n)"
