"""Plant one-token mutants in the ops, optimizers and Sequential, and see the suite kill them.

A mutant is the original file with ONE operator or constant changed: ``+ -``, ``* /``,
``@ **`` to ``*``; ``+=`` to ``-=`` or ``=``, ``*=`` to ``/=``; ``<`` and ``<=``, ``>`` and
``>=``, ``==`` and ``!=``; a unary minus removed; ``and`` and ``or``; ``True`` and
``False``; ints 0 to 1, 1 to 0 and 2, n to n+1 (so ``[-1]`` to ``[-2]`` and slice bounds);
floats c to c+1. Strings, f-strings, annotations and everything inside a ``raise`` or an
assert's message are left alone (the conditions that lead to a raise are mutated), and
so is a line marked ``# pragma: no mutate`` (each with its reason). The suite should
fail on each mutant: one that passes (a *survivor*) is either a change that provably
makes no difference (listed, with the argument, in ``EQUIVALENT`` below) or a missing
test. A mutant that hangs past its timeout counts as killed (and is reported as such).
The tests run with the ``HYPOTHESIS_PROFILE`` of the environment (``ci`` by default:
derandomized, so a run is repeatable).

How it works:

1. ``find_sites`` parses a file with :mod:`ast` and records every mutation site as a
   byte span of the ORIGINAL text (``lineno``/``col_offset`` are UTF-8 byte offsets), so
   a mutant differs from the original by one token and the rest of the file is kept
   byte for byte (``ast.unparse`` would reformat the whole file).
2. ``covering_tests`` picks the test files that exercise a module: those that import
   it or use one of its public names, plus those of the target modules that import it.
3. The repository's code and tests are copied once per job into a scratch folder; each
   mutant is written into a copy, the covering tests run there
   (``pytest -x -q -p no:cacheprovider -n 0``), the original is written back.
   An unmutated run of the same tests first proves they pass and sets the timeout.
4. A Markdown and a JSON report; exit code 0 only if every survivor is equivalent.

    python -m tools.mutants --list                      # the sites, nothing run
    python -m tools.mutants --max-per-file 10 --jobs 2  # a sample
    python -m tools.mutants --only scratchnet/optim/sgd.py:58
"""
from __future__ import annotations

import argparse
import ast
import bisect
import contextlib
import json
import os
import queue
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGETS = ("scratchnet/functional/*.py", "scratchnet/functional/fast/*.py",
           "scratchnet/optim/*.py", "scratchnet/nn/container.py")
TESTS = "parity_tests/**/test_*.py"
# What a scratch copy needs for the covering tests to run as they do here.
COPY = ("scratchnet", "parity_tests", "pyproject.toml", "docs")
PRAGMA = "# pragma: no mutate"

# Test files (by file name, wherever they sit under parity_tests/) never run on a mutant:
# end-to-end runs and tooling, minutes each, which check nothing an op-level test does not.
NOT_COVERING = {
    "test_full_mnist.py": "full-MNIST training runs, minutes each",
    "test_trajectories.py": "end-to-end training trajectories, minutes each",
    "test_benchmarks_smoke.py": "benchmark scaffolding, not op semantics",
    "test_floor.py": "benchmark scaffolding, not op semantics",
    "test_docs_figures.py": "renders the docs' figures",
    "test_figures.py": "renders figures",
    "test_docs_coverage.py": "reads the op pages' text, runs no op",
    "test_torchvision_pipeline.py": "the data loader against torchvision",
    "test_exercise_track.py": "the practice CLI; grades the ops with the grader",
    "test_exercise_mutants.py": "tests the grader on its own planted mistakes",
    "test_mutants_tool.py": "this tool's own test",
}
# Test files a module needs that the import/name heuristic cannot see:
# {module path: [test paths]}, added to what the heuristic finds.
EXTRA_TESTS: dict[str, list[str]] = {}

# Survivors that provably change nothing, keyed by (file, the line, the mutated line), both
# lines stripped, with the argument why. A key names a line's text, not its number, so it
# survives edits elsewhere in the file; when the line changes, the entry no longer matches
# and the mutant must be argued again.
_SLICE_SIZE_ONLY = ("the L2 probe only picks block sizes: the SGD kernel's slices (the update is "
                    "element-wise, so every slice size gives bit for bit the same numbers; test_sgd_kernel: "
                    "sliced == whole) and whether the few-filter convs build im2col in slices (the same "
                    "products, the weight gradient's sum grouped otherwise; test_05_conv2d runs both routes "
                    "on both sides of SLICE_MIN_L2_BYTES)")

