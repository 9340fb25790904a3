"""mypy checks a handler for an exact event type against that type's class."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent / "typing_cases"


def mypy(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_well_typed_handlers_pass() -> None:
    result = mypy(HERE / "handlers_ok.py")
    assert result.returncode == 0, result.stdout


def test_a_handler_for_the_wrong_class_is_an_error() -> None:
    result = mypy(HERE / "handlers_bad.py")
    assert result.returncode == 1
    errors = [line for line in result.stdout.splitlines() if ": error:" in line]
    assert len(errors) == 2, result.stdout
    assert 'expected "Callable[[HostUp], None]"' in errors[0]
    assert 'expected "Callable[[CapsulePause], None]"' in errors[1]
