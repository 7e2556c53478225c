"""One engine's measurements, in a process of their own.

``python -m benchmarks.worker --serve CONFIG.json`` is what :mod:`benchmarks.run`
spawns, once per engine, all of them at the start of a run. The parent has already
put the thread counts in this process's environment (:func:`benchmarks.env.thread_env`),
so NumPy's BLAS and torch's OpenMP pools start at the requested size;
:func:`benchmarks.env.limit_threads` confirms it before anything is timed. The worker
then waits for commands on stdin and measures one *job* per ``measure`` command
(:class:`Session`): the ceilings (GEMM rate, copy bandwidth) with this engine's
arrays; one op case at one batch size, forward and forward + backward; or one
training step at one batch size. The parent hands the same job to every engine in
turn, and only one engine measures at any time.

Each measurement also records its peak resident memory above what was resident when
it started (Linux: ``VmHWM`` after resetting it through ``/proc/self/clear_refs``;
elsewhere the growth of ``ru_maxrss``, which only sees new process-wide peaks),
or on a GPU torch's peak allocated memory. A case that raises is recorded with its
error and the run goes on, so one broken op does not cost the whole table.
"""
from __future__ import annotations

import json
import os
import resource
import sys
import time
import traceback

from . import cases as _cases
from . import env as _env
from .ceilings import measure_ceilings
from .flops import BACKWARD_FACTOR, elementwise_bytes
from .timing import CudaEventClock, TimerConfig, measure


class PeakMemory:
    """Context manager: peak memory of the block, in KiB above the memory at its start."""

    def __init__(self, torch_cuda=None):
        self._cuda = torch_cuda
        self.method = "cuda_max_memory_allocated" if torch_cuda else self._cpu_method()
        self.delta_kib = None

    @staticmethod
    def _cpu_method():
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            return "VmHWM"
        except OSError:
            return "ru_maxrss"

    @staticmethod
    def _status(key):
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
        raise KeyError(key)

    def __enter__(self):
        if self._cuda is not None:
            self._cuda.reset_peak_memory_stats()
            self._base = self._cuda.memory_allocated()
        elif self.method == "VmHWM":
            # "5" resets the high-water mark to the current RSS (Linux >= 4.0).
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            self._base = self._status("VmRSS")
        else:
            self._base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return self

    def __exit__(self, *exc):
        if self._cuda is not None:
            self.delta_kib = (self._cuda.max_memory_allocated() - self._base) / 1024
        elif self.method == "VmHWM":
            self.delta_kib = max(0, self._status("VmHWM") - self._base)
        else:
            self.delta_kib = max(0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - self._base)
        return False


# -- engines ----------------------------------------------------------------------------


class NumpyRunner:
    """scratchnet: ops from :mod:`scratchnet.functional`, steps from :mod:`scratchnet.training.numpy_engine`."""

    name = "numpy"
    device = "cpu"

    def __init__(self, dtype):
        import numpy as np
        import scratchnet.functional as F

        self.np, self.F, self.dtype = np, F, dtype

    def op(self, case, args, kwargs, rng):
        """``{pass: callable}`` for one op case, and the forward output's shape."""
        fn = getattr(self.F, case.op)
        out = fn(*args, **kwargs)
        grad_out = rng.standard_normal(out.shape).astype(out.dtype)
        vjp = self.F.vjp

        def forward():
            fn(*args, **kwargs)

        def forward_backward():
            _, backward = vjp(fn, *args, **kwargs)
            backward(grad_out)

        return {"forward": forward, "forward+backward": forward_backward}, out.shape

    def step(self, case, x, y):
        """One training step of ``case``: exactly the training loop's, on the batch ``(x, y)``."""
        from scratchnet.cli.run_setup import build_engine

        return _train_step(build_engine("numpy", train_config(case, self.dtype)), x, y)


