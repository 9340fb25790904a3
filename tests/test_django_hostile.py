"""The hostile-request table against the example Django project under gunicorn.

Answers are gunicorn's column of ``tests/hostile_cases.py`` but for chunked
bodies: Django's WSGI request reads no body without a ``Content-Length``, so
every chunked request reaches the view empty and fails its signature (401).
Wrenn always sends a ``Content-Length``; the refusal is what matters.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone

import pytest

from tests.hostile_cases import CASES, Case, Target, exchange
from tests.servers import BIN, Server, free_port, serve

SECRET = "h0st1le5ecreth0st1le5ecreth0st1le5ecreth0st1le5ecreth0st1le5ecre"


def expected(case: Case) -> str:
    return "401" if case.kind == "chunked" else case.gunicorn


@pytest.fixture(scope="module")
def django_server() -> Iterator[tuple[int, Server]]:
    pytest.importorskip("django")
    port = free_port()
    args = [
        str(BIN / "gunicorn"),
        "--bind",
        f"127.0.0.1:{port}",
        "examples.django.wsgi:application",
    ]
    with serve(args, port, {"WRENN_WEBHOOK_SECRET": SECRET}) as server:
        yield port, server
    assert "Traceback" not in server.output, server.output[-4000:]


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_hostile_request_under_django(django_server: tuple[int, Server], case: Case) -> None:
    port, _ = django_server
    target = Target(f"127.0.0.1:{port}", SECRET, datetime.now(timezone.utc))
    answer = exchange(port, case.build(target), stall=case.stall)
    assert not answer.startswith("5"), answer
    assert answer == expected(case)
