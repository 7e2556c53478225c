"""The architecture, as a rule the suite checks: layers, and imports only point down.

scratchnet is a textbook with machinery around it. Reading from the bottom:

====  ==============================================================  ======================
layer  packages                                                        what they are
====  ==============================================================  ======================
0     ``checks``                                                      argument checks every op shares
1     ``functional``                                                  the ops, forward and backward
2     ``nn``                                                          modules over the ops
3     ``optim``, ``data``, ``summary``                                optimizers, datasets, summaries
4     ``models``, ``checkpoint``, the package root                    the lecture models, saving them
5     ``torch_models``                                                their torch twins
6     ``training``, ``testing``, ``figures``                          the machinery: loop, engines;
                                                                      oracles; pictures of the ops
7     ``explain``, ``exercise``                                       one op step by step; practice
8     ``cli``, ``__main__`` and every sub-command module              the command line
====  ==============================================================  ======================

A module may import from its own package and from any lower layer, never from a higher
one, and never from another package of its own layer: so the textbook (layers 0-4)
reads without the machinery, and nothing a command needs is hidden below it.
"""
from __future__ import annotations

import pytest

from test_run_setup import _imports, _is_command

LAYERS = (
    ("scratchnet.checks",),
    ("scratchnet.functional",),
    ("scratchnet.nn",),
    ("scratchnet.optim", "scratchnet.data", "scratchnet.summary"),
    ("scratchnet.models", "scratchnet.checkpoint", "scratchnet"),
    ("scratchnet.torch_models",),
    ("scratchnet.training", "scratchnet.testing", "scratchnet.figures"),
    ("scratchnet.explain", "scratchnet.exercise"),
    ("scratchnet.cli", "scratchnet.__main__"),
)
COMMANDS = len(LAYERS) - 1


def place(module: str) -> tuple:
    """``(layer, package)`` of a module: the longest package prefix in :data:`LAYERS`."""
    if _is_command(module):
        return COMMANDS, "scratchnet.cli"
    best = None
    for layer, packages in enumerate(LAYERS):
        for package in packages:
            if module == package or module.startswith(package + "."):
                if best is None or len(package) > len(best[1]):
                    best = (layer, package)
    assert best is not None, f"{module} is in no layer of LAYERS: place it"
    return best


def arrows_up(graph: dict) -> list:
    """Every import that points to a higher layer or sideways to another package of its layer."""
    bad = []
    for module, targets in graph.items():
        layer, package = place(module)
        for target in targets:
            t_layer, t_package = place(target)
            if t_layer > layer or (t_layer == layer and t_package != package and layer != COMMANDS):
                bad.append(f"{module} (layer {layer}) imports {target} (layer {t_layer})")
    return sorted(bad)


def test_every_module_has_a_layer():
    for module in _imports():
        place(module)


def test_imports_only_point_down():
    assert arrows_up(_imports()) == []


@pytest.mark.parametrize("module,target", [
    ("scratchnet.nn.module", "scratchnet.training.loop"),         # the textbook reaching for the machinery
    ("scratchnet.functional.conv", "scratchnet.nn.conv"),         # an op reaching for a module
    ("scratchnet.training.loop", "scratchnet.figures.conv"),      # sideways in one layer
    ("scratchnet.exercise.grader", "scratchnet.cli.run_setup"),   # practice reaching for a command
    ("scratchnet.explain.api", "scratchnet.cli.arguments"),       # an op's walk-through reaching up
])
def test_the_rule_catches_an_arrow_up(module, target):
    assert arrows_up({module: {target}}) != []


def test_the_rule_allows_arrows_down_and_within_a_package():
    assert arrows_up({"scratchnet.training.loop": {"scratchnet.nn.module", "scratchnet.training.config"},
                      "scratchnet.cli.commands.explain": {"scratchnet.cli.run_setup",
                                                          "scratchnet.explain.api"}}) == []
