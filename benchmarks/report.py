r"""From raw measurements to ``RESULTS.md`` and the ratio plots.

:func:`annotate` derives, for every timed result, the rate it achieved and its share
of the matching ceiling measured by the same engine in the same run:

.. math::

    \text{GFLOP/s} = \frac{\text{FLOPs}}{t_\text{median}} \cdot 10^{-9}, \qquad
    \text{share} = \frac{\text{GFLOP/s}}{\text{GEMM GFLOP/s}}
    \quad\text{or}\quad
    \frac{\text{bytes} / t_\text{median}}{\text{copy bandwidth}},

the first for compute-bound work (linear, conv, training steps), the second for
memory-bound ops. :func:`write` renders the tables and plots. Every number in them is
read from the results; nothing is typed in by hand. ``python -m benchmarks.report
results.json [OUT_DIR]`` re-renders them from a saved run.
"""
from __future__ import annotations

import json
import sys
from collections import OrderedDict
from pathlib import Path

from . import targets as _targets
from .flops import BACKWARD_FACTOR

BASELINE = ("numpy", "cpu")
#: Share of the CPU that other processes may use around a run before the report warns.
BUSY_WARNING = 0.10


def annotate(data: dict) -> None:
    """Add FLOPs (steps), achieved rates and ceiling shares to ``data["results"]`` in place."""
    ceilings = {(r["engine"], r["device"]): r.get("ceilings") for r in data["runs"]}
    model_flops = data.get("model_flops_per_sample", {})
    for e in data["results"]:
        if e["kind"] == "step" and model_flops.get(e["model"]) is not None:
            e["flops"] = model_flops[e["model"]] * e["batch"] * (1 + BACKWARD_FACTOR)
        ceil = ceilings.get((e["engine"], e["device"]))
        if "timing" not in e or not ceil:
            continue
        t = e["timing"]["median_s"]
        if e.get("flops") is not None:
            e["gflops"] = e["flops"] / t / 1e9
            e["ceiling"] = "gemm"
            e["ceiling_share"] = e["gflops"] / ceil["gemm_gflops"]
        elif e.get("bytes") is not None:
            e["gbs"] = e["bytes"] / t / 1e9
            e["ceiling"] = "bandwidth"
            e["ceiling_share"] = e["gbs"] / ceil["bandwidth_gbs"]


# -- formatting -------------------------------------------------------------------------


def _ms(t: float) -> str:
    """Milliseconds with about three significant digits."""
    ms = t * 1e3
    return f"{ms:.3g}" if ms < 100 else f"{ms:.0f}"


def _timing(e) -> str:
    if e is None:
        return "–"
    if "timing" not in e:
        return "error"
    t = e["timing"]
    return f"{_ms(t['median_s'])} ({_ms(t['min_s'])}–{_ms(t['max_s'])})"


def _ratio(a, b) -> float | None:
    if a is None or b is None or "timing" not in a or "timing" not in b:
        return None
    return a["timing"]["median_s"] / b["timing"]["median_s"]


def _fmt_ratio(r) -> str:
    if r is None:
        return "–"
    return f"{r:.3g}" if r < 100 else f"{r:.0f}"


def _share(e) -> str:
    if e is None or "ceiling_share" not in e:
        return "–"
    return f"{100 * e['ceiling_share']:.1f}%" if e["ceiling_share"] < 0.1 else f"{100 * e['ceiling_share']:.0f}%"


def _mib(e) -> str:
    if e is None or "timing" not in e or e["timing"].get("peak_mem_delta_kib") is None:
        return "–"
    return f"{e['timing']['peak_mem_delta_kib'] / 1024:.1f}"


def _table(header, rows) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines


def _run_label(engine, device) -> str:
    return "NumPy" if engine == "numpy" else f"torch ({device})" if device != "cpu" else "torch"


def results_by_case(data):
    """``{(kind, name, pass): {batch: {(engine, device): entry}}}`` in measurement order."""
    idx: dict = OrderedDict()
    for e in data["results"]:
        idx.setdefault((e["kind"], e["name"], e["pass"]), OrderedDict()).setdefault(e["batch"], {})[
            (e["engine"], e["device"])] = e
    return idx


