r"""The machine's floor under every lecture model's training step, layer by layer.

:mod:`benchmarks.run` says how NumPy compares with torch; this says how far *both*
are from what the machine can do. For each lecture model at one batch size (the
lectures' 64), and for each of its layers, forward + backward as the training step
runs them:

* **Work.** The FLOPs of its GEMMs (:func:`layer_work`: a linear or conv layer's
  forward, weight-gradient and input-gradient products, the last only where the step
  needs the input gradient) and the bytes it must move at least: read its input and
  parameters and write its output; in the backward read the upstream gradient and what
  the gradient needs (the saved input for a weight gradient, the weights for an input
  gradient, an activation's output, one byte per max-pool window for the winning tap)
  and write the gradients. im2col, padding and layout copies are not counted: they are
  an implementation's choice, not work the layer must do.
* **The machine's rates at that size.** Each of the layer's GEMM shapes multiplied
  alone, in each engine's own library (NumPy's OpenBLAS, torch's MKL/oneDNN), and a
  copy moving as many bytes as the layer does (at least :data:`MIN_COPY_BYTES`, so a
  tiny layer is charged the in-cache rate, not one call's overhead). The faster of the
  two libraries is the machine's rate. Each probe's *fastest* sample counts (over
  samples and rounds): the floor is what the machine can do, and on a shared machine
  a load spike only ever slows a probe down.
* **The floor** of a layer: the larger of its compute time (its GEMMs at the rates just
  measured) and its memory time (its bytes at the copy rate for that size): the
  roofline, with measured roofs. Transcendentals (tanh, exp) and reductions are not
  counted as compute, so an activation's floor is its memory time.
* **Measured**: the layer alone in each engine, forward + backward on the activations
  it sees in the step (:func:`benchmarks.steps.layer_calls`), and the whole training step
  (:func:`benchmarks.steps.phase_times`). The step's floor is the sum of its
  layers' floors, the loss (its logits read and their gradient written) and the SGD
  update (parameters, gradients and momentum buffers read, parameters and buffers
  written).

measured / floor is how many times the machine's floor an engine takes: 1 is the
machine's limit, and neither engine is charged for Python, which a floor has none of.

    python -m benchmarks.floor                          # every lecture model at batch 64 (`make floor`)
    python -m benchmarks.floor --out benchmarks/results # the committed FLOOR.md (`make floor-results`)
    python -m benchmarks.floor --steps basic-cnn --rounds 5

As :mod:`benchmarks.profile`, each engine measures in its own process with its pools
set to the same thread count, the two taking turns job by job (one model), NumPy,
torch, torch, NumPy, ... for ``--rounds`` rounds; every time is the median over
rounds. Output: ``FLOOR.md`` and ``floor.json`` in ``--out`` (default
``benchmarks/out/``, which git ignores).
"""
from __future__ import annotations

import math
import sys
import time
from pathlib import Path

from . import OUT_DIR
from . import env as _env
from .ceilings import measure_ceilings
from .console import load_lines
from .flops import conv_gemms, gemm_flops, linear_gemms
from .steps import (ENGINES, StepSession, layer_calls, median, phase_times, run_engines, step_parser,
                    write_report)
from .timing import TimerConfig, config_dict, measure
from .worker import add_turn_options, parse_step_args, serve_session

DEFAULT_STEPS = ("softmax-regression", "mlp5", "mlp3", "sigmoid-mlp", "basic-cnn", "lenet5")
#: A layer moving fewer bytes is charged the copy rate of this many (an in-cache copy
#: long enough that one NumPy or torch call's overhead is a small part of it).
MIN_COPY_BYTES = 1 << 20
#: Layers that only reshape (a view): no work, no floor.
VIEWS = ("Flatten", "Identity")
#: Element-wise layers whose backward reads the saved output and the upstream gradient.
ELEMENTWISE = ("ReLU", "Sigmoid", "Tanh", "LogSigmoid", "LogSoftmax", "Softmax")


# -- the work a layer must do: plain arithmetic ---------------------------------------------


