"""The Lua scripts of the Redis backends: registered from their files, shipped in the wheel."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.servers import ROOT
from wrenn_webhooks.redis import RedisIdempotencyStore, RedisInbox

LUA = ROOT / "wrenn_webhooks" / "redis" / "lua"
NOWHERE = "redis://127.0.0.1:1/0"  # nothing is sent until the first call


def lua_files() -> set[str]:
    """Every script of the source tree, as a path relative to ``wrenn_webhooks/redis/lua``."""
    return {path.relative_to(LUA).as_posix() for path in LUA.rglob("*.lua")}


def test_every_script_is_registered_from_its_file() -> None:
    inbox, store = RedisInbox(NOWHERE), RedisIdempotencyStore(NOWHERE)
    prelude = (LUA / "inbox" / "prelude.lua").read_text()
    registered = {f"inbox/{name}.lua": s.script for name, s in inbox._scripts.items()}
    expected = {path: prelude + (LUA / path).read_text() for path in registered}
    for name, script in store._scripts.items():
        registered[f"store/{name}.lua"] = script.script
        expected[f"store/{name}.lua"] = (LUA / "store" / f"{name}.lua").read_text()
    assert registered == expected
    assert {*registered, "inbox/prelude.lua"} == lua_files()  # no file left unused


def test_the_wheel_ships_every_script_and_loads_them_from_the_zip(tmp_path: Path) -> None:
    command = [
        sys.executable,
        "-m",
        "pip",
        "wheel",
        str(ROOT),
        "--no-deps",
        "-q",
        "-w",
        str(tmp_path),
    ]
    if importlib.util.find_spec("hatchling") is not None:  # else pip fetches it from PyPI
        command.append("--no-build-isolation")
    subprocess.run(command, check=True, capture_output=True, timeout=300)
    (wheel,) = tmp_path.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
        assert "wrenn-webhooks = wrenn_webhooks.cli:main" in archive.read(entry_points).decode()
    assert {f"wrenn_webhooks/redis/lua/{path}" for path in lua_files()} <= names
    assert {"wrenn_webhooks/cli/__init__.py", "wrenn_webhooks/cli/inbox.py"} <= names
    assert "wrenn_webhooks/cli.py" not in names
    # Imported from the wheel itself (zipimport): importlib.resources reads the zip.
    code = (
        "import wrenn_webhooks.redis.inbox as inbox, wrenn_webhooks.redis.store as store;"
        "print(inbox.__file__); print(len(inbox._SCRIPTS) + len(store._SCRIPTS))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(wheel)},
        capture_output=True,
        text=True,
        check=True,
    )
    where, count = out.stdout.split()
    assert where.startswith(str(wheel))
    assert int(count) == len(lua_files()) - 1  # the prelude starts every inbox script
