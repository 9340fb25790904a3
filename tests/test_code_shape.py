"""The package stays readable: short functions (ruff's C901 checks their complexity)."""

from __future__ import annotations

import ast
from pathlib import Path

import wrenn_webhooks

PACKAGE = Path(wrenn_webhooks.__file__).parent
MAX_LINES = 60
"""Lines of a function from its ``def``, not counting its decorators and docstring."""


def test_every_function_is_short() -> None:
    long = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                docstring = node.body[0]
                if isinstance(docstring, ast.Expr) and isinstance(docstring.value, ast.Constant):
                    length -= (docstring.end_lineno or docstring.lineno) - docstring.lineno + 1
                if length > MAX_LINES:
                    long.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {node.name}: {length}")
    assert not long, "functions longer than 60 lines:\n" + "\n".join(long)
