"""The learner's workspace: one ``NAME.py`` per exercise, and the verdicts of their checks.

``start`` writes the skeleton and never overwrites a file (``--force`` first keeps the
old one as ``NAME.py.bak``). ``load`` imports a learner's file; a syntax error or an
exception while importing it is reported as a :class:`LearnerError` naming *their*
file and line; while a file is loaded and checked the workspace is importable
(:func:`importable`), so exercise files and helpers import each other by name. The
verdicts are kept in ``DIR/.scratchnet-checks.json``, one per scope (core, full) with
the hash of the file it graded: a scope counts as passed only while its file is
unchanged since it passed, and the capstone needs the core one.
"""
from __future__ import annotations

import contextlib
import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import inspect
import json
import sys
import textwrap
import traceback
from pathlib import Path

from .catalogue import DOCS_ROOT, Exercise, resolve

DEFAULT_DIR = "exercises"
STATUS_FILE = ".scratchnet-checks.json"


class LearnerError(Exception):
    """Something the learner's file did: the message names their file and line."""


class WorkspaceError(Exception):
    """A workspace problem (a file that exists, none to check): one line for the user."""


# --------------------------------------------------------------------------- skeleton
def skeleton(ex: Exercise) -> str:
    """The text of ``NAME.py``: what to write (per kind of exercise), the scope, then per
    function its signature and core contract (:mod:`.templates`); torch's full semantics
    are on the op's page, one link away."""
    from .templates import CONTRACTS, FORMS, HELPERS, KIND

    kind = KIND.get(ex.name, "op")
    fill = dict(width=88, initial_indent="    ", subsequent_indent="    ")
    head = f'''"""Exercise {ex.number}: {ex.title}.

{FORMS[kind]}

Core scope (graded by `scratchnet exercise check {ex.name}`):
{textwrap.fill(ex.core, **fill)}
Full scope (`check {ex.name} --full`, optional):
{textwrap.fill(ex.full, **fill)}
Outside your scope you may raise NotImplementedError. The files of this folder import
each other by name (`from log_softmax import log_softmax`), helpers of yours too.

The full semantics and the math: {DOCS_ROOT}{ex.docs}
This exercise: {DOCS_ROOT}{ex.practice_page}; hints: `scratchnet exercise hint {ex.name}`.
"""
import numpy as np
'''
    todo = {"op": "write the forward and its backward", "chain": "chain the layers and their backwards",
            "update": "write one step of the update"}[kind]
    parts = [head]
    for name, path in ex.functions.items():
        sig = inspect.signature(resolve(path, forward=True))
        doc = textwrap.indent(CONTRACTS[name], "    ").lstrip()
        parts.append(f'\n\ndef {name}{sig}:\n    """{doc}\n    """\n'
                     f'    raise NotImplementedError("{name}: {todo}")\n')
    parts.append(HELPERS.get(ex.name, ""))
    return "".join(parts)


def path_of(ex: Exercise, directory) -> Path:
    return Path(directory) / f"{ex.name}.py"


def start(ex: Exercise, directory=DEFAULT_DIR, force: bool = False) -> str:
    """Write the skeleton of ``ex``; returns what was done, in one line.

    An existing file is never overwritten: :class:`WorkspaceError` unless ``force``,
    and then the old file is first renamed ``NAME.py.bak`` (an older ``.bak`` is kept
    as ``NAME.py.bak.1``, ``.bak.2``, ...).
    """
    path = path_of(ex, directory)
    if path.exists() and not force:
        raise WorkspaceError(f"{path} exists: not overwritten (your work is in it). Use --force "
                             f"to start over; the old file is then kept as {path.name}.bak")
    path.parent.mkdir(parents=True, exist_ok=True)
    note = ""
    if path.exists():
        backup = path.with_name(path.name + ".bak")
        k = 0
        while backup.exists():
            k += 1
            backup = path.with_name(f"{path.name}.bak.{k}")
        path.rename(backup)
        note = f" (the old one is kept as {backup})"
    path.write_text(skeleton(ex))
    return f"wrote {path}{note}"


# --------------------------------------------------------------------------- loading
def learner_frame(tb, path: Path):
    """The innermost traceback entry in the learner's workspace (``path`` or a file beside it), or None."""
    folder = Path(path).resolve().parent
    found = None
    for frame in traceback.extract_tb(tb):
        try:
            if Path(frame.filename).resolve().parent == folder and frame.filename.endswith(".py"):
                found = frame
        except OSError:
            continue
    return found


