from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Blueprint, Flask, current_app, g, request
from flask.testing import FlaskClient
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Response as WerkzeugResponse

from tests.conftest import Clock, event_body, signed
from tests.vectors import SAMPLE_BODY, SECRET
from wrenn_webhooks import (
    CapsulePause,
    ConfigurationError,
    Event,
    MemoryIdempotencyStore,
    SQLiteIdempotencyStore,
    WeakSecretWarning,
    WebhookReceiver,
    _headers,
)
from wrenn_webhooks.flask import (
    WrennWebhooks,
    blueprint,
    delivery_failed,
    delivery_handled,
    delivery_received,
    delivery_rejected,
)

URL = "/webhooks/wrenn/"


@pytest.fixture
def app(receiver: WebhookReceiver) -> Flask:
    app = Flask(__name__)
    app.register_blueprint(blueprint(receiver), url_prefix="/webhooks/wrenn")
    return app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def post(client: FlaskClient, clock: Clock, body: bytes = SAMPLE_BODY, **headers: str) -> Any:
    body, signed_headers = signed(body, clock)
    signed_headers.update(headers)
    return client.post(URL, data=body, headers=signed_headers)


class TestStatusContract:
    def test_handled(self, receiver: WebhookReceiver, client: FlaskClient, clock: Clock) -> None:
        seen: list[Event] = []
        receiver.add(seen.append, "capsule.pause", outcome="error")
        response = post(client, clock)
        assert response.status_code == 200
        assert response.mimetype == "application/json"
        assert response.get_json() == {"ok": True, "event": "capsule.pause", "handled": 1}
        assert isinstance(seen[0], CapsulePause)

    def test_unknown_type_and_no_handler_are_200(self, client: FlaskClient, clock: Clock) -> None:
        assert post(client, clock, event_body("widget.frobnicate", None)).status_code == 200
        channel_test = event_body("channel.test", None, team_id="test")
        assert post(client, clock, channel_test).status_code == 200

    def test_too_large_by_content_length(self, clock: Clock) -> None:
        receiver = WebhookReceiver(SECRET, max_body_bytes=64, clock=clock)
        app = Flask(__name__)
        app.register_blueprint(blueprint(receiver), url_prefix="/webhooks/wrenn")
        response = post(app.test_client(), clock)
        assert response.status_code == 413
        assert response.get_json()["ok"] is False

    def test_too_large_is_logged_like_every_delivery(
        self, clock: Clock, caplog: pytest.LogCaptureFixture
    ) -> None:
        receiver = WebhookReceiver(SECRET, max_body_bytes=64, clock=clock)
        app = Flask(__name__)
        app.register_blueprint(blueprint(receiver), url_prefix="/webhooks/wrenn")
        body, headers = signed(SAMPLE_BODY, clock)
        with caplog.at_level(logging.INFO, logger="wrenn_webhooks"):
            response = app.test_client().post(URL, data=body, headers=headers)
        assert response.status_code == 413
        [line] = [r.getMessage() for r in caplog.records if "status=413" in r.getMessage()]
        assert line.startswith(f"wrenn delivery {headers['X-Wrenn-Delivery']} ")

    def test_too_large_chunked_body_is_not_read_unbounded(self, clock: Clock) -> None:
        receiver = WebhookReceiver(SECRET, max_body_bytes=64, clock=clock)
        app = Flask(__name__)
        app.register_blueprint(blueprint(receiver), url_prefix="/webhooks/wrenn")
        produced: list[int] = []

        def endless() -> Iterator[bytes]:
            for _ in range(10_000):
                produced.append(1)
                yield b"x" * 1024

        # As a WSGI server passes a chunked upload: no length, input terminated.
        environ = EnvironBuilder(
            path=URL, method="POST", headers=signed(SAMPLE_BODY, clock)[1]
        ).get_environ()
        environ.pop("CONTENT_LENGTH", None)
        environ["wsgi.input"] = _IterStream(endless())
        environ["wsgi.input_terminated"] = True
        response = WerkzeugResponse.from_app(app.wsgi_app, environ)
        assert response.status_code == 413
        assert len(produced) < 10  # stopped after the limit, not after 10 MiB

    def test_chunked_body_within_the_limit_is_handled(self, app: Flask, clock: Clock) -> None:
        body, headers = signed(SAMPLE_BODY, clock)
        environ = EnvironBuilder(path=URL, method="POST", headers=headers).get_environ()
        environ.pop("CONTENT_LENGTH", None)
        environ["wsgi.input"] = _IterStream(iter([body[:100], body[100:]]))
        environ["wsgi.input_terminated"] = True
        assert WerkzeugResponse.from_app(app.wsgi_app, environ).status_code == 200

    def test_only_the_declared_length_is_read(self, app: Flask, clock: Clock) -> None:
        # A server that does not end the stream itself: bytes past Content-Length
        # (the next request on the connection, say) are never read as body.
        body, headers = signed(SAMPLE_BODY, clock)
        environ = EnvironBuilder(path=URL, method="POST", headers=headers).get_environ()
        environ["CONTENT_LENGTH"] = str(len(body))
        environ["wsgi.input"] = _IterStream(iter([body, b"POST / HTTP/1.1\r\n"]))
        environ.pop("wsgi.input_terminated", None)
        assert WerkzeugResponse.from_app(app.wsgi_app, environ).status_code == 200

    def test_short_reads_are_joined(self, app: Flask, clock: Clock) -> None:
        # A raw socket stream may hand over less than asked for at a time.
        body, headers = signed(SAMPLE_BODY, clock)
        environ = EnvironBuilder(path=URL, method="POST", headers=headers).get_environ()
        environ["CONTENT_LENGTH"] = str(len(body))
        environ["wsgi.input"] = _TrickleStream(body, step=7)
        assert WerkzeugResponse.from_app(app.wsgi_app, environ).status_code == 200

    def test_body_cut_short_is_rejected(self, app: Flask, clock: Clock) -> None:
        body, headers = signed(SAMPLE_BODY, clock)
        environ = EnvironBuilder(path=URL, method="POST", headers=headers).get_environ()
        environ["CONTENT_LENGTH"] = str(len(body))
        environ["wsgi.input"] = _TrickleStream(body[:-20], step=64)  # the client went away
        response = WerkzeugResponse.from_app(app.wsgi_app, environ)
        assert response.status_code == 400
        assert json.loads(response.get_data())["ok"] is False

    def test_the_routes_limit_wins_over_a_smaller_app_limit(self, app: Flask, clock: Clock) -> None:
        app.config["MAX_CONTENT_LENGTH"] = 16
        assert post(app.test_client(), clock).status_code == 200

    def test_the_routes_limit_wins_over_a_larger_app_limit(self, clock: Clock) -> None:
        receiver = WebhookReceiver(SECRET, max_body_bytes=64, clock=clock)
        app = Flask(__name__)
        app.config["MAX_CONTENT_LENGTH"] = 1 << 20
        app.register_blueprint(blueprint(receiver), url_prefix="/webhooks/wrenn")
        assert post(app.test_client(), clock).status_code == 413
        body, headers = signed(SAMPLE_BODY, clock)
        environ = EnvironBuilder(path=URL, method="POST", headers=headers).get_environ()
        environ.pop("CONTENT_LENGTH", None)
        environ["wsgi.input"] = _IterStream(iter([body]))
        environ["wsgi.input_terminated"] = True
        assert WerkzeugResponse.from_app(app.wsgi_app, environ).status_code == 413

    def test_transfer_encoding_wins_over_content_length(self, app: Flask, clock: Clock) -> None:
        # Both headers: the length is not the body's (RFC 9112, 6.3); read to the end.
        body, headers = signed(SAMPLE_BODY, clock)
        environ = EnvironBuilder(path=URL, method="POST", headers=headers).get_environ()
        environ["CONTENT_LENGTH"] = "10"
        environ["HTTP_TRANSFER_ENCODING"] = "chunked"
        environ["wsgi.input"] = _IterStream(iter([body[:100], body[100:]]))
        environ["wsgi.input_terminated"] = True
        assert WerkzeugResponse.from_app(app.wsgi_app, environ).status_code == 200

    def test_body_already_read_by_the_app(self, app: Flask, clock: Clock) -> None:
        seen: list[bytes] = []

        @app.before_request
        def audit() -> None:  # reads (and caches) the body before the view
            seen.append(request.get_data())

        response = post(app.test_client(), clock)
        assert response.status_code == 200
        assert seen == [signed(SAMPLE_BODY, clock)[0]]

    def test_body_consumed_by_the_app_is_a_401(self, app: Flask, clock: Clock) -> None:
        @app.before_request
        def consume() -> None:
            request.stream.read()

        assert post(app.test_client(), clock).status_code == 401

    def test_header_names_in_any_case(self, client: FlaskClient, clock: Clock) -> None:
        body, headers = signed(SAMPLE_BODY, clock)
        lower = {name.lower(): value for name, value in headers.items()}
        assert client.post(URL, data=body, headers=lower).status_code == 200

    @pytest.mark.parametrize(
        ("headers", "status"),
        [
            ({"X-Wrenn-Signature": "sha256=" + "0" * 64}, 401),
            ({"X-Wrenn-Timestamp": "2020-01-01T00:00:00Z"}, 401),
            ({"X-Wrenn-Signature": "nope"}, 401),
        ],
    )
    def test_signature_problems(
        self, client: FlaskClient, clock: Clock, headers: dict[str, str], status: int
    ) -> None:
        body, signed_headers = signed(SAMPLE_BODY, clock)
        signed_headers = {k.lower(): v for k, v in signed_headers.items()}
        signed_headers.update({k.lower(): v for k, v in headers.items()})
        response = client.post(URL, data=body, headers=signed_headers)
        assert response.status_code == status
        assert SECRET not in response.get_data(as_text=True)

    def test_missing_headers(self, client: FlaskClient) -> None:
        assert client.post(URL, data=SAMPLE_BODY).status_code == 401

    def test_invalid_event(self, client: FlaskClient, clock: Clock) -> None:
        response = post(client, clock, b"[]")
        assert response.status_code == 400
        assert "JSON object" in response.get_json()["error"]

    def test_handler_failure_then_duplicate(
        self, receiver: WebhookReceiver, client: FlaskClient, clock: Clock
    ) -> None:
        attempts: list[int] = []

        @receiver.on("capsule.pause")
        def flaky(event: CapsulePause) -> None:
            attempts.append(1)
            if len(attempts) == 1:
                raise RuntimeError("secret-bearing message must not leak")

        first = post(client, clock)
        assert first.status_code == 500
        assert "must not leak" not in first.get_data(as_text=True)
        clock.advance(10)
        assert post(client, clock).status_code == 200
        clock.advance(30)
        third = post(client, clock)
        assert third.get_json()["duplicate"] is True
        assert len(attempts) == 2

    def test_get_is_405(self, client: FlaskClient) -> None:
        assert client.get(URL).status_code == 405


