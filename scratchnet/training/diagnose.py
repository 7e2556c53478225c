r"""``scratchnet diagnose``: what happens inside each layer while a model trains.

A network that does not learn usually says why in three numbers per layer:

* the **spread of its activations** (``out_std``). With torch's default
  initialisation a ``Linear`` layer's weights have variance :math:`1/(3\,\text{fan\_in})`,
  so each ReLU layer keeps about :math:`\sqrt{1/6} \approx 0.41` of the spread of its
  input; nine layers deep, the logits barely depend on the image;
* the **gradient arriving at its output** (``grad_out_std``). Back-propagation
  multiplies by the same weights on the way down, so the gradient shrinks as fast
  towards the first layer, and the first layers do not move;
* the **size of the step it takes** (``update_ratio``
  :math:`= \lVert\Delta W\rVert / \lVert W\rVert`). A rule of thumb puts healthy training
  near :math:`10^{-3}` per step; :math:`10^{-6}` means the layer is frozen.

Add the fraction of ReLU outputs that are exactly zero (``dead_fraction``) and of
sigmoid/tanh outputs within 0.03 of their bounds (``saturated_fraction``, where the
derivative is nearly zero), and the diagnosis of MLP-9 and of the sigmoid MLP is
there to read.

:func:`diagnose` trains an engine for a number of steps and records these, at step 0
and every ``every`` steps, for every layer of the model in order. It needs no
autograd: the NumPy engine reports through its modules' own forward and backward
(:meth:`~scratchnet.nn.Module.register_forward_hook`,
:meth:`~scratchnet.nn.Module.register_full_backward_hook`), the torch engine through
torch's hooks; the statistics are computed by the same code on both.

The JSON (``--json``) holds one object per engine::

    {"model", "engine", "init", "lr", "momentum", "batch_size", "steps", "every",
     "dataset", "losses": [{"step", "loss"}],
     "records": [{"step", "layer", "kind", "out_mean", "out_std", "dead_fraction",
                  "saturated_fraction", "grad_out_std", "histogram": {"edges", "counts"},
                  "params": {"weight": {"grad_norm", "norm", "update_ratio"}, ...}}]}

with ``null`` where a field does not apply (``dead_fraction`` off ReLU layers,
``grad_out_std`` where no gradient reached the layer, e.g. a ``Flatten`` in front of
the first layer with parameters). With ``--engine both`` the file is
``{"engines": {"numpy": {...}, "torch": {...}}, "max_abs_diff": {...}}``.
"""
from __future__ import annotations

import math
from typing import Callable, Optional

import numpy as np

from ..data import DataLoader
from .engine import no_lap

#: Output within this distance of a sigmoid's or tanh's bound counts as saturated.
SATURATION_MARGIN = 0.03
#: Activation layers whose outputs can saturate, and their bounds.
BOUNDS = {"Sigmoid": (0.0, 1.0), "Tanh": (-1.0, 1.0)}
#: Bins of each layer's output histogram.
HISTOGRAM_BINS = 30
#: A healthy update-to-weight ratio per step, the rule of thumb the plot marks.
HEALTHY_UPDATE_RATIO = 1e-3


# --------------------------------------------------------------------------- statistics
def output_stats(kind: str, out: np.ndarray) -> dict:
    """Forward statistics of one layer's output (a NumPy array of any shape)."""
    out = np.asarray(out, dtype=np.float64)
    with np.errstate(invalid="ignore"):  # a diverged layer's inf outputs give nan: reported as such
        stats = {"out_mean": float(out.mean()) if out.size else None,
                 "out_std": float(out.std()) if out.size else None,
                 "dead_fraction": None, "saturated_fraction": None}
    if out.size and kind == "ReLU":
        stats["dead_fraction"] = float(np.count_nonzero(out == 0) / out.size)
    if out.size and kind in BOUNDS:
        low, high = BOUNDS[kind]
        near = (out <= low + SATURATION_MARGIN) | (out >= high - SATURATION_MARGIN)
        stats["saturated_fraction"] = float(np.count_nonzero(near) / out.size)
    finite = out[np.isfinite(out)]
    if finite.size:
        counts, edges = np.histogram(finite, bins=HISTOGRAM_BINS)
        stats["histogram"] = {"edges": edges.tolist(), "counts": counts.tolist()}
    else:
        stats["histogram"] = None
    return stats