class TorchRunner:
    """torch: ``torch.nn.functional`` ops, steps from :mod:`scratchnet.training.torch_engine` (the twins)."""

    name = "torch"

    def __init__(self, dtype, device, *, amp=False, compile=False, tf32=False):
        import torch

        self.torch, self.device = torch, device
        self.amp, self.compile, self.tf32 = amp, compile, tf32
        self.np_dtype = dtype
        self.dtype = getattr(torch, dtype)

    def tensor(self, a, requires_grad=False):
        import numpy as np

        if not isinstance(a, np.ndarray):
            return a
        t = self.torch.from_numpy(a).to(self.device)
        return t.requires_grad_(True) if requires_grad and a.dtype.kind == "f" else t

    def _function(self, op):
        import torch.nn.functional as tf

        # sigmoid/tanh live in torch itself (their F aliases are deprecated); flatten only there.
        return getattr(self.torch, op) if op in ("sigmoid", "tanh", "flatten") else getattr(tf, op)

    def op(self, case, args, kwargs, rng):
        torch = self.torch
        fn = self._function(case.op)
        plain = [self.tensor(a) for a in args]
        # The same rule as scratchnet's vjp: every floating-point array operand gets a gradient.
        leaves = [self.tensor(a, requires_grad=True) for a in args]
        wrt = [t for t in leaves if isinstance(t, torch.Tensor) and t.requires_grad]
        with torch.no_grad():
            out = fn(*plain, **kwargs)
        grad_out = self.tensor(rng.standard_normal(tuple(out.shape)).astype(self.np_dtype))

        def forward():
            fn(*plain, **kwargs)

        def forward_backward():
            torch.autograd.grad(fn(*leaves, **kwargs), wrt, grad_out)

        return {"forward": forward, "forward+backward": forward_backward}, tuple(out.shape)

    def step(self, case, x, y):
        from scratchnet.cli.run_setup import build_engine

        step = _train_step(build_engine("torch", train_config(case, self.np_dtype), device=self.device,
                                        amp=self.amp, compile=self.compile, tf32=self.tf32), x, y)
        if self.compile:
            step()  # compiles now, so no timed sample (nor the calibration call) holds it
        return step


def train_config(case, dtype):
    """The training loop's config for ``case``: the lecture's model, loss and SGD settings."""
    from scratchnet.training.loop import TrainConfig

    return TrainConfig(model=case.model, loss=case.loss, optimizer="sgd", lr=case.lr,
                       momentum=case.momentum, init=case.init, dtype=str(dtype), seed=0)


def _train_step(engine, x, y):
    """``engine.train_step`` on ``(x, y)``, moved where the engine computes, in training mode.

    This is the step the training loop runs (zero_grad, forward, loss, backward,
    optimizer step), so the benchmark times what ``scratchnet train`` pays per batch.
    """
    engine.train()
    data = engine.put(x, y)

    def step():
        engine.train_step(*data)

    return step


def step_batch(case, batch, dtype, rng):
    """A random batch shaped for ``case``'s model: images or features, and its targets."""
    import numpy as np
    from scratchnet import models

    spec = models.spec(case.model)
    x = rng.random((batch,) + tuple(spec.input_shape)).astype(dtype)
    if models.is_binary_loss(case.loss):
        y = rng.choice(np.array([-1, 1], dtype=np.int64), size=batch)
    else:
        y = rng.integers(0, spec.num_classes, size=batch, dtype=np.int64)
    return x, y


# -- the run ----------------------------------------------------------------------------


def _log(msg):
    print(msg, file=sys.stderr, flush=True)


def _error(exc):
    return "".join(traceback.format_exception_only(type(exc), exc)).strip()


def _timed(fn, timer, clock, cuda):
    with PeakMemory(cuda) as mem:
        t = measure(fn, timer, clock)
    t["peak_mem_delta_kib"] = mem.delta_kib
    t["peak_mem_method"] = mem.method
    return t


