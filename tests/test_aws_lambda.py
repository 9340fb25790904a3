"""``wrenn_webhooks.aws_lambda``: events in the three formats, and what the handler refuses.

The status contract every adapter shares runs through the handler in
``tests/adapters/aws_lambda*_client.py``; the hostile requests in
``tests/test_aws_lambda_hostile.py``; the documented function in
``tests/test_aws_lambda_example.py``. Events are built by the test kit.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import subprocess
import sys
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import Clock, event_body, signed
from tests.vectors import SAMPLE_BODY, SECRET
from wrenn_webhooks import CapsulePause, ConfigurationError, MemoryIdempotencyStore, WebhookReceiver
from wrenn_webhooks.aws_lambda import LambdaHandler, lambda_handler
from wrenn_webhooks.stores import Claim
from wrenn_webhooks.testing import api_gateway_event, function_url_event

Headers = dict[str, str] | Sequence[tuple[str, str]] | None
Build = Callable[..., dict[str, Any]]


def rest(body: bytes, headers: Headers = None, **options: Any) -> dict[str, Any]:
    return api_gateway_event(body, headers, version="1.0", **options)


def http_api(body: bytes, headers: Headers = None, **options: Any) -> dict[str, Any]:
    return api_gateway_event(body, headers, version="2.0", **options)


def url(body: bytes, headers: Headers = None, **options: Any) -> dict[str, Any]:
    return function_url_event(body, headers, **options)


FORMATS: dict[str, Build] = {"rest": rest, "http_api": http_api, "function_url": url}
SHAPE_10 = {"statusCode", "headers", "multiValueHeaders", "body", "isBase64Encoded"}
SHAPE_20 = {"statusCode", "headers", "body", "isBase64Encoded"}
SHAPES = {"rest": SHAPE_10, "http_api": SHAPE_20, "function_url": SHAPE_20}


class CountingStore(MemoryIdempotencyStore):
    """The in-memory store, counting claims: a refused event must never reach it."""

    def __init__(self) -> None:
        super().__init__()
        self.claims = 0

    def claim(self, key: str, *, now: float, lease: float) -> Claim:
        self.claims += 1
        return super().claim(key, now=now, lease=lease)


@pytest.fixture(params=sorted(FORMATS))
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def build(kind: str) -> Build:
    return FORMATS[kind]


@pytest.fixture
def store() -> CountingStore:
    return CountingStore()


@pytest.fixture
def handled() -> list[CapsulePause]:
    return []


@pytest.fixture
def receiver(clock: Clock, store: CountingStore, handled: list[CapsulePause]) -> WebhookReceiver:
    receiver = WebhookReceiver(SECRET, clock=clock, idempotency=store, max_body_bytes=4096)
    receiver.on(CapsulePause)(handled.append)
    return receiver


@pytest.fixture
def handler(receiver: WebhookReceiver) -> LambdaHandler:
    return lambda_handler(receiver)


def invoke(handler: LambdaHandler, event: object) -> tuple[int, dict[str, Any], dict[str, Any]]:
    """Invoke through JSON, as Lambda does; return the status, the JSON answer, the result."""
    if isinstance(event, dict):
        event = json.loads(json.dumps(event))
    result = handler(event, None)
    result = json.loads(json.dumps(result))
    return result["statusCode"], json.loads(result["body"]), result


# --- formats and answers ---------------------------------------------------------


def test_a_delivery_is_handled_in_each_format_with_that_formats_answer(
    handler: LambdaHandler, build: Build, kind: str, clock: Clock, handled: list[CapsulePause]
) -> None:
    status, answer, result = invoke(handler, build(*signed(SAMPLE_BODY, clock)))
    assert (status, answer) == (200, {"ok": True, "event": "capsule.pause", "handled": 1})
    assert set(result) == SHAPES[kind]
    assert result["isBase64Encoded"] is False
    assert result["headers"] == {"Content-Type": "application/json"}
    if kind == "rest":
        assert result["multiValueHeaders"] == {"Content-Type": ["application/json"]}
    assert [event.capsule_id for event in handled] == ["sb-2b7c4d1e0f9a8b7c6d5e4f3a2"]


def test_the_format_is_read_from_the_event(handler: LambdaHandler, clock: Clock) -> None:
    body, headers = signed(SAMPLE_BODY, clock)
    http_api_10 = {**rest(body, headers), "version": "1.0"}  # an HTTP API set to 1.0
    no_version = http_api(*signed(SAMPLE_BODY, clock))
    del no_version["version"]
    shapes = {}
    for name, event in {"1.0": http_api_10, "2.0 without version": no_version}.items():
        status, _, result = invoke(handler, event)
        assert status == 200, name
        shapes[name] = set(result)
    assert shapes == {"1.0": SHAPE_10, "2.0 without version": SHAPE_20}


def test_a_retry_in_another_format_is_a_duplicate(
    handler: LambdaHandler, clock: Clock, handled: list[CapsulePause]
) -> None:
    body = event_body()
    answers = []
    for build in (rest, http_api, url):
        answers.append(invoke(handler, build(*signed(body, clock)))[1])
        clock.advance(10)  # each attempt signed afresh, with a new delivery id
    assert [answer.get("duplicate", False) for answer in answers] == [False, True, True]
    assert len(handled) == 1


def test_the_context_argument_is_optional(handler: LambdaHandler, clock: Clock) -> None:
    event = rest(*signed(SAMPLE_BODY, clock))
    assert handler(event)["statusCode"] == 200


def test_header_names_in_any_case(handler: LambdaHandler, build: Build, clock: Clock) -> None:
    body, headers = signed(SAMPLE_BODY, clock)
    spelled = {
        name.upper() if "Signature" in name else name.lower(): v for name, v in headers.items()
    }
    assert invoke(handler, build(body, spelled))[0] == 200


def test_async_handlers_run(clock: Clock, build: Build) -> None:
    receiver = WebhookReceiver(SECRET, clock=clock)
    seen: list[str] = []

    @receiver.on(CapsulePause)
    async def record(event: CapsulePause) -> None:
        seen.append(event.capsule_id)

    assert invoke(lambda_handler(receiver), build(*signed(SAMPLE_BODY, clock)))[0] == 200
    assert seen == ["sb-2b7c4d1e0f9a8b7c6d5e4f3a2"]


def test_the_receivers_answers_pass_through(
    handler: LambdaHandler, build: Build, clock: Clock
) -> None:
    body, headers = signed(SAMPLE_BODY, clock)
    forged = {**headers, "X-Wrenn-Signature": "sha256=" + "0" * 64}
    status, answer, _ = invoke(handler, build(body, forged))
    assert status == 401 and "does not match" in answer["error"]
    status, answer, _ = invoke(handler, build(*signed(b'{"event":"capsule.pause"}', clock)))
    assert status == 400 and "invalid event" in answer["error"]


def test_a_configuration_error_of_the_application_propagates(clock: Clock) -> None:
    class Misconfigured(MemoryIdempotencyStore):
        def claim(self, key: str, *, now: float, lease: float) -> Claim:
            raise ConfigurationError("the store was set up wrongly")

    receiver = WebhookReceiver(SECRET, clock=clock, idempotency=Misconfigured())
    receiver.on(CapsulePause)(lambda event: None)
    with pytest.raises(ConfigurationError):
        lambda_handler(receiver)(rest(*signed(SAMPLE_BODY, clock)))


# --- methods ---------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH", "post"])
def test_other_methods_are_405_with_allow(
    handler: LambdaHandler, build: Build, kind: str, clock: Clock, method: str
) -> None:
    status, answer, result = invoke(handler, build(*signed(SAMPLE_BODY, clock), method=method))
    assert status == 405 and answer["ok"] is False
    assert result["headers"]["Allow"] == "POST"
    assert set(result) == SHAPES[kind]


def test_a_get_without_a_body_is_405_not_400(handler: LambdaHandler, build: Build) -> None:
    assert invoke(handler, build(b"", method="GET"))[0] == 405


# --- bodies: base64 and sizes ----------------------------------------------------


def test_a_base64_body_is_decoded(handler: LambdaHandler, build: Build, clock: Clock) -> None:
    event = build(*signed(SAMPLE_BODY, clock), base64_encoded=True)
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == SAMPLE_BODY
    assert invoke(handler, event)[:2] == (
        200,
        {"ok": True, "event": "capsule.pause", "handled": 1},
    )


@pytest.mark.parametrize(
    "spoil",
    [
        lambda text: "!" + text[1:],  # outside the alphabet
        lambda text: text[:-1],  # padding cut
        lambda text: text + "=",  # padding too long
        lambda text: text + "QR==",  # low bits set that the encoder leaves clear
        lambda text: text[:20] + "\n" + text[20:],  # a line break
        lambda text: text[:20] + " " + text[20:],  # a space
        lambda text: "é" + text[1:],  # not ASCII
        lambda text: text.replace("+", "-").replace("/", "_") + "-_",  # URL-safe alphabet
        lambda text: "=",
    ],
)
def test_a_body_that_is_not_base64_is_400_never_500(
    handler: LambdaHandler,
    build: Build,
    clock: Clock,
    store: CountingStore,
    spoil: Callable[[str], str],
) -> None:
    event = build(*signed(SAMPLE_BODY, clock), base64_encoded=True)
    event["body"] = spoil(event["body"])
    status, answer, _ = invoke(handler, event)
    assert status == 400 and "base64" in answer["error"]
    assert store.claims == 0


@pytest.mark.parametrize("padding", [0, 1, 2])
@pytest.mark.parametrize("encoded", [False, True])
def test_413_exactly_past_max_body_bytes(
    clock: Clock, build: Build, padding: int, encoded: bool
) -> None:
    """At the limit the body is verified; one byte less of limit and it is 413, unverified."""
    body = SAMPLE_BODY + b" " * padding  # 0, 1 or 2 "=" of base64 padding among the three
    for limit, expected in ((len(body), 200), (len(body) - 1, 413)):
        receiver = WebhookReceiver(SECRET, clock=clock, max_body_bytes=limit)
        event = build(*signed(body, clock), base64_encoded=encoded)
        status, answer, _ = invoke(lambda_handler(receiver), event)
        assert status == expected, (limit, answer)
        if expected == 413:
            assert str(limit) in answer["error"]


def test_an_oversized_body_is_413_before_decoding(
    handler: LambdaHandler, build: Build, store: CountingStore
) -> None:
    """Not valid base64 either: 413, not 400, so the size was checked first."""
    event = build(b"", base64_encoded=True)
    event["body"] = "!" * 10_000
    event["isBase64Encoded"] = True
    status, answer, _ = invoke(handler, event)
    assert status == 413 and "4096" in answer["error"]
    assert store.claims == 0


def test_an_oversized_body_is_413_even_without_wrenn_headers(
    handler: LambdaHandler, build: Build
) -> None:
    assert invoke(handler, build(b" " * 5000))[0] == 413


def test_multibyte_text_over_the_limit_in_bytes_is_413(
    handler: LambdaHandler, build: Build, clock: Clock
) -> None:
    body = ("é" * 2100).encode()  # 2,100 characters, 4,200 bytes: over 4096
    assert invoke(handler, build(*signed(body, clock)))[0] == 413


def test_the_413_log_line_names_the_delivery(
    handler: LambdaHandler, build: Build, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    body, headers = signed(b" " * 5000, clock)
    headers["X-Wrenn-Delivery"] = "d-413"
    with caplog.at_level(logging.WARNING, logger="wrenn_webhooks"):
        assert invoke(handler, build(body, headers))[0] == 413
    assert "d-413" in caplog.text and "status=413" in caplog.text


def test_non_utf8_bodies_verify_through_base64(clock: Clock, build: Build) -> None:
    receiver = WebhookReceiver(SECRET, clock=clock)
    body = b'{"event":"\xff"}'  # signed, but no event: 400 from the receiver, not 401
    status, answer, _ = invoke(
        lambda_handler(receiver), build(*signed(body, clock), base64_encoded=True)
    )
    assert status == 400 and "invalid event" in answer["error"]


# --- multi-value headers -----------------------------------------------------------

WRENN_HEADERS = ["X-Wrenn-Signature", "X-Wrenn-Timestamp", "X-Wrenn-Delivery"]


def repeated(
    headers: dict[str, str], name: str, other: str, *, first: bool
) -> list[tuple[str, str]]:
    """``headers`` with ``name`` sent twice: its own value and ``other``, in either order."""
    pairs = [(key, value) for key, value in headers.items() if key != name]
    values = [headers[name], other] if first else [other, headers[name]]
    return [*pairs, *((name, value) for value in values)]


@pytest.mark.parametrize("name", WRENN_HEADERS)
@pytest.mark.parametrize("first", [True, False], ids=["valid-first", "valid-last"])
@pytest.mark.parametrize("same", [True, False], ids=["same-value", "other-value"])
def test_a_wrenn_header_sent_twice_is_401_in_every_format(
    handler: LambdaHandler,
    build: Build,
    clock: Clock,
    store: CountingStore,
    name: str,
    first: bool,
    same: bool,
) -> None:
    body, headers = signed(SAMPLE_BODY, clock)
    _, other_headers = signed(SAMPLE_BODY, clock, secret="x" * 64)
    other = headers[name] if same else other_headers[name]
    status, answer, _ = invoke(handler, build(body, repeated(headers, name, other, first=first)))
    assert status == 401
    assert answer["error"] == (
        f"{name} was sent more than once (or holds a comma); Wrenn sends it once"
    )
    assert store.claims == 0


def test_the_rest_format_reads_every_value_not_the_last(
    handler: LambdaHandler, clock: Clock
) -> None:
    """``headers`` holds one value per name; ``multiValueHeaders`` shows the repeat."""
    body, headers = signed(SAMPLE_BODY, clock)
    forged = "sha256=" + "0" * 64
    event = rest(body, repeated(headers, "X-Wrenn-Signature", forged, first=True))
    event["headers"]["X-Wrenn-Signature"] = headers["X-Wrenn-Signature"]  # a valid last value
    assert invoke(handler, event)[0] == 401


def test_two_spellings_of_one_wrenn_header_are_one_header_sent_twice(
    handler: LambdaHandler, clock: Clock
) -> None:
    body, headers = signed(SAMPLE_BODY, clock)
    for build in (rest, http_api):
        event = build(body, headers)
        event.pop("multiValueHeaders", None)
        event["headers"] = {**headers, "x-wrenn-signature": "sha256=" + "0" * 64}
        assert invoke(handler, event)[0] == 401


def test_other_headers_may_repeat(handler: LambdaHandler, build: Build, clock: Clock) -> None:
    body, headers = signed(SAMPLE_BODY, clock)
    pairs = [
        *headers.items(),
        ("X-Forwarded-For", "203.0.113.7"),
        ("X-Forwarded-For", "198.51.100.2"),
        ("Cookie", "a=1"),
        ("Cookie", "b=2"),
    ]
    assert invoke(handler, build(body, pairs))[0] == 200


def test_a_comma_in_a_wrenn_header_is_refused_as_a_repeat(
    handler: LambdaHandler, build: Build, clock: Clock
) -> None:
    """The 2.0 format's join of two values, sent as one by hand: the same refusal."""
    body, headers = signed(SAMPLE_BODY, clock)
    joined = {**headers, "X-Wrenn-Delivery": "d-1,d-2"}
    assert invoke(handler, build(body, joined))[0] == 401