EQUIVALENT: dict[tuple[str, str, str], str] = {
    ("scratchnet/functional/activation.py",
     "return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(x.dtype, copy=False)",
     "return np.where(x > 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(x.dtype, copy=False)"):
        "the branches differ only at x == 0, where e = exp(-0) = 1 and both are 1 / 2 exactly",
    ("scratchnet/functional/activation.py",
     "return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(x.dtype, copy=False)",
     "return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(x.dtype, copy=True)"):
        "np.where's result is a fresh array no one else holds: a copy of it has the same "
        "values, dtype and layout",
    ("scratchnet/functional/fast/_cache.py", "def l2_bytes(cpu: int = 0) -> Optional[int]:",
     "def l2_bytes(cpu: int = 1) -> Optional[int]:"): _SLICE_SIZE_ONLY,
    ("scratchnet/functional/fast/_cache.py", 'if f.read().strip() != "2":', 'if f.read().strip() == "2":'):
        _SLICE_SIZE_ONLY,
    ("scratchnet/functional/fast/_cache.py",
     "return int(text[:-1]) * units[text[-1]] if text[-1] in units else int(text)",
     "return int(text[:1]) * units[text[-1]] if text[-1] in units else int(text)"): _SLICE_SIZE_ONLY,
    ("scratchnet/functional/_broadcast.py", "grad = grad.sum(axis=axes, keepdims=True)",
     "grad = grad.sum(axis=axes, keepdims=False)"):
        "the axes summed are those of size 1 in ``shape``, and the final reshape(shape) puts "
        "them back: the same values in the same order either way",
    ("scratchnet/functional/fast/_memo.py", "MEMO_LIMIT = 1024", "MEMO_LIMIT = 1025"):
        "the memo's capacity: a full memo starts over, and a call that misses it validates in "
        "full, so its size changes when validation runs, never a result or an error",
    ("scratchnet/functional/fast/conv.py", "SLICE_BYTES = 256 * 1024", "SLICE_BYTES = 256 * 1025"):
        "the size of the im2col slices: the slices partition the same columns, so the products "
        "are the same and only the grouping of the weight gradient's sum over slices moves "
        "(rounding, inside every tolerance; test_05_conv2d runs one slice and several)",
    ("scratchnet/functional/fast/loss.py", 'return {"input": _class_first(grad_scores, 2), "weight": None}',
     'return {"input": _class_first(grad_scores, 3), "weight": None}'):
        "grad_scores is 2-D here: moving its last axis to position 1 leaves it as it is, and "
        "both branches return a C-ordered copy of it",
    ("scratchnet/functional/linear.py",
     "out_shape = x.shape[:-1] if vector_weight else x.shape[:-1] + (w.shape[0],)",
     "out_shape = x.shape[:-2] if vector_weight else x.shape[:-1] + (w.shape[0],)"):
        "with a 1-D weight out_shape only checks the bias, which by then is a 1-D input's (where "
        "[:-1] and [:-2] are both ()) or 0-d (which broadcasts to any shape)",
    ("scratchnet/functional/linear.py",
     "out_shape = x.shape[:-1] if vector_weight else x.shape[:-1] + (w.shape[0],)",
     "out_shape = x.shape[:-0] if vector_weight else x.shape[:-1] + (w.shape[0],)"):
        "with a 1-D weight out_shape only checks the bias, which by then is a 1-D input's (where "
        "[:-1] and [:-0] are both ()) or 0-d (which broadcasts to any shape)",
    ("scratchnet/functional/fast/_layout.py", "where = [0] * len(perm)",
     "where = [1] * len(perm)"):
        "perm is a permutation of the axes, so the loop below writes every entry of where: "
        "its starting value is never read",
    ("scratchnet/functional/fast/loss.py",
     'plain = _plain_call("nll_loss", input, target, weight, ignore_index, 0.0)',
     'plain = _plain_call("nll_loss", input, target, weight, ignore_index, 1.0)'):
        "nll_loss has no label smoothing: a nonzero one only sends every call to the "
        "textbook's route, which the suite proves gives the kernel's numbers",
    ("scratchnet/functional/loss.py",
     "spread = scores.dtype.type(smoothing / n_classes if smoothing > 0 else 0)",
     "spread = scores.dtype.type(smoothing / n_classes if smoothing > 0 else 1)"):
        "spread is read only where smoothing > 0 (q = p * keep + spread if smoothing > 0 else p)",
    ("scratchnet/functional/sparse_conv.py", "@differentiable(honors_needs_input_grad=True, fresh_grads=True)",
     "@differentiable(honors_needs_input_grad=False, fresh_grads=True)"):
        "the flag only lets nn skip the input gradient it would drop: without it the backward "
        "computes that gradient and nn discards it, so every kept number is the same",
    ("scratchnet/functional/fast/_cache.py", 'units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}',
     'units = {"K": 2 << 10, "M": 1 << 20, "G": 1 << 30}'): _SLICE_SIZE_ONLY,
    ("scratchnet/functional/fast/_cache.py", 'units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}',
     'units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 31}'): _SLICE_SIZE_ONLY,
    ("scratchnet/functional/fast/loss.py",
     "if not (0 <= t_min and t_max < input.shape[1] and not t_min <= ignore_index <= t_max):",
     "if not (0 < t_min and t_max < input.shape[1] and not t_min <= ignore_index <= t_max):"):
        "the guard only chooses the route: a batch whose smallest target is 0 then takes the "
        "textbook's, which the suite proves gives the dense route's numbers",
    ("scratchnet/functional/fast/loss.py",
     "if not (0 <= t_min and t_max < input.shape[1] and not t_min <= ignore_index <= t_max):",
     "if not (1 <= t_min and t_max < input.shape[1] and not t_min <= ignore_index <= t_max):"):
        "the guard only chooses the route: a batch whose smallest target is 0 then takes the "
        "textbook's, which the suite proves gives the dense route's numbers",
    ("scratchnet/functional/softmax.py", "x = input.astype(target, copy=False)",
     "x = input.astype(target, copy=True)"):
        "x is only read afterwards: a copy of the input has the same values, so only an extra "
        "allocation differs",
}


