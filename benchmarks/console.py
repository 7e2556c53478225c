"""What a benchmark run says on the console when it ends: the ratios, how noisy they are, how busy the machine was.

A NumPy / torch ratio printed alone invites more trust than a shared machine gives
it: on this project's VM one step's ratio moved from 0.28 to 1.89 between identical
runs. So every ratio printed here comes with the range of its paired per-round
ratios (round ``k`` of NumPy over round ``k`` of torch, taken seconds apart, see
:mod:`benchmarks.targets`), and the summary ends with the load the run saw: the share
of the CPU that *other* processes used while the workers measured
(:class:`scratchnet.training.environment.OtherLoad`, in :func:`benchmarks.lockstep.run_lockstep`),
just before and just after
(:func:`benchmarks.env.cpu_busy`), and the load average. Above
:data:`benchmarks.report.BUSY_WARNING` it says, in capitals, that the figures are not
to be trusted — the same warning ``RESULTS.md`` carries, where a reader of the
console will see it.
"""
from __future__ import annotations

from . import targets as _targets
from .report import BASELINE, BUSY_WARNING, results_by_case


def ratio_with_spread(ratio: float, round_ratios) -> str:
    """``"0.857 [0.633–1.19]"``: a median ratio and the range of its per-round ratios.

    With one round there is no spread to show, and the cell says so (``"0.857 [1 round]"``).
    """
    rounds = list(round_ratios or ())
    if len(rounds) < 2:
        return f"{ratio:.3g} [1 round]"
    return f"{ratio:.3g} [{min(rounds):.3g}–{max(rounds):.3g}]"


def machine_load(machine: dict, runs) -> dict:
    """How busy the machine was around and during a run, from what the run recorded.

    Returns
    -------
    dict
        ``during``: the largest share of the CPU other processes used while a
        worker measured; ``before``/``after``: the share they used just before and
        just after; ``load_average``: the 1-minute load average at the start and at
        the end; ``busiest``: the largest of the three shares (``None`` when none was
        measured, as off Linux).
    """
    runs = list(runs)
    during = [r["other_cpu_load"] for r in runs if r.get("other_cpu_load") is not None]
    before, after = machine.get("cpu_busy_before"), machine.get("cpu_busy_after")
    shares = [s for s in (before, after, max(during, default=None)) if s is not None]
    start = machine.get("load_average")
    end = next((r["load_average_end"] for r in runs if r.get("load_average_end")), None)
    end = machine.get("load_average_after") or end
    return {"during": max(during, default=None), "before": before, "after": after,
            "load_average": (start[0] if start else None, end[0] if end else None),
            "busiest": max(shares, default=None), "cores": machine.get("cores_available")}


def _pct(share) -> str:
    return "?" if share is None else f"{100 * share:.0f}%"


def load_lines(machine: dict, runs) -> list[str]:
    """One line on the load the run saw, and a warning line when the machine was busy."""
    load = machine_load(machine, runs)
    start, end = load["load_average"]
    lines = [f"load: other processes used {_pct(load['during'])} of the CPU while the workers measured "
             f"({_pct(load['before'])} just before, {_pct(load['after'])} just after); 1-minute load "
             f"average {start if start is not None else '?'} -> {end if end is not None else '?'} "
             f"on {load['cores'] or '?'} cores (the run's own workers count in it)"]
    if load["busiest"] is not None and load["busiest"] > BUSY_WARNING:
        lines.append(
            f"WARNING: the machine was busy during this run (other processes used up to "
            f"{_pct(load['busiest'])} of the CPU; the limit for a quiet machine is {_pct(BUSY_WARNING)}). "
            "Timings that share cores are inflated and the NumPy / torch ratios noisy (see their "
            "per-round ranges): re-run on an idle machine before drawing conclusions.")
    return lines


def run_summary(data: dict) -> list[str]:
    """The console summary of a ``benchmarks.run``: step ratios, targets, load.

    One row per training step (per op, when the run measured no steps) with one
    ``median [per-round range]`` cell per batch size, against torch on the CPU (or the
    first torch run); then the performance targets the run measured; then
    :func:`load_lines`.
    """
    idx = results_by_case(data)
    runs = [(r["engine"], r["device"]) for r in data["runs"] if "error" not in r]
    versus = next((r for r in runs if r == ("torch", "cpu")), None) or next(
        (r for r in runs if r[0] == "torch"), None)
    lines = []
    if BASELINE in runs and versus is not None:
        kind = "step" if any(k == "step" for k, _, _ in idx) else "op"
        batches = data["plan"][0]["batch_sizes"]
        rounds = data["config"].get("rounds", 1)
        what = "training step" if kind == "step" else "op"
        lines.append(f"NumPy / torch ({versus[1]}) time per {what} (> 1: torch faster): the median over "
                     f"{rounds} round(s) [the range of the paired per-round ratios]")
        rows = []
        for (k, name, p), by_batch in idx.items():
            if k != kind:
                continue
            cells = []
            for b in batches:
                a, t = by_batch.get(b, {}).get(BASELINE), by_batch.get(b, {}).get(versus)
                if a is None or t is None or "timing" not in a or "timing" not in t:
                    cells.append("–")
                    continue
                ratio = a["timing"]["median_s"] / t["timing"]["median_s"]
                cells.append(ratio_with_spread(ratio, _targets.round_ratios(a, t)))
            rows.append([name if kind == "step" else f"{name} ({p})"] + cells)
        head = ["experiment" if kind == "step" else "op"] + [f"N={b}" for b in batches]
        widths = [max(len(str(r[i])) for r in rows + [head]) for i in range(len(head))]
        for row in [head] + rows:
            lines.append("  " + "  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip())
        if versus == ("torch", "cpu") and data["config"].get("dtype", "float32") == "float32":
            measured = [row for row in _targets.markdown_rows(_targets.evaluate(data["results"]))
                        if row[2] != "not measured"]
            if measured:
                lines.append("targets (NumPy / torch; per round: the range of the paired per-round ratios):")
                for label, limit, value, spread, verdict in measured:
                    lines.append(f"  {label} {limit}: {value}, per round {spread}: {verdict.replace('**', '')}")
    return lines + load_lines(data["machine"], data["runs"])


def profile_summary(data: dict) -> list[str]:
    """The console summary of a ``benchmarks.profile``: each step's ratio with its spread, then the load."""
    lines = []
    for threads, per_engine in data["profiles"].items():
        for a, b in zip(per_engine["numpy"], per_engine["torch"]):
            rounds = [x / y for x, y in zip(a["round_step_s"], b["round_step_s"])]
            lines.append(f"{a['name']} batch {a['batch']}, {threads} thread(s): NumPy / torch step time "
                         f"{ratio_with_spread(a['step_s'] / b['step_s'], rounds)} "
                         f"(median over {len(rounds)} round(s) [range of the paired per-round ratios])")
    runs = [r for per_threads in data["runs"].values() for r in per_threads]
    return lines + load_lines(data["machine"], runs)
