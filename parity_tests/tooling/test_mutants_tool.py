"""``tools/mutants.py``: it finds the sites it should, plants one token, and a planted bug fails a test."""
import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # ``tools`` is a top-level package beside ``scratchnet``
    sys.path.insert(0, str(ROOT))

from tools import mutants  # noqa: E402

SAMPLE = b'''"""A module docstring with 1 + 2 in it."""


def step(x, lr: float = 0.5, eps=1e-8):
    """Docstring: x < 0 and 3 * 4."""
    if lr < 0.0:
        raise ValueError(f"lr must be >= 0, got {lr + 1}")
    x += lr * x[-1]  # a comment: a - b
    assert x.ndim == 1, f"expected {x.ndim - 1}"
    label = "a" + "b"
    return x if True and eps else -x  # pragma: no mutate (the sample's skipped line)
'''


def sites_by(line, kind=None):
    return [(s.old, s.new) for s in mutants.find_sites("m.py", SAMPLE) if s.line == line and kind in (None, s.kind)]


def test_sites_include_validation_bounds_augmented_assignments_and_constants():
    assert sites_by(4) == [("0.5", "1.5"), ("1e-8", "1.00000001")]  # defaults; not the annotation
    assert sites_by(6) == [("<", "<="), ("0.0", "1.0")]  # the condition that leads to the raise
    bound = mutants.find_sites("m.py", SAMPLE)[2]
    assert (bound.line, bound.before, bound.after) == (6, "if lr < 0.0:", "if lr <= 0.0:")
    assert sites_by(8, "augmented") == [("+=", "-="), ("+=", "=")]
    assert sites_by(8, "binary") == [("*", "/")]
    assert ("-", "") in sites_by(8, "unary") and ("1", "2") in sites_by(8, "constant")
    assert sites_by(9) == [("==", "!="), ("1", "0"), ("1", "2")]  # the assert's test, not its message


def test_sites_skip_docstrings_strings_raise_messages_annotations_and_pragma_lines():
    found = {s.line for s in mutants.find_sites("m.py", SAMPLE)}
    assert found == {4, 6, 8, 9}  # 1: docstring, 5: docstring, 7: raise, 10: strings, 11: pragma


def test_a_mutant_differs_from_the_original_by_its_one_token_only():
    for site in mutants.find_sites("m.py", SAMPLE):
        mutant = mutants.patch(SAMPLE, site)
        assert mutant[:site.start] == SAMPLE[:site.start]
        assert mutant[site.start + len(site.new):] == SAMPLE[site.end:]
        assert mutant[site.start:site.start + len(site.new)] == site.new.encode()


def test_a_planted_bug_is_killed_and_an_unread_constant_survives(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "mod.py").write_text("LIMIT = 10\n\n\ndef add(a, b):\n    return a + b\n")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_mod.py").write_text(
        "from pkg.mod import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n")
    targets, tests = ["pkg/mod.py"], ["tests/test_mod.py"]
    tests_for = mutants.covering_tests(tmp_path, targets, tests)
    assert tests_for == {"pkg/mod.py": ["tests/test_mod.py"]}
    sites = mutants.find_sites("pkg/mod.py", (tmp_path / "pkg/mod.py").read_bytes())
    assert [s.mutation for s in sites] == ["10 -> 11", "+ -> -"]
    results = mutants.run_mutants(tmp_path, sites, tests_for, jobs=2, timeout=60,
                                  copy_paths=("pkg", "tests"), log=lambda *a: None)
    assert [r.status for r in results] == ["survived", "killed"]
    assert (tmp_path / "pkg/mod.py").read_text().count("a + b") == 1  # the original is never touched
    assert not mutants.passed(results)  # the survivor is not argued equivalent
    results[0].equivalent = "LIMIT is read nowhere"
    assert mutants.passed(results)
    assert "pkg/mod.py:1 `10 -> 11`" in mutants.markdown(results, tests_for, "")


def test_a_kernel_module_is_covered_through_the_op_it_attaches_to():
    kernel = b"from .._vjp import register_kernel\nfrom ..conv import conv2d\n\nregister_kernel(conv2d, lambda x: x)\n"
    tree = ast.parse(kernel)
    assert mutants.kernel_hosts(tree, "scratchnet/functional/fast/conv.py") == {"scratchnet.functional.conv"}
