"""A module's repr, formatted as torch's byte for byte (the parity tests compare them)."""
from __future__ import annotations


def module_repr(name: str, extra_repr: str, children) -> str:
    """``Name(extra)`` on one line, or the extra lines and each ``(key): child`` indented below."""
    extra_lines = extra_repr.split("\n") if extra_repr else []
    child_lines = ["(" + key + "): " + addindent(repr(module), 2) for key, module in children]
    lines = extra_lines + child_lines
    main_str = name + "("
    if lines:
        if len(extra_lines) == 1 and not child_lines:
            main_str += extra_lines[0]
        else:
            main_str += "\n  " + "\n  ".join(lines) + "\n"
    return main_str + ")"


def addindent(s_: str, num_spaces: int) -> str:
    """Indent every line but the first (torch's helper)."""
    s = s_.split("\n")
    if len(s) == 1:
        return s_
    first = s.pop(0)
    s = [(num_spaces * " ") + line if line.strip() else "" for line in s]
    return first + "\n" + "\n".join(s)
