"""The hostile-request table against the example Django project under gunicorn.

Every answer is gunicorn's column of ``tests/hostile_cases.py`` (the Flask
example's under the same server), but for chunked bodies: Django's WSGI request
passes on no body without a ``Content-Length``, so the view answers a chunked
request 411 (Length Required) before anything is read, where the Flask route
reads the chunks. Wrenn always sends a ``Content-Length``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

from tests.hostile_cases import CASES, Case, Target, exchange, request, signature_headers
from tests.servers import BIN, free_port, serve, store_records
from wrenn_webhooks import CapsulePause
from wrenn_webhooks.testing import encode_event, make_event

pytest.importorskip("django")

SECRET = "h0st1le5ecreth0st1le5ecreth0st1le5ecreth0st1le5ecreth0st1le5ecre"


def expected(case: Case) -> str:
    return "411" if case.kind == "chunked" else case.gunicorn


@pytest.fixture(scope="module")
def django_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    """The example project under gunicorn, with a SQLite store to count what was written."""
    store = tmp_path_factory.mktemp("hostile-django") / "idempotency.db"
    port = free_port()
    args = [
        str(BIN / "gunicorn"),
        "--bind",
        f"127.0.0.1:{port}",
        "examples.django.wsgi:application",
    ]
    env = {"WRENN_WEBHOOK_SECRET": SECRET, "WRENN_WEBHOOK_STORE": f"sqlite:///{store}"}
    with serve(args, port, env) as server:
        yield port, store
    assert "Traceback" not in server.output, server.output[-4000:]


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_hostile_request_under_django(django_server: tuple[int, Path], case: Case) -> None:
    port, _ = django_server
    target = Target(f"127.0.0.1:{port}", SECRET, datetime.now(timezone.utc))
    answer = exchange(port, case.build(target), stall=case.stall)
    assert not answer.startswith("5"), answer
    assert answer == expected(case)


def test_no_hostile_request_wrote_and_a_valid_delivery_does(
    django_server: tuple[int, Path],
) -> None:
    port, store = django_server
    assert store_records(store) == 0
    target = Target(f"127.0.0.1:{port}", SECRET, datetime.now(timezone.utc))
    body = encode_event(make_event(CapsulePause, outcome="error", now=target.now))
    assert exchange(port, request(target, signature_headers(target, body), body)) == "200"
    assert store_records(store) == 1
