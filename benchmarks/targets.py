"""The performance targets NumPy is held to, checked against a run's results.

Each target bounds the NumPy / torch (CPU) time ratio of some cases at some batch
sizes. A case's ratio is taken two ways:

* the ratio of the medians over rounds, which is what the tables show and what
  decides the verdict, and
* the ratio within each round (that round's NumPy median over that round's torch
  median), whose range shows how firmly this machine decides it: a target whose
  median ratio is under the limit while some rounds are over it is met, but only
  just, and the report says in how many rounds it was not.

A run without rounds (``--rounds 1``) has one per-round ratio, the median one.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional


@dataclass(frozen=True)
class Target:
    """``NumPy / torch ≤ limit`` for every case in ``names`` at every batch in ``batches``.

    ``names`` ``None`` means every training step the run measured.
    """

    label: str
    kind: str  # "step" or "op"
    names: Optional[tuple]
    batches: tuple
    limit: float
    pass_: str = "train step"


#: The targets of the performance issue, at float32 on the CPU, torch with as many threads.
#: A training epoch is its steps at the lecture's batch, so the step at 64 stands in for
#: the per-epoch target; the epochs themselves are measured on full MNIST by the paired
#: runs (``scratchnet reproduce all --engine both``, ``results/full_mnist/RESULTS.md``, and
#: ``benchmarks.epoch_budget``, ``results/EPOCH_BUDGET.md``). The convolutions' target is
#: against the machine's floor, not torch: ``benchmarks.floor`` judges it (``FLOOR.md``).
EPOCH_MODELS = ("mlp5", "mlp3", "sigmoid-mlp", "basic-cnn", "lenet5")
TARGETS = (
    Target("MLP-5, MLP-3, sigmoid MLP, basic CNN, LeNet-5 step (per-epoch target)", "step",
           EPOCH_MODELS, (64,), 0.85),
    Target("the same five networks' step at batch 1 and 8", "step", EPOCH_MODELS, (1, 8), 0.9),
)


def round_ratios(a: dict, b: dict) -> list:
    """Each round's NumPy median over the same round's torch median (one value without rounds)."""
    ra = a["timing"].get("round_medians_s") or [a["timing"]["median_s"]]
    rb = b["timing"].get("round_medians_s") or [b["timing"]["median_s"]]
    return [x / y for x, y in zip(ra, rb)]


def evaluate(results: list, targets=TARGETS, versus=("torch", "cpu")) -> list:
    """One dict per target: the cases it covers, their ratios and the verdict.

    Returns
    -------
    list of dict
        ``target``; ``cases``: ``(name, batch, ratio, round_ratios)`` for every case
        measured; ``missing``: the (name, batch) pairs the run did not measure;
        ``failing``: the cases whose median ratio is over the limit; ``met``:
        ``True``/``False``, or ``None`` when nothing was measured.
    """
    cell = {}
    for e in results:
        if "timing" in e:
            cell[(e["kind"], e["name"], e["pass"], e["batch"], e["engine"], e["device"])] = e
    out = []
    for t in targets:
        names = t.names or sorted({e["name"] for e in results if e["kind"] == t.kind})
        cases, missing = [], []
        for name in names:
            for batch in t.batches:
                a = cell.get((t.kind, name, t.pass_, batch, "numpy", "cpu"))
                b = cell.get((t.kind, name, t.pass_, batch) + tuple(versus))
                if a is None or b is None:
                    missing.append((name, batch))
                    continue
                ratio = a["timing"]["median_s"] / b["timing"]["median_s"]
                cases.append((name, batch, ratio, round_ratios(a, b)))
        failing = [c for c in cases if c[2] > t.limit]
        out.append({"target": t, "cases": cases, "missing": missing, "failing": failing,
                    "met": (not failing) if cases else None})
    return out


def markdown_rows(evaluated: list) -> list:
    """Rows ``[target, limit, measured, per-round range, met?]`` for the report's table."""
    rows = []
    for ev in evaluated:
        t, cases = ev["target"], ev["cases"]
        if not cases:
            rows.append([t.label, f"≤ {t.limit:g}", "not measured", "–", "–"])
            continue
        rounds = [r for c in cases for r in c[3]]
        if len(cases) == 1:
            measured = f"{cases[0][2]:.3g}"
        else:
            worst = max(cases, key=lambda c: c[2])
            measured = f"worst {worst[2]:.3g} ({worst[0]}, N={worst[1]})"
        over = sum(r > t.limit for r in rounds)
        spread = f"{min(rounds):.3g}–{max(rounds):.3g}" + (f" ({over} of {len(rounds)} over)" if over else "")
        if ev["failing"]:
            verdict = "**no**: " + ", ".join(
                f"{n}" + (f" N={b}" if len(t.batches) > 1 else "") + f" {r:.3g}" for n, b, r, _ in ev["failing"])
        elif ev["missing"]:
            verdict = f"undecided: {len(ev['missing'])} case(s) not measured"
        else:
            verdict = "yes"
        rows.append([t.label, f"≤ {t.limit:g}", measured, spread, verdict])
    return rows
