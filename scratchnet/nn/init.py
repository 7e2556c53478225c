r"""Weight initialisation, as ``torch.nn.init``, drawing from a seedable NumPy generator.

Every function fills an array (or a :class:`~scratchnet.nn.Parameter`'s ``.data``)
in place and returns what it was given. Randomness comes from ``generator`` when one
is passed (a :class:`numpy.random.Generator`), otherwise from this module's default
generator, which :func:`manual_seed` resets::

    scratchnet.manual_seed(0)
    layer = scratchnet.nn.Linear(784, 10)        # the same weights on every run

Layers use torch's defaults. ``Linear`` and ``Conv2d`` call
``kaiming_uniform_(weight, a=sqrt(5))``, whose bound works out to

.. math::

    \text{gain} = \sqrt{\frac{2}{1 + a^2}} = \sqrt{\tfrac13}, \qquad
    \text{bound} = \text{gain}\sqrt{\frac{3}{\text{fan\_in}}} = \frac{1}{\sqrt{\text{fan\_in}}},

and draw the bias from :math:`\mathcal{U}(-1/\sqrt{\text{fan\_in}}, 1/\sqrt{\text{fan\_in}})`.
The distributions equal torch's; the draws do not (NumPy's and torch's generators
differ), so parity tests copy weights across rather than share seeds.
"""
from __future__ import annotations

import math
import numbers
import warnings

import numpy as np

from ..checks import is_int
from .parameter import Parameter

__all__ = [
    "manual_seed", "initial_seed",
    "calculate_gain", "calculate_fan_in_and_fan_out", "_calculate_fan_in_and_fan_out",
    "uniform_", "normal_", "constant_", "ones_", "zeros_",
    "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_",
    "INIT_SCHEMES", "init_parameters_",
]

_seed_sequence = np.random.SeedSequence()
_initial_seed = _seed_sequence.entropy
_default = np.random.default_rng(_seed_sequence)


def manual_seed(seed: int) -> np.random.Generator:
    """Reset the default generator to ``np.random.default_rng(seed)`` and return it.

    Exported as ``scratchnet.manual_seed``, the counterpart of ``torch.manual_seed``:
    after it, layer construction and every ``init`` call without a ``generator=``
    is deterministic.
    """
    global _default, _initial_seed
    if not is_int(seed):
        raise TypeError(f"manual_seed: seed must be an int, got {seed!r}")
    if seed < 0:
        raise ValueError(f"manual_seed: seed must be non-negative, got {seed}")
    _initial_seed = int(seed)
    _default = np.random.default_rng(int(seed))
    return _default


def initial_seed() -> int:
    """The seed the default generator was last created from (random entropy until :func:`manual_seed`)."""
    return _initial_seed


def _resolve_generator(generator, where: str) -> np.random.Generator:
    if generator is None:
        return _default
    if not isinstance(generator, np.random.Generator):
        raise TypeError(
            f"{where}: generator must be a numpy.random.Generator or None, "
            f"got {type(generator).__name__}"
        )
    return generator


def _array(tensor, where: str) -> np.ndarray:
    """The float ndarray behind ``tensor`` (an ndarray or a Parameter), to be filled in place."""
    arr = tensor.data if isinstance(tensor, Parameter) else tensor
    if not isinstance(arr, np.ndarray) or arr.dtype.kind != "f":
        raise TypeError(
            f"{where}: expected a floating-point ndarray or Parameter, got "
            f"{type(tensor).__name__}" + (f" of dtype {arr.dtype}" if isinstance(arr, np.ndarray) else "")
        )
    if not arr.flags.writeable:
        raise ValueError(f"{where}: the array is read-only and cannot be initialised in place")
    return arr


