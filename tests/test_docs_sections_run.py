"""Self-contained snippets of the docs, run as written (they assert what they show)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

DOCS = Path(__file__).parent.parent / "docs"

SECTIONS = [
    ("events.md", "Upgrading Wrenn from 0.1.5"),
    ("testing.md", "Async tests"),
]


@pytest.mark.parametrize(("page", "heading"), SECTIONS)
def test_the_sections_snippets_run(page: str, heading: str) -> None:
    text = (DOCS / page).read_text(encoding="utf-8")
    section = text.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert blocks, f"no python block under '{heading}' in {page}"
    for code in blocks:
        namespace: dict[str, Any] = {"__name__": f"docs.{page}"}
        exec(compile(code, f"docs/{page}", "exec"), namespace)
