"""Properties of ``WebhookReceiver.handle()`` and the Flask blueprint, for any request.

Requests are generated mostly invalid (arbitrary bodies, headers missing, repeated
in several spellings, of any value, type and size) with some correctly signed. The
judge of "correctly signed" is computed here with ``hmac`` from the values sent,
not by the SDK. Properties:

- the status is always one of the contract's, and never 500 unless a handler raised;
- no handler runs for a request that does not carry a correct signature over a
  timestamp within the tolerance;
- a correctly signed request is answered 200 or 400 (400 exactly when the body is
  not an event), or 500 only when a handler raised;
- every answer is a JSON object that holds no secret;
- over any interleaving of Wrenn-style redeliveries, with handlers failing their
  first attempts, every handler succeeds exactly once per event and every later
  attempt is answered 200 duplicate.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import tempfile
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from werkzeug.datastructures import Headers

from tests.conftest import T0, Clock
from tests.strategies import events
from tests.vectors import SECRET
from wrenn_webhooks import (
    Delivery,
    Event,
    InvalidPayload,
    MemoryIdempotencyStore,
    SQLiteIdempotencyStore,
    WebhookReceiver,
    parse_event,
)
from wrenn_webhooks.encoding import encode_event
from wrenn_webhooks.flask import blueprint
from wrenn_webhooks.testing import make_event

CONTRACT = frozenset({200, 202, 400, 401, 409, 413, 500, 503})
OLD_SECRET = "ancien-secret-é☃-7d2f-b41c09e5a8d36f27"  # non-ASCII: keyed as UTF-8 text
SECRETS = (SECRET, OLD_SECRET)
MAX_BODY = 4096
TOLERANCE = 300
NAMES = ("X-Wrenn-Signature", "X-Wrenn-Timestamp", "X-Wrenn-Delivery")
NOW = T0.timestamp()

FAST = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def digest(secret: str, stamp: str, body: bytes) -> str:
    """The signature Wrenn would send, computed independently of the SDK."""
    return hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()


# --- request generation ---------------------------------------------------------


@dataclass
class Request:
    """One generated request, and what the generator knows about it."""

    body: bytes
    pairs: list[tuple[str, object]]
    fresh_stamps: set[str] = field(default_factory=set)
    """Timestamps sent that are well formed and within the tolerance of ``NOW``."""

    def carries_valid_signature(self) -> bool:
        """Some signature value sent is correct for some fresh timestamp sent."""
        values: dict[str, list[str]] = {name.lower(): [] for name in NAMES}
        for name, value in self.pairs:
            text = value.decode("latin-1") if isinstance(value, bytes) else value
            if isinstance(text, str) and name.lower() in values:
                values[name.lower()].append(text)
        for stamp in values["x-wrenn-timestamp"]:
            if stamp not in self.fresh_stamps:
                continue
            expected = {digest(secret, stamp, self.body) for secret in SECRETS}
            for signature in values["x-wrenn-signature"]:
                if signature.startswith("sha256=") and signature[7:].lower() in expected:
                    return True
        return False


def wrenn_stamp(skew: int, offset_minutes: int = 0, style: int = 0) -> str:
    """An RFC 3339 signing time ``skew`` seconds before ``NOW``, in one of its spellings."""
    moment = T0 - timedelta(seconds=skew)
    if style == 0:
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    local = moment.astimezone(timezone(timedelta(minutes=offset_minutes)))
    text = local.isoformat()
    if style == 2:
        text = text.replace("T", "t").replace("+00:00", "z")
    if style == 3:
        text = text[:19] + ".000123" + text[19:]
    return text


fresh_stamps = st.builds(
    wrenn_stamp,
    st.integers(-TOLERANCE + 1, TOLERANCE - 1),
    st.integers(-14 * 60, 14 * 60),
    st.integers(0, 3),
)
stale_stamps = st.builds(
    wrenn_stamp,
    st.one_of(st.integers(TOLERANCE + 2, 10**8), st.integers(-(10**8), -TOLERANCE - 2)),
    st.integers(-14 * 60, 14 * 60),
    st.integers(0, 3),
)
# Odd text: non-ASCII, control characters, almost-timestamps and huge values.
odd_text = st.one_of(
    st.text(max_size=80),
    st.text(st.characters(codec="ascii"), max_size=80),
    st.sampled_from(
        [
            "",
            " ",
            "sha256=",
            "2026-05-24T21:10:37",
            "2026-05-24 21:10:37Z",
            "2026-02-30T21:10:37Z",
            "2026-05-24T24:00:00Z",
            "2026-05-24T21:10:37+24:00",
            "\uff11\uff12\uff13",  # fullwidth digits
            "\u0662\u0660\u0662\u0666-05-24T21:10:37Z",  # Arabic-Indic digits
            "sha256=" + "g" * 64,
            "sha256=" + "A" * 64,
            "SHA256=" + "0" * 64,
            "sha256=" + "é" * 64,
            "sha256=" + "0" * 65,
        ]
    ),
    st.integers(1000, 100_000).map(lambda n: "x" * n),
)
bodies = st.one_of(
    st.binary(max_size=600),
    st.text(max_size=200).map(str.encode),
    events().map(encode_event),
    events().map(lambda e: encode_event(e)[:-1]),  # cut short
    st.sampled_from([b"", b"{}", b"[]", b"null", b'{"event":1}', b"\xff\xfe", b'"x"', b"1e999"]),
    st.integers(MAX_BODY - 2, MAX_BODY + 2000).map(lambda n: b"{" + b" " * (n - 2) + b"}"),
)
valid_bodies = st.one_of(
    events().map(encode_event),
    st.binary(max_size=300),
    st.text(max_size=100).map(str.encode),
    st.sampled_from([b"", b"{}", b'{"event":"capsule.pause"}', b"\x00", b"\xc3("]),
)


def spell(name: str) -> st.SearchStrategy[str]:
    """The header's name in one of its spellings (names are case-insensitive)."""
    mixed = st.lists(st.booleans(), min_size=len(name), max_size=len(name)).map(
        lambda flags: "".join(
            c.upper() if f else c.lower() for c, f in zip(name, flags, strict=True)
        )
    )
    return st.one_of(st.just(name), st.just(name.lower()), st.just(name.upper()), mixed)