def _norm(a: np.ndarray) -> float:
    return float(np.linalg.norm(np.asarray(a, dtype=np.float64).ravel()))


class Recorder:
    """Collects the records of the steps being watched, from whichever engine reports."""

    def __init__(self):
        self.active = False
        self.step = 0
        self.records: list = []
        self._layers: dict = {}
        self._before: dict = {}

    def begin(self, step: int) -> None:
        self.active, self.step, self._layers, self._before = True, step, {}, {}

    def _layer(self, name: str, kind: str) -> dict:
        if name not in self._layers:
            self._layers[name] = {"step": self.step, "layer": name, "kind": kind, "out_mean": None,
                                  "out_std": None, "dead_fraction": None, "saturated_fraction": None,
                                  "grad_out_std": None, "histogram": None, "params": {}}
        return self._layers[name]

    # engine callbacks ----------------------------------------------------------
    def on_output(self, name: str, kind: str, out) -> None:
        if self.active:
            self._layer(name, kind).update(output_stats(kind, out))

    def on_grad_output(self, name: str, kind: str, grad) -> None:
        if self.active:
            self._layer(name, kind)["grad_out_std"] = float(np.asarray(grad, dtype=np.float64).std())

    def before_update(self, params) -> None:
        """After backward, before the optimizer: gradient and weight norms, a copy of each weight."""
        for layer, kind, pname, weight, grad in params:
            self._before[(layer, pname)] = np.array(weight, dtype=np.float64, copy=True)
            self._layer(layer, kind)["params"][pname] = {
                "grad_norm": None if grad is None else _norm(grad),
                "norm": _norm(weight), "update_ratio": None}

    def after_update(self, params) -> None:
        for layer, kind, pname, weight, _ in params:
            before = self._before[(layer, pname)]
            entry = self._layer(layer, kind)["params"][pname]
            step = _norm(np.asarray(weight, dtype=np.float64) - before)
            entry["update_ratio"] = step / entry["norm"] if entry["norm"] > 0 else None

    def end(self, layer_order) -> None:
        self.records.extend(self._layers[name] for name, _ in layer_order if name in self._layers)
        self.active = False


# --------------------------------------------------------------------------- running
def diagnose(engine, train_data, *, steps: int = 100, every: int = 10, batch_size: int = 64,
             seed: int = 0, log: Optional[Callable[[str], None]] = None) -> dict:
    """Train ``engine`` for ``steps`` mini-batch steps, recording every layer at some of them.

    Parameters
    ----------
    engine : scratchnet.training.numpy_engine.NumpyEngine or scratchnet.training.torch_engine.TorchEngine
        Its model, loss and optimizer; it is trained in place.
    train_data : (ndarray, ndarray)
        Images and labels; batches are drawn by a :class:`~scratchnet.data.DataLoader`
        seeded with ``seed``, reshuffled each pass (the same batches as :func:`scratchnet.training.loop.fit`).
    steps : int
        Optimizer steps to take.
    every : int
        Record steps ``0, every, 2*every, ...`` and the last one.
    batch_size, seed : int
    log : callable, optional
        Receives a line per recorded step.

    Returns
    -------
    dict
        ``{"engine", "steps", "every", "batch_size", "losses", "records"}``; see the module
        docstring for the records' fields.
    """
    if steps < 1 or every < 1:
        raise ValueError(f"diagnose: steps and every must be positive, got steps={steps}, every={every}")
    x_all, y_all = train_data
    n = len(x_all)
    if n == 0:
        raise ValueError("diagnose: no training samples")
    data = engine.put(x_all, y_all)
    loader = DataLoader((np.arange(n),), batch_size=batch_size, shuffle=True, seed=seed)
    recorder = Recorder()
    layers = engine.layers()
    handles = []  # hooks live on recorded steps only: a GPU engine copies to the host only then
    losses = []

    def lap(phase: str) -> None:
        if phase == "backward":
            recorder.before_update(engine.parameter_arrays())
        elif phase == "optimizer":
            recorder.after_update(engine.parameter_arrays())

    try:
        engine.train()
        step = 0
        while step < steps:
            for (idx,) in loader:
                if step >= steps:
                    break
                watched = step % every == 0 or step == steps - 1
                if watched:
                    recorder.begin(step)
                    handles = engine.watch(recorder.on_output, recorder.on_grad_output)
                x, y = engine.gather(data, idx)
                loss = engine.train_step(x, y, lap=lap if watched else no_lap)
                if watched:
                    for h in handles:
                        h.remove()
                    handles = []
                    recorder.end(layers)
                    losses.append({"step": step, "loss": float(loss)})
                    if log is not None:
                        log(f"step {step}: loss {float(loss):.6f}")
                step += 1
    finally:
        for h in handles:
            h.remove()
    return {"engine": engine.name, "steps": steps, "every": every, "batch_size": batch_size,
            "losses": losses, "records": recorder.records}