def test_handlers_run_in_the_app_context(
    receiver: WebhookReceiver, app: Flask, client: FlaskClient, clock: Clock
) -> None:
    app.config["TEAM_NAME"] = "ops"
    seen: list[str] = []

    @app.before_request
    def set_user() -> None:
        g.request_tag = "tagged"

    @receiver.on("*")
    def handler(event: Event) -> None:
        seen.append(f"{current_app.config['TEAM_NAME']}/{g.request_tag}")

    post(client, clock)
    assert seen == ["ops/tagged"]


def test_signals(receiver: WebhookReceiver, app: Flask, client: FlaskClient, clock: Clock) -> None:
    log: list[tuple[str, int | None]] = []
    receiver.add(lambda e: 1 / 0, "host.*")

    def recorder(name: str) -> Any:
        def record(sender: Flask, **extra: Any) -> None:
            assert sender is app
            response = extra.get("response")
            log.append((name, response.status_code if response else extra["body_size"]))

        return record

    receivers = {
        delivery_received: recorder("received"),
        delivery_handled: recorder("handled"),
        delivery_failed: recorder("failed"),
        delivery_rejected: recorder("rejected"),
    }
    for signal, fn in receivers.items():
        signal.connect(fn, app)
    try:
        post(client, clock)
        post(client, clock, event_body("host.up", None))
        client.post(URL, data=b"{}")
    finally:
        for signal, fn in receivers.items():
            signal.disconnect(fn, app)
    assert log == [
        ("received", len(SAMPLE_BODY)),
        ("handled", 200),
        ("received", len(event_body("host.up", None))),
        ("failed", 500),
        ("received", 2),
        ("rejected", 401),
    ]


