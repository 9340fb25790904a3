"""The hostile requests of ``tests/hostile_cases.py``, as Lambda events: never a 5xx, never a write.

Behind API Gateway or a function URL there is no HTTP framing to attack: AWS reads
the request, and the function gets its method, path, headers and whole body in an
event. So the cases about Content-Length, framing and chunked bodies do not apply;
every other one (header shapes, encodings, the request line, timestamps, bodies) is
turned from its raw bytes into an event of each format, with the body as text when it
is UTF-8 and base64-encoded too, and must get the answer werkzeug gives it, but for
two limits of an HTTP server that are API Gateway's business in front of Lambda.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from tests.conftest import T0, Clock
from tests.hostile_cases import CASES, Case, Target, event_body, request, signature_headers
from tests.test_aws_lambda import FORMATS, CountingStore
from tests.vectors import SECRET
from wrenn_webhooks import CapsulePause, WebhookReceiver
from wrenn_webhooks.aws_lambda import LambdaHandler, lambda_handler

KINDS = {"headers", "encoding", "request line", "timestamp", "body"}
"""What reaches a Lambda function; the framing of the body is AWS's to read."""

LAMBDA_ANSWERS = {
    # werkzeug refuses more than 100 headers (431); API Gateway has limits of its own.
    "headers: 150 extra headers": "401",
    # The route is API Gateway's to match: the handler answers whatever path reaches it.
    "request line: a 10,000-character path": "401",
}

APPLICABLE = [case for case in CASES if case.kind in KINDS]


@dataclass
class Request:
    method: str
    path: str
    headers: list[tuple[str, str]]
    body: bytes


def parse(raw: bytes) -> Request:
    """The method, path, headers and body of raw request bytes, as AWS would pass them on.

    Header bytes are read as latin-1; a line folded onto the next (obs-fold) is
    unfolded with a space, as RFC 9112 lets a recipient do.
    """
    head, _, body = raw.partition(b"\r\n\r\n")
    line, *fields = head.split(b"\r\n")
    method, path, _ = line.decode("latin-1").split(" ", 2)
    headers: list[tuple[str, str]] = []
    for field in fields:
        text = field.decode("latin-1")
        if text[:1] in (" ", "\t") and headers:
            name, value = headers[-1]
            headers[-1] = (name, value + " " + text.strip(" \t"))
            continue
        name, _, value = text.partition(":")
        headers.append((name, value.strip(" \t")))
    return Request(method, path, headers, body)


def utf8(body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


@pytest.fixture
def target() -> Target:
    return Target("abc.execute-api.us-east-1.amazonaws.com", SECRET, T0)


@pytest.fixture
def store() -> CountingStore:
    return CountingStore()


@pytest.fixture
def handler(store: CountingStore) -> LambdaHandler:
    receiver = WebhookReceiver(SECRET, clock=Clock(), idempotency=store)  # the default 1 MiB
    receiver.on(CapsulePause)(lambda event: None)
    return lambda_handler(receiver)


def invoke(
    handler: LambdaHandler, kind: str, raw: bytes, *, encoded: bool
) -> tuple[int, dict[str, Any]]:
    req = parse(raw)
    event = FORMATS[kind](
        req.body, req.headers, method=req.method, path=req.path, base64_encoded=encoded
    )
    result = handler(json.loads(json.dumps(event)), None)
    return result["statusCode"], json.loads(result["body"])


@pytest.mark.parametrize("encoded", [False, True], ids=["text", "base64"])
@pytest.mark.parametrize("kind", sorted(FORMATS))
@pytest.mark.parametrize("case", APPLICABLE, ids=[case.id for case in APPLICABLE])
def test_hostile_request_as_a_lambda_event(
    handler: LambdaHandler,
    store: CountingStore,
    target: Target,
    case: Case,
    kind: str,
    encoded: bool,
) -> None:
    raw = case.build(target)
    encoded = encoded or not utf8(parse(raw).body)  # AWS encodes what is not text
    status, answer = invoke(handler, kind, raw, encoded=encoded)
    assert status < 500
    assert str(status) == LAMBDA_ANSWERS.get(case.id, case.werkzeug), answer
    assert answer["ok"] is False
    assert store.claims == 0


def test_the_differences_from_werkzeug_are_real_cases() -> None:
    ids = {case.id for case in APPLICABLE}
    assert set(LAMBDA_ANSWERS) <= ids
    assert len(APPLICABLE) >= 40


@pytest.mark.parametrize("kind", sorted(FORMATS))
def test_a_valid_delivery_writes(
    handler: LambdaHandler, store: CountingStore, target: Target, kind: str
) -> None:
    """The same path and parser: the store check above can fail."""
    body = event_body(target)
    raw = request(target, signature_headers(target, body), body)
    assert invoke(handler, kind, raw, encoded=False)[0] == 200
    assert store.claims == 1
