"""Check built distributions the way a user meets them.

    python scripts/dist_check.py dist/

Installs the wheel in ``dist/`` into a fresh virtual environment (with the
optional extras, so that every module can be imported), then runs
``wrenn-webhooks --version`` and imports every public module the wheel holds,
from that environment, never from the checkout. Prints one line per check.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import venv
import zipfile
from pathlib import Path

EXTRAS = "redis,asgi,django,otel,metrics"
"""Every extra, so that the modules needing one import too."""


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


def check(dist: Path) -> list[str]:
    """Install the wheel afresh and try it; return the lines to print."""
    [wheel] = sorted(dist.glob("wrenn_webhooks-*.whl"))
    modules = public_modules(wheel)
    with tempfile.TemporaryDirectory(prefix="wrenn-dist-") as tmp:
        env_dir = Path(tmp) / "venv"
        venv.create(env_dir, with_pip=True)
        python = env_dir / "bin" / "python"
        pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        subprocess.run([*pip, f"{wheel}[{EXTRAS}]", "pytest"], check=True)
        version = subprocess.run(
            [str(env_dir / "bin" / "wrenn-webhooks"), "--version"],
            check=True,
            capture_output=True,
            text=True,
            cwd=tmp,
        ).stdout.strip()
        code = "import importlib, sys\nfor name in sys.argv[1:]:\n    importlib.import_module(name)"
        # From the temporary folder, so that the checkout's package cannot be picked up.
        subprocess.run([str(python), "-c", code, *modules], check=True, cwd=tmp)
        where = subprocess.run(
            [str(python), "-c", "import wrenn_webhooks; print(wrenn_webhooks.__file__)"],
            check=True,
            capture_output=True,
            text=True,
            cwd=tmp,
        ).stdout.strip()
    return [
        f"wheel: {wheel.name}",
        f"installed from: {where}",
        f"version: {version}",
        f"imported {len(modules)} public modules: {', '.join(modules)}",
    ]


def main() -> None:
    dist = Path(sys.argv[1] if len(sys.argv) > 1 else "dist")
    for line in check(dist):
        print(line)


if __name__ == "__main__":
    main()
