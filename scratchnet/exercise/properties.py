"""Each exercise's properties: the parity suite's strategies, restricted to its scope.

A property is a label ("stride > 1") and a hypothesis strategy of :class:`Case`: the
function to call, its arguments, and the seed of the random upstream gradient (never
all ones, which hides a wrong softmax backward). Narrow properties ("padding > 0",
"ties") are there so that a mistake that shows only under one option fails a
property that says so, and the shrunk case is the smallest one with that option.

Every case also draws a memory layout (:data:`scratchnet.testing.strategies.LAYOUTS`)
for each array argument and for the upstream gradient: the learner's function gets
its arrays in those layouts (the values are the same), the oracle gets them
C-ordered. A function that reads memory in storage order fails; the layouts shrink
towards C order, so a shrunk case keeps a non-C layout only where it matters.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass

import numpy as np
from hypothesis import assume, strategies as st

from ..functional.softmax import _log_softmax
from ..testing import strategies
from .case import LAYOUT_WORDS, Case  # noqa: F401  (LAYOUT_WORDS: re-exported)
from .catalogue import Exercise


@dataclass(frozen=True)
class Property:
    label: str
    strategy: object  # a hypothesis strategy of Case


def _names(ex: Exercise, function: str) -> tuple:
    sig = inspect.signature(ex.reference(function))
    return tuple(n for n, p in sig.parameters.items()
                 if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD))


def _case(ex, function, args, kwargs, seed, **extra):
    args = tuple(args)
    return Case(function, args, dict(kwargs), _names(ex, function)[:len(args)], seed, extra)


# --------------------------------------------------------------------------- per exercise
def _elementwise(ex, function, full):
    @st.composite
    def draw(d, style):
        # Half the cases of two or more axes of size 2 or more: there a transposed or Fortran-
        # ordered view differs from C order, so an op reading storage order shows.
        shape = d(st.one_of(strategies.elementwise_shapes,
                            st.lists(st.integers(2, 5), min_size=2, max_size=4).map(tuple)))
        rng = np.random.default_rng(d(strategies.seeds))
        dtype = d(strategies.dtypes)
        if style == "kinks":  # small integers: exact zeros for relu's kink, saturation for the rest
            x = np.asarray(rng.integers(-3, 4, shape)).astype(dtype)
        else:
            x = np.asarray(rng.standard_normal(shape) * d(st.sampled_from([0.1, 1.0, 30.0, 400.0])))
            x = x.astype(dtype)
        return _case(ex, function, [x], {}, d(strategies.seeds))

    return [Property(f"{function}: random inputs", draw("random")),
            Property(f"{function}: integers (exact zeros)", draw("kinks"))]


def _linear(ex, full):
    @st.composite
    def draw(d, with_bias):
        lead = tuple(d(st.lists(st.integers(0, 4), max_size=3))) if full else (d(st.integers(1, 4)),)
        fin, fout = d(st.integers(1, 6)), d(st.integers(1, 6))
        dtype = d(strategies.dtypes)
        rng = np.random.default_rng(d(strategies.seeds))
        args = [strategies.randn(rng, lead + (fin,), dtype), strategies.randn(rng, (fout, fin), dtype)]
        if with_bias:
            args.append(strategies.randn(rng, (fout,), dtype))
        return _case(ex, "linear", args, {}, d(strategies.seeds))

    return [Property("linear with a bias", draw(True)), Property("linear without a bias", draw(False))]


def _softmax(ex, function, full):
    @st.composite
    def draw(d, scale):
        shape, dim = d(strategies.shape_and_dim(min_rank=0 if full else 1, min_size=0 if full else 1))
        dtype = d(strategies.dtypes)
        rng = np.random.default_rng(d(strategies.seeds))
        x = np.asarray(rng.standard_normal(shape) * d(scale)).astype(dtype)
        return _case(ex, function, [x, dim], {}, d(strategies.seeds))

    return [Property(f"{function}: logits of size ~1", draw(st.sampled_from([0.1, 1.0, 3.0]))),
            Property(f"{function}: large logits (1e4: exp overflows unless shifted)",
                     draw(st.just(1e4)))]


def _cross_entropy(ex, full):
    @st.composite
    def draw(d, function, far_apart=False):
        x, t, weight, ignore_index, reduction = d(strategies.index_case(full=full))
        if far_apart:  # a softmax that underflows to 0: log(softmax(x)) is -inf there, log_softmax is not
            x = x * x.dtype.type(1e3)
        if function == "nll_loss":  # log-probabilities, as the lectures feed it
            x = _log_softmax(x, 1 if x.ndim > 1 else 0)
        args = [x, t] + ([weight] if weight is not None else [])
        kwargs = {"reduction": reduction}
        if full:
            kwargs["ignore_index"] = ignore_index
            if function == "cross_entropy":
                kwargs["label_smoothing"] = d(st.sampled_from([0.0, 0.0, 0.1, 1.0]))
        return _case(ex, function, args, kwargs, d(strategies.seeds))

    return [Property("nll_loss", draw("nll_loss")), Property("cross_entropy", draw("cross_entropy")),
            Property("cross_entropy: logits far apart (a softmax that underflows)",
                     draw("cross_entropy", far_apart=True))]


def _mse(ex, full):
    @st.composite
    def draw(d):
        xs, ys = d(strategies.mse_case(full=full))
        dtype = d(strategies.dtypes)
        rng = np.random.default_rng(d(strategies.seeds))
        x = np.asarray(rng.standard_normal(xs)).astype(dtype)
        y = np.asarray(rng.standard_normal(ys)).astype(dtype)
        kwargs = {"reduction": d(strategies.reductions) if full else "mean"}
        return _case(ex, "mse_loss", [x, y], kwargs, d(strategies.seeds))

    return [Property("mse_loss", draw())]


def _pool(ex, function, full):
    max_pool = function == "max_pool2d"

    def prop(label, apart=False, **restrict):
        @st.composite
        def draw(d):
            x, kwargs = d(strategies.pool_cases(max_pool=max_pool, full=full, **restrict))
            if apart:
                assume(strategies.as_pair(kwargs["stride"]) != strategies.as_pair(kwargs["kernel_size"]))
            return _case(ex, function, [x], kwargs, d(strategies.seeds))
        return Property(f"{function}: {label}", draw())

    styles = None if full else ["random"]
    props = [prop("kernel = stride, no padding", stride=st.none(), padding=lambda k: st.just((0, 0)),
                  styles=styles)]
    if max_pool:
        props.append(prop("ties (repeated maxima)", styles=["ties"]))
    two = st.integers(2, 3)
    props += [
        prop("stride different from the kernel (overlapping or gapped windows)", apart=True, kernel=two,
             stride=st.integers(1, 3), styles=styles),
        prop("padding > 0", kernel=two,
             padding=lambda k: st.tuples(st.integers(1, k[0] // 2), st.integers(1, k[1] // 2)),
             styles=styles),
    ]
    if full:
        props.append(prop("torch's whole option set"))
    return props


def _conv(ex, function, full):
    def prop(label, **restrict):
        @st.composite
        def draw(d):
            args, kwargs = d(strategies.conv_cases(max_batch=2, max_channels=2, max_kernel=3, full=full,
                                          **restrict))
            return _case(ex, function, args, kwargs, d(strategies.seeds))
        return Property(f"{function}: {label}", draw())

    pads = st.one_of(st.integers(1, 2), st.tuples(st.integers(1, 2), st.integers(0, 2))) if full \
        else st.integers(1, 2)
    props = [
        prop("stride 1, no padding", stride=st.just(1), padding=st.just(0)),
        prop("stride > 1", stride=st.integers(2, 3) if not full else st.one_of(
            st.integers(2, 3), st.tuples(st.integers(1, 3), st.integers(2, 3))), padding=st.just(0)),
        prop("padding > 0", stride=st.just(1), padding=pads),
        prop("stride and padding together"),
    ]
    if full:
        props.append(prop("dilation, groups, 'same'/'valid', unbatched"))
    return props


def _sequential(ex, full):
    @st.composite
    def draw(d):
        width = d(st.integers(1, 4))
        n = d(st.integers(1, 3))
        dtype = d(strategies.dtypes)
        kinds = d(st.lists(st.sampled_from(["linear", "relu", "tanh", "sigmoid", "shared"]),
                           min_size=1, max_size=5))
        if "shared" in kinds and kinds.count("shared") == 1:
            kinds.append("shared")  # a shared layer is used at least twice
        rng = np.random.default_rng(d(strategies.seeds))
        existing = d(st.booleans())
        layers, shared = [], None
        for kind in kinds:
            if kind in ("linear", "shared"):
                if kind == "shared" and shared is not None:
                    layers.append(shared)
                    continue
                params = {"weight": strategies.randn(rng, (width, width), dtype),
                          "bias": strategies.randn(rng, (width,), dtype)}
                pre = {k: (strategies.randn(rng, v.shape, dtype) if existing else None) for k, v in params.items()}
                layer = ("linear", params, pre)
                if kind == "shared":
                    shared = layer
                layers.append(layer)
            else:
                layers.append((kind, {}, {}))
        x = strategies.randn(rng, (n, width), dtype)
        return Case("sequential", (x,), {}, ("input",), d(strategies.seeds), {"layers": layers})

    return [Property("sequential: a chain with a shared layer and existing .grad", draw())]


#: The learning rates a schedule is drawn from (it always changes at least once).
SGD_RATES = (0.1, 0.01, 0.5)


def _sgd(ex, full):
    @st.composite
    def draw(d, with_momentum):
        shape = tuple(d(st.lists(st.integers(1, 4), min_size=1, max_size=2)))
        dtype = d(strategies.dtypes)
        steps = d(st.integers(3, 5))
        rng = np.random.default_rng(d(strategies.seeds))
        rates = [d(st.sampled_from(SGD_RATES)) for _ in range(steps)]
        if len(set(rates)) == 1:  # a schedule that changes: lr folded into the buffer must show
            rates[-1] = 0.05
        momenta = [d(st.sampled_from([0.9, 0.5])) if with_momentum else 0.0 for _ in range(steps)]
        fixed = {}
        if full:
            fixed["dampening"] = d(st.sampled_from([0.0, 0.1]))
            fixed["weight_decay"] = d(st.sampled_from([0.0, 0.01]))
            fixed["nesterov"] = bool(with_momentum and fixed["dampening"] == 0 and d(st.booleans()))
            fixed["maximize"] = d(st.booleans())
        schedule = [{"lr": lr, "momentum": mu, **fixed} for lr, mu in zip(rates, momenta)]
        param = strategies.randn(rng, shape, dtype)
        grads = [strategies.randn(rng, shape, dtype) for _ in range(steps)]
        grad_layouts = [d(strategies.layouts()) for _ in range(steps)]
        return Case("sgd_momentum", (param,), {}, ("param",), 0,
                    {"grads": grads, "hyper": schedule[0], "schedule": schedule,
                     "grad_layouts": grad_layouts})

    return [Property("sgd_momentum: plain SGD, a learning-rate schedule", draw(False)),
            Property("sgd_momentum: with momentum, lr and momentum changing between steps",
                     draw(True))]


#: The layouts of the property that never draws C order.
NON_C = st.sampled_from([lay for lay in strategies.LAYOUTS if lay != "C"])


@st.composite
def _laid_out(d, strategy, forced=False):
    """``strategy``'s case with a drawn memory layout per array argument and upstream gradient
    (``forced``: never C order)."""
    layouts = NON_C if forced else strategies.layouts()
    case = d(strategy)
    case.layouts = tuple(d(layouts) if isinstance(a, np.ndarray) and a.ndim else "C"
                         for a in case.args)
    case.grad_layout = d(layouts)
    if forced and "grad_layouts" in case.extra:
        case.extra["grad_layouts"] = [d(layouts) for _ in case.extra["grad_layouts"]]
    return case


def properties(ex: Exercise, full: bool = False) -> list:
    """The properties a check of ``ex`` runs (core scope, or torch's whole set with ``full``).

    Every one draws the memory layouts of the arguments and upstream gradient too, and
    each function's first property is repeated with none of them C-ordered.
    """
    props, seen = [], set()
    for p in _properties(ex, full):
        props.append(Property(p.label, _laid_out(p.strategy)))
        prefix = p.label.split(":")[0].split(" ")[0]
        if prefix not in seen:
            seen.add(prefix)
            props.append(Property(f"{prefix}: {NON_C_LABEL}", _laid_out(p.strategy, forced=True)))
    return props


NON_C_LABEL = "every array non-contiguous (transposed, Fortran order, reversed, step-sliced views)"


def _properties(ex: Exercise, full: bool) -> list:
    name = ex.name
    if name == "activations":
        return [p for f in ex.functions for p in _elementwise(ex, f, full)]
    if name == "linear":
        return _linear(ex, full)
    if name in ("softmax", "log_softmax"):
        return _softmax(ex, name, full)
    if name == "cross_entropy":
        return _cross_entropy(ex, full)
    if name == "mse_loss":
        return _mse(ex, full)
    if name in ("max_pool2d", "avg_pool2d"):
        return _pool(ex, name, full)
    if name in ("conv2d", "conv2d_naive"):
        return _conv(ex, name, full)
    if name == "sequential_backward":
        return _sequential(ex, full)
    if name == "sgd_momentum":
        return _sgd(ex, full)
    raise KeyError(name)
