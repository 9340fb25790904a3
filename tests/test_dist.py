"""The release artefacts: what ``make dist`` builds installs and works on its own.

The wheel is installed by ``scripts/dist_check.py`` (what ``make dist`` runs) into a
fresh virtual environment whose dependencies come from the package index, as a user's
would: nothing is borrowed from the development environment, so a missing dependency or
a module left out of the wheel fails here. That install takes about 15 seconds.
"""

from __future__ import annotations

import datetime
import email
import re
import subprocess
import sys
import tarfile
import venv
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

import wrenn_webhooks
from wrenn_webhooks import pytest_plugin
from wrenn_webhooks.cli import cli

ROOT = Path(__file__).resolve().parent.parent
VERSION = wrenn_webhooks.__version__
SOURCE_FOLDERS = ("wrenn_webhooks", "tests", "benchmarks", "examples", "scripts", "fuzz")
"""The folders whose Python files the sdist must all hold: its tests import them."""


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding the sdist and the wheel, built as ``make dist`` builds them.

    ``python -m build`` makes the sdist, then the wheel from the unpacked sdist, so the
    wheel also proves that the sdist builds.
    """
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), "."],
        check=True,
        cwd=ROOT,
        capture_output=True,
    )
    return out


def test_the_artefacts_pass_twine_check(dist: Path) -> None:
    artefacts = sorted(str(path) for path in dist.iterdir())
    assert [Path(path).name for path in artefacts] == [
        f"wrenn_webhooks-{VERSION}-py3-none-any.whl",
        f"wrenn_webhooks-{VERSION}.tar.gz",
    ]
    twine = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", *artefacts],
        capture_output=True,
        text=True,
    )
    assert twine.returncode == 0, twine.stdout + twine.stderr
    assert twine.stdout.count("PASSED") == 2, twine.stdout


def test_the_wheel_metadata_declares_the_pythons_tested(dist: Path) -> None:
    [wheel] = dist.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        metadata = email.message_from_bytes(
            archive.read(f"wrenn_webhooks-{VERSION}.dist-info/METADATA")
        )
    assert metadata["Version"] == VERSION
    assert metadata["Requires-Python"] == ">=3.10"
    pythons = [
        classifier.rsplit(" :: ", 1)[1]
        for classifier in metadata.get_all("Classifier", [])
        if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", classifier)
    ]
    assert pythons == ["3.10", "3.11", "3.12", "3.13"]
    # make test-pythons runs the unit tests on each of them by default.
    script = (ROOT / "scripts" / "test-pythons.sh").read_text()
    assert f"${{PYTHONS:-{' '.join(pythons)}}}" in script


def test_the_wheel_works_in_a_fresh_environment(dist: Path) -> None:
    check = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "dist_check.py"), str(dist)],
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    lines = dict(line.split(": ", 1) for line in check.stdout.splitlines())
    assert lines.pop("wheel") == f"wrenn_webhooks-{VERSION}-py3-none-any.whl"
    installed_from = Path(lines.pop("installed from"))
    assert installed_from.parts[-3:] == ("site-packages", "wrenn_webhooks", "__init__.py")
    assert not installed_from.is_relative_to(ROOT)  # the wheel's copy, not the checkout
    assert lines.pop("version") == f"wrenn-webhooks, version {VERSION}"
    assert lines.pop("python -m") == f"wrenn-webhooks, version {VERSION}"
    [(imported, modules)] = [(key, lines.pop(key)) for key in list(lines) if "imported" in key]
    assert set(modules.split(", ")) == public_modules_of_the_checkout()
    assert imported == f"imported {len(public_modules_of_the_checkout())} public modules"
    fixtures = {name for name in vars(pytest_plugin) if name.startswith("wrenn_")}
    assert set(lines.pop("pytest fixtures").split(", ")) == fixtures
    assert lines.pop("delivery") == '200 {"event": "capsule.pause", "handled": 1, "ok": true}'
    assert lines.pop("pip check") == "No broken requirements found."
    assert not lines


def public_modules_of_the_checkout() -> set[str]:
    """The dotted names of the package's modules with no ``_private`` part."""
    names = set()
    for path in (ROOT / "wrenn_webhooks").rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        if not any(part.startswith("_") for part in parts):
            names.add(".".join(parts))
    assert {"wrenn_webhooks", "wrenn_webhooks.flask", "wrenn_webhooks.redis.inbox"} <= names
    return names