class Session:
    """One engine's measurements, taken one *job* at a time.

    A job is the ceilings, one op case at one batch size (both passes), or one
    training step at one batch size. :mod:`benchmarks.run` asks every engine's
    session for the same job in turn (NumPy, torch, torch, NumPy, ...), so the engines
    are compared seconds apart rather than minutes apart, and a machine whose speed
    drifts (a shared virtual machine) slows both alike.
    """

    def __init__(self, config: dict):
        self.started = time.perf_counter()
        self.config = config
        engine_name, device, dtype = config["engine"], config.get("device", "cpu"), config["dtype"]
        threads = _env.limit_threads(config["threads"], engine_name)
        self.timer = TimerConfig(**config["timer"])
        if engine_name == "numpy":
            self.engine, self.clock, self.cuda = NumpyRunner(dtype), None, None
        else:
            self.engine = TorchRunner(dtype, device, amp=config.get("amp", False),
                                      compile=config.get("compile", False), tf32=config.get("tf32", False))
            self.cuda = self.engine.torch.cuda if device == "cuda" else None
            self.clock = CudaEventClock(self.engine.torch) if device == "cuda" else None
            if device == "cuda":
                # cuDNN's autotuner picks the fastest conv algorithm per shape during warm-up,
                # as any tuned training script does.
                self.engine.torch.backends.cudnn.benchmark = True
        self.label = f"{engine_name}/{device}"
        self.record = {
            "engine": engine_name,
            "device": device,
            "dtype": dtype,
            "threads": threads,
            **({"amp": config.get("amp", False), "compile": config.get("compile", False),
                "tf32": config.get("tf32", False)} if engine_name == "torch" else {}),
            "env": _env.engine_info(engine_name),
            "load_average_start": _env.load_average(),
        }
        self.ceiling_rounds = []
        self.jobs = [("ceilings", None, None)]
        self.jobs += [("op", case, batch) for case in _cases.select(_cases.OP_CASES, config.get("ops"), "op")
                      for batch in config["batch_sizes"]]
        self.jobs += [("step", case, batch)
                      for case in _cases.select(_cases.step_cases(), config.get("steps"), "step")
                      for batch in config["batch_sizes"]]

    def plan(self) -> list:
        """The jobs as ``[kind, name, batch]``: every session of one run lists the same."""
        return [[kind, case.name if case else None, batch] for kind, case, batch in self.jobs]

    def measure(self, i: int) -> list:
        """Run job ``i``; return its result entries (the ceilings go into the record)."""
        kind, case, batch = self.jobs[i]
        if kind == "ceilings":
            _log(f"[{self.label}] ceilings")
            self.ceiling_rounds.append(measure_ceilings(
                self.config["engine"], self.config["dtype"], self.timer, device=self.record["device"],
                clock=self.clock, **self.config.get("ceiling_sizes", {})))
            return []
        return self._op(case, batch) if kind == "op" else [self._step(case, batch)]

    def _op(self, case, batch) -> list:
        import numpy as np

        dtype = self.config["dtype"]
        rng = np.random.default_rng(0)
        base = {"kind": "op", "name": case.name, "op": case.op, "layer": case.layer,
                "bound": case.bound, "batch": batch}
        try:
            args, kwargs = case.make(batch, dtype, rng)
            fns, out_shape = self.engine.op(case, args, kwargs, rng)
        except Exception as exc:  # record and go on: one broken op must not sink the run
            _log(f"[{self.label}] {case.name} batch {batch}: ERROR {_error(exc)}")
            return [{**base, "pass": p, "error": _error(exc)} for p in _cases.PASSES]
        arrays = [a for a in args if hasattr(a, "nbytes")]
        out_bytes = int(np.prod(out_shape)) * np.dtype(dtype).itemsize
        moved = elementwise_bytes(
            [a.nbytes for a in arrays], out_bytes, [a.nbytes for a in arrays if a.dtype.kind == "f"])
        fwd_flops = case.flops(args, kwargs, out_shape) if case.flops else None
        entries = []
        for p, fn in fns.items():
            entry = {**base, "pass": p, "out_shape": list(out_shape), "bytes": moved[p]}
            if fwd_flops is not None:
                entry["flops"] = fwd_flops * (1 + BACKWARD_FACTOR if p != "forward" else 1)
            try:
                entry["timing"] = _timed(fn, self.timer, self.clock, self.cuda)
            except Exception as exc:
                entry["error"] = _error(exc)
            entries.append(entry)
        _log(f"[{self.label}] {case.name:<34} batch {batch:>4}: " + "  ".join(
            f"{e['pass']} {e['timing']['median_s'] * 1e3:9.4f} ms" if "timing" in e else f"{e['pass']} ERROR"
            for e in entries))
        return entries

    def _step(self, case, batch) -> dict:
        import numpy as np

        entry = {"kind": "step", "name": case.name, "model": case.model, "loss": case.loss,
                 "lr": case.lr, "momentum": case.momentum, "lecture_batch": case.lecture_batch,
                 "pass": "train step", "batch": batch}
        try:
            x, y = step_batch(case, batch, self.config["dtype"], np.random.default_rng(0))
            entry["timing"] = _timed(self.engine.step(case, x, y), self.timer, self.clock, self.cuda)
            _log(f"[{self.label}] step {case.name:<20} batch {batch:>4}: "
                 f"{entry['timing']['median_s'] * 1e3:9.3f} ms")
        except Exception as exc:
            entry["error"] = _error(exc)
            _log(f"[{self.label}] step {case.name} batch {batch}: ERROR {entry['error']}")
        return entry

    def finish(self) -> dict:
        """The engine's record: environment, threads, ceilings, load, peak RSS, wall time."""
        if self.ceiling_rounds:
            # A ceiling is what the machine can do: the best of the rounds, each measured
            # between the other engine's turns like every other job.
            self.record["ceilings"] = max(self.ceiling_rounds, key=lambda c: c["gemm_gflops"])
            self.record["ceiling_rounds"] = self.ceiling_rounds
        self.record["load_average_end"] = _env.load_average()
        self.record["ru_maxrss_kib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        self.record["wall_s"] = time.perf_counter() - self.started
        return self.record


#: Prefix of the worker's replies on stdout, so that a library printing there cannot
#: be mistaken for one.
REPLY = "@@benchmarks.worker "


def serve(session, commands=sys.stdin, replies=sys.stdout) -> None:
    """Answer the parent's commands, one line each: ``plan``, ``measure I``, ``finish``.

    ``session`` has ``plan()``, ``measure(i)`` and ``finish()`` (:class:`Session`, or
    :class:`benchmarks.profile.ProfileSession`). Every reply is one line,
    :data:`REPLY` then JSON. The parent waits for each reply before it sends the next
    command (to this or another worker), so only one engine runs at a time.
    """
    for line in commands:
        words = line.split()
        if not words:
            continue
        if words[0] == "plan":
            reply = session.plan()
        elif words[0] == "measure":
            reply = session.measure(int(words[1]))
        elif words[0] == "finish":
            reply = session.finish()
        else:
            reply = {"error": f"unknown command {line.strip()!r}"}
        replies.write(REPLY + json.dumps(reply, default=str) + "\n")
        replies.flush()
        if words[0] == "finish":
            return


def serve_session(argv, session_class) -> bool:
    """Run as a worker when ``argv`` is ``--serve CONFIG.json``: serve a ``session_class`` session.

    Returns whether it did; any other ``argv`` is left to the entry point's own options.
    """
    if len(argv) != 2 or argv[0] != "--serve":
        return False
    with open(argv[1]) as f:
        serve(session_class(json.load(f)))
    return True


def add_turn_options(p, *, target_s: float) -> None:
    """``--rounds``, ``--target-s`` and ``--settle-s`` of an entry point whose engines take turns."""
    from scratchnet.cli.arguments import non_negative_float, positive_float, positive_int

    p.add_argument("--rounds", type=positive_int, default=3, help="alternating rounds per engine")
    p.add_argument("--target-s", type=positive_float, default=target_s,
                   help="seconds of samples per measurement")
    p.add_argument("--settle-s", type=non_negative_float, default=0.1,
                   help="pause before an engine measures after the other one did")


def parse_step_args(p, argv):
    """``p.parse_args(argv)``, refusing a ``--steps`` name that is no lecture experiment."""
    args = p.parse_args(argv)
    try:
        _cases.select(_cases.step_cases(), args.steps, "step")
    except ValueError as exc:
        p.error(f"--steps: {exc}")
    return args


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not serve_session(argv, Session):
        print("usage: python -m benchmarks.worker --serve CONFIG.json  (commands on stdin)", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