def test_one_blueprint_on_two_apps_sends_as_each_app(
    receiver: WebhookReceiver, clock: Clock
) -> None:
    bp = blueprint(receiver)
    one, two = Flask("one"), Flask("two")
    one.register_blueprint(bp, url_prefix="/webhooks/wrenn")
    two.register_blueprint(bp, url_prefix="/webhooks/wrenn")
    senders: list[Flask] = []

    def record(sender: Flask, **extra: Any) -> None:
        senders.append(sender)

    delivery_received.connect(record)
    try:
        post(one.test_client(), clock)
        post(two.test_client(), clock, event_body("host.up", None))
    finally:
        delivery_received.disconnect(record)
    assert len(senders) == 2
    assert senders[0] is one
    assert senders[1] is two  # the app itself, not the current_app proxy


class TestExtension:
    def test_init_app_reads_config(self, clock: Clock) -> None:
        webhooks = WrennWebhooks(clock=clock)
        seen: list[str] = []

        @webhooks.on("capsule.pause", outcome="error")
        def alert(event: CapsulePause) -> None:
            seen.append(event.resource.id)

        app = Flask(__name__)
        app.config["WRENN_WEBHOOK_SECRET"] = ["n" * 64, SECRET]
        app.config["WRENN_WEBHOOK_URL_PREFIX"] = "/hooks"
        receiver = webhooks.init_app(app)
        assert app.extensions["wrenn_webhooks"] is receiver
        assert WrennWebhooks.receiver_for(app) is receiver
        assert receiver.secret_count == 2
        body, headers = signed(SAMPLE_BODY, clock)
        response = app.test_client().post("/hooks/", data=body, headers=headers)
        assert response.status_code == 200
        assert seen == ["sb-2b7c4d1e0f9a8b7c6d5e4f3a2"]

    def test_app_factory_pattern(self, clock: Clock) -> None:
        webhooks = WrennWebhooks(clock=clock)
        webhooks.add(lambda e: None)

        def create_app(secret: str) -> Flask:
            app = Flask(__name__)
            app.config["WRENN_WEBHOOK_SECRET"] = secret
            webhooks.init_app(app)
            return app

        one, two = create_app(SECRET), create_app("o" * 64)
        body, headers = signed(SAMPLE_BODY, clock)
        assert one.test_client().post(URL, data=body, headers=headers).status_code == 200
        assert two.test_client().post(URL, data=body, headers=headers).status_code == 401

    def test_constructor_with_app(self) -> None:
        app = Flask(__name__)
        app.config["WRENN_WEBHOOK_SECRET"] = SECRET
        WrennWebhooks(app)
        assert isinstance(app.extensions["wrenn_webhooks"], WebhookReceiver)

    def test_missing_secret_is_a_configuration_error(self) -> None:
        with pytest.raises(ConfigurationError, match="WRENN_WEBHOOK_SECRET"):
            WrennWebhooks(Flask(__name__))

    def test_late_registration_refused(self) -> None:
        app = Flask(__name__)
        app.config["WRENN_WEBHOOK_SECRET"] = SECRET
        webhooks = WrennWebhooks(app)
        with pytest.raises(ConfigurationError):
            webhooks.add(lambda e: None)

    @pytest.mark.parametrize("value", ["memory://", "sqlite:///{tmp}/idem.db", None])
    def test_store_from_config(self, value: str | None, tmp_path: Any) -> None:
        app = Flask(__name__)
        app.config["WRENN_WEBHOOK_SECRET"] = SECRET
        if value:
            app.config["WRENN_WEBHOOK_STORE"] = value.format(tmp=tmp_path)
        store = WrennWebhooks(app).receiver_for(app).store
        expected = SQLiteIdempotencyStore if value and "sqlite" in value else MemoryIdempotencyStore
        assert isinstance(store, expected)
        if isinstance(store, SQLiteIdempotencyStore):
            store.close()

    def test_bad_store_url(self) -> None:
        app = Flask(__name__)
        app.config.update(WRENN_WEBHOOK_SECRET=SECRET, WRENN_WEBHOOK_STORE="postgres://x")
        with pytest.raises(ConfigurationError, match="'postgres'"):
            WrennWebhooks(app)


