"""The layer above the engine: one run setup below the commands, no import cycle, no arrow up.

The commands (``scratchnet/cli/commands/``, ``scratchnet/cli/__init__.py``)
sit on :mod:`scratchnet.cli.run_setup`; nothing below them imports a command, and no module
imports one that (through others) imports it back, not even inside a function.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from scratchnet import cli
from scratchnet.training import experiments
from scratchnet.cli import run_setup
from scratchnet.training.config import Recipe, TrainConfig, config_from

ROOT = Path(__file__).resolve().parents[2] / "scratchnet"
COMMAND_MODULES = ("scratchnet.__main__", "scratchnet.cli", "scratchnet.cli.commands")


def _is_command(module: str) -> bool:
    return any(module == c or module.startswith(c + ".") for c in COMMAND_MODULES)


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_module(name: str) -> bool:
    rel = Path(*name.split("."))
    return (ROOT.parent / rel).with_suffix(".py").is_file() or (ROOT.parent / rel / "__init__.py").is_file()


def _imports() -> dict:
    """``{module: {modules it imports, at any depth of the file}}`` within scratchnet."""
    graph = {}
    for path in ROOT.rglob("*.py"):
        name = _module_name(path)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets |= {a.name for a in node.names if a.name.startswith("scratchnet")}
            elif isinstance(node, ast.ImportFrom):
                base = package
                for _ in range(node.level - 1):
                    base = base.rpartition(".")[0]
                source = (f"{base}.{node.module}" if node.module else base) if node.level else node.module
                if not source or not source.startswith("scratchnet"):
                    continue
                for alias in node.names:  # a submodule imported by name is an arrow to it
                    sub = f"{source}.{alias.name}"
                    targets.add(sub if _is_module(sub) else source)
        graph[name] = {t for t in targets if t != name}
    return graph


def _cycle(graph: dict):
    """One import cycle among ``graph``'s modules, ignoring a package's own ``__init__``
    handing on its submodules' names; None if there is none."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in graph.get(node, ()):
            if nxt.startswith(node + "."):  # a package's face importing its own parts
                continue
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_no_import_cycle_in_scratchnet():
    assert _cycle(_imports()) is None


def test_nothing_below_the_commands_imports_a_command():
    graph = _imports()
    below = [m for m in graph if not _is_command(m)]
    up = {m: sorted(t for t in graph[m] if _is_command(t)) for m in below}
    assert {m: t for m, t in up.items() if t} == {}


def test_every_command_module_is_a_parser_and_a_command():
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert list(sub.choices) == list(cli.COMMANDS)
    for name, module in cli.COMMANDS.items():
        assert callable(module.add_parser) and callable(module.command), name


def test_experiment_and_train_config_share_one_set_of_fields():
    recipe = {f for f in Recipe.__dataclass_fields__}
    assert recipe <= set(TrainConfig.__dataclass_fields__)
    assert recipe <= set(experiments.Experiment.__dataclass_fields__)
    exp = experiments.get("softmax-regression")
    cfg = run_setup.experiment_config(exp, epochs=None, dtype="float64", init="kaiming_normal")
    assert (cfg.model, cfg.lr, cfg.batch_size, cfg.seed, cfg.drop_last, cfg.epochs) == \
        (exp.model, exp.lr, exp.batch_size, 777, True, exp.epochs)  # None keeps the lecture's
    assert (cfg.dtype, cfg.init) == ("float64", "kaiming_normal")
    with pytest.raises(TypeError, match="no such TrainConfig field: epoch"):
        config_from(exp, epoch=3)


def test_engines_are_built_from_explicit_arguments():
    cfg = TrainConfig(model="softmax-regression")
    numpy_only = run_setup.build_engines(cfg, "numpy")
    assert [e.name for e in numpy_only] == ["numpy"]
    with pytest.raises(run_setup.SetupError, match="unknown engine 'jax'"):
        run_setup.build_engines(cfg, "jax")


@pytest.mark.parametrize("kwargs, message", [
    (dict(json="/nonexistent-dir/r.json"), "--json /nonexistent-dir/r.json: its directory does not exist"),
    (dict(plot="."), "--plot .: is a directory; expected a file name"),
    (dict(engine="numpy", device="cuda"), "--device cuda applies to the torch engine"),
])
def test_check_outputs_names_the_option(kwargs, message):
    with pytest.raises(run_setup.SetupError, match=message):
        run_setup.check_outputs(**kwargs)