def as_value(draw: st.DrawFn, text: str) -> object:
    """A header value as an adapter could pass it: ``str``, ``bytes``, rarely not text."""
    kind = draw(st.integers(0, 9))
    if kind == 0:
        return text.encode("utf-8", "surrogatepass")
    if kind == 1:
        return draw(st.sampled_from([None, 7, 1.5, ["x"]]))
    return text


@st.composite
def requests(draw: st.DrawFn) -> Request:
    """Mostly invalid requests; about one in three starts from a correct signature."""
    body = draw(bodies)
    sign_it = draw(st.integers(0, 2)) == 0
    fresh: set[str] = set()
    stamps: list[str] = []
    if sign_it:
        stamps.append(draw(fresh_stamps))
        fresh.add(stamps[0])
    for _ in range(draw(st.integers(0, 1 if sign_it else 2))):
        kind = draw(st.integers(0, 3))
        if kind <= 1:
            stamp = draw(fresh_stamps)
            fresh.add(stamp)
        elif kind == 2:
            stamp = draw(stale_stamps)
        else:
            stamp = draw(odd_text)
        stamps.append(stamp)
    signatures: list[str] = []
    if sign_it:
        signatures.append("sha256=" + digest(draw(st.sampled_from(SECRETS)), stamps[0], body))
    for _ in range(draw(st.integers(0, 1 if sign_it else 2))):
        kind = draw(st.integers(0, 4))
        if kind <= 1 and stamps:
            secret = draw(st.sampled_from([*SECRETS, "wrong-secret"]))
            stamp = draw(st.sampled_from(stamps))
            try:
                value = digest(secret, stamp, body)
            except UnicodeEncodeError:  # a lone surrogate: no sender could sign it
                value = "0" * 64
            signatures.append("sha256=" + (value.upper() if draw(st.booleans()) else value))
        elif kind == 2:
            signatures.append("sha256=" + draw(st.binary(min_size=32, max_size=32)).hex())
        else:
            signatures.append(draw(odd_text))
    uuids = st.builds(lambda: str(uuid.uuid4()))
    deliveries = draw(
        st.one_of(
            st.just([]),
            uuids.map(lambda value: [value]),
            st.lists(st.one_of(uuids, odd_text), max_size=2),
        )
    )
    pairs: list[tuple[str, object]] = []
    for name, values in zip(NAMES, (signatures, stamps, deliveries), strict=True):
        for value in values:
            pairs.append((draw(spell(name)), as_value(draw, value)))
    for _ in range(draw(st.integers(0, 2))):
        pairs.append((draw(st.from_regex(r"X-[A-Za-z0-9-]{1,12}", fullmatch=True)), "v"))
    pairs = draw(st.permutations(pairs))
    return Request(body, pairs, fresh)


@st.composite
def signed_requests(draw: st.DrawFn) -> Request:
    """A correctly signed request with an arbitrary body, one header each, any spelling."""
    body = draw(valid_bodies)
    stamp = draw(fresh_stamps)
    secret = draw(st.sampled_from(SECRETS))
    pairs: list[tuple[str, object]] = [
        (draw(spell(NAMES[0])), "sha256=" + digest(secret, stamp, body)),
        (draw(spell(NAMES[1])), stamp),
    ]
    if draw(st.booleans()):
        pairs.append((draw(spell(NAMES[2])), str(uuid.uuid4())))
    if draw(st.booleans()):
        pairs = [(k, v.encode() if isinstance(v, str) else v) for k, v in pairs]
    return Request(body, draw(st.permutations(pairs)), {stamp})