def _machine_section(data) -> list[str]:
    m = data["machine"]
    lines = ["## Machine and settings", ""]
    lines.append(f"- CPU: {m['cpu_model']}, {m['cores_available']} cores available "
                 f"({m['cpu_count']} online); SIMD: {' '.join(m['cpu_flags']) or 'unknown'}; "
                 f"{m['mem_total_gib']} GiB RAM")
    lines.append(f"- {m['platform']}, Python {m['python']}")
    busy = [b for b in (m.get("cpu_busy_before"), m.get("cpu_busy_after")) if b is not None]
    if busy:
        lines.append(f"- other processes kept the CPU {100 * busy[0]:.0f}% busy just before the run"
                     + (f" and {100 * busy[1]:.0f}% just after" if len(busy) > 1 else ""))
    during = [r.get("other_cpu_load") for r in data["runs"] if r.get("other_cpu_load") is not None]
    if max(busy + during, default=0.0) > BUSY_WARNING:
        lines.append("- **Warning: the machine was not quiet (see the share of CPU other processes "
                     "used during each worker below). Timings that share cores with other processes are "
                     "inflated, multi-threaded ones most (a thread pool waits for its slowest thread); "
                     "re-run on an idle machine before drawing conclusions.**")
    for r in data["runs"]:
        label = _run_label(r["engine"], r["device"])
        if "error" in r:
            lines.append(f"- {label}: **{r['error']}**")
            continue
        env, th = r["env"], r["threads"]
        pools = ", ".join(
            f"{p['internal_api']} {p.get('version') or ''} ({p['num_threads']} threads"
            + (f", {p['architecture']}" if p.get("architecture") else "") + ")"
            for p in (th.get("threadpools") or []))
        if r["engine"] == "numpy":
            blas = (env.get("numpy_config") or {}).get("Build Dependencies", {}).get("blas", {})
            lines.append(f"- NumPy {env['numpy']} with {blas.get('name', '?')} {blas.get('version', '')}, "
                         f"scratchnet {env.get('scratchnet', '?')}; pools: {pools or 'threadpoolctl not installed'}")
        else:
            extra = f", {env['cuda_device']}" if r["device"] == "cuda" and env.get("cuda_device") else ""
            lines.append(f"- torch {env['torch']} on {r['device']}{extra}: "
                         f"{th.get('torch_num_threads')} intra-op threads, "
                         f"MKL {'on' if env.get('torch_mkl') else 'off'}, "
                         f"oneDNN {'on' if env.get('torch_mkldnn') else 'off'}; pools: {pools or 'n/a'}")
        measured = f"measured for {r['busy_s']:.0f} s of" if "busy_s" in r else "worker wall time"
        lines.append(f"  - load average {r.get('load_average_start')} → {r.get('load_average_end')}; "
                     f"peak RSS {r.get('ru_maxrss_kib', 0) / 1024:.0f} MiB; {measured} "
                     f"{r.get('wall_s', 0):.0f} s")
    other = max(during, default=None)
    lines.append(f"- other processes used {'?' if other is None else f'{100 * other:.0f}%'} of the CPU "
                 "while the workers ran (they took turns, one measuring at a time)")
    dtype = data["plan"][0]["dtype"]
    threads = data["plan"][0]["threads"]
    lines.append(f"- dtype {dtype}; {threads} thread{'s' if threads != 1 else ''} for every engine "
                 f"(OMP/OPENBLAS/MKL_NUM_THREADS and torch.set_num_threads)")
    ob = {k: v for k, v in m["openblas_env"].items() if v is not None}
    lines.append(f"- OpenBLAS env: {ob or 'OPENBLAS_CORETYPE, OPENBLAS_L2_SIZE unset'}; "
                 f"malloc env: {m['malloc_env'] or 'none set'}")
    timer = data["plan"][0]["timer"]
    lines.append(f"- timer: {timer['warmup']} warm-up calls, then ≥ {timer['min_samples']} samples "
                 f"filling {timer['target_s']} s, capped at {timer['max_s']} s (≥ {timer['floor_samples']} "
                 f"samples); each sample ≥ {timer['min_sample_s'] * 1e3:g} ms of back-to-back calls")
    for s in data.get("skipped", []):
        lines.append(f"- skipped: {s}")
    return lines


