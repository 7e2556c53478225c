"""What :mod:`benchmarks.profile` and :mod:`benchmarks.floor` share: one training step taken apart.

Both measure, for each lecture experiment, the training loop's own step and each of
the model's layers alone, in one worker process per engine, the engines taking turns
(:mod:`benchmarks.lockstep`). This module is that scaffolding:

* the worker side: :class:`StepSession` (the engine's record, the timer, the
  experiments; :meth:`StepSession.step_engine` builds the engine of one experiment
  with one batch on it), :func:`phase_times` (the step's phases through its ``lap``
  hook) and :func:`layer_calls` (each layer's forward and forward + backward on the
  activations it sees in the step);
* the parent side: :func:`run_engines` (the workers' rounds, or the failure) and
  :func:`median`.

Importing it loads no NumPy: a worker imports it before its thread pools start.
"""
from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from . import cases as _cases
from . import env as _env
from .lockstep import run_lockstep
from .timing import TimerConfig

ENGINES = ("numpy", "torch")


# -- the worker side: one engine, in its own process ---------------------------------------


def phase_times(engine, x, y, target_s: float, min_steps: int = 20, max_steps: int = 2000) -> dict:
    """Median seconds of each phase of ``engine.train_step(x, y)``, over enough steps.

    The step's ``lap`` hook reads the clock as ``zero_grad``, forward, loss, backward and
    the optimizer step end (:data:`scratchnet.training.engine.STEP_PHASES`).
    """
    from scratchnet.training.engine import STEP_PHASES

    laps = {p: [] for p in STEP_PHASES}
    totals = []
    clock = [0.0]

    def lap(phase):
        now = time.perf_counter()
        laps[phase].append(now - clock[0])
        clock[0] = now

    for _ in range(5):
        engine.train_step(x, y)
    spent = 0.0
    while len(totals) < min_steps or (spent < target_s and len(totals) < max_steps):
        start = clock[0] = time.perf_counter()
        engine.train_step(x, y, lap)
        totals.append(clock[0] - start)
        spent += totals[-1]
    return {"phases_s": {p: statistics.median(v) for p, v in laps.items()},
            "step_s": statistics.median(totals), "steps": len(totals)}


def layer_calls(model, x, rng, torch=None):
    """``[(name, type, forward, forward+backward, input shape)]`` for each child of ``model``.

    ``torch`` is the torch module for a torch twin (whose forward records the graph, as
    in training), ``None`` for a scratchnet model. A layer computes its input gradient
    exactly when the step does: once some layer before it has parameters (the images
    need none). Parameter gradients are reset before each backward, as ``zero_grad``
    does, so nothing accumulates.
    """
    import numpy as np

    out, needs_input_grad = [], False
    h = x
    for name, layer in model.named_children():
        if torch is not None:
            h = h.detach().requires_grad_(needs_input_grad)
        y = layer(h)
        # The upstream gradient gets the output's memory layout, as the next layer's
        # backward would hand it over (a conv's output is batch-innermost in memory).
        noise = rng.standard_normal(tuple(y.shape))
        if torch is None:
            g = np.empty_like(y)
            g[...] = noise
        else:
            g = torch.empty_like(y).copy_(torch.from_numpy(noise))
        params = list(layer.parameters())

        def forward(layer=layer, h=h):
            layer(h)

        def forward_backward(layer=layer, h=h, g=g, params=params, needs=needs_input_grad):
            for p in params:
                p.grad = None
            if torch is None:
                layer(h)
                layer.backward(g, needs_input_grad=needs)
            else:
                layer(h).backward(g)

        # A parameter-free layer in front of the first one with parameters has no
        # backward in the step at all.
        if not (params or needs_input_grad):
            forward_backward = forward
        out.append((name, type(layer).__name__, forward, forward_backward, tuple(h.shape)))
        needs_input_grad = needs_input_grad or bool(params)
        h = y if torch is None else y.detach()
    return out


class StepSession:
    """One engine's jobs over lecture experiments (see :func:`benchmarks.worker.serve`).

    A subclass says which jobs there are (``plan``) and what each measures
    (``measure``); this holds the engine's record, the timer and the experiments, and
    builds an experiment's engine with a batch on it.
    """

    def __init__(self, config: dict):
        self.started = time.perf_counter()
        self.config = config
        engine_name = config["engine"]
        self.record = {"engine": engine_name, "device": "cpu", "dtype": config["dtype"],
                       "threads": _env.limit_threads(config["threads"], engine_name),
                       "env": _env.engine_info(engine_name)}
        self.timer = TimerConfig(**config["timer"])
        self.cases = _cases.select(_cases.step_cases(), config["steps"], "step")

    def step_engine(self, case, batch: int):
        """``(engine, (x, y) on the engine, (x, y) as NumPy arrays, torch or None)`` of ``case``.

        The engine is the training loop's (:func:`scratchnet.cli.run_setup.build_engine`), in
        training mode; the batch is :func:`benchmarks.worker.step_batch`'s.
        """
        import numpy as np

        from scratchnet.cli.run_setup import build_engine

        from .worker import step_batch, train_config

        engine_name, dtype = self.config["engine"], self.config["dtype"]
        torch = None
        if engine_name == "torch":
            import torch
        engine = build_engine(engine_name, train_config(case, dtype), device="cpu")
        engine.train()
        batch_np = step_batch(case, batch, dtype, np.random.default_rng(0))
        return engine, engine.put(*batch_np), batch_np, torch

    def finish(self) -> dict:
        self.record["wall_s"] = time.perf_counter() - self.started
        return self.record


# -- the parent side -------------------------------------------------------------------------


def run_engines(common: dict, rounds: int, settle_s: float, module: str):
    """Both engines' workers (``python -m MODULE --serve``) for ``rounds`` rounds, taking turns.

    Returns ``(runs, entries)`` as :func:`benchmarks.lockstep.run_lockstep`, or ``None``
    after saying on stderr which worker failed.
    """
    with tempfile.TemporaryDirectory(prefix=f"scratchnet-{module.rsplit('.', 1)[-1]}-") as tmp:
        runs, entries = run_lockstep([{**common, "engine": e} for e in ENGINES], rounds, Path(tmp),
                                     settle_s=settle_s, module=module)
    failed = [r for r in runs if "error" in r]
    if failed:
        print(f"{module}: {failed[0]['engine']} worker failed: {failed[0]['error']}", file=sys.stderr)
        return None
    return runs, entries


def median(values) -> float:
    return float(statistics.median(values))


def step_parser(prog: str, doc: str, default_steps):
    """An entry point's parser with ``--steps`` (lecture experiments, ``default_steps`` by default)."""
    # Imported here: scratchnet loads NumPy, and this module is imported by worker entry points.
    from scratchnet.cli.arguments import ArgumentParser, csv_list

    p = ArgumentParser(prog=prog, description=doc.split("\n\n")[0])
    p.add_argument("--steps", type=csv_list("experiment names"), default=list(default_steps),
                   help="comma-separated lecture experiments")
    return p


def write_report(out: Path, data: dict, json_name: str, markdown_name: str, markdown_text: str) -> Path:
    """``data`` as JSON and the Markdown report into ``out``; returns the Markdown file's path."""
    out.mkdir(parents=True, exist_ok=True)
    (out / json_name).write_text(json.dumps(data, indent=1, default=str))
    (out / markdown_name).write_text(markdown_text)
    return out / markdown_name
