"""The lectures on full MNIST: every experiment in both engines, and the diagnoses the README shows.

    python -m benchmarks.full_mnist --data-dir ../shared/mnist                      # -> benchmarks/out/full_mnist
    python -m benchmarks.full_mnist --data-dir ../shared/mnist --out benchmarks/results/full_mnist
    python -m benchmarks.full_mnist --only figures --out benchmarks/results/full_mnist

It runs the ``scratchnet`` commands a user would (each in its own process) and keeps
their outputs:

* ``reproduce all --engine both --out-dir OUT``: every lecture experiment with the
  lecture's settings, the engines taking turns epoch by epoch; ``OUT/RESULTS.md``,
  ``OUT/NAME.json`` and ``OUT/NAME.png`` (about 45 minutes on 2 idle cores);
* ``diagnose`` of MLP-9, MLP-5, MLP-9 with ``--init kaiming_normal``, the sigmoid MLP at
  the lecture's lr 0.01 and at lr 0.5 (``OUT/diagnose/``);
* the fixes trained in full: MLP-9 with ``--init kaiming_normal`` at the lecture's other
  settings, the sigmoid MLP at lr 0.1 and 0.5 (``OUT/fixes/``);
* ``OUT/diagnose/*-comparison.png``: the diagnoses side by side, the README's figures.

Timings are only worth committing from an idle machine; each JSON records how busy
the machine was (``environment.other_load_fraction``).
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from scratchnet.cli.arguments import ArgumentParser
from scratchnet.training.diagnose import plot_comparison

#: (file stem, model, extra ``scratchnet diagnose`` arguments)
DIAGNOSES = [
    ("mlp9-init-default", "mlp9", []),
    ("mlp5-init-default", "mlp5", []),
    ("mlp9-init-kaiming_normal", "mlp9", ["--init", "kaiming_normal"]),
    ("sigmoid-mlp-init-default", "sigmoid-mlp", []),
    ("sigmoid-mlp-lr-0.5", "sigmoid-mlp", ["--lr", "0.5"]),
]
#: The README's comparison figures: (file stem, title, [(diagnosis stem, label)]).
COMPARISONS = [
    ("mlp-comparison", "Why MLP-9 does not learn: 300 steps on full MNIST, SGD lr 0.01 momentum 0.5",
     [("mlp5-init-default", "MLP-5, default init"), ("mlp9-init-default", "MLP-9, default init"),
      ("mlp9-init-kaiming_normal", "MLP-9, kaiming_normal init")]),
    ("sigmoid-comparison", "Why the sigmoid MLP is slow: 300 steps on full MNIST, SGD, no momentum",
     [("sigmoid-mlp-init-default", "sigmoid MLP, lr 0.01 (lecture)"),
      ("sigmoid-mlp-lr-0.5", "sigmoid MLP, lr 0.5")]),
]
DIAGNOSE_STEPS, DIAGNOSE_EVERY = 300, 10


def scratchnet(*args: str) -> None:
    cmd = [sys.executable, "-m", "scratchnet", *args]
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)


def run_diagnoses(data_dir: str, out: Path) -> None:
    (out / "diagnose").mkdir(parents=True, exist_ok=True)
    for stem, model, extra in DIAGNOSES:
        scratchnet("diagnose", model, "--data-dir", data_dir, "--steps", str(DIAGNOSE_STEPS),
                   "--every", str(DIAGNOSE_EVERY), *extra, "--quiet",
                   "--json", str(out / "diagnose" / f"{stem}.json"),
                   "--plot", str(out / "diagnose" / f"{stem}.png"))


def run_experiments(data_dir: str, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    scratchnet("reproduce", "all", "--data-dir", data_dir, "--engine", "both", "--log-interval", "0",
               "--out-dir", str(out))


def run_fixes(data_dir: str, out: Path) -> None:
    fixes = out / "fixes"
    fixes.mkdir(parents=True, exist_ok=True)
    scratchnet("reproduce", "mlp9", "--init", "kaiming_normal", "--data-dir", data_dir, "--engine", "both",
               "--log-interval", "0", "--out-dir", str(fixes))
    for lr in ("0.1", "0.5"):
        scratchnet("train", "--model", "sigmoid-mlp", "--lr", lr, "--momentum", "0", "--batch-size", "64",
                   "--epochs", "40", "--engine", "both", "--data-dir", data_dir, "--log-interval", "0",
                   "--json", str(fixes / f"sigmoid-mlp-lr-{lr}.json"),
                   "--plot", str(fixes / f"sigmoid-mlp-lr-{lr}.png"))


def plot_comparisons(out: Path) -> None:
    for stem, title, members in COMPARISONS:
        results = {label: json.loads((out / "diagnose" / f"{name}.json").read_text())
                   for name, label in members}
        plot_comparison(results, str(out / "diagnose" / f"{stem}.png"), title=title)


def main(argv=None) -> int:
    p = ArgumentParser(prog="python -m benchmarks.full_mnist", description=__doc__.split("\n")[0])
    p.add_argument("--data-dir", help="the folder with full MNIST's four IDX files")
    p.add_argument("--out", default="benchmarks/out/full_mnist",
                   help="where to write; benchmarks/results/full_mnist holds the committed results")
    p.add_argument("--only", choices=["diagnose", "experiments", "fixes", "figures"], action="append",
                   help="run only these parts (repeatable; default: all)")
    args = p.parse_args(argv)
    parts = args.only or ["diagnose", "experiments", "fixes", "figures"]
    if set(parts) - {"figures"} and not args.data_dir:
        p.error("--data-dir: needed to train (only --only figures works from the JSON alone)")
    out = Path(args.out)
    if "diagnose" in parts:
        run_diagnoses(args.data_dir, out)
    if "experiments" in parts:
        run_experiments(args.data_dir, out)
    if "fixes" in parts:
        run_fixes(args.data_dir, out)
    if "figures" in parts:
        plot_comparisons(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