# --------------------------------------------------------------------------- reading
def records_at(result: dict, step: int) -> list:
    """The records of one step, in layer order."""
    return [r for r in result["records"] if r["step"] == step]


def recorded_steps(result: dict) -> list:
    return sorted({r["step"] for r in result["records"]})


def weight_layers(records: list) -> list:
    """The records of the layers with a ``weight`` (Linear, Conv2d, ...), in depth order."""
    return [r for r in records if "weight" in r["params"]]


def _fmt(v, spec=".2e"):
    return "—" if v is None or (isinstance(v, float) and not math.isfinite(v)) else format(v, spec)


def table(records: list) -> str:
    """A text table of one step's records."""
    head = (f"{'layer':<12} {'kind':<11} {'out mean':>9} {'out std':>9} {'dead':>6} {'satur.':>6} "
            f"{'grad_out std':>12} {'|grad W|':>9} {'|W|':>8} {'|dW|/|W|':>9}")
    lines = [head, "-" * len(head)]
    for r in records:
        w = r["params"].get("weight", {})
        frac = lambda v: "—" if v is None else f"{100 * v:.0f}%"  # noqa: E731
        lines.append(f"{r['layer']:<12} {r['kind']:<11} {_fmt(r['out_mean'], '9.3f'):>9} "
                     f"{_fmt(r['out_std'], '9.3g'):>9} {frac(r['dead_fraction']):>6} "
                     f"{frac(r['saturated_fraction']):>6} {_fmt(r['grad_out_std']):>12} "
                     f"{_fmt(w.get('grad_norm')):>9} {_fmt(w.get('norm'), '8.3g'):>8} "
                     f"{_fmt(w.get('update_ratio')):>9}")
    return "\n".join(lines)