def _ceiling_section(data) -> list[str]:
    rows = []
    for r in data["runs"]:
        c = r.get("ceilings")
        if not c:
            continue
        rows.append([_run_label(r["engine"], r["device"]), f"{c['gemm_n']}×{c['gemm_n']} {c['dtype']}",
                     f"{c['gemm_gflops']:.1f} (best {c['gemm_gflops_best']:.1f})",
                     f"{c['copy_bytes'] / 2 ** 21:.0f} MiB",
                     f"{c['bandwidth_gbs']:.1f} (best {c['bandwidth_gbs_best']:.1f})"])
    return ["## Ceilings (measured in this run)", "",
            "Each engine measured them once per round, between the other engine's turns; "
            "the round with the highest GEMM rate is shown.", ""] + _table(
        ["engine", "GEMM", "GEMM GFLOP/s", "copy", "copy bandwidth GB/s (read + write)"], rows)


def _torch_runs(data):
    return [(r["engine"], r["device"]) for r in data["runs"] if r["engine"] == "torch" and "error" not in r]


def _summary(idx, kind, batches, versus) -> list[str]:
    rows = []
    for (k, name, p), by_batch in idx.items():
        if k != kind:
            continue
        label = f"{name} ({p})" if kind == "op" else name
        cells = []
        for b in batches:
            cell = by_batch.get(b, {})
            cells.append(_fmt_ratio(_ratio(cell.get(BASELINE), cell.get(versus))))
        rows.append([label] + cells)
    return _table([kind if kind == "op" else "experiment"] + [f"N={b}" for b in batches], rows)


def _detail(idx, kind, runs) -> list[str]:
    torch_runs = [r for r in runs if r != BASELINE]
    header = ["op", "pass"] if kind == "op" else ["experiment", "model"]
    header += ["batch"] + [f"{_run_label(*r)} ms" for r in runs]
    header += [f"NumPy / {_run_label(*r)}" for r in torch_runs if BASELINE in runs]
    header += [f"{_run_label(*r)} % ceiling" for r in runs] + ["peak Δ MiB " + "/".join(_run_label(*r) for r in runs)]
    rows = []
    for (k, name, p), by_batch in idx.items():
        if k != kind:
            continue
        for b, cell in by_batch.items():
            any_entry = next(iter(cell.values()))
            head = [name, p] if kind == "op" else [name, any_entry["model"]]
            batch = f"**{b}**" if kind == "step" and b == any_entry.get("lecture_batch") else str(b)
            row = head + [batch] + [_timing(cell.get(r)) for r in runs]
            row += [_fmt_ratio(_ratio(cell.get(BASELINE), cell.get(r))) for r in torch_runs if BASELINE in runs]
            row += [_share(cell.get(r)) for r in runs]
            row.append(" / ".join(_mib(cell.get(r)) for r in runs))
            rows.append(row)
    return _table(header, rows)


def _targets_section(data) -> list[str]:
    evaluated = _targets.evaluate(data["results"])
    rounds = data["config"].get("rounds", 1)
    return ["## Targets", "",
            "NumPy / torch (CPU) step or op time, float32, against the performance targets "
            "(`benchmarks/targets.py`). *measured* is the ratio of the medians over rounds, which "
            f"decides *met?*; *per round* is the range of the {rounds} per-round ratios (each "
            "round's NumPy median over the same round's torch median), and how many of them "
            "were over the limit.", ""] + _table(
        ["target", "limit", "measured", "per round", "met?"], _targets.markdown_rows(evaluated))


