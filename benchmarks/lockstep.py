"""The engines taking turns: one worker process per engine, handed the same jobs in turn.

:func:`run_lockstep` is what :mod:`benchmarks.run`, :mod:`benchmarks.profile` and
:mod:`benchmarks.floor` run in the parent process. It starts one :class:`Worker` per
engine config (``python -m MODULE --serve CONFIG.json``, see
:func:`benchmarks.worker.serve`) with the thread counts already in the worker's
environment, then asks every worker for job 0, job 1, ... in turn, so that only one
engine measures at any time and each job's rounds are taken seconds apart.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from . import env as _env
from .worker import REPLY


class Worker:
    """One engine's worker process, driven through its stdin/stdout (:func:`benchmarks.worker.serve`)."""

    def __init__(self, config: dict, workdir: Path, module: str = "benchmarks.worker"):
        self.config, self.reply_prefix = config, REPLY
        tag = f"{config['engine']}-{config.get('device', 'cpu')}-{config['threads']}"
        cfg_path = workdir / f"{tag}.config.json"
        cfg_path.write_text(json.dumps(config))
        env = _env.thread_env(config["threads"])
        # The worker must import this very package, wherever the caller's cwd is.
        root = str(Path(__file__).resolve().parent.parent)
        env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        self.error = None
        self.proc = subprocess.Popen([sys.executable, "-m", module, "--serve", str(cfg_path)],
                                     env=env, cwd=root, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True)

    def call(self, command: str):
        """Send one command and return its JSON reply, or ``None`` once the worker has died."""
        if self.error is not None:
            return None
        try:
            self.proc.stdin.write(command + "\n")
            self.proc.stdin.flush()
            for line in self.proc.stdout:
                if line.startswith(self.reply_prefix):
                    return json.loads(line[len(self.reply_prefix):])
        except (BrokenPipeError, OSError):
            pass
        self.proc.wait()
        self.error = f"worker exited with status {self.proc.returncode}"
        return None

    def finish(self) -> dict:
        record = self.call("finish")
        if record is None:
            record = {"engine": self.config["engine"], "device": self.config.get("device", "cpu"),
                      "dtype": self.config["dtype"], "error": self.error}
        self.proc.wait()
        return record


def run_lockstep(configs: list, rounds: int, workdir: Path, settle_s: float = 0.1,
                 module: str = "benchmarks.worker") -> tuple:
    """Measure every job of every config, the engines taking turns; return ``(records, entries)``.

    Round ``k`` of a job runs the workers in plan order when ``k`` is even and in
    reverse when it is odd (ABBA), so neither engine is always the one that runs right
    after the other. ``entries`` holds every measurement with its ``engine``,
    ``device`` and ``round``.
    """
    # Imported here, not at the top: scratchnet loads NumPy, and the entry points that import
    # this module are also workers that must set their thread counts before NumPy loads.
    from scratchnet.training.environment import OtherLoad

    workers = [Worker(c, workdir, module) for c in configs]
    plans = [w.call("plan") for w in workers]
    plan = next((p for p in plans if p is not None), [])
    entries, last = [], None
    busy = {id(w): 0.0 for w in workers}
    # How much CPU *other* processes used while the workers (this process's children) ran:
    # about 0 when they had the machine to themselves; 0.5 on 2 cores means another process
    # kept one core busy the whole time, and the timings are not to be trusted.
    with OtherLoad(of="children") as other:
        for i in range(len(plan)):
            for k in range(rounds):
                for w in (workers if k % 2 == 0 else workers[::-1]):
                    if w is not last and last is not None:
                        time.sleep(settle_s)
                    last = w
                    started = time.perf_counter()
                    got = w.call(f"measure {i}")
                    busy[id(w)] += time.perf_counter() - started
                    if got is None:
                        continue
                    entries += [{**e, "engine": w.config["engine"], "device": w.config.get("device", "cpu"),
                                 "round": k} for e in got]
        records = [w.finish() for w in workers]
    for w, r in zip(workers, records):
        r["other_cpu_load"] = other.fraction
        r["busy_s"] = busy[id(w)]
    return records, entries