def container(draw: st.DrawFn, pairs: list[tuple[str, object]]) -> Any:
    """Pass the headers as a ``dict``, a list of pairs (``str`` or ``bytes``) or ``Headers``."""
    kind = draw(st.integers(0, 3))
    if kind == 0:
        return dict(pairs)
    if kind == 1:
        return [(k.encode("utf-8", "surrogatepass"), v) for k, v in pairs]
    if kind == 2 and all(isinstance(v, str) and "\r" not in v and "\n" not in v for _, v in pairs):
        return Headers(pairs)  # type: ignore[arg-type]  # (werkzeug refuses line breaks)
    return list(pairs)


# --- receivers ---------------------------------------------------------------------


class Recorder:
    """Two handlers on every event; each records its calls; one may be told to raise."""

    def __init__(self, receiver: WebhookReceiver, *, failing: bool = False) -> None:
        self.calls: list[tuple[str, str]] = []
        self.raised = 0
        self.failing = failing

        def first(event: Event, delivery: Delivery) -> None:
            self.calls.append(("first", event.event))

        def second(event: Event) -> None:
            self.calls.append(("second", event.event))
            if self.failing:
                self.raised += 1
                raise RuntimeError("second handler failed")

        receiver.add(first, "*")
        receiver.add(second, "*")


def new_receiver(*, failing: bool = False) -> tuple[WebhookReceiver, Recorder]:
    receiver = WebhookReceiver(SECRETS, max_body_bytes=MAX_BODY, clock=Clock(NOW))
    return receiver, Recorder(receiver, failing=failing)


def check_answer(status: int, answer: object, recorder: Recorder, request: Request) -> None:
    event(f"status {status}")
    assert status in CONTRACT
    assert status != 500 or recorder.raised, answer
    assert isinstance(answer, dict)
    text = json.dumps(answer, ensure_ascii=False)
    assert not any(secret in text for secret in SECRETS)
    if recorder.calls:
        assert request.carries_valid_signature(), recorder.calls


def expect_for_signed(request: Request, status: int, recorder: Recorder) -> None:
    try:
        parse_event(request.body)
    except InvalidPayload:
        assert status == 400
        assert not recorder.calls
    else:
        assert status == (500 if recorder.failing else 200)
        assert [name for name, _ in recorder.calls] == ["first", "second"]


# --- properties: handle() ----------------------------------------------------------


@FAST
@given(request=requests(), data=st.data(), failing=st.booleans())
def test_handle_any_request(request: Request, data: st.DataObject, failing: bool) -> None:
    receiver, recorder = new_receiver(failing=failing)
    response = receiver.handle(request.body, container(data.draw, request.pairs))
    check_answer(response.status_code, response.body, recorder, request)
    assert response.headers["Content-Type"] == "application/json"
    if len(request.body) > MAX_BODY:
        assert response.status_code == 413
        assert not recorder.calls


@FAST
@given(request=signed_requests(), data=st.data(), failing=st.booleans())
def test_handle_signed_request(request: Request, data: st.DataObject, failing: bool) -> None:
    receiver, recorder = new_receiver(failing=failing)
    response = receiver.handle(request.body, container(data.draw, request.pairs))
    check_answer(response.status_code, response.body, recorder, request)
    expect_for_signed(request, response.status_code, recorder)


# --- properties: the Flask blueprint -----------------------------------------------


def wsgi_text(value: object) -> str:
    """A value as a WSGI server hands it on: raw bytes read as latin-1, one line."""
    raw = value if isinstance(value, bytes) else str(value).encode("utf-8", "surrogatepass")
    return raw.decode("latin-1").replace("\r", "").replace("\n", "")


def flask_post(receiver: WebhookReceiver, request: Request) -> tuple[int, object]:
    app = Flask(__name__)
    app.register_blueprint(blueprint(receiver), url_prefix="/webhooks/wrenn")
    headers = [(name, wsgi_text(value)) for name, value in request.pairs if value is not None]
    reply = app.test_client().post("/webhooks/wrenn", data=request.body, headers=headers)
    assert reply.mimetype == "application/json"
    return reply.status_code, reply.get_json()


@FAST
@given(request=requests(), failing=st.booleans())
def test_blueprint_any_request(request: Request, failing: bool) -> None:
    receiver, recorder = new_receiver(failing=failing)
    status, answer = flask_post(receiver, request)
    check_answer(status, answer, recorder, request)
    if len(request.body) > MAX_BODY:
        assert status == 413


