"""The learner's workspace: one ``NAME.py`` per exercise, and the verdicts of their checks.

``start`` writes the skeleton and never overwrites a file (``--force`` first keeps the
old one as ``NAME.py.bak``). ``load`` imports a learner's file; a syntax error or an
exception while importing it is reported as a :class:`LearnerError` naming *their*
file and line. The verdict of every check is kept in ``DIR/.scratchnet-checks.json``
with the hash of the file it graded: an exercise counts as passed only while its file
is unchanged since it passed.
"""
from __future__ import annotations

import hashlib
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
    """The text of ``NAME.py``: contract, scope, and per function its signature and derivation."""
    head = f'''"""Exercise {ex.number}: {ex.title}.

Write each function below in the form of scratchnet's own ops (before @differentiable):

    def op(input, ...):
        out = ...                      # the forward
        def backward(grad_out):        # grad_out: dL/d out, shaped like out
            return {{"input": ...}}      # dL/d argument, for every float array argument
        return out, backward

Keep the input's dtype (float32 in, float32 out) and never modify an argument.

Core scope (graded by `scratchnet exercise check {ex.name}`):
{textwrap.fill(ex.core, 88, initial_indent="    ", subsequent_indent="    ")}
Full scope (`check {ex.name} --full`, optional):
{textwrap.fill(ex.full, 88, initial_indent="    ", subsequent_indent="    ")}
Outside your scope you may raise NotImplementedError.

The math: {DOCS_ROOT}{ex.docs}; this exercise: {DOCS_ROOT}{ex.practice_page}
Hints: `scratchnet exercise hint {ex.name}`.
"""
import numpy as np
'''
    parts = [head]
    for name, path in ex.functions.items():
        ref = resolve(path, forward=True)
        sig = inspect.signature(ref)
        doc = inspect.getdoc(ref) or ""
        doc = doc.split("\nExamples\n")[0].rstrip()  # the derivation, not the doctests
        doc = textwrap.indent(doc.replace('"""', "'''"), "    ")
        parts.append(f'\n\ndef {name}{sig}:\n    r"""{doc.lstrip()}\n    """\n'
                     f'    raise NotImplementedError("{name}: write the forward and its backward")\n')
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
    """The innermost traceback entry inside the learner's file, or None."""
    target = str(path.resolve())
    found = None
    for frame in traceback.extract_tb(tb):
        try:
            if str(Path(frame.filename).resolve()) == target:
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
    return f"{what} (at {path}, line {frame.lineno}: `{(frame.line or '').strip()}`)"


_loaded = 0


def load(ex: Exercise, directory=DEFAULT_DIR) -> dict:
    """Import the learner's ``NAME.py``; returns ``{function name: function}``.

    Raises :class:`WorkspaceError` if there is no file and :class:`LearnerError` for a
    syntax error, an exception while importing, or a missing function.
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
def _read_status(directory) -> dict:
    p = Path(directory) / STATUS_FILE
    try:
        return json.loads(p.read_text())
    except (OSError, ValueError):
        return {}


def record(ex: Exercise, directory, passed: bool, scope: str) -> None:
    """Keep the verdict of a check of ``ex`` with the hash of the file it graded."""
    status = _read_status(directory)
    status[ex.name] = {"sha256": file_hash(path_of(ex, directory)),
                       "passed": bool(passed), "scope": scope}
    (Path(directory) / STATUS_FILE).write_text(json.dumps(status, indent=2) + "\n")


def status(ex: Exercise, directory=DEFAULT_DIR) -> str:
    """``'not started'``, ``'not checked'``, ``'failing'``, ``'changed since passing'`` or ``'passed'``."""
    path = path_of(ex, directory)
    if not path.is_file():
        return "not started"
    entry = _read_status(directory).get(ex.name)
    if entry is None:
        return "not checked"
    if not entry.get("passed"):
        return "failing"
    if entry.get("sha256") != file_hash(path):
        return "changed since passing"
    return "passed" + (" (full scope)" if entry.get("scope") == "full" else "")


def passed(ex: Exercise, directory=DEFAULT_DIR) -> bool:
    return status(ex, directory).startswith("passed")


def next_hint(ex: Exercise, directory=DEFAULT_DIR) -> tuple:
    """``(index, hint)`` of the next hint (they cycle), remembering it in the status file."""
    st = _read_status(directory)
    hints = st.setdefault("_hints", {})
    i = hints.get(ex.name, 0)
    hints[ex.name] = i + 1
    if Path(directory).is_dir():
        (Path(directory) / STATUS_FILE).write_text(json.dumps(st, indent=2) + "\n")
    return i % len(ex.hints), ex.hints[i % len(ex.hints)]