def describe_exception(e: BaseException, path: Path) -> str:
    """``ZeroDivisionError: ... (at exercises/softmax.py, line 12: `s = e / 0`)``."""
    frame = learner_frame(e.__traceback__, path)
    what = f"{type(e).__name__}: {e}"
    if frame is None:
        return what
    where = Path(path) if Path(frame.filename).resolve() == Path(path).resolve() \
        else Path(path).parent / Path(frame.filename).name
    return f"{what} (at {where}, line {frame.lineno}: `{(frame.line or '').strip()}`)"


# --------------------------------------------------------------------------- importing
class _WorkspaceFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds ``NAME`` as ``DIR/NAME.py``: the learner's files import each other by name.

    Only top-level names that are files of the workspace, and never one that is a
    standard-library module or importable from elsewhere (numpy, scratchnet, ...): a
    learner's ``random.py`` must not replace Python's ``random`` for the grader too, so
    ``import random`` keeps meaning Python's (:func:`shadowed` lists such files). The
    source is compiled afresh on every import (no ``__pycache__``): an edit made a
    second ago is what the next check runs.
    """

    def __init__(self, directory: Path):
        self.directory = directory
        self.modules = []  # the names this finder created, removed on exit

    def find_spec(self, name, path=None, target=None):
        if path is not None or "." in name:
            return None
        file = self.directory / f"{name}.py"
        if not file.is_file() or _taken(name, file):
            return None
        return importlib.util.spec_from_file_location(name, file, loader=self)

    def create_module(self, spec):
        return None  # the default module object

    def exec_module(self, module):
        self.modules.append(module.__name__)
        path = Path(module.__file__)
        exec(compile(path.read_text(), str(path), "exec"), module.__dict__)


def _taken(name: str, file: Path) -> bool:
    """Whether ``name`` means something else than the learner's ``file`` on this Python."""
    stdlib = getattr(sys, "stdlib_module_names", ())  # Python 3.10+; on 3.9 PathFinder finds them
    if name in stdlib or name in sys.builtin_module_names:
        return True
    loaded = sys.modules.get(name)
    if loaded is not None:
        return getattr(loaded, "__file__", None) != str(file)
    try:
        other = importlib.machinery.PathFinder.find_spec(name)
    except (ImportError, ValueError):
        return False
    return other is not None and other.origin is not None and Path(other.origin).resolve() != file


def shadowed(directory) -> list:
    """The workspace's ``.py`` files whose name is taken (``random.py``): they cannot be imported by name."""
    d = Path(directory).resolve()
    if not d.is_dir():
        return []
    return sorted(p.stem for p in d.glob("*.py") if p.stem.isidentifier() and _taken(p.stem, p))


_active: dict = {}  # resolved directory -> [finder, depth]


@contextlib.contextmanager
def importable(directory):
    """Inside the block, ``import NAME`` finds ``DIR/NAME.py`` (a sibling exercise, a helper).

    Re-entrant: the outermost block installs the finder and, on exit, forgets every
    module it imported, so the next block imports the files as they are then.
    """
    d = Path(directory).resolve()
    entry = _active.get(d)
    if entry is not None:
        entry[1] += 1
        try:
            yield
        finally:
            entry[1] -= 1
        return
    finder = _WorkspaceFinder(d)
    _active[d] = [finder, 1]
    sys.meta_path.insert(0, finder)
    importlib.invalidate_caches()
    try:
        yield
    finally:
        sys.meta_path.remove(finder)
        del _active[d]
        for name in finder.modules:
            module = sys.modules.get(name)
            if module is not None and getattr(module, "__loader__", None) is finder:
                del sys.modules[name]


_loaded = 0


