"""The release artefacts: what ``make dist`` builds installs and works on its own."""

from __future__ import annotations

import re
import subprocess
import sys
import tarfile
import venv
from pathlib import Path

import pytest
from click.testing import CliRunner

import wrenn_webhooks
from wrenn_webhooks.cli import cli

ROOT = Path(__file__).parent.parent


def build(kind: str, out: Path) -> Path:
    """Build the ``sdist`` or ``wheel`` from the checkout into ``out``; return its path."""
    subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", f"--{kind}", "--outdir", str(out), "."],
        check=True,
        cwd=ROOT,
        capture_output=True,
    )
    [built] = out.glob("*.tar.gz" if kind == "sdist" else "*.whl")
    return built


def test_the_wheel_passes_twine_and_works_in_a_fresh_environment(tmp_path: Path) -> None:
    wheel = build("wheel", tmp_path)
    twine = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", str(wheel)],
        capture_output=True,
        text=True,
    )
    assert twine.returncode == 0 and "PASSED" in twine.stdout, twine.stdout + twine.stderr
    check = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "dist_check.py"), str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stderr
    lines = dict(line.split(": ", 1) for line in check.stdout.splitlines())
    assert lines["version"] == f"wrenn-webhooks, version {wrenn_webhooks.__version__}"
    assert str(ROOT) not in lines["installed from"]  # the wheel's copy, not the checkout
    modules = set(lines[next(k for k in lines if k.startswith("imported"))].split(", "))
    assert {"wrenn_webhooks.flask", "wrenn_webhooks.asgi", "wrenn_webhooks.redis.inbox"} <= modules
    assert not any("._" in name for name in modules)


def test_version_changelog_and_command_agree() -> None:
    version = wrenn_webhooks.__version__
    assert re.fullmatch(r"\d+\.\d+\.\d+", version)
    result = CliRunner().invoke(cli, ["--version"])
    assert result.output.strip() == f"wrenn-webhooks, version {version}"
    # pyproject.toml takes the version from the package, so one place holds it.
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'dynamic = ["version"]' in pyproject
    assert 'path = "wrenn_webhooks/__init__.py"' in pyproject
    changelog = (ROOT / "CHANGELOG.md").read_text()
    sections = re.findall(r"^## \[([^\]]+)\](?: - (\d{4}-\d{2}-\d{2}))?$", changelog, re.M)
    assert sections[0] == ("Unreleased", ""), "the changelog opens with [Unreleased]"
    dated = [(name, date) for name, date in sections if date]
    assert dated, "no dated release section in CHANGELOG.md"
    assert dated[0][0] == version, f"newest dated section is {dated[0][0]}, package is {version}"


def test_the_sdist_holds_what_its_tests_need(tmp_path: Path) -> None:
    sdist = build("sdist", tmp_path)
    with tarfile.open(sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    needed = {
        "pyproject.toml",
        "Makefile",
        ".ci/run",
        "mkdocs.yml",
        "benchmarks/bench_core.py",
        "scripts/dist_check.py",
        "tests/conftest.py",
        "tests/go/gen_vectors.go",
        "docs/index.md",
        "examples/receiver.py",
        "wrenn_webhooks/redis/lua/inbox",
    }
    missing = {
        name for name in needed if not any(n == name or n.startswith(name + "/") for n in names)
    }
    assert not missing


@pytest.mark.slow
def test_the_unit_tests_pass_from_the_unpacked_sdist(tmp_path: Path) -> None:
    sdist = build("sdist", tmp_path / "dist")
    with tarfile.open(sdist) as archive:
        archive.extractall(tmp_path / "src", filter="data")
    [source] = (tmp_path / "src").iterdir()
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = str(env_dir / "bin" / "python")
    subprocess.run(
        [python, "-m", "pip", "install", "--quiet", "-e", ".[dev]"], check=True, cwd=source
    )
    result = subprocess.run(
        [python, "-m", "pytest", "-q", "-m", "not slow", "-p", "no:cacheprovider", "-x"],
        cwd=source,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert result.returncode == 0, result.stdout[-4000:]
    assert " passed" in result.stdout.splitlines()[-1]
