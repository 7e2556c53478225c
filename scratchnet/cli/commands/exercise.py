"""``scratchnet exercise list|start|check|hint|solution``: the Practice track's commands."""
from __future__ import annotations

import inspect
import sys
from pathlib import Path

from ...exercise import catalogue, workspace
from ...exercise.workspace import DEFAULT_DIR, LearnerError, WorkspaceError


def add_parser(subparsers) -> None:
    """Register ``exercise`` and its five subcommands on the CLI's subparsers."""
    p = subparsers.add_parser(
        "exercise", help="the Practice track: write each backward, get it graded",
        description="Write the lectures' ops yourself (forward and backward); the parity "
                    "suite's properties grade them against torch.")
    sub = p.add_subparsers(dest="exercise_command", metavar="ACTION")
    names = list(catalogue.BY_NAME)

    def with_dir(q):
        q.add_argument("--dir", default=DEFAULT_DIR,
                       help=f"the workspace directory (default: ./{DEFAULT_DIR})")
        return q

    with_dir(sub.add_parser("list", help="the exercises in the lectures' order, with their status"))
    s = with_dir(sub.add_parser("start", help="write NAME.py: signature, scope, derivation"))
    s.add_argument("name", choices=names, metavar="NAME", help="one of: " + ", ".join(names))
    s.add_argument("--force", action="store_true",
                   help="start over: the existing file is kept as NAME.py.bak first")
    c = with_dir(sub.add_parser("check", help="grade NAME.py against torch"))
    c.add_argument("name", choices=names, metavar="NAME")
    c.add_argument("--full", action="store_true", help="grade torch's whole option set too")
    c.add_argument("--thorough", action="store_true",
                   help="the deep profile's example count (slower) instead of dev's")
    c.add_argument("--oracle", choices=["auto", "torch", "fd"], default="auto",
                   help="torch (default when installed) or central finite differences in float64")
    c.add_argument("--repro", metavar="FILE",
                   help="write the first shrunk failing case to FILE as a Python script that "
                        "reproduces it")
    h = with_dir(sub.add_parser("hint", help="the next hint for NAME"))
    h.add_argument("name", choices=names, metavar="NAME")
    so = sub.add_parser("solution", help="scratchnet's own readable version of NAME")
    so.add_argument("name", choices=names, metavar="NAME")


def command(args, out=print) -> int:
    """Run one ``exercise`` action; exit status 0 on success, 1 on a failed check, 2 on misuse."""
    action = getattr(args, "exercise_command", None)
    if action is None:
        out("usage: scratchnet exercise {list,start,check,hint,solution} ...")
        return 2
    try:
        return {"list": _list, "start": _start, "check": _check, "hint": _hint,
                "solution": _solution}[action](args, out)
    except WorkspaceError as e:
        print(f"scratchnet: error: {e}", file=sys.stderr)
        return 2
    except LearnerError as e:
        print(f"error in your file: {e}", file=sys.stderr)
        return 1


def _list(args, out) -> int:
    lines = [(ex, workspace.status_line(ex, args.dir)) for ex in catalogue.EXERCISES]
    width = max(len(s) for _, s in lines)
    out(f"{'#':>2}  {'exercise':<20} {'status':<{width}}  task")
    for ex, line in lines:
        out(f"{ex.number:>2}  {ex.name:<20} {line:<{width}}  {ex.title}")
    out(f"13  {'capstone':<20} {'(needs core: passed)':<{width}}  {catalogue.CAPSTONE}")
    return 0


def _start(args, out) -> int:
    ex = catalogue.get(args.name)
    out(workspace.start(ex, args.dir, force=args.force))
    out(f"next: write it, then `scratchnet exercise check {ex.name}"
        + ("" if args.dir == DEFAULT_DIR else f" --dir {args.dir}") + "`")
    return 0


def _check(args, out) -> int:
    try:
        import hypothesis  # noqa: F401
    except ImportError:
        raise WorkspaceError("exercise check needs hypothesis (pip install 'scratchnet[practice]')") from None
    from ...exercise.grader import check

    ex = catalogue.get(args.name)
    for name in workspace.shadowed(args.dir):
        out(f"note: {name}.py in {args.dir} has the name of an installed or standard module: "
            f"`import {name}` imports that one, not yours (rename the file to import it)")
    with workspace.importable(args.dir):  # the learner's imports inside their functions too
        functions = workspace.load(ex, args.dir)
        ok = check(ex, functions, workspace.path_of(ex, args.dir), full=args.full,
                   thorough=args.thorough, oracle=args.oracle, out=out, repro=args.repro)
    workspace.record(ex, args.dir, ok, "full" if args.full else "core")
    return 0 if ok else 1


def _hint(args, out) -> int:
    ex = catalogue.get(args.name)
    i, text = workspace.next_hint(ex, args.dir)
    out(f"hint {i + 1}/{len(ex.hints)} for {ex.name}: {text}")
    return 0


def _solution(args, out) -> int:
    ex = catalogue.get(args.name)
    for path in ex.solution:
        obj = catalogue.resolve(path)
        module = inspect.getmodule(obj)
        where = Path(inspect.getsourcefile(obj)).name
        out(f"# {module.__name__}.{path.split(':')[1]} ({where})")
        out(inspect.getsource(obj))
    out(f"The math: {catalogue.DOCS_ROOT}{ex.docs}")
    return 0
