"""Check built distributions the way a user meets them.

    python scripts/dist_check.py dist/

Installs the wheel in ``dist/`` into a fresh virtual environment, with every
optional extra (so that the Redis, ASGI and Django modules import too) and
pytest (for the plugin the wheel registers), its dependencies coming from the
package index as a user's would. From that environment, never from the
checkout, it then runs ``wrenn-webhooks --version`` and
``python -m wrenn_webhooks --version``, imports every public module the wheel
holds, lists the pytest fixtures the plugin brings, answers one signed delivery
and runs ``pip check``. Prints one ``name: value`` line per check and exits
non-zero at the first that fails.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import venv
import zipfile
from collections.abc import Iterator
from pathlib import Path

EXTRAS = "redis,asgi,django,otel,metrics"
"""Every extra, so that the modules needing one import too."""

DELIVERY = """\
import json

from wrenn_webhooks import CapsulePause, WebhookReceiver
from wrenn_webhooks.testing import make_event, signed_request

secret = "s" * 64
receiver = WebhookReceiver(secret)
receiver.on(CapsulePause)(lambda event: None)
response = receiver.handle(*signed_request(make_event(CapsulePause), secret))
print(response.status_code, json.dumps(response.body, sort_keys=True))
"""
"""A delivery signed and handled by the installed package, as the quick start does."""

WHERE = "import wrenn_webhooks; print(wrenn_webhooks.__file__)"

IMPORT_ALL = "import importlib, sys\nfor name in sys.argv[1:]:\n    importlib.import_module(name)"


def public_modules(wheel: Path) -> list[str]:
    """The importable modules of the wheel whose dotted names have no private part."""
    names = []
    with zipfile.ZipFile(wheel) as archive:
        for name in archive.namelist():
            if not name.endswith(".py") or not name.startswith("wrenn_webhooks/"):
                continue
            parts = name[: -len(".py")].split("/")
            if parts[-1] == "__init__":
                parts.pop()
            if not any(part.startswith("_") for part in parts):
                names.append(".".join(parts))
    return sorted(names)


def plugin_fixtures(pytest_output: str) -> list[str]:
    """The ``wrenn_*`` fixtures named in the output of ``pytest --fixtures``."""
    return sorted(
        {line.split()[0] for line in pytest_output.splitlines() if line.startswith("wrenn_")}
    )


def check(dist: Path) -> Iterator[str]:
    """Install the wheel afresh and try it, yielding one line per check as it passes."""
    wheels = sorted(dist.glob("wrenn_webhooks-*.whl"))
    if len(wheels) != 1:
        raise SystemExit(f"{dist}/ holds {len(wheels)} wrenn_webhooks wheels, not one: make dist")
    [wheel] = wheels
    yield f"wheel: {wheel.name}"
    modules = public_modules(wheel)
    with tempfile.TemporaryDirectory(prefix="wrenn-dist-") as tmp:
        env_dir = Path(tmp) / "venv"
        venv.create(env_dir, with_pip=True)
        python = str(env_dir / "bin" / "python")
        # An empty folder to run in: the checkout's package cannot be picked up, and
        # pytest finds no tests or configuration of the project's there.
        workdir = Path(tmp) / "work"
        workdir.mkdir()

        def run(*args: str) -> str:
            done = subprocess.run(args, check=True, capture_output=True, text=True, cwd=workdir)
            return done.stdout.strip()

        pip = [python, "-m", "pip", "--disable-pip-version-check"]
        subprocess.run([*pip, "install", "--quiet", f"{wheel}[{EXTRAS}]", "pytest"], check=True)
        yield f"installed from: {run(python, '-c', WHERE)}"
        yield f"version: {run(str(env_dir / 'bin' / 'wrenn-webhooks'), '--version')}"
        yield f"python -m: {run(python, '-m', 'wrenn_webhooks', '--version')}"
        run(python, "-c", IMPORT_ALL, *modules)
        yield f"imported {len(modules)} public modules: {', '.join(modules)}"
        pytest_fixtures = run(python, "-m", "pytest", "--fixtures", "-p", "no:cacheprovider")
        yield f"pytest fixtures: {', '.join(plugin_fixtures(pytest_fixtures))}"
        yield f"delivery: {run(python, '-c', DELIVERY)}"
        yield f"pip check: {run(*pip, 'check')}"


def main() -> None:
    """Check the wheel in the folder given (``dist`` by default) and print the results."""
    dist = Path(sys.argv[1] if len(sys.argv) > 1 else "dist")
    try:
        for line in check(dist):
            print(line, flush=True)
    except subprocess.CalledProcessError as exc:
        sys.exit(f"failed: {' '.join(map(str, exc.cmd))}\n{exc.stdout or ''}{exc.stderr or ''}")


if __name__ == "__main__":
    main()