def findings(result: dict) -> list:
    """Plain-language readings of the numbers: what a learner should notice."""
    notes = []
    first_step = records_at(result, recorded_steps(result)[0])
    wl = weight_layers(first_step)
    if len(wl) >= 2:
        g_first, g_last = wl[0]["grad_out_std"], wl[-1]["grad_out_std"]
        if g_first and g_last:
            notes.append(f"gradient at the output of {wl[0]['layer']} is {g_first / g_last:.2g}x the one "
                         f"at {wl[-1]['layer']} (step 0): "
                         + ("it vanishes on the way down" if g_first / g_last < 0.05 else
                            "it explodes on the way down" if g_first / g_last > 20 else "healthy"))
        spreads = [r["out_std"] for r in wl if r["out_std"] is not None]
        if spreads:
            low = min(range(len(spreads)), key=spreads.__getitem__)
            notes.append(f"output std of the weight layers at step 0: {wl[0]['layer']} {spreads[0]:.3g}, "
                         f"smallest {spreads[low]:.3g} ({wl[low]['layer']}), {wl[-1]['layer']} {spreads[-1]:.3g}")
    moving = [(r["params"]["weight"]["update_ratio"], r["layer"]) for r in wl
              if r["params"]["weight"]["update_ratio"] is not None]
    if moving:
        slow, layer = min(moving)
        notes.append(f"slowest layer at step 0: {layer} moves by {slow:.2g} of its norm per step "
                     + ("(far below the ~1e-3 of healthy training: it barely learns)" if slow < 1e-4 else
                        "(near the ~1e-3 of healthy training)" if slow < 1e-2 else
                        "(large: the step may overshoot)"))
    for r in first_step:
        if (r["kind"] == "Sigmoid" and r["saturated_fraction"] is not None
                and r["saturated_fraction"] < 0.01 and r["out_std"] < 0.1):
            notes.append(f"{r['layer']}: outputs bunch around {r['out_mean']:.2f} (std {r['out_std']:.2g}), "
                         "nowhere near saturation: the sigmoid's slope there is its largest, 1/4, "
                         "and still cuts the gradient by 4 or more")
        if r["dead_fraction"] is not None and r["dead_fraction"] > 0.9:
            notes.append(f"{r['layer']}: {100 * r['dead_fraction']:.0f}% of outputs are exactly 0 (dead ReLUs)")
        if r["saturated_fraction"] is not None and r["saturated_fraction"] > 0.5:
            notes.append(f"{r['layer']}: {100 * r['saturated_fraction']:.0f}% of outputs are saturated")
    return notes


def max_abs_diff(a: dict, b: dict) -> dict:
    """Largest absolute difference between two engines' records, field by field."""
    fields = ("out_mean", "out_std", "dead_fraction", "saturated_fraction", "grad_out_std")
    out = {f: 0.0 for f in fields}
    out.update({"grad_norm": 0.0, "norm": 0.0, "update_ratio": 0.0, "histogram_counts": 0})
    for ra, rb in zip(a["records"], b["records"]):
        for f in fields:
            if ra[f] is not None and rb[f] is not None:
                out[f] = max(out[f], abs(ra[f] - rb[f]))
        for pname, pa in ra["params"].items():
            pb = rb["params"].get(pname, {})
            for f in ("grad_norm", "norm", "update_ratio"):
                if pa.get(f) is not None and pb.get(f) is not None:
                    out[f] = max(out[f], abs(pa[f] - pb[f]))
        if ra["histogram"] and rb["histogram"]:
            out["histogram_counts"] = max(out["histogram_counts"], int(np.max(np.abs(
                np.subtract(ra["histogram"]["counts"], rb["histogram"]["counts"])))))
    return out