# ---------------------------------------------------------------------------- sites

@dataclass(frozen=True)
class Site:
    """One mutant: the bytes ``start:end`` of ``path`` replaced by ``new``."""
    path: str
    line: int
    col: int
    start: int
    end: int
    old: str
    new: str
    kind: str
    before: str  # the line, stripped, as it was when the site was found
    after: str   # the same line with the mutant planted

    @property
    def mutation(self) -> str:
        return f"{self.old} -> {self.new or '(deleted)'}"

    @property
    def name(self) -> str:
        return f"{self.path}:{self.line}:{self.col} {self.mutation}"


BINARY = {ast.Add: ("+", ["-"]), ast.Sub: ("-", ["+"]), ast.Mult: ("*", ["/"]),
          ast.Div: ("/", ["*"]), ast.MatMult: ("@", ["*"]), ast.Pow: ("**", ["*"])}
AUGMENTED = {ast.Add: ("+=", ["-=", "="]), ast.Sub: ("-=", ["+=", "="]),
             ast.Mult: ("*=", ["/=", "="]), ast.Div: ("/=", ["*="])}
COMPARE = {ast.Lt: ("<", "<="), ast.LtE: ("<=", "<"), ast.Gt: (">", ">="),
           ast.GtE: (">=", ">"), ast.Eq: ("==", "!="), ast.NotEq: ("!=", "==")}
BOOLEAN = {ast.And: ("and", "or"), ast.Or: ("or", "and")}


def constant_mutations(value) -> list[str]:
    """The replacement texts for a numeric or boolean literal."""
    if isinstance(value, bool):
        return [repr(not value)]
    if isinstance(value, int):
        return {0: ["1"], 1: ["0", "2"]}.get(value, [str(value + 1)])
    if isinstance(value, float):  # past 2**53, c + 1 == c: double it instead
        return ["1.0"] if value == 0.0 else [repr(value + 1.0 if value + 1.0 != value else 2 * value)]
    return []  # strings, bytes, None, Ellipsis, complex: not mutated


