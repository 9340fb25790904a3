"""The documented production deployment: its secret, and slow clients.

- The example receiver never falls back to its public development secret outside
  ``make run``: under the documented gunicorn command without
  ``WRENN_WEBHOOK_SECRET`` it refuses to start, in one line saying what to set.
- Clients that send their headers and then hold back the body (slowloris) hold what
  reads the body. The shipped gunicorn configuration outlasts several of them, and
  nginx configured as ``examples/nginx.conf`` shows absorbs any number, so Wrenn's
  delivery is still answered at once.
"""

from __future__ import annotations

import contextlib
import http.client
import importlib
import re
import runpy
import shutil
import socket
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

from tests.conftest import event_body
from tests.hostile_cases import Target, bad_signature, request
from tests.servers import (
    BIN,
    GUNICORN_EXAMPLE,
    NGINX,
    PYTHON,
    ROOT,
    free_port,
    run_until_exit,
    serve,
    serve_nginx,
    wait_for_http,
)
from tests.vectors import SECRET
from wrenn_webhooks import sign

NO_SECRET = "set WRENN_WEBHOOK_SECRET to the channel's secret (make run uses a development secret)"
PATH = "/webhooks/wrenn"
DELIVERY_DEADLINE = 5.0
"""Seconds within which a signed delivery must be answered, slow clients or not."""

needs_gunicorn = pytest.mark.skipif(
    shutil.which("gunicorn", path=str(BIN)) is None, reason="gunicorn missing"
)


# --- the development secret ----------------------------------------------------------


@needs_gunicorn
def test_documented_gunicorn_command_refuses_to_start_without_a_secret(tmp_path: Path) -> None:
    env = {"BIND": f"127.0.0.1:{free_port()}", "WRENN_WEBHOOK_STORE": f"sqlite:///{tmp_path}/i.db"}
    status, output = run_until_exit(GUNICORN_EXAMPLE, env, unset=["WRENN_WEBHOOK_SECRET"])
    assert status is not None, f"gunicorn served without a secret:\n{output[-3000:]}"
    assert (status, output.strip()) == (1, NO_SECRET)


@needs_gunicorn
def test_any_gunicorn_stops_without_a_secret() -> None:
    """Without the shipped configuration too: the module refuses, gunicorn halts (no respawning)."""
    args = [str(BIN / "gunicorn"), "-b", f"127.0.0.1:{free_port()}", "examples.receiver:app"]
    status, output = run_until_exit(args, unset=["WRENN_WEBHOOK_SECRET"])
    assert status is not None, f"gunicorn served without a secret:\n{output[-3000:]}"
    assert status != 0
    assert NO_SECRET in output.splitlines(), output[-3000:]


def test_python_m_without_dev_refuses_in_one_line() -> None:
    status, output = run_until_exit(
        [PYTHON, "-m", "examples.receiver"],
        {"PORT": str(free_port())},
        unset=["WRENN_WEBHOOK_SECRET"],
    )
    assert (status, output.strip()) == (1, NO_SECRET)


@pytest.mark.parametrize("value", ["", None], ids=["empty", "unset"])
def test_importing_without_a_secret_raises(
    monkeypatch: pytest.MonkeyPatch, value: str | None
) -> None:
    if value is None:
        monkeypatch.delenv("WRENN_WEBHOOK_SECRET", raising=False)
    else:
        monkeypatch.setenv("WRENN_WEBHOOK_SECRET", value)
    monkeypatch.delitem(sys.modules, "examples.receiver", raising=False)
    with pytest.raises(RuntimeError, match=f"^{re.escape(NO_SECRET)}$"):
        importlib.import_module("examples.receiver")


def test_the_public_development_secret_is_refused_outside_make_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dev_secret = re.search(
        r'^DEV_SECRET = "(\w+)"$', (ROOT / "examples/receiver.py").read_text(), re.M
    )
    assert dev_secret is not None
    monkeypatch.setenv("WRENN_WEBHOOK_SECRET", f"{SECRET},{dev_secret[1]}")
    monkeypatch.delitem(sys.modules, "examples.receiver", raising=False)
    with pytest.raises(RuntimeError, match="the public development secret"):
        importlib.import_module("examples.receiver")


def test_make_run_asks_for_the_development_secret() -> None:
    makefile = (ROOT / "Makefile").read_text()
    recipe = re.search(r"^run: .*\n((?:\t.*\n)+)", makefile, re.M)
    assert recipe is not None
    assert recipe[1] == "\t$(BIN)/python -m examples.receiver --dev\n"


# --- slow clients ------------------------------------------------------------------