def test_version_command_build_and_changelog_agree() -> None:
    assert re.fullmatch(r"\d+\.\d+\.\d+", VERSION)
    result = CliRunner().invoke(cli, ["--version"])
    assert result.output.strip() == f"wrenn-webhooks, version {VERSION}"
    # pyproject.toml's version is dynamic: hatchling reads it from the package.
    built = subprocess.run(
        [sys.executable, "-m", "hatchling", "version"],
        check=True,
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert built.stdout.strip() == VERSION
    newest, _ = newest_release((ROOT / "CHANGELOG.md").read_text())
    assert newest == VERSION, f"the newest dated section is [{newest}], the package {VERSION}"


def newest_release(changelog: str) -> tuple[str, str]:
    """The version and date of the newest dated section of a Keep a Changelog file.

    The file must open with ``## [Unreleased]`` (empty or not), and a dated section
    reads ``## [0.1.0] - 2026-12-04``.
    """
    sections = re.findall(r"^## \[([^\]]+)\](?: - (\S+))?[ \t]*$", changelog, re.M)
    assert sections, "CHANGELOG.md has no '## [...]' section"
    assert sections[0] == ("Unreleased", ""), "CHANGELOG.md must open with '## [Unreleased]'"
    dated = [(name, date) for name, date in sections[1:] if date]
    assert dated, "CHANGELOG.md has no dated section: add '## [X.Y.Z] - YYYY-MM-DD'"
    newest, date = dated[0]
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", date), f"[{newest}] is dated {date}, not YYYY-MM-DD"
    datetime.date.fromisoformat(date)  # a real day
    return newest, date


RELEASED = "# Changelog\n\n## [Unreleased]\n\n## [0.2.0] - 2027-01-31\n\n## [0.1.0] - 2026-12-04\n"


@pytest.mark.parametrize(
    ("changelog", "complaint"),
    [
        (RELEASED.replace(" - 2027-01-31", ""), None),  # 0.2.0 not dated yet: 0.1.0 is newest
        ("## [Unreleased]\n\n- Added things.\n", "no dated section"),
        (RELEASED.replace("## [Unreleased]\n\n", ""), "must open with"),
        (RELEASED.replace("2027-01-31", "31/01/2027"), "not YYYY-MM-DD"),
    ],
)
def test_the_newest_release_of_a_changelog(changelog: str, complaint: str | None) -> None:
    if complaint is None:
        assert newest_release(changelog) == ("0.1.0", "2026-12-04")
        assert newest_release(RELEASED) == ("0.2.0", "2027-01-31")
    else:
        with pytest.raises(AssertionError, match=complaint):
            newest_release(changelog)


def test_the_sdist_holds_what_its_tests_need(dist: Path) -> None:
    [sdist] = dist.glob("*.tar.gz")
    with tarfile.open(sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
        pkg_info = archive.extractfile(f"wrenn_webhooks-{VERSION}/PKG-INFO")
        assert pkg_info is not None
        assert email.message_from_bytes(pkg_info.read())["Version"] == VERSION
    needed = {
        "pyproject.toml",
        "Makefile",
        ".ci/run",
        "mkdocs.yml",
        "README.md",
        "CHANGELOG.md",
        "scripts/test-pythons.sh",
        "tests/go/gen_vectors.go",
        "docs/index.md",
        "docs/contributing.md",
        "wrenn_webhooks/py.typed",
        "wrenn_webhooks/redis/lua/inbox/claim.lua",
    }
    for folder in SOURCE_FOLDERS:
        needed |= {str(path.relative_to(ROOT)) for path in (ROOT / folder).rglob("*.py")}
    assert needed - names == set()


@pytest.mark.slow
def test_the_unit_tests_pass_from_the_unpacked_sdist(dist: Path, tmp_path: Path) -> None:
    [sdist] = dist.glob("*.tar.gz")
    with tarfile.open(sdist) as archive:
        # The "data" filter refuses links and paths out of the folder (Python 3.10.12+).
        safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        archive.extractall(tmp_path / "src", **safe)
    source = tmp_path / "src" / f"wrenn_webhooks-{VERSION}"
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
    summary = result.stdout.splitlines()[-1]
    assert re.search(r"\d+ passed", summary) and "failed" not in summary, summary