def layer_work(kind: str, in_shape, out_shape, param_shapes, needs_input_grad: bool,
               itemsize: int, table_connections: int | None = None) -> dict:
    r"""The GEMMs and the minimum bytes of one layer's forward and backward.

    Parameters
    ----------
    kind : str
        The layer's class name: ``Linear``, ``Conv2d``, ``SparseConv2d``, ``MaxPool2d``,
        ``AvgPool2d``, one of :data:`ELEMENTWISE` or :data:`VIEWS`.
    in_shape, out_shape : tuple of int
        The layer's input and output shapes in the step.
    param_shapes : list of tuple
        Its parameters' shapes (weight first).
    needs_input_grad : bool
        Whether the step computes the gradient of the layer's input (not for the
        first layers, whose input is the images). A parameter-free layer without it
        has no backward at all.
    itemsize : int
        Bytes per number (4 for float32).
    table_connections : int, optional
        ``SparseConv2d`` only: the connections of its table; its GEMMs are the
        dense convolution's, scaled by connections / (out maps x in maps).

    Returns
    -------
    dict
        ``gemms``: ``[{"pass", "shape": (g, m, k, n), "scale"}]``; ``flops``: the
        GEMMs' FLOPs, forward + backward; ``bytes``: ``{"forward", "backward"}``;
        ``backward``: whether the step runs one.

    Examples
    --------
    MLP-5's first layer at batch 64 (784 -> 520, no input gradient):

    >>> w = layer_work("Linear", (64, 784), (64, 520), [(520, 784), (520,)], False, 4)
    >>> [g["shape"] for g in w["gemms"]], w["flops"]
    ([(1, 64, 784, 520), (1, 520, 64, 784)], 104366080.0)
    """
    numel_in, numel_out = math.prod(in_shape), math.prod(out_shape)
    params = sum(math.prod(s) for s in param_shapes)
    x, y, p = numel_in * itemsize, numel_out * itemsize, params * itemsize
    gemms = []
    if kind == "Linear":
        out_features, in_features = param_shapes[0] if len(param_shapes[0]) == 2 else (1, param_shapes[0][0])
        gemms = linear_gemms(numel_in // in_features, in_features, out_features, needs_input_grad)
    elif kind in ("Conv2d", "SparseConv2d"):
        # SparseConv2d: the dense convolution's GEMMs, scaled below by its table's share.
        groups = 1 if kind == "SparseConv2d" else in_shape[1] // param_shapes[0][1]
        gemms = conv_gemms(in_shape[1], out_shape, param_shapes[0][-2:], groups, needs_input_grad)
    elif kind not in VIEWS + ELEMENTWISE + ("MaxPool2d", "AvgPool2d"):
        raise ValueError(f"floor: no work model for a {kind} layer (input {in_shape}, output {out_shape})")
    scale = 1.0
    if kind == "SparseConv2d":
        scale = table_connections / (out_shape[1] * in_shape[1])

    has_backward = bool(param_shapes) or needs_input_grad
    if kind in VIEWS:
        forward = backward = 0
    elif param_shapes:
        forward = x + p + y
        # upstream gradient, saved input (weight gradient), parameter gradients written;
        # with the input gradient also the weights read and the input gradient written.
        backward = y + x + p + ((p + x) if needs_input_grad else 0)
    elif kind == "MaxPool2d":
        forward = x + y
        backward = (y + numel_out + x) if needs_input_grad else 0   # one byte per window: the winning tap
    elif kind == "AvgPool2d":
        forward = x + y
        backward = (y + x) if needs_input_grad else 0
    else:  # element-wise: the backward reads the saved output and the upstream gradient
        forward = x + y
        backward = (2 * y + x) if needs_input_grad else 0
    work = [{"pass": name, "shape": shape, "scale": scale} for name, shape in gemms]
    return {"gemms": work, "flops": sum(scale * gemm_flops(g["shape"]) for g in work),
            "bytes": {"forward": float(forward), "backward": float(backward)},
            "backward": has_backward}


def optimizer_bytes(params: int, itemsize: int, momentum: bool) -> float:
    """Bytes of one SGD update: read parameter and gradient, write parameter; with
    momentum also read and write the buffer."""
    return float(params * itemsize * (5 if momentum else 3))


def loss_bytes(logits_shape, itemsize: int) -> float:
    """Bytes of the loss forward and backward: logits read twice (loss, gradient), gradient written.

    The integer targets are noise beside them and are not counted."""
    return 3.0 * math.prod(logits_shape) * itemsize


def roofline(compute_s: float, memory_s: float) -> float:
    """A layer's floor: it cannot beat its GEMMs nor its memory traffic (the larger of the two)."""
    return max(compute_s, memory_s)


def copy_bytes(moved: float) -> int:
    """Bytes the bandwidth probe for a layer moving ``moved`` bytes copies (read + write)."""
    return int(max(moved, MIN_COPY_BYTES))


# -- the worker side ------------------------------------------------------------------------


def model_work(model, x, momentum: bool, itemsize: int) -> dict:
    """Every child layer's work (:func:`layer_work`), the loss's and the optimizer's, for ``model(x)``."""
    layers, needs, h = [], False, x
    for name, layer in model.named_children():
        y = layer(h)
        shapes = [tuple(p.data.shape) for p in layer.parameters()]
        table = getattr(layer, "table", None)
        work = layer_work(type(layer).__name__, tuple(h.shape), tuple(y.shape), shapes, needs, itemsize,
                          sum(len(t) for t in table) if table is not None else None)
        layers.append({"name": name, "type": type(layer).__name__, "input_shape": list(h.shape),
                       "output_shape": list(y.shape), **work})
        needs = needs or bool(shapes)
        h = y
    params = sum(p.data.size for p in model.parameters())
    return {"layers": layers, "params": params,
            "loss_bytes": loss_bytes(h.shape, itemsize),
            "optimizer_bytes": optimizer_bytes(params, itemsize, momentum)}


class Probes:
    """One engine's GEMM and copy timings, each shape or size measured once per job."""

    def __init__(self, engine: str, dtype: str, timer: TimerConfig):
        import numpy as np

        self.np, self.engine, self.dtype, self.timer = np, engine, dtype, timer
        if engine == "torch":
            import torch

            self.torch = torch

    def gemm_s(self, shape) -> float:
        g, m, k, n = shape
        rng = self.np.random.default_rng(0)
        a = rng.standard_normal((g, m, k)).astype(self.dtype)
        b = rng.standard_normal((g, k, n)).astype(self.dtype)
        c = self.np.empty((g, m, n), dtype=self.dtype)
        if self.engine == "numpy":
            a2, b2, c2 = (a[0], b[0], c[0]) if g == 1 else (a, b, c)

            def fn():
                self.np.matmul(a2, b2, out=c2)
        else:
            ta, tb, tc = map(self.torch.from_numpy, (a, b, c))
            ta2, tb2, tc2 = (ta[0], tb[0], tc[0]) if g == 1 else (ta, tb, tc)
            mm = self.torch.mm if g == 1 else self.torch.bmm

            def fn():
                mm(ta2, tb2, out=tc2)
        return measure(fn, self.timer)["min_s"]

    def copy_s(self, nbytes: int) -> float:
        n = max(1, nbytes // 2 // self.np.dtype(self.dtype).itemsize)
        src = self.np.ones(n, dtype=self.dtype)
        dst = self.np.empty_like(src)
        if self.engine == "numpy":
            def fn():
                self.np.copyto(dst, src)
        else:
            ts, td = self.torch.from_numpy(src), self.torch.from_numpy(dst)

            def fn():
                td.copy_(ts)
        return measure(fn, self.timer)["min_s"]


class FloorSession(StepSession):
    """One engine's jobs (see :func:`benchmarks.worker.serve`): job 0 the ceilings, then one per model."""

    def __init__(self, config: dict):
        super().__init__(config)
        self.probe_timer = TimerConfig(target_s=min(0.05, self.timer.target_s), max_s=0.5)

    def plan(self) -> list:
        return [["ceilings"]] + [["floor", case.name, self.config["batch"]] for case in self.cases]

    def measure(self, i: int) -> list:
        import numpy as np

        from scratchnet.cli.run_setup import build_engine

        from .worker import train_config

        engine_name, dtype = self.config["engine"], self.config["dtype"]
        if i == 0:
            return [{"job": "ceilings", **measure_ceilings(engine_name, dtype, self.probe_timer)}]
        case, batch = self.cases[i - 1], self.config["batch"]
        engine, (x, y), (x_np, _), torch = self.step_engine(case, batch)
        # The work is counted on scratchnet's model, whichever engine measures.
        counted = engine if engine_name == "numpy" else build_engine("numpy", train_config(case, dtype))
        work = model_work(counted.model, x_np, case.momentum != 0, np.dtype(dtype).itemsize)
        entry = {"job": "floor", "name": case.name, "model": case.model, "batch": batch, **work,
                 **phase_times(engine, x, y, self.timer.target_s)}
        times = {name: measure(fwd_bwd, self.timer)["median_s"]
                 for name, _, _, fwd_bwd, _ in layer_calls(engine.model, x, np.random.default_rng(1), torch)}
        probes = Probes(engine_name, dtype, self.probe_timer)
        for layer in entry["layers"]:
            layer["measured_s"] = times[layer["name"]]
            for g in layer["gemms"]:
                g["time_s"] = probes.gemm_s(g["shape"])
            moved = layer["bytes"]["forward"] + layer["bytes"]["backward"]
            layer["copy_bytes"] = copy_bytes(moved)
            layer["copy_s"] = probes.copy_s(layer["copy_bytes"]) if moved else 0.0
        for key in ("loss", "optimizer"):
            entry[f"{key}_copy_bytes"] = copy_bytes(entry[f"{key}_bytes"])
            entry[f"{key}_copy_s"] = probes.copy_s(entry[f"{key}_copy_bytes"])
        print(f"[floor {engine_name}] {case.name} batch {batch}: step {entry['step_s'] * 1e3:.3f} ms",
              file=sys.stderr, flush=True)
        return [entry]


# -- the parent: medians over rounds, the floor, the report -----------------------------------


def merge(entries: list) -> dict:
    """``{"ceilings": {engine: ...}, "models": [...]}``: medians over rounds, the floor of every row."""
    ceilings = {}
    for engine in ENGINES:
        mine = [e for e in entries if e["engine"] == engine and e["job"] == "ceilings"]
        if mine:
            ceilings[engine] = {"gemm_gflops": max(e["gemm_gflops"] for e in mine),
                                "bandwidth_gbs": max(e["bandwidth_gbs"] for e in mine),
                                "gemm_n": mine[0]["gemm_n"], "copy_bytes": mine[0]["copy_bytes"]}
    names = list(dict.fromkeys(e["name"] for e in entries if e["job"] == "floor"))
    models = []
    for name in names:
        per = {eng: sorted((e for e in entries if e["job"] == "floor" and e["name"] == name
                            and e["engine"] == eng), key=lambda e: e["round"]) for eng in ENGINES}
        first = per["numpy"][0]
        model = {k: first[k] for k in ("name", "model", "batch", "params", "loss_bytes", "optimizer_bytes")}
        for eng in ENGINES:
            model[f"{eng}_step_s"] = median([e["step_s"] for e in per[eng]])
            model[f"{eng}_round_step_s"] = [e["step_s"] for e in per[eng]]
            model[f"{eng}_phases_s"] = {p: median([e["phases_s"][p] for e in per[eng]])
                                        for p in first["phases_s"]}
        rows = []
        for j, layer in enumerate(first["layers"]):
            row = {k: layer[k] for k in ("name", "type", "input_shape", "flops", "bytes", "backward")}
            moved = layer["bytes"]["forward"] + layer["bytes"]["backward"]
            row["gemms"] = []
            compute = 0.0
            for q, g in enumerate(layer["gemms"]):
                t = {eng: min(e["layers"][j]["gemms"][q]["time_s"] for e in per[eng]) for eng in ENGINES}
                best = min(t, key=t.get)
                row["gemms"].append({**{k: g[k] for k in ("pass", "shape", "scale")},
                                     "numpy_s": t["numpy"], "torch_s": t["torch"], "best": best})
                compute += g["scale"] * t[best]
            copy = {eng: min(e["layers"][j]["copy_s"] for e in per[eng]) for eng in ENGINES}
            bandwidth = layer["copy_bytes"] / min(copy.values()) if moved else None
            memory = moved / bandwidth if moved else 0.0
            row.update(compute_s=compute, memory_s=memory, bandwidth_gbs=bandwidth and bandwidth / 1e9,
                       gemm_gflops=row["flops"] / compute / 1e9 if compute else None,
                       floor_s=roofline(compute, memory))
            for eng in ENGINES:
                row[f"{eng}_s"] = median([e["layers"][j]["measured_s"] for e in per[eng]])
            rows.append(row)
        model["layers"] = rows
        for key in ("loss", "optimizer"):
            copy_s = min(e[f"{key}_copy_s"] for eng in ENGINES for e in per[eng])
            model[f"{key}_floor_s"] = model[f"{key}_bytes"] * copy_s / first[f"{key}_copy_bytes"]
        model["floor_s"] = sum(r["floor_s"] for r in rows) + model["loss_floor_s"] + model["optimizer_floor_s"]
        model["flops"] = sum(r["flops"] for r in rows)
        models.append(model)
    return {"ceilings": ceilings, "models": models}


def _us(seconds) -> str:
    return "–" if seconds is None else f"{seconds * 1e6:.0f}" if seconds >= 1e-4 else f"{seconds * 1e6:.1f}"


def _x(a, b) -> str:
    return f"{a / b:.1f}" if b else "–"


#: The performance issue's target for the fast conv kernels: forward + backward at most
#: this many times the layer's floor.
CONV_FLOOR_LIMIT = 1.5


def conv_rows(floor: dict, limit: float = CONV_FLOOR_LIMIT) -> list:
    """Every Conv2d layer of every model against ``limit`` × its floor: one Markdown table row each."""
    rows = []
    for md in floor["models"]:
        for r in md["layers"]:
            if r["type"] != "Conv2d":
                continue
            over = r["numpy_s"] / r["floor_s"]
            verdict = "yes" if over <= limit else f"no: {over / limit:.2f} × the limit"
            rows.append(f"| {md['name']} | {r['name']} | {'×'.join(map(str, r['input_shape']))} | "
                        f"{_us(r['floor_s'])} | {_us(r['numpy_s'])} | {_us(r['torch_s'])} | "
                        f"{_x(r['numpy_s'], r['floor_s'])} | {_x(r['torch_s'], r['floor_s'])} | {verdict} |")
    return rows


def markdown(data: dict) -> str:
    m, floor = data["machine"], data["floor"]
    lines = [
        "# The machine's floor: each lecture model's training step against what these cores can do",
        "",
        f"Generated by `{data['command']}` on {m['time_utc']} in {data['wall_s']:.0f} s ({m['cpu_model']}, "
        f"{m['cores_available']} cores available, {data['threads']} thread(s) per engine). float32, batch "
        f"{data['batch']}; every measured time is the median over {data['rounds']} rounds, the engines taking turns "
        "in their own processes (the floor's GEMM and copy probes: their fastest sample over the rounds). "
        "See `benchmarks/floor.py` for the method.",
        "",
    ]
    lines += ["- " + line for line in load_lines(m, data["runs"])]
    for eng, c in floor["ceilings"].items():
        lines.append(f"- {eng}: {c['gemm_n']}² GEMM {c['gemm_gflops']:.1f} GFLOP/s, "
                     f"{c['copy_bytes'] / 2**21:.0f} MiB array copied {c['bandwidth_gbs']:.1f} GB/s (best round)")
    lines += [
        "",
        "**Floor** = for every layer the larger of its GEMM time (each of its GEMM shapes multiplied "
        "alone, the faster of OpenBLAS and torch) and its memory time (the bytes it must move at the "
        "copy rate for that many bytes), summed with the loss and the SGD update. **× floor** = measured "
        "/ floor. An epoch is 60,000 / batch steps.",
        "",
        "| model | GFLOP / step | floor ms | NumPy ms | torch ms | NumPy × floor | torch × floor "
        "| floor s / epoch | NumPy s / epoch | torch s / epoch |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    steps = 60000 / data["batch"]
    for md in floor["models"]:
        lines.append(
            f"| {md['name']} | {md['flops'] / 1e9:.3f} | {md['floor_s'] * 1e3:.3f} | "
            f"{md['numpy_step_s'] * 1e3:.3f} | {md['torch_step_s'] * 1e3:.3f} | "
            f"{_x(md['numpy_step_s'], md['floor_s'])} | {_x(md['torch_step_s'], md['floor_s'])} | "
            f"{md['floor_s'] * steps:.2f} | {md['numpy_step_s'] * steps:.2f} | {md['torch_step_s'] * steps:.2f} |")
    convs = conv_rows(floor)
    if convs:
        lines += ["", f"## Convolutions against their floor (target: NumPy at most {CONV_FLOOR_LIMIT} × floor)", "",
                  "| model | layer | input | floor µs | NumPy µs | torch µs | NumPy × floor | torch × floor "
                  f"| NumPy ≤ {CONV_FLOOR_LIMIT} × floor |",
                  "|---|---|---|---|---|---|---|---|---|"] + convs
    for md in floor["models"]:
        lines += ["", f"## {md['name']}, batch {md['batch']}", "",
                  "| layer | type | input | MFLOP | KB moved | GEMM GFLOP/s | GB/s | compute µs | memory µs "
                  "| floor µs | NumPy µs | torch µs | NumPy × floor | torch × floor |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in md["layers"]:
            moved = r["bytes"]["forward"] + r["bytes"]["backward"]
            rate = "–" if r["gemm_gflops"] is None else f"{r['gemm_gflops']:.1f}"
            bw = "–" if r["bandwidth_gbs"] is None else f"{r['bandwidth_gbs']:.1f}"
            lines.append(
                f"| {r['name']} | {r['type']} | {'×'.join(map(str, r['input_shape']))} | {r['flops'] / 1e6:.2f} | "
                f"{moved / 1e3:.0f} | {rate} | {bw} | {_us(r['compute_s'])} | {_us(r['memory_s'])} | "
                f"{_us(r['floor_s'])} | {_us(r['numpy_s'])} | {_us(r['torch_s'])} | "
                f"{_x(r['numpy_s'], r['floor_s'])} | {_x(r['torch_s'], r['floor_s'])} |")
        for key in ("loss", "optimizer"):
            lines.append(f"| ({key}) | | | | {md[f'{key}_bytes'] / 1e3:.0f} | | | | {_us(md[f'{key}_floor_s'])} "
                         f"| {_us(md[f'{key}_floor_s'])} | {_us(md['numpy_phases_s'][key])} | "
                         f"{_us(md['torch_phases_s'][key])} | {_x(md['numpy_phases_s'][key], md[f'{key}_floor_s'])} "
                         f"| {_x(md['torch_phases_s'][key], md[f'{key}_floor_s'])} |")
        lines.append(f"| **step** | | | {md['flops'] / 1e6:.1f} | | | | | | {_us(md['floor_s'])} | "
                     f"{_us(md['numpy_step_s'])} | {_us(md['torch_step_s'])} | "
                     f"{_x(md['numpy_step_s'], md['floor_s'])} | {_x(md['torch_step_s'], md['floor_s'])} |")
        gemm_rows = [(r["name"], g) for r in md["layers"] for g in r["gemms"]]
        if gemm_rows:
            lines += ["", "GEMMs (g × (m×k)·(k×n)), µs: " + "; ".join(
                f"{name} {g['pass']} {'×'.join(map(str, g['shape']))}: OpenBLAS {_us(g['numpy_s'])}, "
                f"torch {_us(g['torch_s'])}" for name, g in gemm_rows) + "."]
    lines += ["", "Layers are timed alone (warm caches, no neighbours): their sum is not the step, "
              "whose time is the training loop's `train_step` as trained. The loss and optimizer rows "
              "are the step's own phases (`train_step`'s laps)."]
    return "\n".join(lines) + "\n"


def parse_args(argv=None):
    # Imported here: this module is also the workers' entry point, which must not import
    # NumPy (scratchnet does) before its thread counts are set.
    from scratchnet.cli.arguments import positive_int

    p = step_parser("python -m benchmarks.floor", __doc__, DEFAULT_STEPS)
    p.add_argument("--batch", type=positive_int, default=64, help="batch size (default: the lectures' 64)")
    p.add_argument("--threads", type=positive_int, default=_env.available_cores(),
                   help="threads per engine (default: every core available)")
    add_turn_options(p, target_s=0.2)
    p.add_argument("--out", type=Path, default=OUT_DIR,
                   help="directory for FLOOR.md and floor.json (default: benchmarks/out, which git ignores; "
                        "`make floor-results` writes the committed ones with --out benchmarks/results)")
    return parse_step_args(p, argv)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if serve_session(argv, FloorSession):
        return 0
    args = parse_args(argv)
    started = time.perf_counter()
    machine = _env.machine()
    timer = TimerConfig(target_s=args.target_s, max_s=max(2.0, 4 * args.target_s))
    common = {"dtype": "float32", "threads": args.threads, "steps": args.steps, "batch": args.batch,
              "timer": config_dict(timer)}
    measured = run_engines(common, args.rounds, args.settle_s, "benchmarks.floor")
    if measured is None:
        return 1
    runs, entries = measured
    _env.machine_after(machine)
    data = {"command": " ".join(["python -m benchmarks.floor", *argv]), "machine": machine,
            "rounds": args.rounds, "batch": args.batch, "threads": args.threads, "timer": config_dict(timer),
            "floor": merge(entries), "runs": runs, "wall_s": time.perf_counter() - started}
    written = write_report(args.out, data, "floor.json", "FLOOR.md", markdown(data))
    for md in data["floor"]["models"]:
        print(f"benchmarks.floor: {md['name']} batch {md['batch']}: floor {md['floor_s'] * 1e3:.3f} ms, "
              f"NumPy {md['numpy_step_s'] / md['floor_s']:.1f}x, torch {md['torch_step_s'] / md['floor_s']:.1f}x "
              "the floor", file=sys.stderr)
    for line in load_lines(machine, runs):
        print(f"benchmarks.floor: {line}", file=sys.stderr)
    print(f"benchmarks.floor: done in {data['wall_s']:.0f} s; wrote {written}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
