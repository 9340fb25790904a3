"""mypy checks class keys against their class; string keys give ``Event``.

Covers ``on()``, ``make_event`` and the ``wrenn_event`` fixture's type, ``EventFactory``.
"""

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


def test_well_typed_handlers_and_factories_pass() -> None:
    result = mypy(HERE / "handlers_ok.py")
    assert result.returncode == 0, result.stdout


def test_what_does_not_fit_a_class_key_is_an_error() -> None:
    result = mypy(HERE / "handlers_bad.py")
    assert result.returncode == 1
    errors = [line for line in result.stdout.splitlines() if ": error:" in line]
    assert len(errors) == 5, result.stdout
    assert 'expected "Callable[[HostUp], None]"' in errors[0]
    assert 'expected "Callable[[CapsulePause], None]"' in errors[1]
    assert 'expression has type "CapsulePause", variable has type "HostUp"' in errors[2]
    assert '"Event" has no attribute "reason"' in errors[3]
    assert '"HostUp" has no attribute "capsule_id"' in errors[4]
