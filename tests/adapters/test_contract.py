"""The status contract through every framework adapter: one suite, parametrised.

Adapters are found as ``tests/adapters/*_client.py`` (see ``contract.py``).
"""

from __future__ import annotations

import hashlib
import importlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.adapters.contract import Client, ClientFactory
from tests.conftest import Clock, event_body, signed
from tests.vectors import SAMPLE_BODY, SECRET
from wrenn_webhooks import CapsulePause, MemoryIdempotencyStore, WebhookReceiver
from wrenn_webhooks.errors import StoreError
from wrenn_webhooks.observe import DeliveryReport, HandlerReport, Observer

ADAPTERS = sorted(
    path.stem.removesuffix("_client") for path in Path(__file__).parent.glob("*_client.py")
)


def factory(name: str) -> ClientFactory:
    module = importlib.import_module(f"tests.adapters.{name}_client")
    return module.make_client  # type: ignore[no-any-return]


@pytest.fixture(params=ADAPTERS)
def adapter(request: pytest.FixtureRequest) -> ClientFactory:
    return factory(request.param)


@pytest.fixture
def receiver(clock: Clock) -> WebhookReceiver:
    return WebhookReceiver(SECRET, clock=clock, max_body_bytes=4096)


@pytest.fixture
def client(adapter: ClientFactory, receiver: WebhookReceiver) -> Iterator[Client]:
    with adapter(receiver) as client:
        yield client


def test_at_least_the_known_adapters_are_tested() -> None:
    assert {
        "flask",
        "django",
        "asgi",
        "aws_lambda",
        "aws_lambda_http_api",
        "aws_lambda_function_url",
    } <= set(ADAPTERS)


@pytest.mark.parametrize("slash", [False, True])
def test_handled_is_200_on_both_spellings_of_the_path(
    receiver: WebhookReceiver, adapter: ClientFactory, clock: Clock, slash: bool
) -> None:
    seen: list[str] = []
    receiver.on(CapsulePause)(lambda event: seen.append(event.capsule_id))
    with adapter(receiver) as client:
        body, headers = signed(SAMPLE_BODY, clock)
        answer = client.request("POST", body, headers, slash=slash)
    assert (answer.status, answer.body) == (
        200,
        {"ok": True, "event": "capsule.pause", "handled": 1},
    )
    assert answer.headers["content-type"].startswith("application/json")
    assert len(seen) == 1


def test_duplicate_unknown_type_and_no_handler(
    receiver: WebhookReceiver, adapter: ClientFactory, clock: Clock
) -> None:
    receiver.on(CapsulePause)(lambda event: None)
    with adapter(receiver) as client:
        body, headers = signed(SAMPLE_BODY, clock)
        assert client.request("POST", body, headers).body["handled"] == 1
        assert client.request("POST", body, headers).body["duplicate"] is True
        unknown = client.request("POST", *signed(event_body("widget.frob", None), clock))
    assert (unknown.status, unknown.body["handled"]) == (200, 0)


@pytest.mark.parametrize(
    ("spoil", "status", "words"),
    [
        (lambda h: {k: v for k, v in h.items() if k != "X-Wrenn-Signature"}, 401, "missing"),
        (lambda h: {**h, "X-Wrenn-Signature": "sha256=" + "0" * 64}, 401, "does not match"),
        (lambda h: {**h, "X-Wrenn-Timestamp": "2020-01-01T00:00:00Z"}, 401, "tolerance"),
        (lambda h: {**h, "X-Wrenn-Signature": "md5=1"}, 401, "sha256="),
    ],
)
def test_refused_signatures_are_401(
    client: Client, clock: Clock, spoil: Any, status: int, words: str
) -> None:
    body, headers = signed(SAMPLE_BODY, clock)
    answer = client.request("POST", body, spoil(headers))
    assert answer.status == status
    assert answer.body["ok"] is False and words in answer.body["error"]
    assert SECRET not in str(answer.body)


def test_a_signed_non_event_is_400(client: Client, clock: Clock) -> None:
    answer = client.request("POST", *signed(b'{"event":"capsule.pause"}', clock))
    assert answer.status == 400 and "invalid event" in answer.body["error"]