@FAST
@given(request=signed_requests(), failing=st.booleans())
def test_blueprint_signed_request(request: Request, failing: bool) -> None:
    receiver, recorder = new_receiver(failing=failing)
    status, answer = flask_post(receiver, request)
    check_answer(status, answer, recorder, request)
    expect_for_signed(request, status, recorder)


# --- a sequence property: Wrenn-style redeliveries, interleaved -------------------


@st.composite
def schedules(draw: st.DrawFn) -> tuple[list[tuple[int, int, int]], list[int]]:
    """Per event ``(attempts, failures of handler a, failures of handler b)`` and an order.

    Each handler fails fewer times than the event is delivered, so Wrenn's retries
    are enough to handle every event.
    """
    plan = []
    for _ in range(draw(st.integers(1, 5))):
        attempts = draw(st.integers(1, 3))
        plan.append(
            (attempts, draw(st.integers(0, attempts - 1)), draw(st.integers(0, attempts - 1)))
        )
    order = [index for index, (attempts, _, _) in enumerate(plan) for _ in range(attempts)]
    return plan, draw(st.permutations(order))


@pytest.mark.parametrize("store", ["memory", "sqlite"])
@settings(max_examples=60, deadline=None)
@given(schedule=schedules(), steps=st.data(), via_flask=st.booleans())
def test_redeliveries_handle_each_event_once(
    store: str,
    schedule: tuple[list[tuple[int, int, int]], list[int]],
    steps: st.DataObject,
    via_flask: bool,
) -> None:
    plan, order = schedule
    clock = Clock(NOW)
    with tempfile.TemporaryDirectory() as folder:
        idempotency = (
            MemoryIdempotencyStore()
            if store == "memory"
            else SQLiteIdempotencyStore(Path(folder) / "idem.db")
        )
        receiver = WebhookReceiver(SECRET, idempotency=idempotency, clock=clock)
        bodies = [
            encode_event(make_event("capsule.destroy", now=NOW, seed=index))
            for index in range(len(plan))
        ]
        index_of = {parse_event(body).resource.id: index for index, body in enumerate(bodies)}
        answers: list[list[tuple[int, dict[str, Any]]]] = [[] for _ in plan]
        runs: Counter[tuple[str, int]] = Counter()
        successes: Counter[tuple[str, int]] = Counter()

        def run(name: str, event: Event, failures: int) -> None:
            index = index_of[event.resource.id]
            runs[name, index] += 1
            if runs[name, index] <= failures:
                raise ConnectionError(f"{name} failed on attempt {runs[name, index]}")
            successes[name, index] += 1

        @receiver.on("capsule.destroy")
        def audit(event: Event) -> None:
            run("audit", event, plan[index_of[event.resource.id]][1])

        @receiver.on("capsule.destroy")
        def bill(event: Event, delivery: Delivery) -> None:
            index = index_of[event.resource.id]
            assert delivery.redelivery == (len(answers[index]) > 0)  # answers so far
            run("bill", event, plan[index][2])

        client = None
        if via_flask:
            app = Flask(__name__)
            app.register_blueprint(blueprint(receiver), url_prefix="/webhooks/wrenn")
            client = app.test_client()
        for index in order:
            clock.advance(steps.draw(st.integers(0, 40), label="seconds before the attempt"))
            stamp = datetime.fromtimestamp(clock.now, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
            headers = {
                "X-Wrenn-Signature": "sha256=" + digest(SECRET, stamp, bodies[index]),
                "X-Wrenn-Timestamp": stamp,
                "X-Wrenn-Delivery": str(uuid.uuid4()),
            }
            if client is not None:
                reply = client.post("/webhooks/wrenn", data=bodies[index], headers=headers)
                answers[index].append((reply.status_code, reply.get_json()))
            else:
                response = receiver.handle(bodies[index], headers)
                answers[index].append((response.status_code, response.body))
        if isinstance(idempotency, SQLiteIdempotencyStore):
            idempotency.close()

    for index, (attempts, fail_a, fail_b) in enumerate(plan):
        assert successes["audit", index] == 1
        assert successes["bill", index] == 1
        assert runs["audit", index] == fail_a + 1
        assert runs["bill", index] == fail_b + 1
        needed = max(fail_a, fail_b) + 1
        statuses = [status for status, _ in answers[index]]
        assert statuses == [500] * (needed - 1) + [200] * (attempts - needed + 1)
        for _, body in answers[index][needed:]:
            assert body == {"ok": True, "event": "capsule.destroy", "handled": 0, "duplicate": True}


# --- an RFC 3339 time that overflows when moved to UTC is malformed, not a 500 -----


@pytest.mark.parametrize("stamp", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_timestamp_at_the_edge_of_the_datetime_range_is_a_401(stamp: str) -> None:
    receiver, _ = new_receiver()
    headers = {NAMES[0]: "sha256=" + "0" * 64, NAMES[1]: stamp}
    response = receiver.handle(b"{}", headers)
    assert response.status_code == 401
