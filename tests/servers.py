"""Start real servers on free 127.0.0.1 ports for tests, and stop them."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator, Sequence
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[str], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            out = process.stdout.read() if process.stdout else ""
            raise RuntimeError(f"server exited with {process.returncode}:\n{out}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listened on 127.0.0.1:{port} within {timeout} s")


def stop(process: subprocess.Popen[Any], timeout: float = 10.0) -> None:
    """Ask ``process`` to end (SIGTERM); kill it if it has not within ``timeout`` seconds."""
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class Server:
    """A running server process; ``output`` holds what it printed once stopped."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.output = ""


def environment(env: dict[str, str] | None = None, unset: Iterable[str] = ()) -> dict[str, str]:
    """This process's environment plus ``env``, without the variables named in ``unset``."""
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    for name in unset:
        full_env.pop(name, None)
    return full_env


@contextlib.contextmanager
def serve(
    args: Sequence[str],
    port: int,
    env: dict[str, str] | None = None,
    *,
    unset: Iterable[str] = (),
) -> Iterator[Server]:
    """Run ``args`` (a server listening on ``port``) until the block ends.

    ``unset`` names variables of this process's environment the server must not see.
    """
    full_env = environment(env, unset)
    process = subprocess.Popen(
        list(args),
        cwd=ROOT,
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    server = Server(process)
    try:
        wait_for_port(port, process)
        yield server
    finally:
        stop(process)
        if process.stdout:
            server.output = process.stdout.read()
            process.stdout.close()


def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read()


def run_until_exit(
    args: Sequence[str],
    env: dict[str, str] | None = None,
    *,
    unset: Iterable[str] = (),
    timeout: float = 20.0,
) -> tuple[int | None, str]:
    """Run ``args`` until it exits: its exit status and output (stdout and stderr).

    A process still running after ``timeout`` seconds is stopped, and its status is None.
    """
    process = subprocess.Popen(
        list(args),
        cwd=ROOT,
        env=environment(env, unset),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        output, _ = process.communicate(timeout=timeout)
        return process.returncode, output
    except subprocess.TimeoutExpired:
        stop(process)
        output, _ = process.communicate()
        return None, output


def wait_for_http(url: str, timeout: float = 20.0) -> None:
    """Wait until ``url`` answers a GET with 200 (a server's workers are up, not only its port)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url} did not answer 200 within {timeout} s")
        time.sleep(0.05)


PYTHON = sys.executable
BIN = Path(sys.executable).parent
GUNICORN = pytest.param(
    "gunicorn",
    marks=pytest.mark.skipif(
        shutil.which("gunicorn", path=str(BIN)) is None, reason="gunicorn missing"
    ),
)
"""``"gunicorn"`` as a parameter of tests that run a server, skipped without gunicorn."""
GUNICORN_EXAMPLE = [
    str(BIN / "gunicorn"),
    "-c",
    "examples/gunicorn.conf.py",
    "examples.receiver:app",
]
"""The production command ``examples/gunicorn.conf.py`` documents (bind with ``BIND``)."""
NGINX = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/sbin")
"""nginx, if installed (Debian: ``apt-get install nginx-light``); None otherwise."""


def nginx_config(site: str, folder: Path) -> str:
    """A whole nginx configuration around ``site`` (a ``server`` block) for a test.

    In the foreground, with its pid file, logs and temporary files in ``folder``.
    """
    temp = "\n".join(
        f"    {kind}_temp_path {folder / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return (
        f"daemon off;\nworker_processes 1;\npid {folder / 'nginx.pid'};\n"
        "error_log stderr warn;\nevents { worker_connections 1024; }\n"
        f"http {{\n    access_log {folder / 'access.log'};\n{temp}\n{site}\n}}\n"
    )


@contextlib.contextmanager
def serve_nginx(site: str, port: int, folder: Path) -> Iterator[Server]:
    """Run nginx with ``site`` (listening on 127.0.0.1:``port``) until the block ends."""
    assert NGINX is not None, "nginx is not installed"
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "nginx.conf"
    config.write_text(nginx_config(site, folder))
    with serve([NGINX, "-p", f"{folder}/", "-c", str(config), "-e", "stderr"], port) as server:
        yield server


def store_records(path: Path) -> int:
    """How many idempotency records the SQLite file holds (0 before it exists)."""
    if not path.exists():
        return 0
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as connection:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
        if "records" not in tables:
            return 0
        (count,) = connection.execute("SELECT count(*) FROM records").fetchone()
    return int(count)