def calculate_gain(nonlinearity: str, param=None) -> float:
    r"""The recommended gain for ``nonlinearity``, as ``torch.nn.init.calculate_gain``.

    =================  ====================================================
    nonlinearity       gain
    =================  ====================================================
    linear / conv*     :math:`1`
    sigmoid            :math:`1`
    tanh               :math:`5/3`
    relu               :math:`\sqrt{2}`
    leaky_relu         :math:`\sqrt{2 / (1 + \text{negative\_slope}^2)}`
    selu               :math:`3/4`
    =================  ====================================================

    Parameters
    ----------
    nonlinearity : str
    param : float, optional
        The negative slope for ``'leaky_relu'`` (default 0.01).
    """
    linear_fns = ["linear", "conv1d", "conv2d", "conv3d",
                  "conv_transpose1d", "conv_transpose2d", "conv_transpose3d"]
    if nonlinearity in linear_fns or nonlinearity == "sigmoid":
        return 1
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            negative_slope = 0.01
        elif isinstance(param, (numbers.Real, np.floating, np.integer)) and not isinstance(param, bool):
            negative_slope = param
        else:
            raise ValueError(f"negative_slope {param} not a valid number")
        return math.sqrt(2.0 / (1 + negative_slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"Unsupported nonlinearity {nonlinearity}")


def calculate_fan_in_and_fan_out(tensor) -> tuple:
    r"""``(fan_in, fan_out)`` of a weight, as torch's ``_calculate_fan_in_and_fan_out``.

    For a weight of shape :math:`(\text{out}, \text{in}, k_1, \dots)`, the receptive
    field is :math:`r = \prod_i k_i` (1 for a ``Linear`` weight) and

    .. math::

        \text{fan\_in} = \text{in}\cdot r, \qquad \text{fan\_out} = \text{out}\cdot r.

    A ``Conv2d(1, 10, 5)`` weight ``(10, 1, 5, 5)`` has fan-in 25; with ``groups``,
    the weight's second dimension is already ``in_channels / groups``.
    """
    shape = np.shape(tensor.data if isinstance(tensor, Parameter) else tensor)
    if len(shape) < 2:
        raise ValueError(
            "Fan in and fan out can not be computed for tensor with fewer than 2 dimensions"
        )
    receptive_field_size = 1
    for s in shape[2:]:
        receptive_field_size *= int(s)
    return int(shape[1]) * receptive_field_size, int(shape[0]) * receptive_field_size


_calculate_fan_in_and_fan_out = calculate_fan_in_and_fan_out


def _calculate_correct_fan(tensor, mode: str) -> int:
    mode = mode.lower()
    valid_modes = ["fan_in", "fan_out"]
    if mode not in valid_modes:
        raise ValueError(f"Mode {mode} not supported, please use one of {valid_modes}")
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def uniform_(tensor, a: float = 0.0, b: float = 1.0, generator=None):
    r"""Fill ``tensor`` with draws from :math:`\mathcal{U}(a, b)`.

    Parameters
    ----------
    tensor : ndarray or Parameter, float32 or float64, any shape
    a, b : float
        Lower and upper bound.
    generator : numpy.random.Generator, optional
        Defaults to the module's generator (see :func:`manual_seed`).

    Returns
    -------
    ``tensor``, filled in place.
    """
    arr = _array(tensor, "uniform_")
    if not a <= b:
        raise ValueError(f"uniform_: expects a <= b, but got a={a} and b={b}")
    arr[...] = _resolve_generator(generator, "uniform_").uniform(a, b, size=arr.shape)
    return tensor


def normal_(tensor, mean: float = 0.0, std: float = 1.0, generator=None):
    r"""Fill ``tensor`` with draws from :math:`\mathcal{N}(\text{mean}, \text{std}^2)`."""
    arr = _array(tensor, "normal_")
    if std < 0:
        raise ValueError(f"normal_: expects std >= 0.0, but found std {std}")
    arr[...] = _resolve_generator(generator, "normal_").normal(mean, std, size=arr.shape)
    return tensor


def constant_(tensor, val: float):
    """Fill ``tensor`` with ``val``."""
    _array(tensor, "constant_")[...] = val
    return tensor


def ones_(tensor):
    """Fill ``tensor`` with ones."""
    _array(tensor, "ones_")[...] = 1
    return tensor


def zeros_(tensor):
    """Fill ``tensor`` with zeros."""
    _array(tensor, "zeros_")[...] = 0
    return tensor


def xavier_uniform_(tensor, gain: float = 1.0, generator=None):
    r"""Glorot uniform: :math:`\mathcal{U}(-a, a)` with
    :math:`a = \text{gain}\sqrt{6 / (\text{fan\_in} + \text{fan\_out})}`."""
    _array(tensor, "xavier_uniform_")
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    a = math.sqrt(3.0) * std
    return uniform_(tensor, -a, a, generator)


def xavier_normal_(tensor, gain: float = 1.0, generator=None):
    r"""Glorot normal: :math:`\mathcal{N}(0, \text{std}^2)` with
    :math:`\text{std} = \text{gain}\sqrt{2 / (\text{fan\_in} + \text{fan\_out})}`."""
    _array(tensor, "xavier_normal_")
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    return normal_(tensor, 0.0, std, generator)


def kaiming_uniform_(tensor, a: float = 0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                     generator=None):
    r"""He uniform: :math:`\mathcal{U}(-\text{bound}, \text{bound})` with

    .. math::

        \text{bound} = \text{gain}\sqrt{\frac{3}{\text{fan\_mode}}},
        \qquad \text{gain} = \texttt{calculate\_gain}(\text{nonlinearity}, a).

    Parameters
    ----------
    tensor : ndarray or Parameter with at least 2 dimensions
    a : float
        Negative slope of the leaky ReLU that follows (only used with ``'leaky_relu'``).
        Torch's layers pass :math:`\sqrt5`, which makes the bound :math:`1/\sqrt{\text{fan\_in}}`.
    mode : {'fan_in', 'fan_out'}
        Preserve the variance of the forward (``fan_in``) or of the backward pass.
    nonlinearity : str
    generator : numpy.random.Generator, optional

    Returns
    -------
    ``tensor``, filled in place.
    """
    arr = _array(tensor, "kaiming_uniform_")
    if 0 in arr.shape:
        warnings.warn("Initializing zero-element tensors is a no-op", stacklevel=2)
        return tensor
    fan = _calculate_correct_fan(tensor, mode)
    gain = calculate_gain(nonlinearity, a)
    bound = math.sqrt(3.0) * gain / math.sqrt(fan)
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(tensor, a: float = 0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                    generator=None):
    r"""He normal: :math:`\mathcal{N}(0, \text{std}^2)` with
    :math:`\text{std} = \text{gain} / \sqrt{\text{fan\_mode}}`."""
    arr = _array(tensor, "kaiming_normal_")
    if 0 in arr.shape:
        warnings.warn("Initializing zero-element tensors is a no-op", stacklevel=2)
        return tensor
    fan = _calculate_correct_fan(tensor, mode)
    std = calculate_gain(nonlinearity, a) / math.sqrt(fan)
    return normal_(tensor, 0.0, std, generator)


def reset_weight_and_bias_(weight, bias=None, generator=None) -> None:
    r"""torch's default initialisation of ``Linear`` and ``Conv2d``, in place.

    ``weight`` from ``kaiming_uniform_(a=sqrt(5))``, i.e.
    :math:`U(-1/\sqrt{\text{fan\_in}}, 1/\sqrt{\text{fan\_in}})`, then ``bias`` (if
    any) from the same :math:`U(-1/\sqrt{\text{fan\_in}}, 1/\sqrt{\text{fan\_in}})`,
    drawn in that order so that a seeded generator gives torch's sequence of draws.
    """
    kaiming_uniform_(weight, a=math.sqrt(5), generator=generator)
    if bias is not None:
        fan_in, _ = calculate_fan_in_and_fan_out(weight)
        bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
        uniform_(bias, -bound, bound, generator=generator)


def add_weight_and_bias(module, weight_shape, bias: bool, dtype) -> None:
    """Register ``module.weight`` of ``weight_shape`` and ``module.bias`` (one per output
    unit, or ``None`` without ``bias``), uninitialised: the layer's ``reset_parameters``
    draws them (:func:`reset_weight_and_bias_`)."""
    module.weight = Parameter(np.empty(weight_shape, dtype=dtype))
    if bias:
        module.bias = Parameter(np.empty(weight_shape[0], dtype=dtype))
    else:
        module.register_parameter("bias", None)


#: The whole-model initialisations ``--init`` offers, by torch's ``nn.init`` names:
#: scheme -> (the ``nn.init`` function for every weight, its keyword arguments).
#: ``"default"`` keeps each layer's own initialisation (:func:`reset_weight_and_bias_`).
#: Both engines read this one table; the torch side calls ``torch.nn.init`` by the same
#: names (:func:`scratchnet.torch_models.init_parameters_`).
INIT_SCHEMES = {
    "default": None,
    "kaiming_normal": ("kaiming_normal_", {"nonlinearity": "relu"}),
    "kaiming_uniform": ("kaiming_uniform_", {"nonlinearity": "relu"}),
    "xavier_normal": ("xavier_normal_", {}),
    "xavier_uniform": ("xavier_uniform_", {}),
    "zeros": ("zeros_", {}),
}


def init_scheme(name: str):
    """``(function name, kwargs)`` of scheme ``name`` in :data:`INIT_SCHEMES` (None for ``default``)."""
    if name not in INIT_SCHEMES:
        raise ValueError(f"init: unknown scheme {name!r}; choose one of: {', '.join(INIT_SCHEMES)}")
    return INIT_SCHEMES[name]


def is_weight(name: str, array) -> bool:
    """Whether parameter ``name`` is a layer's weight matrix or kernel (it has fans), not a bias."""
    return name.rsplit(".", 1)[-1] == "weight" and np.ndim(array) >= 2


def fan_blocks(module, weight):
    """The pieces of a layer's ``weight`` that are each one layer's weight to an init rule.

    A plain layer's weight is one piece. A sparse convolution (a module with a connection
    ``table``, LeNet-5's C3) packs one ``(|T_j|, kH, kW)`` stack of kernels per output map
    ``j``; each is initialised as the ``(1, |T_j|, kH, kW)`` weight of the convolution that
    map is, so that its fans are that map's (:math:`|T_j| k_h k_w` in), not the packed
    array's. Works for NumPy arrays and torch tensors alike (views, filled in place).
    """
    table = getattr(module, "table", None)
    if table is None or np.ndim(weight) != 3:
        return [weight]
    blocks, start = [], 0
    for inputs in table:
        blocks.append(weight[start:start + len(inputs)][None])
        start += len(inputs)
    return blocks


def init_parameters_(model, scheme: str, generator=None):
    r"""Re-initialise every parameter of ``model`` by one :data:`INIT_SCHEMES` scheme, in place.

    Every weight (a parameter called ``weight`` with two or more dimensions: the
    ``Linear`` and ``Conv2d`` layers; a sparse convolution's map by map, see
    :func:`fan_blocks`) is drawn by the scheme's ``nn.init`` function, layer by layer; every other parameter (the biases) is set to zero,
    as is usual with these schemes. The ReLU-oriented kaiming schemes use
    ``nonlinearity='relu'`` (gain :math:`\sqrt 2`), so that

    .. math::  \operatorname{Var}(W_{ij}) = \frac{2}{\text{fan\_in}}

    keeps the variance of a ReLU network's activations the same from layer to layer;
    the xavier schemes use gain 1 (:math:`\operatorname{Var} = 2/(\text{fan\_in} +
    \text{fan\_out})`). ``"default"`` changes nothing.

    Returns ``model``.
    """
    entry = init_scheme(scheme)
    if entry is None:
        return model
    fn_name, kwargs = entry
    fn = globals()[fn_name]
    for module in model.modules():
        for name, p in module.named_parameters(recurse=False):
            if is_weight(name, p.data) and fn_name != "zeros_":
                for block in fan_blocks(module, p.data):
                    fn(block, generator=generator, **kwargs)
            else:
                zeros_(p)
    return model
