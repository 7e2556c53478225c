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

This file is the mechanism: calling a module, recording its backward, running it,
and the hooks around both. torch's bookkeeping API lives in the two bases of
:class:`Module`: :class:`~scratchnet.nn.module_tree.ModuleTree` (attribute
registration, ``named_parameters``, ``children``, ``apply``, ...) and
:class:`~scratchnet.nn.module_state.ModuleState` (``state_dict``,
``load_state_dict``, ``train``/``eval``, ``zero_grad``, ``to``/``float``/``double``).
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Callable

import numpy as np

from ..functional import dispatch
from .error_location import LOCATED_ERRORS, locate_error
from .grad_mode import is_grad_enabled
from .hooks import RemovableHandle
from .module_state import ModuleState
from .module_tree import ModuleTree
from .parameter import Parameter
from .recorded_backward import OpBackward, RecordedBackward
from .repr import module_repr

__all__ = ["Module", "RemovableHandle"]


class Module(ModuleTree, ModuleState):
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
        # Straight into __dict__: ModuleTree.__setattr__ needs these stores to exist.
        self.__dict__.update(
            training=True,
            _parameters=OrderedDict(), _buffers=OrderedDict(), _non_persistent_buffers_set=set(),
            _modules=OrderedDict(),
            _forward_pre_hooks=OrderedDict(), _forward_hooks=OrderedDict(), _backward_hooks=OrderedDict(),
            _grad_fn=None, _grad_fn_output=None, _forward_state="never",
        )

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
        if kwargs:  # most layers pass none: no second scan, no new dict
            params += [(k, v) for k, v in kwargs.items() if isinstance(v, Parameter)]
        if params:
            args = tuple(a.data if isinstance(a, Parameter) else a for a in args)
            if kwargs:
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
        attrs = self.__dict__  # three plain stores: update(**...) builds a dict on every layer call
        attrs["_grad_fn"] = RecordedBackward(self, grad_fn, expected, honors_needs_input_grad)
        attrs["_grad_fn_output"] = expected
        attrs["_forward_state"] = "recorded"

    def _clear_grad_fn(self, why: str = "no_grad") -> None:
        """Forget the recorded backward; ``why`` ("no_grad") is what :meth:`backward` will say."""
        self.__dict__.update(_grad_fn=None, _grad_fn_output=None, _forward_state=why)

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
        return self._grad_fn(grad_out, needs_input_grad)

    # -------------------------------------------------------------------- hooks
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

    def _short_repr(self) -> str:
        return repr(self) if not self._modules else type(self).__name__

    # ----------------------------------------------------------------- pickling
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

    # --------------------------------------------------------------------- repr
    def extra_repr(self) -> str:
        """The layer's own settings, shown inside its repr (one line for built-in layers)."""
        return ""

    def _get_name(self) -> str:
        return type(self).__name__

    def __repr__(self) -> str:
        return module_repr(self._get_name(), self.extra_repr(), self._modules.items())