class _Finder(ast.NodeVisitor):
    """Walks a module's tree and records each site as a byte span of its source."""

    def __init__(self, path: str, source: bytes):
        self.path, self.source = path, source
        self.lines = source.splitlines(keepends=True)
        self.starts = [0]
        for line in self.lines:
            self.starts.append(self.starts[-1] + len(line))
        self.sites: list[Site] = []

    def offset(self, lineno: int, col: int) -> int:
        return self.starts[lineno - 1] + col

    def line_of(self, offset: int) -> int:
        return bisect.bisect_right(self.starts, offset)

    def add(self, start: int, end: int, new: str, kind: str) -> None:
        line = self.line_of(start)
        if PRAGMA.encode() in self.lines[line - 1]:
            return
        old = self.source[start:end].decode()
        text, col = self.lines[line - 1], start - self.starts[line - 1]
        mutant = text[:col] + new.encode() + text[col + end - start:]
        self.sites.append(Site(self.path, line, col, start, end, old, new, kind,
                               text.decode().strip(), mutant.decode().strip()))

    def between(self, left: ast.AST, right: ast.AST, token: str) -> tuple[int, int]:
        """The span of ``token`` in the gap after ``left`` and before ``right``.

        The gap holds only the operator, brackets, blanks and comments (blanked out first).
        """
        lo = self.offset(left.end_lineno, left.end_col_offset)
        hi = self.offset(right.lineno, right.col_offset)
        gap = bytearray(self.source[lo:hi])
        i = gap.find(b"#")
        while i != -1:  # a comment runs to the end of its line
            j = gap.find(b"\n", i)
            j = len(gap) if j == -1 else j
            gap[i:j] = b" " * (j - i)
            i = gap.find(b"#", j)
        at = bytes(gap).find(token.encode())
        assert at != -1, f"{self.path}:{left.end_lineno}: no {token!r} between operands"
        return lo + at, lo + at + len(token)

    # -- what is not mutated: strings, annotations, raise and assert messages
    def visit_JoinedStr(self, node):
        pass

    def visit_Raise(self, node):
        pass

    def visit_Assert(self, node):
        self.visit(node.test)  # the condition is code; its message is not

    def visit_arg(self, node):
        pass  # an argument's annotation

    def visit_AnnAssign(self, node):
        self.visit(node.target)
        if node.value is not None:
            self.visit(node.value)

    def _visit_function(self, node):
        for item in node.decorator_list:
            self.visit(item)
        self.visit(node.args)  # defaults are code, annotations are skipped in visit_arg
        for stmt in node.body:
            self.visit(stmt)

    visit_FunctionDef = visit_AsyncFunctionDef = _visit_function

    # -- what is mutated
    def visit_BinOp(self, node):
        op = BINARY.get(type(node.op))
        strings = any(isinstance(side, ast.JoinedStr) or
                      (isinstance(side, ast.Constant) and isinstance(side.value, (str, bytes)))
                      for side in (node.left, node.right))
        if op and not strings:
            start, end = self.between(node.left, node.right, op[0])
            for new in op[1]:
                self.add(start, end, new, "binary")
        self.generic_visit(node)

    def visit_AugAssign(self, node):
        op = AUGMENTED.get(type(node.op))
        if op:
            start, end = self.between(node.target, node.value, op[0])
            for new in op[1]:
                self.add(start, end, new, "augmented")
        self.generic_visit(node)

    def visit_Compare(self, node):
        left = node.left
        for op, right in zip(node.ops, node.comparators):
            if type(op) in COMPARE:
                old, new = COMPARE[type(op)]
                start, end = self.between(left, right, old)
                self.add(start, end, new, "compare")
            left = right
        self.generic_visit(node)

    def visit_BoolOp(self, node):
        old, new = BOOLEAN[type(node.op)]
        for left, right in zip(node.values, node.values[1:]):
            start, end = self.between(left, right, old)
            self.add(start, end, new, "boolean")
        self.generic_visit(node)

    def visit_UnaryOp(self, node):
        if isinstance(node.op, ast.USub):
            start = self.offset(node.lineno, node.col_offset)
            self.add(start, start + 1, "", "unary")
        self.generic_visit(node)

    def visit_Constant(self, node):
        start = self.offset(node.lineno, node.col_offset)
        end = self.offset(node.end_lineno, node.end_col_offset)
        for new in constant_mutations(node.value):
            self.add(start, end, new, "constant")


def find_sites(path: str, source: bytes) -> list[Site]:
    """Every mutation site of one file's source, in source order."""
    finder = _Finder(path, source)
    finder.visit(ast.parse(source))
    return sorted(finder.sites, key=lambda s: (s.start, s.new))


def patch(source: bytes, site: Site) -> bytes:
    """The source with one site's token replaced; every other byte unchanged."""
    if source[site.start:site.end].decode() != site.old:
        raise ValueError(f"{site.name}: the file is not the one the site was found in")
    return source[:site.start] + site.new.encode() + source[site.end:]


