"""Malformed and hostile requests over real HTTP: never a 5xx, never a write.

Each case of ``tests/hostile_cases.py`` is sent as raw bytes over a socket (so
the framing is exactly what the case says) to the example receiver, under
werkzeug's server (``make run``) and under gunicorn with the shipped
``examples/gunicorn.conf.py``, each with a SQLite idempotency store of its own.
Every answer must be the one the table promises (the security page renders the
same table), none may be a 5xx, nothing may reach the store, and neither server
may log a traceback. One valid delivery at the end must write a record, which
proves the store check can fail.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pytest

from tests.hostile_cases import (
    CASES,
    NOT_SENT,
    Case,
    Target,
    event_body,
    exchange,
    request,
    signature_headers,
)
from tests.servers import BIN, GUNICORN, PYTHON, Server, free_port, serve, store_records

SECRET = "h0st1le5ecreth0st1le5ecreth0st1le5ecreth0st1le5ecreth0st1le5ecre"


@dataclass
class Running:
    name: str
    port: int
    store: Path
    server: Server

    def target(self) -> Target:
        return Target(f"127.0.0.1:{self.port}", SECRET, datetime.now(timezone.utc))

    def check_alive(self) -> None:
        """Fail with what the server printed if it has exited (no case may stop it)."""
        process = self.server.process
        if process.poll() is not None:
            output = process.stdout.read() if process.stdout else ""
            self.server.output += output
            text = self.server.output
            # The first traceback (a worker that failed to boot, say), then how it ended.
            first = text.find("Traceback")
            cause = text[max(0, first - 500) : first + 4000] + "\n[...]\n" if first >= 0 else ""
            pytest.fail(f"{self.name} exited with {process.returncode}:\n{cause}{text[-3000:]}")


def _command(name: str, port: int) -> tuple[list[str], dict[str, str]]:
    if name == "werkzeug":
        return [PYTHON, "-m", "examples.receiver"], {"PORT": str(port)}
    gunicorn = [str(BIN / "gunicorn"), "-c", "examples/gunicorn.conf.py", "examples.receiver:app"]
    return gunicorn, {"BIND": f"127.0.0.1:{port}"}


SERVERS = ["werkzeug", GUNICORN]


@pytest.fixture(scope="module", params=SERVERS)
def running(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Running]:
    """The example receiver under one server, started once for every case."""
    name: str = request.param
    store = tmp_path_factory.mktemp(f"hostile-{name}") / "idempotency.db"
    port = free_port()
    args, env = _command(name, port)
    env |= {"WRENN_WEBHOOK_SECRET": SECRET, "WRENN_WEBHOOK_STORE": f"sqlite:///{store}"}
    with serve(args, port, env) as server:
        yield Running(name, port, store, server)
    assert "Traceback" not in server.output, server.output[-4000:]


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_hostile_request(running: Running, case: Case) -> None:
    if getattr(case, running.name) == NOT_SENT:
        pytest.skip(NOT_SENT)
    running.check_alive()
    answer = exchange(running.port, case.build(running.target()), stall=case.stall)
    assert not answer.startswith("5"), answer
    assert answer == getattr(case, running.name)


def test_no_hostile_request_wrote_and_a_valid_delivery_does(running: Running) -> None:
    running.check_alive()
    assert store_records(running.store) == 0
    target = running.target()
    body = event_body(target)
    assert exchange(running.port, request(target, signature_headers(target, body), body)) == "200"
    assert store_records(running.store) == 1


def test_the_table_is_large_and_varied() -> None:
    assert len({case.id for case in CASES}) == len(CASES) >= 40
    kinds = {case.kind for case in CASES}
    assert kinds == {
        "headers",
        "encoding",
        "request line",
        "timestamp",
        "Content-Length",
        "framing",
        "chunked",
        "body",
    }


def test_the_serve_command_answers_as_make_run_does() -> None:
    """``wrenn-webhooks serve`` is the same server and blueprint: the werkzeug column holds."""
    port = free_port()
    args = [str(BIN / "wrenn-webhooks"), "serve", "--port", str(port), "--path", "/webhooks/wrenn"]
    cases = [case for case in CASES if case.werkzeug != NOT_SENT]
    with serve(args, port, {"WRENN_WEBHOOK_SECRET": SECRET}) as server:
        # A target a case, so that "301 s in the future" is measured from the case's own
        # moment, not from the first case's (the stalled ones take seconds under load).
        answers = {
            case.id: exchange(
                port,
                case.build(Target(f"127.0.0.1:{port}", SECRET, datetime.now(timezone.utc))),
                stall=case.stall,
            )
            for case in cases
        }
    assert answers == {case.id: case.werkzeug for case in cases}
    assert "Traceback" not in server.output
    assert "── " not in server.output  # no event reached a handler
