"""The FastAPI and Starlette examples (``examples/asgi/``), under uvicorn and in process.

Each example opens an ``httpx.AsyncClient`` in its lifespan and posts failed
pauses to ``ALERT_URL`` with it from an ``async def`` handler. Here ``ALERT_URL``
is a small HTTP server of the test's own on 127.0.0.1 (the "chat"), which
records what it receives and answers as told.

Under uvicorn, what the chat receives shows the handler used the lifespan's
client: its ``User-Agent``, and one kept-alive connection for every alert (a
connection belongs to the event loop that opened it, so the handler ran on the
same loop every time). In process, a probe handler beside the example's checks
outright that handlers run on the loop that ran the lifespan.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from tests.conftest import event_body
from tests.servers import BIN, free_port, post, serve
from wrenn_webhooks import CapsulePause, WebhookReceiver, sign

SECRET = "ex4mple5ecretex4mple5ecretex4mple5ecretex4mple5ecretex4mple5ecr"
EXAMPLES = ["examples.asgi.fastapi_app", "examples.asgi.starlette_app"]
PATH = "/webhooks/wrenn"


@dataclass
class Chat:
    """What the chat server received, and the statuses it is to answer (then 200)."""

    url: str
    received: list[tuple[int, str, dict[str, Any]]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)


@pytest.fixture
def chat() -> Iterator[Chat]:
    """An HTTP/1.1 server on 127.0.0.1 that records each POST: (client port, User-Agent, JSON)."""
    server: ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keeps connections alive between alerts

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            payload = json.loads(self.rfile.read(length))
            record.received.append((self.client_address[1], self.headers["User-Agent"], payload))
            status = record.statuses.pop(0) if record.statuses else 200
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    record = Chat(f"http://127.0.0.1:{server.server_address[1]}/alerts")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield record
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def now_body(kind: str, outcome: str | None, resource: dict[str, str], **fields: Any) -> bytes:
    stamp = datetime.now(timezone.utc)
    return event_body(kind, outcome, timestamp=stamp, resource=resource, **fields)


def failed_pause(capsule: str) -> bytes:
    resource = {"id": capsule, "type": "sandbox"}
    return now_body("capsule.pause", "error", resource, error="host unreachable")


def deliver(base: str, body: bytes, path: str = PATH) -> tuple[int, dict[str, Any]]:
    """POST ``body`` signed now, as Wrenn does: the status and the JSON answer."""
    status, answer = post(base + path, body, sign(body, SECRET))
    return status, json.loads(answer)


@pytest.mark.skipif(not (BIN / "uvicorn").exists(), reason="uvicorn missing")
@pytest.mark.parametrize("name", EXAMPLES)
def test_example_under_uvicorn(name: str, chat: Chat, tmp_path: Path) -> None:
    port = free_port()
    command = [str(BIN / "uvicorn"), f"{name}:app", "--host", "127.0.0.1", "--port", str(port)]
    env = {
        "WRENN_WEBHOOK_SECRET": SECRET,
        "ALERT_URL": chat.url,
        "WRENN_WEBHOOK_STORE": f"sqlite:///{tmp_path / 'idempotency.db'}",
    }
    with serve(command, port, env) as server:
        base = f"http://127.0.0.1:{port}"
        first = failed_pause("sb-first")
        assert deliver(base, first) == (200, {"ok": True, "event": "capsule.pause", "handled": 1})
        assert deliver(base, failed_pause("sb-second"), PATH + "/")[0] == 200
        # The chat is down: 500, so that Wrenn sends the event again ...
        chat.statuses.append(503)
        third = failed_pause("sb-third")
        assert deliver(base, third)[0] == 500
        # ... and the same body, signed afresh as Wrenn's retry is, is handled then.
        assert deliver(base, third) == (200, {"ok": True, "event": "capsule.pause", "handled": 1})
        assert deliver(base, first)[1].get("duplicate") is True
        host = now_body("host.down", None, {"id": "host-7", "type": "host"})
        assert deliver(base, host)[0] == 200
        assert httpx.get(base + "/healthz", timeout=10).json() == {"ok": True}
    texts = [payload["text"] for _, _, payload in chat.received]
    assert texts == [
        "capsule sb-first failed to pause: host unreachable",
        "capsule sb-second failed to pause: host unreachable",
        "capsule sb-third failed to pause: host unreachable",
        "capsule sb-third failed to pause: host unreachable",
    ]
    assert {agent for _, agent, _ in chat.received} == {"wrenn-alerts"}  # the lifespan's client
    assert len({port for port, _, _ in chat.received}) == 1  # one connection, one loop
    assert "host host-7 is down" in server.output  # the plain handler, in a thread
    # One traceback: the handler's failure while the chat was down, logged by the SDK.
    assert server.output.count("Traceback") == 1, server.output
    assert "handler examples.asgi." in server.output
    assert "503 Service Unavailable" in server.output
    assert "Application startup complete" in server.output


def fresh(name: str, monkeypatch: pytest.MonkeyPatch, alert_url: str) -> ModuleType:
    """Import an example anew (a new receiver, open to registrations) with this environment."""
    monkeypatch.setenv("WRENN_WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("ALERT_URL", alert_url)
    monkeypatch.delenv("WRENN_WEBHOOK_STORE", raising=False)
    monkeypatch.delitem(sys.modules, name, raising=False)
    return importlib.import_module(name)


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_handlers_run_on_the_loop_of_the_lifespan(
    name: str, chat: Chat, monkeypatch: pytest.MonkeyPatch
) -> None:
    example = fresh(name, monkeypatch, chat.url)
    loops: list[asyncio.AbstractEventLoop] = []

    receiver: WebhookReceiver = example.receiver

    @receiver.on("capsule.pause", outcome="error")
    async def probe(event: CapsulePause) -> None:
        loops.append(asyncio.get_running_loop())

    async def run() -> tuple[asyncio.AbstractEventLoop, int, bool]:
        app = example.app
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                body = failed_pause("sb-probe")
                reply = await client.post(PATH, content=body, headers=sign(body, SECRET))
            lifespan_client = app.state.chat
        return asyncio.get_running_loop(), reply.status_code, lifespan_client.is_closed

    loop, status, closed = asyncio.run(run())
    assert (status, loops) == (200, [loop])
    assert closed  # the lifespan closed its client on the way out
    assert [payload["text"] for _, _, payload in chat.received] == [
        "capsule sb-probe failed to pause: host unreachable"
    ]


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_prints_alerts_without_an_alert_url(
    name: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("ALERT_URL", raising=False)
    monkeypatch.setenv("WRENN_WEBHOOK_SECRET", SECRET)
    monkeypatch.delitem(sys.modules, name, raising=False)
    example = importlib.import_module(name)

    async def run() -> int:
        transport = httpx.ASGITransport(app=example.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            body = failed_pause("sb-quiet")
            reply = await client.post(PATH + "/", content=body, headers=sign(body, SECRET))
        return reply.status_code

    assert asyncio.run(run()) == 200
    assert "capsule sb-quiet failed to pause: host unreachable" in capsys.readouterr().out


def test_the_testing_snippet_of_the_page_runs() -> None:
    page = (Path(__file__).resolve().parent.parent / "docs" / "asgi.md").read_text()
    section = page.split("## Testing", 1)[1].split("\n## ", 1)[0]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict[str, Any] = {"__name__": "asgi_page"}
    exec(compile(code, "docs/asgi.md", "exec"), namespace)  # it asserts what it shows
    assert len(namespace["paused"]) == 1