def sample(sites: list[Site], most: int | None, seed: int) -> list[Site]:
    """At most ``most`` of one file's sites, the same ones for the same seed and file."""
    if most is None or len(sites) <= most:
        return sites
    chosen = random.Random(f"{seed}:{sites[0].path}").sample(sites, most)
    return sorted(chosen, key=lambda s: (s.start, s.new))


# ---------------------------------------------------------------- covering tests

def module_name(path: str) -> str:
    parts = list(Path(path).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _from_imports(tree: ast.AST, path: str):
    """(absolute module, imported name, local name) for each ``from ... import`` of a file."""
    package = module_name(path).split(".")
    if not path.endswith("__init__.py"):
        package = package[:-1]  # a module's relative imports start from its package
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package[:len(package) - (node.level - 1)]
                base = ".".join(up + ([base] if base else []))
            for alias in node.names:
                yield base, alias.name, alias.asname or alias.name


def imported_modules(tree: ast.AST, path: str) -> set[str]:
    """The absolute names of the modules (and possible submodules) a file imports."""
    found = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    for base, name, _ in _from_imports(tree, path):
        found.update((base, f"{base}.{name}"))
    return found


def kernel_hosts(tree: ast.AST, path: str) -> set[str]:
    """The modules of the ops a kernel module attaches a kernel to (``register_kernel(op, ...)``)."""
    ops = {node.args[0].id for node in ast.walk(tree)
           if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Name)
           and getattr(node.func, "id", getattr(node.func, "attr", None)) == "register_kernel"}
    return {base for base, _, local in _from_imports(tree, path) if local in ops}


def public_names(tree: ast.Module) -> set[str]:
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return {n for n in names if not n.startswith("_")}


def used_names(tree: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, ast.Attribute):
            names.add(node.attr)
        elif isinstance(node, ast.alias):
            names.add(node.name.rsplit(".", 1)[-1])
    return names


def covering_tests(root: Path, targets: list[str], tests: list[str]) -> dict[str, list[str]]:
    """For each target file, the test files that exercise it (directly first).

    A test covers a module if it imports it or names one of its public names (and
    imports scratchnet); a module is also covered by the tests of the target modules
    that import it (``_windows.py`` by the conv and pooling tests), and a kernel module
    by the tests of the ops it attaches a kernel to (``fast/conv.py`` by conv2d's).
    """
    parsed = {t: ast.parse((root / t).read_bytes()) for t in tests if Path(t).name not in NOT_COVERING}
    test_imports = {t: imported_modules(tree, t) for t, tree in parsed.items()}
    test_names = {t: used_names(tree) for t, tree in parsed.items()}
    modules = {p: module_name(p) for p in targets}
    trees = {p: ast.parse((root / p).read_bytes()) for p in targets}

    def direct(path):
        mod, names = modules[path], public_names(trees[path])
        found = [t for t in parsed
                 if mod in test_imports[t]
                 or (names & test_names[t] and any(m.startswith("scratchnet") for m in test_imports[t]))]
        # The module's own test file first: with -x most mutants die in it, soonest.
        stem = Path(path).stem.strip("_")
        return sorted(found, key=lambda t: stem not in Path(t).stem)

    importers = {p: [q for q in targets if q != p and not q.endswith("__init__.py")
                     and modules[p] in imported_modules(trees[q], q)] for p in targets}

    by_module = {m: p for p, m in modules.items()}

    def closure(path, seen):
        found = direct(path) + EXTRA_TESTS.get(path, [])
        for host in sorted(kernel_hosts(trees[path], path)):
            if host in by_module:
                found += direct(by_module[host])
        for q in importers[path]:
            if q not in seen:
                seen.add(q)
                found += closure(q, seen)
        return found

    return {p: list(dict.fromkeys(closure(p, {p}))) for p in targets}


# --------------------------------------------------------------------- running

@dataclass
class Result:
    site: Site
    status: str  # killed, timeout, survived, error (no test ran), not-run (baseline failed)
    seconds: float
    tests: list[str]
    tail: str = ""
    equivalent: str = ""


_RUNNING: set[subprocess.Popen] = set()  # the pytest runs in flight, ended if this tool is stopped