class _IterStream:
    """A file-like object over an iterator, as a chunked upload arrives."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buffer = b""

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self._buffer) < size:
            try:
                self._buffer += next(self._chunks)
            except StopIteration:
                break
        if size < 0:
            size = len(self._buffer)
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data

    def readline(self, size: int = -1) -> bytes:
        return self.read(size)


class _TrickleStream:
    """A stream that returns at most ``step`` bytes a read, as a socket may."""

    def __init__(self, data: bytes, step: int) -> None:
        self._data = data
        self._step = step

    def read(self, size: int = -1) -> bytes:
        size = len(self._data) if size < 0 else size
        data, self._data = self._data[: min(size, self._step)], self._data[min(size, self._step) :]
        return data


class _BrokenStream:
    """A server's input stream that refuses the body, as gunicorn's does on a bad chunk size."""

    class InvalidChunkSize(Exception):  # noqa: N818 (gunicorn's name; it is no OSError)
        pass

    def read(self, size: int = -1) -> bytes:
        raise self.InvalidChunkSize("Invalid chunk size: b'zz'")

    def readline(self, size: int = -1) -> bytes:
        return self.read(size)


class TestFraming:
    """A request whose framing is broken answers 400, on any WSGI server, never 500."""

    @pytest.mark.parametrize(
        "value",
        [
            pytest.param("\xb2", id="superscript-two"),  # isdigit() but not int()
            pytest.param("\u0663", id="arabic-indic-three"),  # int() reads it, HTTP does not
            pytest.param("9" * 5000, id="5000-digits"),  # past int()'s 4300 digits
            pytest.param("1" * 20, id="20-digits"),
            pytest.param("abc", id="abc"),
            pytest.param("-1", id="minus-one"),
            pytest.param("+2", id="plus-two"),
            pytest.param("0x10", id="hex"),
            pytest.param("1_0", id="underscore"),
            pytest.param("1 0", id="inner-space"),
            pytest.param(" ", id="blank"),
        ],
    )
    def test_a_content_length_that_is_not_1_to_19_digits_is_400(
        self, app: Flask, clock: Clock, value: str
    ) -> None:
        rejected: list[int] = []

        def record(sender: Flask, response: Any) -> None:
            rejected.append(response.status_code)

        body, headers = signed(SAMPLE_BODY, clock)
        environ = EnvironBuilder(path=URL, method="POST", headers=headers, data=body).get_environ()
        environ["CONTENT_LENGTH"] = value
        with delivery_rejected.connected_to(record, app):
            response = WerkzeugResponse.from_app(app.wsgi_app, environ)
        assert response.status_code == 400
        assert json.loads(response.get_data()) == {
            "ok": False,
            "error": "Content-Length must be 1 to 19 ASCII digits",
        }
        assert rejected == [400]

    @pytest.mark.parametrize("value", ["0", "00042", "9" * 19, " 42\t"])
    def test_a_length_of_1_to_19_digits_is_read(self, app: Flask, clock: Clock, value: str) -> None:
        body, headers = signed(SAMPLE_BODY, clock)
        environ = EnvironBuilder(path=URL, method="POST", headers=headers, data=body).get_environ()
        environ["CONTENT_LENGTH"] = value
        # Nothing past the limit is read: 413 for 19 nines, a short body (401) otherwise.
        assert WerkzeugResponse.from_app(app.wsgi_app, environ).status_code in (401, 413)

    def test_an_empty_content_length_is_no_content_length(self, app: Flask, clock: Clock) -> None:
        # PEP 3333: CONTENT_LENGTH "may be empty or absent"; some servers set it empty.
        body, headers = signed(SAMPLE_BODY, clock)
        environ = EnvironBuilder(path=URL, method="POST", headers=headers, data=body).get_environ()
        environ["CONTENT_LENGTH"] = ""
        assert WerkzeugResponse.from_app(app.wsgi_app, environ).status_code == 401

    def test_a_bad_length_beside_chunked_encoding_is_ignored(
        self, app: Flask, clock: Clock
    ) -> None:
        body, headers = signed(SAMPLE_BODY, clock)
        environ = EnvironBuilder(path=URL, method="POST", headers=headers).get_environ()
        environ["CONTENT_LENGTH"] = "abc"
        environ["HTTP_TRANSFER_ENCODING"] = "chunked"
        environ["wsgi.input"] = _IterStream(iter([body]))
        environ["wsgi.input_terminated"] = True
        assert WerkzeugResponse.from_app(app.wsgi_app, environ).status_code == 200

    @pytest.mark.parametrize("terminated", [True, False])
    def test_a_body_the_server_cannot_read_is_400(
        self, app: Flask, clock: Clock, terminated: bool, caplog: pytest.LogCaptureFixture
    ) -> None:
        body, headers = signed(SAMPLE_BODY, clock)
        environ = EnvironBuilder(path=URL, method="POST", headers=headers).get_environ()
        environ["wsgi.input"] = _BrokenStream()
        if terminated:  # gunicorn: a chunked body, the stream ends itself
            environ.pop("CONTENT_LENGTH", None)
            environ["HTTP_TRANSFER_ENCODING"] = "chunked"
            environ["wsgi.input_terminated"] = True
        else:
            environ["CONTENT_LENGTH"] = str(len(body))
        response = WerkzeugResponse.from_app(app.wsgi_app, environ)
        assert response.status_code == 400
        assert json.loads(response.get_data()) == {
            "ok": False,
            "error": "the request body could not be read: its framing is invalid",
        }
        assert "InvalidChunkSize" in caplog.text
        assert "zz" not in caplog.text  # what the client sent is not logged


def test_content_length_syntax() -> None:
    assert all(map(_headers.is_content_length, ["0", "1", "00", "9" * 19, " 7", "7\t"]))
    bad = ["", " ", "\xb2", "\u0663", "1" * 20, "-1", "+1", "1_0", "1.0", "0x1", "1 2", "abc"]
    assert not any(map(_headers.is_content_length, bad))


@pytest.mark.parametrize("path", ["/webhooks/wrenn", "/webhooks/wrenn/"])
def test_no_slash_redirect(client: FlaskClient, clock: Clock, path: str) -> None:
    # Wrenn does not follow redirects: both spellings must be answered directly.
    body, headers = signed(SAMPLE_BODY, clock)
    assert client.post(path, data=body, headers=headers).status_code == 200


def test_mounted_without_prefix(receiver: WebhookReceiver, clock: Clock) -> None:
    app = Flask(__name__)
    app.register_blueprint(blueprint(receiver))
    body, headers = signed(SAMPLE_BODY, clock)
    assert app.test_client().post("/", data=body, headers=headers).status_code == 200


def test_response_body_is_json(client: FlaskClient, clock: Clock) -> None:
    assert json.loads(post(client, clock).get_data()) == {
        "ok": True,
        "event": "capsule.pause",
        "handled": 0,
    }


def test_a_failing_signal_receiver_does_not_fail_the_delivery(
    receiver: WebhookReceiver, app: Flask, client: FlaskClient, clock: Clock
) -> None:
    handled: list[Event] = []
    receiver.add(handled.append)

    def broken_metrics(sender: Flask, **extra: Any) -> None:
        raise RuntimeError("metrics backend down")

    delivery_handled.connect(broken_metrics, app)
    delivery_received.connect(broken_metrics, app)
    try:
        response = post(client, clock)
    finally:
        delivery_handled.disconnect(broken_metrics, app)
        delivery_received.disconnect(broken_metrics, app)
    assert response.status_code == 200
    assert len(handled) == 1


class TestExtensionConfig:
    def test_numbers_from_the_environment_are_coerced(self) -> None:
        app = Flask(__name__)
        app.config.update(
            WRENN_WEBHOOK_SECRET=SECRET,
            WRENN_WEBHOOK_TOLERANCE="60",
            WRENN_WEBHOOK_MAX_BODY_BYTES="2048",
        )
        receiver = WrennWebhooks(app).receiver_for(app)
        assert (receiver.tolerance, receiver.max_body_bytes) == (60.0, 2048)

    @pytest.mark.parametrize(
        ("tolerance", "max_body_bytes", "expected"),
        [
            (" 2.5\n", " 4096 ", (2.5, 4096)),  # as read from a file: whitespace ignored
            (30, 512, (30.0, 512)),
            (0.5, "1", (0.5, 1)),
        ],
    )
    def test_numbers_and_numeric_strings_are_accepted(
        self, tolerance: Any, max_body_bytes: Any, expected: tuple[float, int]
    ) -> None:
        app = Flask(__name__)
        app.config.update(
            WRENN_WEBHOOK_SECRET=SECRET,
            WRENN_WEBHOOK_TOLERANCE=tolerance,
            WRENN_WEBHOOK_MAX_BODY_BYTES=max_body_bytes,
        )
        receiver = WrennWebhooks(app).receiver_for(app)
        assert (receiver.tolerance, receiver.max_body_bytes) == expected

    @pytest.mark.parametrize(
        "value",
        [
            *("soon", "inf", "nan", "-inf", "1e3", "-5", "0", "", "1_000"),
            *(float("inf"), float("nan"), 0, -1, True, [300]),
        ],
    )
    def test_a_bad_tolerance_is_a_configuration_error(self, value: Any) -> None:
        app = Flask(__name__)
        app.config.update(WRENN_WEBHOOK_SECRET=SECRET, WRENN_WEBHOOK_TOLERANCE=value)
        with pytest.raises(ConfigurationError, match="WRENN_WEBHOOK_TOLERANCE"):
            WrennWebhooks(app)

    @pytest.mark.parametrize(
        "value", ["1e6", "2048.0", "inf", "0", "-1", "big", 2048.0, float("inf"), 0, True]
    )
    def test_a_bad_max_body_bytes_is_a_configuration_error(self, value: Any) -> None:
        app = Flask(__name__)
        app.config.update(WRENN_WEBHOOK_SECRET=SECRET, WRENN_WEBHOOK_MAX_BODY_BYTES=value)
        with pytest.raises(ConfigurationError, match="WRENN_WEBHOOK_MAX_BODY_BYTES"):
            WrennWebhooks(app)

    def test_a_tolerance_the_store_cannot_cover_is_refused(self) -> None:
        app = Flask(__name__)
        app.config.update(WRENN_WEBHOOK_SECRET=SECRET, WRENN_WEBHOOK_TOLERANCE="3600")
        with pytest.raises(ConfigurationError, match="ttl"):
            WrennWebhooks(app)

    @pytest.mark.parametrize("secret", ["   ", ["\t"]])
    def test_a_blank_secret_is_refused(self, secret: Any) -> None:
        app = Flask(__name__)
        app.config["WRENN_WEBHOOK_SECRET"] = secret
        with pytest.raises(ConfigurationError):
            WrennWebhooks(app)

    def test_a_short_secret_warns_at_the_caller(self) -> None:
        app = Flask(__name__)
        app.config["WRENN_WEBHOOK_SECRET"] = "dev-secret"
        with pytest.warns(WeakSecretWarning, match="10 characters") as caught:
            WrennWebhooks(app)
        assert caught[0].filename == __file__

    def test_keyword_store_wins_over_config(self, tmp_path: Any) -> None:
        store = MemoryIdempotencyStore()
        app = Flask(__name__)
        app.config.update(
            WRENN_WEBHOOK_SECRET=SECRET,
            WRENN_WEBHOOK_STORE=f"sqlite:///{tmp_path}/unused.db",
        )
        assert WrennWebhooks(app, idempotency=store).receiver_for(app).store is store
        assert not (tmp_path / "unused.db").exists()


# --- One rule for secrets: a string is one secret; rotation has its own key ---------

COMMA_SECRET = "team,chosen,secret-" + "k" * 45  # a team's own secret may hold commas
NEW_SECRET = "n" * 64


def _extension_app(clock: Clock, **config: Any) -> tuple[Flask, WebhookReceiver]:
    app = Flask(__name__)
    app.config.update(config)
    receiver = WrennWebhooks(clock=clock).init_app(app)
    return app, receiver


class TestExtensionSecrets:
    def test_a_secret_with_commas_is_one_secret(self, clock: Clock) -> None:
        app, receiver = _extension_app(clock, WRENN_WEBHOOK_SECRET=COMMA_SECRET)
        assert receiver.secret_count == 1
        client = app.test_client()
        body, headers = signed(SAMPLE_BODY, clock, COMMA_SECRET)
        assert client.post(URL, data=body, headers=headers).status_code == 200
        for part in COMMA_SECRET.split(","):  # never split into several
            body, headers = signed(SAMPLE_BODY, clock, part)
            assert client.post(URL, data=body, headers=headers).status_code == 401

    def test_rotation_with_the_previous_secret(self, clock: Clock) -> None:
        app, receiver = _extension_app(
            clock, WRENN_WEBHOOK_SECRET=NEW_SECRET, WRENN_WEBHOOK_PREVIOUS_SECRET=COMMA_SECRET
        )
        assert receiver.secret_count == 2
        indexes: list[int] = []
        receiver.add(lambda event, delivery: indexes.append(delivery.secret_index))
        client = app.test_client()
        for secret, kind in ((NEW_SECRET, "host.up"), (COMMA_SECRET, "host.down")):
            body, headers = signed(event_body(kind, None), clock, secret)
            assert client.post(URL, data=body, headers=headers).status_code == 200
        assert indexes == [0, 1]  # the current secret first, then the previous one
        body, headers = signed(SAMPLE_BODY, clock, "o" * 64)
        assert client.post(URL, data=body, headers=headers).status_code == 401

    def test_a_list_and_the_previous_secret_add_up(self, clock: Clock) -> None:
        _, receiver = _extension_app(
            clock,
            WRENN_WEBHOOK_SECRET=(NEW_SECRET, SECRET),
            WRENN_WEBHOOK_PREVIOUS_SECRET=COMMA_SECRET,
        )
        assert receiver.secret_count == 3

    @pytest.mark.parametrize("unset", [None, ""])
    def test_an_empty_previous_secret_means_no_rotation(
        self, clock: Clock, unset: str | None
    ) -> None:
        _, receiver = _extension_app(
            clock, WRENN_WEBHOOK_SECRET=SECRET, WRENN_WEBHOOK_PREVIOUS_SECRET=unset
        )
        assert receiver.secret_count == 1

    def test_a_blank_previous_secret_is_refused(self, clock: Clock) -> None:
        with pytest.raises(ConfigurationError, match="blank"):
            _extension_app(clock, WRENN_WEBHOOK_SECRET=SECRET, WRENN_WEBHOOK_PREVIOUS_SECRET=" ")

    @pytest.mark.parametrize("key", ["WRENN_WEBHOOK_SECRET", "WRENN_WEBHOOK_PREVIOUS_SECRET"])
    def test_a_secret_of_another_type_is_refused_by_key(self, clock: Clock, key: str) -> None:
        config: dict[str, Any] = {"WRENN_WEBHOOK_SECRET": SECRET, key: SECRET.encode()}
        with pytest.raises(ConfigurationError, match=f"^{key} must be a string") as caught:
            _extension_app(clock, **config)
        assert SECRET not in str(caught.value)

    def test_a_previous_secret_without_a_secret_is_refused(self, clock: Clock) -> None:
        with pytest.raises(ConfigurationError, match="WRENN_WEBHOOK_SECRET"):
            _extension_app(clock, WRENN_WEBHOOK_PREVIOUS_SECRET=SECRET)

    def test_a_keyword_secret_replaces_both_keys(self, clock: Clock) -> None:
        app = Flask(__name__)
        app.config.update(WRENN_WEBHOOK_SECRET=SECRET, WRENN_WEBHOOK_PREVIOUS_SECRET=NEW_SECRET)
        receiver = WrennWebhooks(secret=COMMA_SECRET, clock=clock).init_app(app)
        assert receiver.secret_count == 1
        body, headers = signed(SAMPLE_BODY, clock, COMMA_SECRET)
        assert app.test_client().post(URL, data=body, headers=headers).status_code == 200


# --- Once per app, or a second receiver by name --------------------------------------


def _configured_app() -> Flask:
    app = Flask(__name__)
    app.config["WRENN_WEBHOOK_SECRET"] = SECRET
    return app


class TestOncePerApp:
    def test_init_app_twice_says_already_initialised(self) -> None:
        app = _configured_app()
        webhooks = WrennWebhooks()
        first = webhooks.init_app(app)
        with pytest.raises(ConfigurationError, match="already initialised with wrenn-webhooks"):
            webhooks.init_app(app)
        assert WrennWebhooks.receiver_for(app) is first  # the first one is left as it was

    def test_a_second_extension_says_already_initialised(self) -> None:
        app = _configured_app()
        WrennWebhooks(app)
        with pytest.raises(ConfigurationError, match="already initialised") as caught:
            WrennWebhooks(app)
        assert "name=" in str(caught.value)  # and how to add a deliberate second receiver

    def test_the_blueprint_twice_says_already_initialised(self, receiver: WebhookReceiver) -> None:
        app = Flask(__name__)
        app.register_blueprint(blueprint(receiver), url_prefix="/webhooks/wrenn")
        with pytest.raises(ConfigurationError, match="already initialised with wrenn-webhooks"):
            app.register_blueprint(blueprint(receiver), url_prefix="/webhooks/other")

    def test_the_same_blueprint_twice_says_already_initialised(
        self, receiver: WebhookReceiver
    ) -> None:
        app = Flask(__name__)
        bp = blueprint(receiver)
        app.register_blueprint(bp, url_prefix="/webhooks/wrenn")
        with pytest.raises(ConfigurationError, match="already initialised"):
            app.register_blueprint(bp, url_prefix="/webhooks/other")

    def test_the_blueprint_after_the_extension_says_already_initialised(
        self, receiver: WebhookReceiver
    ) -> None:
        app = _configured_app()
        WrennWebhooks(app)
        with pytest.raises(ConfigurationError, match="already initialised"):
            app.register_blueprint(blueprint(receiver), url_prefix="/hooks")

    def test_another_blueprint_of_the_same_name_is_named_as_such(
        self, receiver: WebhookReceiver
    ) -> None:
        app = Flask(__name__)
        app.register_blueprint(Blueprint("wrenn_webhooks", __name__))
        with pytest.raises(ConfigurationError, match="another blueprint") as caught:
            app.register_blueprint(blueprint(receiver), url_prefix="/hooks")
        assert "already initialised" not in str(caught.value)

    def test_a_second_extension_on_the_same_url_is_refused(self) -> None:
        app = _configured_app()
        app.config["WRENN_STAGING_SECRET"] = "s" * 64
        WrennWebhooks(app)
        with pytest.raises(ConfigurationError, match="WRENN_STAGING_URL_PREFIX"):
            WrennWebhooks(app, name="wrenn_staging", config_prefix="WRENN_STAGING")
        assert "wrenn_staging" not in app.extensions

    def test_a_url_another_route_answers_is_refused(self) -> None:
        app = _configured_app()
        app.add_url_rule("/webhooks/wrenn/", "legacy", lambda: "", methods=["POST"])
        with pytest.raises(ConfigurationError, match=r"'legacy'.*WRENN_WEBHOOK_URL_PREFIX"):
            WrennWebhooks(app)

    def test_a_name_another_extension_holds_is_refused(self) -> None:
        app = _configured_app()
        app.extensions["cache"] = object()
        with pytest.raises(ConfigurationError, match="another extension"):
            WrennWebhooks(app, name="cache")
        assert "cache" not in app.blueprints

    def test_an_unknown_name_is_a_clear_error(self) -> None:
        app = _configured_app()
        WrennWebhooks(app)
        with pytest.raises(ConfigurationError, match="'wrenn_staging'"):
            WrennWebhooks.receiver_for(app, name="wrenn_staging")


STAGING_SECRET = "s" * 64


def test_two_extensions_two_secrets_two_urls(clock: Clock) -> None:
    production = WrennWebhooks(clock=clock)
    staging = WrennWebhooks(name="wrenn_staging", config_prefix="WRENN_STAGING", clock=clock)
    seen: list[str] = []
    production.add(lambda event: seen.append("production"))
    staging.add(lambda event: seen.append("staging"))
    app = Flask(__name__)
    app.config.update(
        WRENN_WEBHOOK_SECRET=SECRET,
        WRENN_STAGING_SECRET=STAGING_SECRET,
        WRENN_STAGING_URL_PREFIX="/webhooks/staging",
    )
    receivers = production.init_app(app), staging.init_app(app)
    assert WrennWebhooks.receiver_for(app) is receivers[0]
    assert WrennWebhooks.receiver_for(app, name="wrenn_staging") is receivers[1]
    assert app.extensions["wrenn_staging"] is receivers[1]
    assert staging.receiver_for(app) is receivers[1]  # on an extension: its own name
    assert production.receiver_for(app) is receivers[0]
    _each_url_takes_only_its_own_secret(app, clock, seen)


def test_two_blueprints_two_secrets_two_urls(clock: Clock) -> None:
    seen: list[str] = []
    production = WebhookReceiver(SECRET, clock=clock)
    staging = WebhookReceiver(STAGING_SECRET, clock=clock)
    production.add(lambda event: seen.append("production"))
    staging.add(lambda event: seen.append("staging"))
    app = Flask(__name__)
    app.register_blueprint(blueprint(production), url_prefix="/webhooks/wrenn")
    app.register_blueprint(blueprint(staging, name="wrenn_staging"), url_prefix="/webhooks/staging")
    _each_url_takes_only_its_own_secret(app, clock, seen)


def _each_url_takes_only_its_own_secret(app: Flask, clock: Clock, seen: list[str]) -> None:
    client = app.test_client()
    urls = {"/webhooks/wrenn": SECRET, "/webhooks/staging": STAGING_SECRET}
    for url, own in urls.items():
        for secret in urls.values():
            body, headers = signed(SAMPLE_BODY, clock, secret)
            expected = 200 if secret == own else 401
            assert client.post(url, data=body, headers=headers).status_code == expected, url
            clock.advance(1)  # a new signature: not a duplicate of the last body
    assert seen == ["production", "staging"]