def markdown(data: dict) -> str:
    """The whole ``RESULTS.md``."""
    idx = results_by_case(data)
    runs = [(r["engine"], r["device"]) for r in data["runs"] if "error" not in r]
    batches = data["plan"][0]["batch_sizes"]
    has = {k for (k, _, _) in idx}
    lines = [
        "# scratchnet benchmarks: NumPy vs torch",
        "",
        f"Generated by `{data['command'].strip()}` on {data['machine']['time_utc']} "
        f"in {data.get('wall_s', 0):.0f} s. Every number here is read from `results.json` of "
        "that run; re-run the command to regenerate this file.",
        "",
        "Times are the median per call in milliseconds, with the min–max over samples in "
        "parentheses. *NumPy / torch* is the ratio of medians: above 1, torch is faster. "
        "*% ceiling* is the achieved rate over this run's ceiling for the same engine: the "
        "GEMM rate for linear, conv and training steps (FLOPs of the GEMM-like layers, "
        f"backward counted as {BACKWARD_FACTOR:g}× forward), the copy bandwidth for the other "
        "ops (minimum bytes moved; above 100 % the operands sat in cache, which is faster than "
        "the DRAM copy the ceiling measures). *peak Δ* is the peak resident memory a measurement "
        "added on top of what was resident before it. Each engine ran in its own process; "
        "the processes took turns job by job (one op or step at one batch size), one measuring "
        "at a time, alternating which went first.",
        "",
    ]
    lines += _machine_section(data) + [""] + _ceiling_section(data) + [""]
    if BASELINE in runs and ("torch", "cpu") in runs and data["config"].get("dtype", "float32") == "float32":
        lines += _targets_section(data) + [""]
    for versus in _torch_runs(data):
        if BASELINE not in runs:
            break
        vs = _run_label(*versus)
        if "step" in has:
            lines += [f"## Training steps: NumPy / {vs} time ratio", "",
                      "Forward, loss, backward and the SGD step with the lecture's learning rate and "
                      "momentum, on one batch."
                      + (" (GPU: timed with CUDA events.)" if versus[1] == "cuda" else ""), ""]
            lines += _summary(idx, "step", batches, versus) + [""]
        if "op" in has:
            lines += [f"## Ops: NumPy / {vs} time ratio", ""]
            lines += _summary(idx, "op", batches, versus) + [""]
    if "step" in has:
        lines += ["## Training steps in detail", "",
                  "The lecture's own training batch size is in bold.", ""]
        lines += _detail(idx, "step", runs) + [""]
    if "op" in has:
        layers = OrderedDict((e["name"], e["layer"]) for e in data["results"] if e["kind"] == "op")
        lines += ["## Ops in detail", "", "Operand shapes (N = batch):", ""]
        lines += [f"- `{name}`: {layer}" for name, layer in layers.items()] + [""]
        lines += _detail(idx, "op", runs) + [""]
    errors = [e for e in data["results"] if "error" in e]
    if errors:
        lines += ["## Errors", ""]
        lines += [f"- {_run_label(e['engine'], e['device'])} {e['name']} {e['pass']} batch {e['batch']}: "
                  f"`{e['error']}`" for e in errors] + [""]
    return "\n".join(lines)