def run_pytest(copy: Path, tests: list[str], timeout: float) -> tuple[str, float, str]:
    """Run ``tests`` in ``copy``; (killed | survived | timeout | error, seconds, output tail)."""
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", PYTHONPATH=str(copy),
               OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-n", "0", *tests]
    began = time.monotonic()
    # Its own session, so that a timeout ends pytest and everything it started.
    proc = subprocess.Popen(command, cwd=copy, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    _RUNNING.add(proc)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        return "timeout", time.monotonic() - began, out.decode(errors="replace")[-2000:]
    finally:
        _RUNNING.discard(proc)
    seconds = time.monotonic() - began
    # 0: all passed; 1: a test failed; 2: collection or import failed (the mutant broke the
    # module); 5: no test collected, which says nothing about the mutant.
    # 4: pytest could not even load the suite (the mutant breaks importing scratchnet).
    status = {0: "survived", 1: "killed", 2: "killed", 4: "killed"}.get(proc.returncode, "error")
    return status, seconds, out.decode(errors="replace")[-2000:]


def make_copies(root: Path, paths: tuple[str, ...], count: int, where: Path) -> list[Path]:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "_build", ".hypothesis", ".pytest_cache")
    copies = []
    for i in range(count):
        copy = where / f"copy{i}"
        copy.mkdir()
        for rel in paths:
            if (root / rel).is_dir():
                shutil.copytree(root / rel, copy / rel, ignore=ignore)
            elif (root / rel).exists():
                shutil.copy2(root / rel, copy / rel)
        copies.append(copy)
    return copies


def run_mutants(root: Path, sites: list[Site], tests_for: dict[str, list[str]], *, jobs: int = 2,
                timeout: float | None = None, copy_paths=COPY, log=print) -> list[Result]:
    """Each site's mutant against its file's covering tests, ``jobs`` at a time."""
    with tempfile.TemporaryDirectory(prefix="mutants-") as scratch:
        copies = make_copies(root, copy_paths, jobs, Path(scratch))
        free: queue.Queue[Path] = queue.Queue()
        for copy in copies:
            free.put(copy)
        limits, baselines = {}, {}
        for path in dict.fromkeys(s.path for s in sites):  # baselines, one file at a time
            tests = tests_for.get(path, [])
            if not tests:
                log(f"{path}: no covering test file")
                continue
            if frozenset(tests) not in baselines:  # files with the same tests share one run
                baselines[frozenset(tests)] = run_pytest(copies[0], tests, timeout or 3600)
            status, seconds, tail = baselines[frozenset(tests)]
            if status != "survived":
                log(f"{path}: the unmutated tests do not pass ({status}); its mutants are not run\n{tail}")
                continue
            # Under a shared machine's load a run can take a few times the baseline.
            limits[path] = timeout or max(60.0, 4 * seconds + 30)
            log(f"{path}: {len(tests)} test files pass in {seconds:.0f}s; timeout {limits[path]:.0f}s")

        def one(site: Site) -> Result:
            tests = tests_for.get(site.path, [])
            if site.path not in limits:
                return Result(site, "not-run", 0.0, tests)
            copy = free.get()
            target = copy / site.path
            original = target.read_bytes()
            try:
                target.write_bytes(patch(original, site))
                status, seconds, tail = run_pytest(copy, tests, limits[site.path])
            except ValueError as changed:  # the checkout changed between finding and copying
                status, seconds, tail = "error", 0.0, str(changed)
            finally:
                target.write_bytes(original)
                free.put(copy)
            log(f"{status:8s} {seconds:5.0f}s  {site.name}")
            return Result(site, status, seconds, tests, tail if status in ("survived", "error") else "")

        pool = ThreadPoolExecutor(jobs)
        try:
            results = list(pool.map(one, sites))
        finally:  # stopped (Ctrl-C, SIGTERM): no new mutant, and the running ones ended
            pool.shutdown(wait=False, cancel_futures=True)
            for proc in list(_RUNNING):  # each runs in a session of its own: end it and its children
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
            pool.shutdown(wait=True)
    for r in results:
        if r.status == "survived":
            r.equivalent = EQUIVALENT.get((r.site.path, r.site.before, r.site.after), "")
    return results


# --------------------------------------------------------------------- report

def counts(results: list[Result]) -> dict[str, int]:
    c = {k: sum(r.status == k for r in results) for k in ("killed", "timeout", "survived", "error", "not-run")}
    c["planted"] = len(results)
    c["equivalent"] = sum(bool(r.equivalent) for r in results)
    return c