def test_a_body_over_the_limit_is_413(client: Client, clock: Clock) -> None:
    answer = client.request("POST", *signed(b" " * 5000, clock))
    assert answer.status == 413 and "4096" in answer.body["error"]


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_other_methods_are_405_with_allow(client: Client, method: str) -> None:
    answer = client.request(method)
    assert answer.status == 405
    assert "POST" in answer.headers["allow"]


def test_a_handler_failure_is_500_and_the_retry_reruns_only_it(
    receiver: WebhookReceiver, adapter: ClientFactory, clock: Clock
) -> None:
    calls: list[str] = []
    failing = [True]

    @receiver.on(CapsulePause)
    def steady(event: CapsulePause) -> None:
        calls.append("steady")

    @receiver.on(CapsulePause)
    def flaky(event: CapsulePause) -> None:
        calls.append("flaky")
        if failing[0]:
            raise RuntimeError("boom")

    with adapter(receiver) as client:
        body, headers = signed(SAMPLE_BODY, clock)
        failed = client.request("POST", body, headers)
        failing[0] = False
        retried = client.request("POST", body, headers)
    assert failed.status == 500 and "boom" not in str(failed.body)
    assert (retried.status, retried.body["handled"]) == (200, 1)
    assert calls == ["steady", "flaky", "flaky"]


def test_in_flight_is_409_with_retry_after(adapter: ClientFactory, clock: Clock) -> None:
    store = MemoryIdempotencyStore()
    receiver = WebhookReceiver(SECRET, clock=clock, idempotency=store)
    receiver.on(CapsulePause)(lambda event: None)
    body, headers = signed(SAMPLE_BODY, clock)
    store.claim(hashlib.sha256(body).hexdigest(), now=clock.now, lease=30)
    with adapter(receiver) as client:
        answer = client.request("POST", body, headers)
    assert answer.status == 409 and answer.headers["retry-after"]


def test_an_unavailable_store_is_503(adapter: ClientFactory, clock: Clock) -> None:
    class Down(MemoryIdempotencyStore):
        def claim(self, *args: Any, **kwargs: Any) -> Any:
            raise StoreError("redis://10.0.0.7: connection refused")

    receiver = WebhookReceiver(SECRET, clock=clock, idempotency=Down())
    receiver.on(CapsulePause)(lambda event: None)
    with adapter(receiver) as client:
        answer = client.request("POST", *signed(SAMPLE_BODY, clock))
    assert (answer.status, answer.headers["retry-after"]) == (503, "10")
    assert "10.0.0.7" not in str(answer.body)


class Recorder(Observer):
    """Every report the receiver gives, in order."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, Any]] = []

    def delivery_started(self, size: int | None) -> None:
        self.seen.append(("started", size))

    def delivery_finished(self, report: DeliveryReport) -> None:
        self.seen.append(("finished", report))

    def handler_finished(self, report: HandlerReport) -> None:
        self.seen.append(("handler", report))


def test_every_answer_is_observed_once(
    receiver: WebhookReceiver, adapter: ClientFactory, clock: Clock
) -> None:
    """Each request the adapter answers for the receiver: one start, one finish, its status."""
    recorder = receiver.add_observer(Recorder())
    receiver.on(CapsulePause)(lambda event: None)
    body, headers = signed(SAMPLE_BODY, clock)
    with adapter(receiver) as client:
        answers = [
            client.request("POST", body, headers),
            client.request("POST", body, headers),  # a duplicate
            client.request("POST", body, {**headers, "X-Wrenn-Signature": "sha256=" + "0" * 64}),
            client.request("POST", *signed(b" " * 5000, clock)),
            client.request("POST", *signed(b"{}", clock)),
        ]
    statuses = [answer.status for answer in answers]
    assert statuses == [200, 200, 401, 413, 400]
    finished = [report for kind, report in recorder.seen if kind == "finished"]
    assert [report.status for report in finished] == statuses
    assert [kind for kind, _ in recorder.seen] == [
        "started",
        "handler",
        "finished",
        "started",
        "finished",
        "started",
        "finished",
        "started",
        "finished",
        "started",
        "finished",
    ]
    handled, duplicate, refused = finished[:3]
    assert (handled.event_type, handled.outcome, handled.duplicate) == (
        "capsule.pause",
        "error",
        False,
    )
    assert duplicate.duplicate and handled.delivery_id == headers["X-Wrenn-Delivery"]
    assert refused.response.delivery is None and refused.event_type is None
    assert all(report.duration >= 0 for report in finished)
