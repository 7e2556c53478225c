"""Benchmarks: scratchnet's NumPy ops and training steps against torch's, on this machine.

Run ``python -m benchmarks.run`` (``--help`` for the options). The parent process
(:mod:`benchmarks.run`) only plans and reports; every timing is taken in a child
process per engine (:mod:`benchmarks.worker`), because NumPy's BLAS and torch's
OpenMP/MKL thread pools contend for the same cores when both live in one process.

Modules
-------
run       command line entry: plan, start one worker per engine, hand them jobs in turn, report
lockstep  the engines taking turns: one worker process per engine, the same jobs in turn (run_lockstep)
worker    one engine's measurements (ceilings, ops, training steps) in its own process
steps     what profile and floor share: a step's phases, its layers alone, the session, the rounds
targets   the performance targets and their verdicts from a run
profile   per-phase and per-layer breakdown of training steps, NumPy vs torch
floor     each lecture model's layers against the machine's floor (GEMM rate and bandwidth at their sizes)
cases     what is measured: the op cases at the lectures' layer sizes, the model steps
timing    the adaptive timer (warm-up, repeats, median with min-max; CUDA events)
ceilings  the machine's float GEMM rate and memory bandwidth
flops     the one FLOP model: a layer's GEMMs (forward, weight and input gradient), their FLOPs; bytes
epoch_budget  where a training epoch's seconds go, per engine, the engines taking turns epoch by epoch
env       thread settings and the environment record
report    Markdown tables and PNG plots from the JSON results

This package is import-light on purpose: importing it must not import NumPy or torch,
so that a worker can set its thread counts before either library starts its pools.
"""
from pathlib import Path as _Path

#: Where a run writes unless told otherwise: a scratch folder that git ignores, so a
#: smoke run or an experiment never replaces the committed results by accident.
OUT_DIR = _Path(__file__).resolve().parent / "out"
#: The committed results the README quotes. Only an explicit ``--out benchmarks/results``
#: (``make bench-results``, ``make profile-results``) writes here.
RESULTS_DIR = _Path(__file__).resolve().parent / "results"
