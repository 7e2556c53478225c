"""Two engines compared: trained taking turns epoch by epoch, and how their runs differ.

:func:`fit_lockstep` is :func:`scratchnet.training.loop.fit` for several engines at once, built on
the same epoch step (:meth:`scratchnet.training.loop.EpochLoop.run_epoch`); only the order in
time and a short settling pause are added, which a speed comparison on a shared,
drifting machine needs and the lectures' loop does not. :func:`compare` reads the two runs.
"""
from __future__ import annotations

import math
import time
from typing import Callable, List, Optional

import numpy as np

from .config import TrainConfig
from .loop import EpochLoop, RunResult, interrupted, progress_bar


def fit_lockstep(engines, train_data, test_data, cfg: TrainConfig, *, dataset: str = "",
                 log: Optional[Callable[[str], None]] = print, progress: Optional[bool] = None,
                 settle_s: float = 0.2) -> List[RunResult]:
    """Train several engines taking turns epoch by epoch: A B, B A, A B, ...

    Each engine keeps its own model, optimizer and copy of the data, and draws the same
    seeded batches, so every engine's run is exactly what :func:`~scratchnet.training.loop.fit` would give; only
    the order in time changes. On a machine whose speed drifts over minutes, epoch
    ``e`` of each engine is then measured under nearly the same conditions, and the
    per-epoch time ratios (:func:`compare`) say how noisy the comparison is. The order
    alternates (ABBA) so that neither engine always runs right after the other, and at
    each switch a pause lets the idle engine's spinning threads go to sleep: ``settle_s``,
    but never more than a tenth of the last epoch (the toy's epochs take microseconds).

    Returns
    -------
    list of RunResult, in the order of ``engines``.

    Raises
    ------
    TrainingInterrupted
        On Ctrl-C, carrying every engine's finished epochs (``interrupted`` set).
    """
    bar = progress_bar(progress)
    several = len(engines) > 1
    loops = [EpochLoop(e, train_data, test_data, cfg, dataset=dataset, log=log, progress=bar,
                       prefix=f"[{e.name}] " if several else "") for e in engines]
    for loop in loops:
        loop.result.lockstep = several
    try:
        for loop in loops:
            loop.start()
        take_turns(loops, cfg.epochs, settle_s)
    except KeyboardInterrupt:
        raise interrupted(loops) from None
    return [loop.finish() for loop in loops]


def take_turns(loops: List[EpochLoop], epochs: int, settle_s: float = 0.2) -> None:
    """``epochs`` epochs of every loop, in turns: A B, B A, A B, ... (:func:`fit_lockstep`'s order).

    At each switch from one loop to the next it pauses ``settle_s``, but never more than
    a tenth of the last epoch. ``benchmarks.epoch_budget`` drives its instrumented loops
    with it, so that what it measures is taken in the very order ``train --engine both`` uses.
    """
    several = len(loops) > 1
    last = 0.0
    for epoch in range(1, epochs + 1):
        order = loops if epoch % 2 else loops[::-1]
        for i, loop in enumerate(order):
            if several and (epoch > 1 or i > 0):
                time.sleep(min(settle_s, 0.1 * last))
            last = loop.run_epoch().seconds


def _ratio_spread(ratios: List[float]) -> dict:
    finite = sorted(r for r in ratios if math.isfinite(r))
    if not finite:
        return {"median": float("nan"), "min": float("nan"), "max": float("nan"), "n": 0}
    return {"median": float(np.median(finite)), "min": finite[0], "max": finite[-1], "n": len(finite)}


def compare(a: RunResult, b: RunResult) -> dict:
    """How far two engines' runs differ, epoch by epoch, and how their speeds compare.

    Losses are compared relatively, accuracies absolutely. Speed: the ratio of the
    engines' median epoch times, and the spread (min, median, max) of the per-epoch
    ratios ``a.seconds / b.seconds`` — meaningful as a comparison only when the runs
    took turns (:func:`fit_lockstep`), which ``lockstep`` records.
    """
    def rel(x, y):
        return abs(x - y) / max(abs(x), abs(y), 1e-12)

    rows = []
    for ea, eb in zip(a.epochs, b.epochs):
        rows.append({
            "epoch": ea.epoch,
            "train_loss_rel_diff": rel(ea.train_loss, eb.train_loss),
            "test_loss_rel_diff": rel(ea.test_loss, eb.test_loss),
            "test_accuracy_diff": abs(ea.test_accuracy - eb.test_accuracy),
            "time_ratio": ea.seconds / eb.seconds if eb.seconds else float("nan"),
        })
    median_a = float(np.median([e.seconds for e in a.epochs])) if a.epochs else float("nan")
    median_b = float(np.median([e.seconds for e in b.epochs])) if b.epochs else float("nan")
    return {
        "engines": [a.engine, b.engine],
        "epochs": rows,
        "max_train_loss_rel_diff": max((r["train_loss_rel_diff"] for r in rows), default=0.0),
        "max_test_accuracy_diff": max((r["test_accuracy_diff"] for r in rows), default=0.0),
        "median_epoch_seconds": [median_a, median_b],
        "speed_ratio": median_a / median_b if median_b else float("nan"),
        "epoch_time_ratios": _ratio_spread([r["time_ratio"] for r in rows]),
        "lockstep": a.lockstep and b.lockstep,
    }