# --- malformed events --------------------------------------------------------------


@pytest.mark.parametrize("event", [None, [], "POST", 42, b"{}", {}, {"body": "{}"}])
def test_what_is_no_lambda_http_event_is_400(handler: LambdaHandler, event: object) -> None:
    result = handler(event, None)
    assert set(result) == SHAPE_20  # a shape both formats accept
    assert result["statusCode"] == 400
    assert "not an API Gateway or Lambda function URL event" in json.loads(result["body"])["error"]


DROP = object()
"""Remove the key."""

MALFORMED: dict[str, tuple[dict[str, object], str]] = {
    "no body": ({"body": DROP}, "no body"),
    "null body": ({"body": None}, "no body"),
    "a body that is an object": ({"body": {"event": "capsule.pause"}}, "body must be a string"),
    "a body that is a number": ({"body": 7}, "body must be a string"),
    "isBase64Encoded as a string": (
        {"isBase64Encoded": "true"},
        "isBase64Encoded must be true or false",
    ),
    "headers as a list": (
        {"headers": [["a", "b"]], "multiValueHeaders": DROP},
        "headers must be a JSON object",
    ),
    "a header value that is a number": (
        {"headers": {"x-count": 3}, "multiValueHeaders": DROP},
        "must be strings",
    ),
    "a lone surrogate in the body": ({"body": "{\ud800}"}, "not valid Unicode"),
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_a_malformed_event_is_400_in_its_format(
    handler: LambdaHandler, build: Build, kind: str, clock: Clock, store: CountingStore, name: str
) -> None:
    event = build(*signed(SAMPLE_BODY, clock))
    changes, words = MALFORMED[name]
    for key, value in changes.items():
        if value is DROP:
            event.pop(key, None)
        else:
            event[key] = value
    result = handler(event, None)  # not through JSON: a lone surrogate has no JSON of its own
    assert result["statusCode"] == 400
    assert words in json.loads(result["body"])["error"]
    assert set(result) == SHAPES[kind]
    assert store.claims == 0


@pytest.mark.parametrize(
    ("where", "spoil"),
    [
        ("httpMethod", lambda event: event.__setitem__("httpMethod", None)),
        ("requestContext.http.method", lambda event: event["requestContext"]["http"].pop("method")),
        (
            "requestContext.http.method",
            lambda event: event["requestContext"].__setitem__("http", 1),
        ),
    ],
)
def test_a_missing_method_is_400(
    handler: LambdaHandler, clock: Clock, where: str, spoil: Callable[[dict[str, Any]], None]
) -> None:
    event = (rest if where == "httpMethod" else http_api)(*signed(SAMPLE_BODY, clock))
    spoil(event)
    status, answer, _ = invoke(handler, event)
    assert status == 400 and where in answer["error"]


def test_an_unknown_version_is_400(handler: LambdaHandler, clock: Clock) -> None:
    event = {**http_api(*signed(SAMPLE_BODY, clock)), "version": "3.0"}
    assert invoke(handler, event)[0] == 400


def test_null_headers_are_no_headers(handler: LambdaHandler, clock: Clock) -> None:
    event = rest(SAMPLE_BODY)
    assert (event["headers"], event["multiValueHeaders"]) == (None, None)
    status, answer, _ = invoke(handler, event)
    assert status == 401 and "missing" in answer["error"]


def test_refusals_are_logged(handler: LambdaHandler, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="wrenn_webhooks"):
        handler({"httpMethod": "GET"}, None)
    [record] = caplog.records
    message = record.getMessage()
    assert message.startswith("wrenn delivery - event=- outcome=- status=405 handlers=- ")
    assert message.endswith(
        "error=only POST is allowed: Wrenn delivers with POST see=troubleshooting#405"
    )


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
WRENN_ISH = st.sampled_from(
    ["x-wrenn-signature", "X-Wrenn-Timestamp", "x-wrenn-delivery", "cookie"]
)
EVENTS = st.fixed_dictionaries(
    {},
    optional={
        "version": st.sampled_from(["1.0", "2.0"]) | JSON,
        "httpMethod": st.sampled_from(["POST", "GET"]) | JSON,
        "requestContext": st.fixed_dictionaries(
            {},
            optional={
                "http": st.fixed_dictionaries({}, optional={"method": st.just("POST") | JSON})
                | JSON
            },
        )
        | JSON,
        "headers": st.dictionaries(
            WRENN_ISH | st.text(max_size=8), st.text(max_size=80) | JSON, max_size=4
        )
        | JSON,
        "multiValueHeaders": st.dictionaries(
            WRENN_ISH, st.lists(st.text(max_size=80), max_size=3) | JSON, max_size=4
        )
        | JSON,
        "body": st.text(max_size=200) | JSON,
        "isBase64Encoded": st.booleans() | JSON,
    },
)


@settings(max_examples=300, deadline=None)
@given(event=EVENTS | JSON)
def test_any_event_gets_an_answer_never_an_exception_or_a_5xx(event: object) -> None:
    receiver = WebhookReceiver(SECRET)
    result = lambda_handler(receiver)(event, None)
    assert set(result) in (SHAPE_10, SHAPE_20)
    assert 400 <= result["statusCode"] < 500
    assert json.loads(result["body"])["ok"] is False


# --- the test kit's events -----------------------------------------------------------


def test_rest_events_as_api_gateway_gives_them(clock: Clock) -> None:
    body, headers = signed(SAMPLE_BODY, clock)
    event = rest(body, [*headers.items(), ("Accept", "a"), ("Accept", "b")], path="/hook")
    assert "version" not in event
    assert (event["httpMethod"], event["path"], event["isBase64Encoded"]) == (
        "POST",
        "/hook",
        False,
    )
    assert event["body"] == SAMPLE_BODY.decode()
    assert event["headers"]["Accept"] == "b"  # the last value
    assert event["multiValueHeaders"]["Accept"] == ["a", "b"]
    assert event["multiValueHeaders"]["X-Wrenn-Signature"] == [headers["X-Wrenn-Signature"]]
    assert rest(b"", method="GET")["body"] is None


@pytest.mark.parametrize("build", [http_api, url])
def test_format_2_events_as_api_gateway_and_function_urls_give_them(
    build: Build, clock: Clock
) -> None:
    body, headers = signed(SAMPLE_BODY, clock)
    pairs = [*headers.items(), ("Accept", "a"), ("ACCEPT", "b"), ("Cookie", "a=1; b=2")]
    event = build(body, pairs, path="/hook")
    assert event["version"] == "2.0"
    assert (event["rawPath"], event["requestContext"]["http"]["method"]) == ("/hook", "POST")
    assert event["headers"]["accept"] == "a,b"
    assert event["headers"]["x-wrenn-signature"] == headers["X-Wrenn-Signature"]
    assert all(name == name.lower() for name in event["headers"])
    assert "cookie" not in event["headers"] and event["cookies"] == ["a=1", "b=2"]
    assert "body" not in build(b"", method="GET")
    domain = event["requestContext"]["domainName"]
    assert domain.endswith(".lambda-url.us-east-1.on.aws") is (build is url)


def test_function_url_events_are_at_the_root_by_default() -> None:
    assert function_url_event(b"{}")["rawPath"] == "/"
    assert api_gateway_event(b"{}")["path"] == "/webhooks/wrenn"


def test_a_body_that_is_not_utf8_must_be_base64_in_an_event(build: Build) -> None:
    with pytest.raises(ConfigurationError, match="base64_encoded=True"):
        build(b"\xff")
    assert base64.b64decode(build(b"\xff", base64_encoded=True)["body"]) == b"\xff"


def test_an_unknown_payload_version_is_refused_by_the_kit() -> None:
    with pytest.raises(ConfigurationError, match=r"1\.0"):
        api_gateway_event(b"{}", version="3.0")


# --- imports -------------------------------------------------------------------------


def test_the_adapter_needs_only_the_standard_library_and_the_core() -> None:
    code = (
        "import sys, wrenn_webhooks.aws_lambda; "
        "print(sorted(m for m in ('boto3', 'botocore', 'flask', 'werkzeug', 'click', 'redis', "
        "'pytest') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --- the documented table --------------------------------------------------------------


def row_events(clock: Clock) -> dict[str, dict[str, Any] | None]:
    """An event for each row of ``lambda_handler``'s table."""
    body, headers = signed(SAMPLE_BODY, clock)
    repeated_signature = [*headers.items(), ("X-Wrenn-Signature", headers["X-Wrenn-Signature"])]
    not_base64 = rest(body, headers, base64_encoded=True)
    not_base64["body"] = "!" + not_base64["body"][1:]
    return {
        "not a JSON object, or of neither payload format": None,
        "a method other than ``POST``": rest(body, headers, method="GET"),
        "no body, or a body or header that is not text": rest(b"", headers),
        "a body over ``max_body_bytes`` (measured, not decoded)": rest(b" " * 5000, headers),
        "a Wrenn header sent twice, or holding a comma": rest(body, repeated_signature),
        "``isBase64Encoded`` and a body that is not base64": not_base64,
    }


def test_the_docstring_table_is_what_the_handler_does(
    handler: LambdaHandler, clock: Clock, store: CountingStore
) -> None:
    rows = re.findall(r"^\s*\| (.+?)\s+\| (\d{3})\b", lambda_handler.__doc__ or "", re.M)
    events = row_events(clock)
    assert [text for text, _ in rows] == list(events)
    for text, status in rows:
        assert handler(events[text], None)["statusCode"] == int(status), text
    assert store.claims == 0


def test_an_event_two_rows_refuse_gets_the_earlier_rows_answer(
    handler: LambdaHandler, clock: Clock
) -> None:
    body, headers = signed(SAMPLE_BODY, clock)
    repeated_signature = [*headers.items(), ("X-Wrenn-Signature", headers["X-Wrenn-Signature"])]
    repeated_and_not_base64 = rest(body, repeated_signature, base64_encoded=True)
    repeated_and_not_base64["body"] = "!" + repeated_and_not_base64["body"][1:]
    events = {
        "GET and no body": (rest(b"", headers, method="GET"), 405),
        "too large and a repeated header": (rest(b" " * 5000, repeated_signature), 413),
        "a repeated header and not base64": (repeated_and_not_base64, 401),
    }
    for name, (event, status) in events.items():
        assert handler(event, None)["statusCode"] == status, name
