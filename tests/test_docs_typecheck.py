"""Every Python snippet in the documentation passes ``mypy --strict``.

The snippets are the ``python`` fences of ``docs/*.md`` and ``README.md``:

- A fence made only of ``--8<--`` includes (``pymdownx.snippets``, either form) is
  checked as the files it includes, each one whole. An include of a section
  (``examples/handlers.py:patterns``) checks the file the section comes from, so the
  section is checked in its context.
- Any other fence is checked as a module of its own: it must carry its own imports, as
  a reader who copies it needs them.

Everything goes through one mypy run with the project's configuration (``[tool.mypy]``
in ``pyproject.toml``). A failure names the page and the line of the fence (and the
line of the error on the page), or the included file and the pages that include it.

Prefer a complete snippet. A fence that is deliberately a fragment (a line that only
shows the form of a call, say) is skipped when the line just above its opening fence is

    <!-- mypy: fragment, REASON -->

with the reason in words. The marker shows in the page's source, not on the site;
``test_fragment_markers_are_few_and_each_marks_a_python_fence`` keeps the markers
attached to a fence and few.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGES = (*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md")

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*\{?\.?(?P<lang>[\w+-]*)")
_PYTHON = {"python", "py", "python3"}
_INCLUDE = re.compile(r"""^--8<--(?:[ \t]+(?P<q>["'])(?P<name>[^"']+)(?P=q))?[ \t]*$""")
_MARKER = re.compile(r"<!--\s*mypy\s*:")
_FRAGMENT = re.compile(r"^<!-- mypy: fragment, (?P<reason>\S.*?) -->$")
MAX_FRAGMENTS = 3
"""Skipped fragments allowed across the site: a few calls shown in their form, no more."""
_ERROR = re.compile(r"^(?P<path>.+?\.py):(?P<line>\d+): (?P<kind>error|note): (?P<message>.*)$")


@dataclass(frozen=True)
class Block:
    """One ``python`` fence: where it is, what it holds, what it includes."""

    page: Path
    line: int
    """The line of the opening fence, counted from 1."""
    code: str
    includes: tuple[Path, ...]
    """The files a fence of ``--8<--`` lines includes; empty for inline code."""
    fragment: str | None
    """The reason given by a ``<!-- mypy: fragment, ... -->`` marker, if there is one."""

    @property
    def where(self) -> str:
        page = self.page.relative_to(ROOT) if self.page.is_relative_to(ROOT) else self.page
        return f"{page}:{self.line}"


def included_files(lines: list[str]) -> tuple[Path, ...]:
    """The files ``lines`` include when every line is part of an include, else ``()``.

    Both forms of ``pymdownx.snippets``: ``--8<-- "file"`` on one line, and a block of
    file names between two ``--8<--`` lines. A name may end in ``:section`` or
    ``:start:end`` (lines): the whole file is checked.
    """
    names: list[str] = []
    inside = False
    for line in (line.strip() for line in lines):
        match = _INCLUDE.match(line)
        if match and match.group("name"):
            names.append(match.group("name"))
        elif match:
            inside = not inside
        elif inside and line:
            names.append(line)
        elif line:
            return ()  # code of its own: an inline snippet
    if inside:
        return ()
    return tuple(ROOT / name.split(":", 1)[0] for name in names)


def _closes(line: str, indent: str, fence: str) -> bool:
    rest = line[len(indent) :] if line.startswith(indent) else None
    return rest is not None and rest.startswith(fence) and not rest.strip(fence[0]).strip()


def python_blocks(page: Path, text: str | None = None) -> list[Block]:
    """Every ``python`` fence of ``page`` (of ``text``, when given), in order."""
    lines = (page.read_text() if text is None else text).splitlines()
    blocks: list[Block] = []
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        indent, fence = opening.group("indent"), opening.group("fence")
        end = index + 1
        while end < len(lines) and not _closes(lines[end], indent, fence):
            end += 1
        if opening.group("lang").lower() in _PYTHON:
            body = [
                line[len(indent) :] if line.startswith(indent) else line.lstrip()
                for line in lines[index + 1 : end]
            ]
            marker = _FRAGMENT.match(lines[index - 1].strip()) if index else None
            blocks.append(
                Block(
                    page=page,
                    line=index + 1,
                    code="\n".join(body) + "\n",
                    includes=included_files(body),
                    fragment=marker.group("reason") if marker else None,
                )
            )
        index = end + 1
    return blocks


def run_mypy(blocks: list[Block], folder: Path) -> dict[str, list[str]]:
    """Type-check ``blocks`` (fragments left out) in one mypy run: the problems, by place."""
    inline: dict[str, Block] = {}  # by name: mypy may report a file by its cached path
    included: dict[Path, list[str]] = defaultdict(list)
    for number, block in enumerate(blocks):
        if block.fragment is not None:
            continue
        for path in block.includes:
            assert path.is_file(), f"{block.where}: includes {path}, which does not exist"
            included[path.resolve()].append(block.where)
        if not block.includes:
            name = re.sub(r"\W", "_", block.page.stem)
            path = folder / f"snippet_{number:03}_{name}_line_{block.line}.py"
            path.write_text(block.code)
            inline[path.name] = block
    # Package bases made explicit: the repository for ``examples.*``, the folder of the
    # inline snippets, and an included file's own folder when it is no package
    # (``examples/testing`` is a project of its own, whose modules import each other).
    bases = [
        folder,
        *sorted({p.parent for p in included if not (p.parent / "__init__.py").exists()}),
    ]
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--explicit-package-bases",
            f"--config-file={ROOT / 'pyproject.toml'}",
            f"--cache-dir={ROOT / '.mypy_cache' / 'docs-snippets'}",
            "--hide-error-context",
            "--no-pretty",
            "--no-error-summary",
            "--show-error-codes",
            *(str(folder / name) for name in inline),
            *map(str, included),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
        env={**os.environ, "MYPYPATH": os.pathsep.join(map(str, bases))},
    )
    problems: dict[str, list[str]] = defaultdict(list)
    for line in result.stdout.splitlines():
        match = _ERROR.match(line)
        if match is None:
            problems["mypy"].append(line)
            continue
        path = (ROOT / match.group("path")).resolve()
        line_number, where = int(match.group("line")), match.group("path")
        if path.name in inline:  # a line of the fence's file: count it from the page's top
            block = inline[path.name]
            line_number, where = block.line + line_number, f"{block.where} (the fence)"
        elif path in included:
            where = f"{path.relative_to(ROOT)} (included by {', '.join(included[path])})"
        problems[where].append(
            f"line {line_number}: {match.group('kind')}: {match.group('message')}"
        )
    if result.returncode not in (0, 1) or (result.returncode == 1 and not problems):
        problems["mypy"].append(f"exit status {result.returncode}: {result.stderr.strip()}")
    return problems


def report(problems: dict[str, list[str]]) -> str:
    return "\n".join(
        f"{where}\n" + "\n".join(f"    {message}" for message in messages)
        for where, messages in sorted(problems.items())
    )


# --- the check ------------------------------------------------------------------------


def test_every_documented_snippet_passes_mypy_strict(tmp_path: Path) -> None:
    blocks = [block for page in PAGES for block in python_blocks(page)]
    assert len(blocks) > 20, "the python fences of docs/ were not found"
    problems = run_mypy(blocks, tmp_path)
    assert not problems, f"documentation snippets fail mypy --strict:\n{report(problems)}"


def test_fragment_markers_are_few_and_each_marks_a_python_fence() -> None:
    fragments: list[str] = []
    for page in PAGES:
        lines = page.read_text().splitlines()
        marked = {block.line - 1 for block in python_blocks(page) if block.fragment}
        for number, line in enumerate(lines, start=1):
            if _MARKER.search(line):
                where = f"{page.relative_to(ROOT)}:{number}"
                assert _FRAGMENT.match(line.strip()), f"{where}: write {_FRAGMENT.pattern}"
                assert number in marked, f"{where}: the marker must sit just above ```python"
                fragments.append(where)
    assert len(fragments) <= MAX_FRAGMENTS, f"complete some of these snippets: {fragments}"


# --- the extraction, on a page made up here --------------------------------------------

PAGE = """\
# A page

```python
import os

print(os.sep)
```

```sh
echo not python
```

<!-- mypy: fragment, only the form of the call -->
```python
receiver.on("capsule.pause")
```

```python
--8<--
examples/quickstart.py
examples/handlers.py:router
--8<--
```

- In a list:

    ```python
    x: int = 1
    ```

```python
--8<-- "examples/rotation.py"
```

````python
print("```")
````
"""


def test_fences_includes_and_markers_are_read_as_the_page_means_them() -> None:
    blocks = python_blocks(ROOT / "docs" / "made_up.md", PAGE)
    assert [block.line for block in blocks] == [3, 14, 18, 27, 31, 35]
    assert blocks[0].code == "import os\n\nprint(os.sep)\n"
    assert blocks[0].includes == () and blocks[0].fragment is None
    assert blocks[1].fragment == "only the form of the call"
    assert blocks[2].includes == (ROOT / "examples/quickstart.py", ROOT / "examples/handlers.py")
    assert blocks[3].code == "x: int = 1\n"
    assert blocks[4].includes == (ROOT / "examples/rotation.py",)
    assert blocks[5].code == 'print("```")\n'


def test_a_failure_names_the_page_and_the_line(tmp_path: Path) -> None:
    page = ROOT / "docs" / "made_up.md"
    text = PAGE.replace("x: int = 1", 'x: int = "one"')
    problems = run_mypy(python_blocks(page, text), tmp_path)
    assert list(problems) == ["docs/made_up.md:27 (the fence)"]
    [message] = problems["docs/made_up.md:27 (the fence)"]
    assert message.startswith("line 28: error: Incompatible types in assignment")
