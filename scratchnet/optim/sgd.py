"""Stochastic gradient descent with torch's momentum, dampening, Nesterov and weight decay."""
from __future__ import annotations

import os

import numpy as np

from .optimizer import Optimizer, add_scaled


class SGD(Optimizer):
    r"""Stochastic gradient descent, with torch's exact update rule.

    For each parameter :math:`\theta` with gradient :math:`g_t` at step :math:`t`
    (learning rate :math:`\gamma`, momentum :math:`\mu`, dampening :math:`\tau`,
    weight decay :math:`\lambda`):

    .. math::

        g_t &\leftarrow -g_t \quad\text{if maximize} \\
        g_t &\leftarrow g_t + \lambda \theta_{t-1} \quad\text{if } \lambda \ne 0 \\
        b_t &\leftarrow \begin{cases} g_t & t = 1 \\
                                      \mu b_{t-1} + (1 - \tau) g_t & t > 1 \end{cases}
               \quad\text{if } \mu \ne 0 \\
        g_t &\leftarrow \begin{cases} g_t + \mu b_t & \text{nesterov} \\
                                      b_t & \text{otherwise} \end{cases} \\
        \theta_t &\leftarrow \theta_{t-1} - \gamma g_t

    The momentum buffer starts as the first gradient itself, *without* the
    :math:`(1-\tau)` factor: this is torch's convention (not Sutskever et al.'s
    :math:`b_0 = 0`), and it is why a dampened run differs from the textbook formula
    on its first step.

    Parameters
    ----------
    params : iterable of Parameter or of dicts
        Parameters to optimize, or param groups (see :class:`Optimizer`).
    lr : float, default 1e-3
    momentum : float, default 0
    dampening : float, default 0
    weight_decay : float, default 0
        L2 penalty :math:`\tfrac{\lambda}{2}\|\theta\|^2` folded into the gradient.
    nesterov : bool, default False
        Nesterov momentum; requires ``momentum > 0`` and ``dampening == 0``.
    maximize : bool, default False
        Ascend the objective instead of descending it.

    Examples
    --------
    The lecture's MLP training: ``SGD(model.parameters(), lr=0.01, momentum=0.5)``.
    """

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0,
                 nesterov=False, *, maximize=False):
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening,
                        weight_decay=weight_decay, nesterov=nesterov, maximize=maximize)
        self._validate(defaults)
        super().__init__(params, defaults)

    def _validate(self, group):
        if group["lr"] < 0.0:
            raise ValueError(f"Invalid learning rate: {group['lr']}")
        if group["momentum"] < 0.0:
            raise ValueError(f"Invalid momentum value: {group['momentum']}")
        if group["weight_decay"] < 0.0:
            raise ValueError(f"Invalid weight_decay value: {group['weight_decay']}")
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")

    def _update(self, param, grad, state, group):
        # Python floats, so that float32 parameters are updated in float32 (NEP 50).
        lr = float(group["lr"])
        momentum = float(group["momentum"])
        weight_decay = float(group["weight_decay"])
        dampening = float(group["dampening"])
        buf = state.get("momentum_buffer")
        first = momentum != 0 and buf is None
        if first:
            buf = state["momentum_buffer"] = np.empty(grad.shape, dtype=grad.dtype)
        # Cache blocking where the machine's L2 is large (see SLICE): the update is
        # four or more passes over parameter-sized arrays (momentum scaled, gradient
        # added, lr applied, parameter updated). Done slice by slice, each slice's
        # arrays stay in L2 from the first pass to the last, so only the first pass
        # pays for main memory. Element-wise arithmetic: the same numbers either way.
        for p, g, b, w in _slices((param.data, grad, buf, self._work_array(grad)), self.SLICE):
            if group["maximize"]:
                g = -g
            if weight_decay != 0:
                g = add_scaled(g, p, weight_decay)
            if momentum != 0:
                if first:
                    b[...] = g
                else:
                    b *= momentum
                    # (1 - 0) * grad would be a temporary, and adds exactly grad.
                    b += g if dampening == 0 else (1 - dampening) * g
                g = g + momentum * b if group["nesterov"] else b
            # theta -= lr * g, with lr * g written into the reused work array: NumPy has
            # no fused axpy, and a fresh temporary every step costs about as much as
            # the update itself.
            p += np.multiply(g, -lr, out=w)

    #: Elements per slice of the update (``None``: whole arrays); see :func:`_slice_size`.
    SLICE = None


def _slice_size(l2_bytes):
    """Elements per slice of :meth:`SGD._update` for a core with ``l2_bytes`` of L2, or ``None``.

    Four float32 slices (parameter, gradient, buffer, work array) should fill half
    the L2 at most, and a slice should hold 64Ki elements at least, or the Python
    call per pass and slice costs more than the cache saves. Measured on MLP-5's
    update (paired, in one process): with a 2 MiB L2 (Intel Xeon) 64Ki-element slices
    took 0.8-0.9 of the whole-array time; with a 512 KiB L2 and a 32 MiB L3 (AMD
    EPYC) slices of 64Ki took 1.1 and of 16Ki 1.3, so there the arrays go whole.
    """
    if not l2_bytes:
        return None
    size = 1 << ((l2_bytes // 2 // (4 * 4)).bit_length() - 1)  # a power of two
    return size if size >= 1 << 16 else None


def _l2_bytes(cpu: int = 0):
    """One core's L2 cache in bytes, from Linux's sysfs; ``None`` where it cannot be read."""
    root = f"/sys/devices/system/cpu/cpu{cpu}/cache"
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    try:
        for index in sorted(os.listdir(root)):
            with open(os.path.join(root, index, "level")) as f:
                if f.read().strip() != "2":
                    continue
            with open(os.path.join(root, index, "size")) as f:
                text = f.read().strip().upper()
            return int(text[:-1]) * units[text[-1]] if text[-1] in units else int(text)
    except (OSError, ValueError):
        pass
    return None


SGD.SLICE = _slice_size(_l2_bytes())


def _slices(arrays, size):
    """The arrays (``None`` entries kept as ``None``) cut into matching flat slices of ``size`` elements.

    With ``size=None``, or arrays that are not all C-contiguous (so that flat slices
    would not be views), they come back whole, in one piece.
    """
    present = [a for a in arrays if a is not None]
    n = arrays[0].size
    if size is None or n <= size or not all(a.flags.c_contiguous for a in present):
        yield arrays
        return
    flat = [None if a is None else a.reshape(-1) for a in arrays]
    for start in range(0, n, size):
        yield tuple(None if f is None else f[start:start + size] for f in flat)
