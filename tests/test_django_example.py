"""The example Django project (``examples/django/``) in processes of its own.

Under gunicorn (WSGI, the plain view) and under uvicorn (ASGI, the async view of
``async_urls.py``): signed events are handled on both spellings of the path,
wrong signatures refused, other methods answered 405. ``manage.py check``
reports a missing secret, as it imports the URL configuration.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

import pytest

from tests.servers import BIN, PYTHON, free_port, run_until_exit, serve
from wrenn_webhooks import CapsuleDestroy, CapsulePause, Event
from wrenn_webhooks.testing import make_event, signed_request

pytest.importorskip("django")

SECRET = "dj4ng0dj4ng0dj4ng0dj4ng0dj4ng0dj4ng0dj4ng0dj4ng0dj4ng0dj4ng0dj4n"


def send(
    port: int, method: str, path: str, body: bytes, headers: dict[str, str]
) -> tuple[int, Any]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request(method, path, body, headers)
        reply = connection.getresponse()
        return reply.status, json.loads(reply.read() or b"null")
    finally:
        connection.close()


def event(cls: type[Event], capsule: str, **fields: object) -> Event:
    resource = {"id": capsule, "type": "sandbox"}
    return make_event(cls, now=datetime.now(timezone.utc), resource=resource, **fields)


def exercise(port: int, events: Sequence[Event]) -> None:
    """Deliver ``events`` alternately to both spellings, then the refusals."""
    for number, item in enumerate(events):
        body, headers = signed_request(item, SECRET)
        status, answer = send(port, "POST", "/webhooks/wrenn" + "/" * (number % 2), body, headers)
        assert (status, answer["handled"]) == (200, 1), answer
    again, answer = send(port, "POST", "/webhooks/wrenn/", *signed_request(body, SECRET))
    assert (again, answer["duplicate"]) == (200, True)
    assert send(port, "POST", "/webhooks/wrenn", *signed_request(body, "x" * 64))[0] == 401
    assert send(port, "GET", "/webhooks/wrenn", b"", {})[0] == 405


def test_the_example_project_under_gunicorn() -> None:
    port = free_port()
    args = [
        str(BIN / "gunicorn"),
        "--bind",
        f"127.0.0.1:{port}",
        "examples.django.wsgi:application",
    ]
    with serve(args, port, {"WRENN_WEBHOOK_SECRET": SECRET}) as server:
        exercise(port, [event(CapsulePause, "sb-1", outcome="error", error="host unreachable")])
    assert "capsule sb-1 failed to pause: host unreachable" in server.output
    assert "Traceback" not in server.output


def test_the_async_view_under_uvicorn() -> None:
    port = free_port()
    args = [
        str(BIN / "uvicorn"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "examples.django.asgi:application",
    ]
    env = {"WRENN_WEBHOOK_SECRET": SECRET, "DJANGO_SETTINGS_MODULE": "tests.django_async_settings"}
    with serve(args, port, env) as server:
        exercise(
            port,
            [
                event(CapsulePause, "sb-2", outcome="error", error="host unreachable"),
                event(CapsuleDestroy, "sb-3", outcome="success"),
            ],
        )
    assert "capsule sb-2 failed to pause: host unreachable" in server.output  # on the loop
    assert "capsule sb-3 destroyed" in server.output  # in a worker thread
    assert "Traceback" not in server.output


@pytest.mark.parametrize(
    ("secret", "expected"),
    [
        (SECRET, "System check identified no issues"),
        ("", "ConfigurationError: set WRENN_WEBHOOK_SECRET to the channel's secret"),
    ],
    ids=["secret", "blank secret"],
)
def test_manage_py_check_builds_the_receiver_from_the_settings(secret: str, expected: str) -> None:
    status, output = run_until_exit(
        [PYTHON, "-m", "examples.django.manage", "check"],
        {"WRENN_WEBHOOK_SECRET": secret},
        unset=["DJANGO_SETTINGS_MODULE"],
        timeout=60,
    )
    assert expected in output
    assert status == (0 if secret else 1)