# --------------------------------------------------------------------------- plotting
def plot(result: dict, path: str, title: str = "") -> None:
    """Four panels: output histograms at step 0, output spread and gradient spread against
    depth (step 0 and the last recorded step), and each weight's update ratio over time."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = recorded_steps(result)
    first, last = records_at(result, steps[0]), records_at(result, steps[-1])
    fig, axes = plt.subplots(2, 2, figsize=(12, 8.5))
    ax_h, ax_s, ax_g, ax_u = axes.ravel()

    # Histograms of the layers a learner should look at: each activation's output,
    # or each weight layer's where the model has no separate activation.
    shown = [r for r in first if r["kind"] in ("ReLU", "Sigmoid", "Tanh")] or weight_layers(first)
    cmap = plt.get_cmap("viridis")
    for i, r in enumerate(shown):
        h = r["histogram"]
        if h is None:
            continue
        ax_h.stairs(np.maximum(h["counts"], 0.5), h["edges"], color=cmap(i / max(len(shown) - 1, 1)),
                    label=r["layer"])
    ax_h.set(yscale="log", xlabel="output value", ylabel="count (log)",
             title=f"outputs per layer at step {steps[0]} (dark: first, light: last)")
    ax_h.legend(fontsize=7, ncol=2)

    for recs, style, label in ((first, "o-", f"step {steps[0]}"), (last, "s--", f"step {steps[-1]}")):
        wl = weight_layers(recs)
        depth = np.arange(1, len(wl) + 1)
        ax_s.plot(depth, [r["out_std"] for r in wl], style, label=label)
        ax_g.plot(depth, [r["grad_out_std"] if r["grad_out_std"] else np.nan for r in wl], style, label=label)
    names = [r["layer"] for r in weight_layers(first)]
    for ax, what in ((ax_s, "std of the layer's output"), (ax_g, "std of dL/d(output)")):
        ax.set(yscale="log", xlabel="weight layer (input → output)", ylabel=what)
        ax.set_xticks(np.arange(1, len(names) + 1), names, rotation=45, fontsize=8)
        ax.grid(alpha=0.3)
        ax.legend()
    ax_s.set_title("forward: activation spread against depth")
    ax_g.set_title("backward: gradient spread against depth")

    for i, name in enumerate(names):
        pts = [(r["step"], r["params"]["weight"]["update_ratio"]) for r in result["records"]
               if r["layer"] == name and r["params"].get("weight", {}).get("update_ratio")]
        if pts:
            xs, ys = zip(*pts)
            ax_u.plot(xs, ys, "-", color=cmap(i / max(len(names) - 1, 1)), label=name)
    ax_u.axhline(HEALTHY_UPDATE_RATIO, color="grey", linestyle=":", label="1e-3 rule of thumb")
    ax_u.set(yscale="log", xlabel="step", ylabel="|ΔW| / |W| per step", title="update-to-weight ratio")
    ax_u.legend(fontsize=7, ncol=2)
    ax_u.grid(alpha=0.3)
    fig.suptitle(title or f"{result.get('model', '')}: {result['engine']} engine, init {result.get('init', '')}, "
                 f"lr {result.get('lr', '')}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_comparison(results: dict, path: str, title: str = "") -> None:
    """Several diagnoses side by side (``{label: result}``): at step 0, the spread of each
    weight layer's output and of the gradient arriving at it against depth; over the
    recorded steps, how far the first weight layer moves per step, and the loss."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, (ax_s, ax_g, ax_u, ax_l) = plt.subplots(1, 4, figsize=(19, 4.6))
    for label, result in results.items():
        wl = weight_layers(records_at(result, recorded_steps(result)[0]))
        depth = np.arange(1, len(wl) + 1)
        line, = ax_s.plot(depth, [r["out_std"] for r in wl], "o-", label=label)
        color = line.get_color()
        ax_g.plot(depth, [r["grad_out_std"] or np.nan for r in wl], "o-", color=color, label=label)
        first = wl[0]["layer"]
        moves = [(r["step"], r["params"]["weight"]["update_ratio"]) for r in result["records"]
                 if r["layer"] == first and r["params"]["weight"]["update_ratio"]]
        if moves:
            ax_u.plot(*zip(*moves), "-", color=color, label=label)
        ax_l.plot([l["step"] for l in result["losses"]], [l["loss"] for l in result["losses"]],
                  "-", color=color, label=label)
    ax_u.axhline(HEALTHY_UPDATE_RATIO, color="grey", linestyle=":", label="1e-3 rule of thumb")
    ax_u.set(yscale="log", xlabel="step", ylabel="|ΔW| / |W| per step", title="first weight layer: step size")
    for ax in (ax_s, ax_g):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax_s.set(yscale="log", xlabel="weight layer (1 = first)", ylabel="std of the layer's output",
             title="forward, step 0: activation spread")
    ax_g.set(yscale="log", xlabel="weight layer (1 = first)", ylabel="std of dL/d(output)",
             title="backward, step 0: gradient spread")
    ax_l.axhline(math.log(10), color="grey", linestyle=":", label="ln 10: chance")
    ax_l.set(xlabel="step", ylabel="training loss (recorded steps)", title="loss")
    for ax in (ax_s, ax_g, ax_u, ax_l):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