def write_plots(data: dict, out: Path) -> list[Path]:
    """Ratio NumPy / torch against batch size (log-log), for the ops and for the steps."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import ticker

    idx = results_by_case(data)
    batches = data["plan"][0]["batch_sizes"]
    written = []
    for versus in _torch_runs(data):
        suffix = "" if versus[1] == "cpu" else f"_{versus[1]}"
        vs = _run_label(*versus)
        for kind, passes in (("op", ("forward", "forward+backward")), ("step", ("train step",))):
            series = [(name, p, by_batch) for (k, name, p), by_batch in idx.items() if k == kind]
            if not series:
                continue
            if kind == "op":
                written.append(_write_op_dots(plt, idx, series, passes, batches, versus, data,
                                              out / f"ratio_ops{suffix}.png"))
                continue
            fig, axes = plt.subplots(1, len(passes), figsize=(6 * len(passes) + 3, 5.5), squeeze=False,
                                     sharey=True)
            # tab20 and a marker cycle keep 17 op lines apart; the x ticks are the batch sizes.
            tab20 = plt.get_cmap("tab20").colors
            colors = tab20[0::2] + tab20[1::2]  # the ten strong hues first, then their light pairs
            markers = "osD^v<>pXh*"
            for ax, p in zip(axes[0], passes):
                for i, (name, q, by_batch) in enumerate(s for s in series if s[1] == p):
                    pts = [(b, _ratio(c.get(BASELINE), c.get(versus))) for b, c in by_batch.items()]
                    pts = [(b, r) for b, r in pts if r is not None]
                    if pts:
                        ax.plot(*zip(*pts), marker=markers[i % len(markers)], color=colors[i % len(colors)],
                                label=name)
                ax.axhline(1.0, color="black", linewidth=0.8)
                ax.set_xscale("log")
                ax.set_yscale("log")
                ax.set_xticks(batches)
                ax.xaxis.set_major_formatter(ticker.ScalarFormatter())
                ax.xaxis.set_minor_locator(ticker.NullLocator())
                ax.set_xlabel("batch size")
                ax.set_title(p if kind == "op" else "training step (forward, loss, backward, SGD)")
                ax.grid(True, which="both", alpha=0.3)
            axes[0][0].set_ylabel(f"time NumPy / time {vs}  (> 1: torch faster)")
            axes[0][-1].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0)
            fig.suptitle(f"scratchnet (NumPy) vs {vs}, {data['plan'][0]['dtype']}, "
                         f"{data['plan'][0]['threads']} threads")
            fig.tight_layout()
            path = out / f"ratio_{'ops' if kind == 'op' else 'steps'}{suffix}.png"
            fig.savefig(path, dpi=110)
            plt.close(fig)
            written.append(path)
    return written


def _write_op_dots(plt, idx, series, passes, batches, versus, data, path: Path) -> Path:
    """The ops' ratios as a dot plot: one labelled row per op, sorted, a dot per batch size.

    Seventeen ops as lines over five batch sizes overlap into a tangle whose legend
    cannot be matched to them; as rows, each op is read off by its name, the spread of
    its dots shows how the ratio moves with the batch, and the sort (by the
    forward+backward ratio at the middle batch size) ranks them.
    """
    # Imported here, not at the top: the benchmark workers import this package before they
    # set their thread counts (see benchmarks.worker).
    import numpy as np
    from matplotlib import ticker

    vs = _run_label(*versus)
    names = list(OrderedDict.fromkeys(name for name, _, _ in series))
    mid = batches[len(batches) // 2]

    def ratios(name, p):
        by_batch = idx.get(("op", name, p), {})
        return {b: _ratio(c.get(BASELINE), c.get(versus)) for b, c in by_batch.items()}

    def key(name):
        r = ratios(name, passes[-1]).get(mid)
        return r if r is not None else float("inf")

    names.sort(key=key)
    fig, axes = plt.subplots(1, len(passes), figsize=(5.2 * len(passes) + 2.2, 0.36 * len(names) + 2.0),
                             squeeze=False, sharey=True, layout="constrained")
    colors = plt.get_cmap("viridis")(np.linspace(0.0, 0.9, len(batches)))
    markers = "os^Dv"
    rows = np.arange(len(names))
    for ax, p in zip(axes[0], passes):
        for j, b in enumerate(batches):
            pts = [(ratios(name, p).get(b), i) for i, name in enumerate(names)]
            pts = [(r, i) for r, i in pts if r is not None]
            if pts:
                ax.scatter(*zip(*pts), color=colors[j], marker=markers[j % len(markers)], s=34,
                           zorder=3, label=f"batch {b}")
        for i, name in enumerate(names):
            vals = [r for r in ratios(name, p).values() if r is not None]
            if vals:
                ax.plot([min(vals), max(vals)], [i, i], color="#bbbbbb", linewidth=1.2, zorder=2)
        ax.axvline(1.0, color="black", linewidth=0.9)
        ax.set_xscale("log")
        # Labels on the decades only: matplotlib's minor labels collide on a wide range.
        ax.xaxis.set_major_locator(ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(ticker.FormatStrFormatter("%g"))
        ax.xaxis.set_minor_formatter(ticker.NullFormatter())
        ax.set_title(p)
        ax.set_xlabel(f"time NumPy / time {vs}  (< 1: NumPy faster, > 1: torch faster)")
        ax.grid(True, axis="x", which="both", alpha=0.3)
        ax.set_yticks(rows, names)
        ax.set_ylim(len(names) - 0.5, -0.5)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=len(batches), fontsize=9)
    fig.suptitle(f"scratchnet (NumPy) vs {vs} per op, {data['plan'][0]['dtype']}, "
                 f"{data['plan'][0]['threads']} threads; sorted by the {passes[-1]} ratio at batch {mid}")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write(data: dict, out: Path, plots: bool = True) -> list[Path]:
    """Write ``RESULTS.md`` (and the PNG plots) into ``out``; return the paths written."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    md = out / "RESULTS.md"
    md.write_text(markdown(data))
    written = [md]
    if plots:
        written += write_plots(data, out)
    return written


def main(argv=None) -> int:
    from scratchnet.cli.arguments import ArgumentParser

    p = ArgumentParser(prog="python -m benchmarks.report",
                       description="Re-render RESULTS.md and the plots from a saved results.json.")
    p.add_argument("results", type=Path, metavar="RESULTS.json", help="a results.json from benchmarks.run")
    p.add_argument("out", type=Path, nargs="?", metavar="OUT_DIR",
                   help="where to write them (default: the folder RESULTS.json is in)")
    p.add_argument("--no-plots", action="store_true", help="write RESULTS.md only")
    args = p.parse_args(argv)
    try:
        data = json.loads(args.results.read_text())
    except (OSError, ValueError) as exc:
        p.error(f"RESULTS.json: cannot read {args.results}: {exc}")
    annotate(data)
    for path in write(data, args.out or args.results.parent, plots=not args.no_plots):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
