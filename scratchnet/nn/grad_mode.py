"""Switching the recording of backward closures off, as ``torch.no_grad``.

Every layer's forward keeps the closure that its backward will need (the im2col
matrix of a convolution, the argmax of a max-pool, ...). Inference does not need
them, so ``with no_grad():`` runs the same forwards without keeping anything; a
``backward`` after such a forward raises instead of returning stale gradients.

Like torch, the switch is per thread and independent of ``Module.eval()``:
evaluation mode changes what layers compute (for layers that care), not whether
gradients can flow, so input-gradient saliency maps of an ``eval()`` model work.
"""
from __future__ import annotations

import functools
import threading

class _GradMode(threading.local):
    # A class attribute is every thread's default: reading it is a plain attribute
    # lookup, cheap enough for the two calls per layer per forward.
    enabled = True


_state = _GradMode()


def _decorate(fn, make_context):
    """``fn`` run inside a fresh ``make_context()`` at every call."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with make_context():
            return fn(*args, **kwargs)

    return wrapper


def is_grad_enabled() -> bool:
    """Whether forwards currently record their backward (``True`` unless inside :class:`no_grad`)."""
    return _state.enabled


class set_grad_enabled:
    """Enable or disable recording, as a context manager, decorator or plain call.

    Parameters
    ----------
    mode : bool
        ``False`` to run forwards without keeping their backward closures.

    Examples
    --------
    >>> import scratchnet.nn as nn
    >>> _ = nn.set_grad_enabled(False)   # from now on, in this thread
    >>> nn.is_grad_enabled()
    False
    >>> _ = nn.set_grad_enabled(True)
    """

    def __init__(self, mode: bool):
        if not isinstance(mode, bool):
            raise TypeError(f"set_grad_enabled: mode must be a bool, got {mode!r}")
        self.prev = is_grad_enabled()
        self.mode = mode
        _state.enabled = mode

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        _state.enabled = self.prev
        return False

    def __call__(self, fn):
        mode = self.mode
        # Being used as a decorator, this instance must not leave the mode switched.
        _state.enabled = self.prev
        return _decorate(fn, lambda: set_grad_enabled(mode))


class no_grad:
    """Context manager (and decorator) under which forwards record no backward.

    Examples
    --------
    >>> import numpy as np, scratchnet.nn as nn
    >>> layer = nn.Linear(3, 2)
    >>> with nn.no_grad():
    ...     y = layer(np.ones((1, 3), dtype=np.float32))
    >>> y.shape
    (1, 2)
    """

    def __enter__(self):
        self.prev = is_grad_enabled()
        _state.enabled = False
        return self

    def __exit__(self, *exc_info):
        _state.enabled = self.prev
        return False

    def __call__(self, fn):
        return _decorate(fn, no_grad)
