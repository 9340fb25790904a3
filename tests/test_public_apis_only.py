"""The package uses other libraries and CPython through their public APIs only.

ruff's SLF001 (``make lint``) flags ``obj._name``. It does not see a private
member named in a string, a dunder reach into an object's storage, or a
private module imported by name; this test does, on every module of the
package, and on the tricks the hot path once used.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import wrenn_webhooks

PACKAGE = Path(wrenn_webhooks.__file__).parent
MODULES = sorted(PACKAGE.rglob("*.py"))

# Named anywhere (attribute, name, import or string), each is a reach into
# someone else's internals: werkzeug's proxy, an object's storage, CPython's
# HMAC and JSON internals.
FORBIDDEN = {"_get_current_object", "__dict__", "_hmac", "c_make_encoder"}
DYNAMIC_ACCESS = {"getattr", "hasattr", "setattr", "delattr"}


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _docstrings(tree: ast.AST) -> set[int]:
    kinds = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
    return {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, kinds)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }


def _foreign(module: str | None, level: int) -> bool:
    return level == 0 and (module or "").split(".")[0] != "wrenn_webhooks"


def reaches(source: str) -> list[str]:
    """Each private reach in ``source``, as ``"line: what"``."""
    tree = ast.parse(source)
    docstrings = _docstrings(tree)
    found: set[tuple[int, str]] = set()
    for node in ast.walk(tree):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Attribute):
            if node.attr in FORBIDDEN:
                found.add((line, f".{node.attr}"))
            elif (
                node.attr == "__new__"
                and isinstance(node.value, ast.Name)
                and node.value.id == "tuple"
            ):
                found.add((line, "tuple.__new__"))
        elif isinstance(node, ast.Name) and node.id in FORBIDDEN:
            found.add((line, node.id))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if id(node) not in docstrings and (
                "wsgi.input" in node.value or node.value in FORBIDDEN
            ):
                found.add((line, repr(node.value)))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in DYNAMIC_ACCESS
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
            and (_private(node.args[1].value) or node.args[1].value in FORBIDDEN)
        ):
            found.add((line, f"{node.func.id}(..., {node.args[1].value!r})"))
        elif isinstance(node, ast.ImportFrom) and _foreign(node.module, node.level):
            module = node.module or ""
            if any(_private(part) for part in module.split(".")):
                found.add((line, f"from {module} import"))
            for alias in node.names:
                if _private(alias.name) or alias.name in FORBIDDEN:
                    found.add((line, f"from {module} import {alias.name}"))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if _foreign(alias.name, 0) and any(_private(p) for p in alias.name.split(".")):
                    found.add((line, f"import {alias.name}"))
    return [f"{line}: {what}" for line, what in sorted(found)]


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_module_reaches_no_private_internals(path: Path) -> None:
    assert reaches(path.read_text(encoding="utf-8")) == []


def test_every_module_is_scanned() -> None:
    names = {str(p.relative_to(PACKAGE)) for p in MODULES}
    assert {"flask.py", "signature.py", "_headers.py", "receiver.py"} <= names


@pytest.mark.parametrize(
    "source",
    [
        "req = request._get_current_object()",
        "fresh = 'stream' not in req.__dict__",
        "state = vars_of(x).__dict__['a']",
        "body = environ['wsgi.input'].read(size)",
        "done = environ.get('wsgi.input_terminated')",
        "encode = json.encoder.c_make_encoder(None, None, e, None, ':', ',', 0, 0, 1)",
        "make = getattr(json.encoder, 'c_make_encoder', None)",
        "from json.encoder import c_make_encoder",
        "inner = getattr(mac, '_hmac', None)",
        "inner = mac._hmac",
        "ok = hasattr(mac, '_hmac')",
        "d = tuple.__new__(Delivery, (a, b, 0, False))",
        "_tuple_new = tuple.__new__",
        "x = getattr(obj, '_private', None)",
        "setattr(request, '_max_content_length', 10)",
        "from flask.globals import _cv_request",
        "from werkzeug._internal import _plain_int",
        "import _hashlib",
    ],
)
def test_each_reach_is_caught(source: str) -> None:
    assert reaches(source)


@pytest.mark.parametrize(
    "source",
    [
        '"""Mentions wsgi.input and __dict__ in prose."""',
        "get = getattr(headers, 'get', None)",
        "name = getattr(handler, '__qualname__', None)",
        "member = str.__new__(cls, value)",
        "self._sealed = True",
        "from ._headers import read",
        "from wrenn_webhooks._headers import read",
        "from __future__ import annotations",
        "from pydantic import ValidationError as _ValidationError",
        "body = request.get_data(cache=False)",
    ],
)
def test_public_use_is_not_flagged(source: str) -> None:
    assert reaches(source) == []
