"""``literalinclude`` with a ``:no-docstring:`` flag.

The op pages include each function by name (``:pyobject:``, so the code cannot
drift) and render its docstring separately in their Reference section; with
``:no-docstring:`` the code block shows the code without repeating that docstring.
"""
from __future__ import annotations

import ast
import textwrap

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.directives.code import LiteralInclude


def strip_docstring(source: str) -> str:
    """``source`` (one function or class, possibly indented) without its docstring."""
    lines = source.splitlines(keepends=True)
    tree = ast.parse(textwrap.dedent(source))
    node = tree.body[0] if tree.body else None
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) or not node.body:
        return source
    first = node.body[0]
    if not (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
            and isinstance(first.value.value, str)):
        return source
    start, end = first.lineno - 1, first.end_lineno  # 0-based slice of the docstring
    # A blank line right after the docstring goes with it.
    if end < len(lines) and not lines[end].strip():
        end += 1
    return "".join(lines[:start] + lines[end:])


class LiteralIncludeCode(LiteralInclude):
    option_spec = dict(LiteralInclude.option_spec, **{"no-docstring": directives.flag})

    def run(self):
        result = super().run()
        if "no-docstring" not in self.options:
            return result
        for node in result:
            for block in node.findall(nodes.literal_block):
                text = strip_docstring(block.astext())
                block.children = [nodes.Text(text)]
                block.rawsource = text
        return result


def setup(app):
    app.add_directive("literalinclude", LiteralIncludeCode, override=True)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