@contextlib.contextmanager
def half_sent(port: int, count: int) -> Iterator[list[socket.socket]]:
    """``count`` connections that send a request's headers, promise 1000 bytes, send none.

    Their headers look like Wrenn's (fresh timestamp, well-formed signature), so the
    receiver has to read the body to check the signature. Closed when the block ends.
    """
    target = Target(f"127.0.0.1:{port}", SECRET, datetime.now(timezone.utc))
    promised = [("Content-Type", "application/json"), ("Content-Length", "1000")]
    head = request(target, [*bad_signature(target, b"{}"), *promised], length=False)
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            sockets.append(sock)
            sock.sendall(head)
        time.sleep(0.5)  # let the server take them up and block on their bodies
        yield sockets
    finally:
        for sock in sockets:
            sock.close()


def deliver(port: int) -> tuple[int | None, float]:
    """Post one delivery signed as Wrenn signs it: its status (None: no answer in time), seconds."""
    body = event_body("capsule.pause", "error", timestamp=datetime.now(timezone.utc), error="x")
    started = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=DELIVERY_DEADLINE)
    try:
        conn.request("POST", PATH, body=body, headers=sign(body, SECRET))
        status: int | None = conn.getresponse().status
    except TimeoutError:
        status = None
    finally:
        conn.close()
    return status, time.monotonic() - started


@contextlib.contextmanager
def shipped_gunicorn(tmp_path: Path) -> Iterator[tuple[int, list[str]]]:
    """The example receiver under ``examples/gunicorn.conf.py``, its workers up.

    Yields the port and, once the block has ended, gunicorn's output in the list.
    """
    port = free_port()
    env = {
        "BIND": f"127.0.0.1:{port}",
        "WRENN_WEBHOOK_SECRET": SECRET,
        "WRENN_WEBHOOK_STORE": f"sqlite:///{tmp_path}/idempotency.db",
    }
    output: list[str] = []
    with serve(GUNICORN_EXAMPLE, port, env, unset=["WEB_CONCURRENCY", "WEB_THREADS"]) as server:
        wait_for_http(f"http://127.0.0.1:{port}/healthz")
        yield port, output
    output.append(server.output)


def test_one_worker_of_the_shipped_configuration_outlasts_8_slow_clients(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The kernel may hand every slow client to one worker: its threads alone must do."""
    monkeypatch.setenv("WRENN_WEBHOOK_SECRET", SECRET)
    for name in ("WEB_CONCURRENCY", "WEB_THREADS"):
        monkeypatch.delenv(name, raising=False)
    conf = runpy.run_path(str(ROOT / "examples" / "gunicorn.conf.py"))
    assert conf["worker_class"] == "gthread"
    assert conf["threads"] - 1 >= 8
    assert conf["timeout"] > 10 >= conf["graceful_timeout"]  # see docs/deployment.md


def test_the_deployment_page_shows_the_tested_files() -> None:
    page = (ROOT / "docs" / "deployment.md").read_text()
    for path in ("examples/gunicorn.conf.py", "examples/nginx.conf"):
        assert f"--8<--\n{path}\n--8<--" in page


@needs_gunicorn
def test_shipped_gunicorn_answers_wrenn_despite_8_half_sent_requests(tmp_path: Path) -> None:
    with shipped_gunicorn(tmp_path) as (port, output), half_sent(port, 8):
        status, seconds = deliver(port)
    assert status == 200, f"no answer within {DELIVERY_DEADLINE} s\n{output[0][-3000:]}"
    assert seconds < DELIVERY_DEADLINE


NGINX_CONF = ROOT / "examples" / "nginx.conf"


def nginx_site(nginx_port: int, gunicorn_port: int) -> str:
    """``examples/nginx.conf`` as users copy it, on this test's ports."""
    site = NGINX_CONF.read_text()
    assert site.count("listen 80;") == 1
    assert site.count("127.0.0.1:8000") == 1
    site = site.replace("listen 80;", f"listen 127.0.0.1:{nginx_port};")
    return site.replace("127.0.0.1:8000", f"127.0.0.1:{gunicorn_port}")


@needs_gunicorn
@pytest.mark.skipif(NGINX is None, reason="nginx is not installed (apt-get install nginx-light)")
def test_nginx_in_front_absorbs_50_half_sent_requests(tmp_path: Path) -> None:
    nginx_port = free_port()
    with shipped_gunicorn(tmp_path) as (port, gunicorn_output):
        site = nginx_site(nginx_port, port)
        with serve_nginx(site, nginx_port, tmp_path / "nginx") as nginx, half_sent(nginx_port, 50):
            status, seconds = deliver(nginx_port)
    assert status == 200, f"no answer within {DELIVERY_DEADLINE} s\n{nginx.output}"
    assert seconds < DELIVERY_DEADLINE
    # gunicorn saw the delivery, and none of the 50 bodies nginx never received whole
    posts = re.findall(rf'"POST {PATH} HTTP/1\.\d" (\d+)', gunicorn_output[0])
    assert posts == ["200"], gunicorn_output[0][-3000:]
