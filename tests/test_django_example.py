"""The example Django project under a real gunicorn: a signed event is handled, on both paths."""

from __future__ import annotations

import http.client
from datetime import datetime, timezone

import pytest

from tests.servers import BIN, free_port, serve
from wrenn_webhooks import CapsulePause
from wrenn_webhooks.testing import make_event, signed_request

SECRET = "dj4ng0dj4ng0dj4ng0dj4ng0dj4ng0dj4ng0dj4ng0dj4ng0dj4ng0dj4ng0dj4n"


def post(port: int, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("POST", path, body, headers)
        reply = connection.getresponse()
        return reply.status, reply.read()
    finally:
        connection.close()


def test_the_example_project_under_gunicorn() -> None:
    pytest.importorskip("django")
    port = free_port()
    args = [
        str(BIN / "gunicorn"),
        "--bind",
        f"127.0.0.1:{port}",
        "examples.django.wsgi:application",
    ]
    with serve(args, port, {"WRENN_WEBHOOK_SECRET": SECRET}) as server:
        event = make_event(CapsulePause, outcome="error", now=datetime.now(timezone.utc))
        body, headers = signed_request(event, SECRET)
        assert post(port, "/webhooks/wrenn", body, headers)[0] == 200
        again, answer = post(port, "/webhooks/wrenn/", body, signed_request(body, SECRET)[1])
        assert (again, b'"duplicate": true' in answer) == (200, True)
        wrong = signed_request(body, "x" * 64)[1]
        assert post(port, "/webhooks/wrenn", body, wrong)[0] == 401
    assert f"capsule {event.capsule_id} failed to pause" in server.output
    assert "Traceback" not in server.output