def load(ex: Exercise, directory=DEFAULT_DIR) -> dict:
    """Import the learner's ``NAME.py``; returns ``{function name: function}``.

    The file runs inside :func:`importable` (its ``import log_softmax`` finds the
    workspace's ``log_softmax.py``), as a new module each time: an edited file, or an
    edited helper it imports, is what the next load sees. Raises :class:`WorkspaceError`
    if there is no file and :class:`LearnerError` for a syntax error, an exception while
    importing, or a missing function.
    """
    global _loaded
    path = path_of(ex, directory)
    if not path.is_file():
        raise WorkspaceError(f"{path} does not exist: run `scratchnet exercise start {ex.name}"
                             + ("" if str(directory) == DEFAULT_DIR else f" --dir {directory}") + "` first")
    source = path.read_text()
    try:
        code = compile(source, str(path), "exec")
    except SyntaxError as e:
        line = (e.text or "").rstrip("\n")
        raise LearnerError(f"{path}, line {e.lineno}: SyntaxError: {e.msg}\n    {line}") from None
    _loaded += 1
    module_name = f"scratchnet_exercise_{ex.name}_{_loaded}"
    spec = importlib.util.spec_from_loader(module_name, loader=None, origin=str(path))
    module = importlib.util.module_from_spec(spec)
    module.__file__ = str(path)
    sys.modules[module_name] = module  # dataclasses and pickling look modules up by name
    try:
        with importable(directory):
            exec(code, module.__dict__)
    except Exception as e:
        raise LearnerError(f"importing {path} failed: {describe_exception(e, path)}") from None
    functions = {}
    for name in ex.functions:
        fn = getattr(module, name, None)
        if not callable(fn):
            raise LearnerError(f"{path} defines no function {name}(...)")
        functions[name] = fn
    return functions


def file_hash(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# --------------------------------------------------------------------------- verdicts
SCOPES = ("core", "full")


def _read_status(directory) -> dict:
    """The status file, every entry in today's form ``{name: {scope: {sha256, passed}}}``.

    An older file kept one verdict per exercise (``{sha256, passed, scope}``): it is read
    as the verdict of that scope alone, so a ``--full`` pass recorded then is not taken
    for a core one.
    """
    p = Path(directory) / STATUS_FILE
    try:
        status = json.loads(p.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(status, dict):
        return {}
    for name, entry in list(status.items()):
        if name.startswith("_"):
            continue
        if not isinstance(entry, dict):
            del status[name]
        elif "passed" in entry:  # the one-verdict form
            scope = entry.get("scope") if entry.get("scope") in SCOPES else "core"
            status[name] = {scope: {"sha256": entry.get("sha256"), "passed": bool(entry["passed"])}}
    return status


def _write_status(directory, status: dict) -> None:
    (Path(directory) / STATUS_FILE).write_text(json.dumps(status, indent=2) + "\n")


def record(ex: Exercise, directory, passed: bool, scope: str) -> None:
    """Keep the verdict of a ``scope`` check of ``ex`` with the hash of the file it graded.

    Each scope has its own verdict: a ``--full`` check never replaces the core one.
    """
    if scope not in SCOPES:
        raise ValueError(f"record: scope must be one of {SCOPES}, got {scope!r}")
    status = _read_status(directory)
    status.setdefault(ex.name, {})[scope] = {"sha256": file_hash(path_of(ex, directory)),
                                             "passed": bool(passed)}
    _write_status(directory, status)


def scope_status(ex: Exercise, directory=DEFAULT_DIR, scope: str = "core") -> str:
    """``'not started'``, ``'not run'``, ``'failing'``, ``'changed since passing'`` or ``'passed'``."""
    path = path_of(ex, directory)
    if not path.is_file():
        return "not started"
    entry = _read_status(directory).get(ex.name, {}).get(scope)
    if entry is None:
        return "not run"
    if not entry.get("passed"):
        return "failing"
    if entry.get("sha256") != file_hash(path):
        return "changed since passing"
    return "passed"


def status(ex: Exercise, directory=DEFAULT_DIR) -> str:
    """The core scope's status (what the capstone needs); ``'not checked'`` before any core check."""
    s = scope_status(ex, directory, "core")
    if s == "not run":
        s = "not checked"
        if scope_status(ex, directory, "full") == "passed":
            s += " (only --full passed; the capstone needs the core check)"
    return s


def status_line(ex: Exercise, directory=DEFAULT_DIR) -> str:
    """``'core: passed  full: not run'`` (or ``'not started'``), as ``exercise list`` shows it."""
    core = scope_status(ex, directory, "core")
    if core == "not started":
        return core
    return f"core: {core}  full: {scope_status(ex, directory, 'full')}"


def passed(ex: Exercise, directory=DEFAULT_DIR) -> bool:
    """Whether the core check passed on the file as it is now (the capstone's condition)."""
    return scope_status(ex, directory, "core") == "passed"


def next_hint(ex: Exercise, directory=DEFAULT_DIR) -> tuple:
    """``(index, hint)`` of the next hint (they cycle), remembering it in the status file."""
    st = _read_status(directory)
    hints = st.setdefault("_hints", {})
    i = hints.get(ex.name, 0)
    hints[ex.name] = i + 1
    if Path(directory).is_dir():
        _write_status(directory, st)
    return i % len(ex.hints), ex.hints[i % len(ex.hints)]