def passed(results: list[Result]) -> bool:
    """Every mutant run, and every survivor argued equivalent."""
    return all(r.status in ("killed", "timeout") or (r.status == "survived" and r.equivalent)
               for r in results)


def markdown(results: list[Result], tests_for: dict, options: str) -> str:
    c = counts(results)
    out = ["# Mutation test", "", f"Options: `{options}`", "",
           "| planted | killed | timed out (counted killed) | survived | of them equivalent | error | not run |",
           "|---|---|---|---|---|---|---|",
           f"| {c['planted']} | {c['killed']} | {c['timeout']} | {c['survived']} | {c['equivalent']} "
           f"| {c['error']} | {c['not-run']} |", "",
           "## Per file", "", "| file | planted | killed | timed out | survived | covering tests |",
           "|---|---|---|---|---|---|"]
    for path in dict.fromkeys(r.site.path for r in results):
        rs = [r for r in results if r.site.path == path]
        fc = counts(rs)
        tests = ", ".join(Path(t).name for t in tests_for.get(path, [])) or "(none)"
        out.append(f"| {path} | {fc['planted']} | {fc['killed']} | {fc['timeout']} | {fc['survived']} | {tests} |")
    out += ["", "## Survivors", ""]
    survivors = [r for r in results if r.status in ("survived", "error", "not-run")]
    if not survivors:
        out.append("None.")
    else:
        out += ["| site | status | original line | mutant line | equivalent because |", "|---|---|---|---|---|"]
        for r in survivors:
            s = r.site
            cell = lambda text: "`" + text.replace("|", "\\|") + "`"
            out.append(f"| {s.path}:{s.line} `{s.mutation}` | {r.status} | {cell(s.before)} "
                       f"| {cell(s.after)} | {r.equivalent or '**not argued: a missing test?**'} |")
    return "\n".join(out) + "\n"


# ------------------------------------------------------------------------ CLI

def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.mutants", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", nargs="+", default=list(TARGETS), metavar="GLOB",
                        help="source files to mutate, globs relative to the repository (default: %(default)s)")
    parser.add_argument("--max-per-file", type=int, default=None, metavar="N",
                        help="a deterministic sample of at most N sites per file")
    parser.add_argument("--seed", type=int, default=0, help="the sample's seed (default 0)")
    parser.add_argument("--only", action="append", default=[], metavar="FILE:LINE",
                        help="only the sites on this line (repeatable)")
    parser.add_argument("--list", action="store_true", help="print the sites and their covering tests; run nothing")
    parser.add_argument("--jobs", type=int, default=2, help="mutants run at once, each in its own copy (default 2)")
    parser.add_argument("--timeout", type=float, default=None,
                        help="seconds per mutant (default: 4x the unmutated run + 30 s, at least 60 s)")
    parser.add_argument("--root", type=Path, default=ROOT,
                        help="the checkout to measure (default: this one); it is only read")
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "mutants",
                        help="folder for report.md and report.json (default build/mutants)")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that the scratch copies are removed

    targets = sorted({str(p.relative_to(root)) for pattern in args.files for p in root.glob(pattern)})
    tests = sorted(str(p.relative_to(root)) for p in root.glob(TESTS))
    tests_for = covering_tests(root, targets, tests)
    sites = []
    for path in targets:
        found = find_sites(path, (root / path).read_bytes())
        if args.only:
            found = [s for s in found if f"{s.path}:{s.line}" in args.only]
        sites += sample(found, args.max_per_file, args.seed)

    if args.list:
        for path in targets:
            print(f"{path}: tests {', '.join(tests_for[path]) or '(none)'}")
        for s in sites:
            print(f"{s.name:70s} {s.after}")
        print(f"{len(sites)} sites in {len(targets)} files")
        return 0

    results = run_mutants(root, sites, tests_for, jobs=args.jobs, timeout=args.timeout)
    report = markdown(results, tests_for, " ".join(argv if argv is not None else sys.argv[1:]))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "report.md").write_text(report)
    (args.out / "report.json").write_text(json.dumps(
        {"counts": counts(results), "tests": tests_for,
         "results": [dict(asdict(r), site=dict(asdict(r.site), mutation=r.site.mutation)) for r in results]},
        indent=1))
    print(report)
    print(f"written: {args.out / 'report.md'}, {args.out / 'report.json'}")
    return 0 if passed(results) else 1


if __name__ == "__main__":
    sys.exit(main())
