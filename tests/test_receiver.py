from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import threading
import warnings
from datetime import timedelta
from typing import Any

import pytest

from tests.conftest import Clock, event_body, signed
from tests.vectors import SAMPLE_BODY, SECRET
from wrenn_webhooks import (
    CapsulePause,
    ChannelTest,
    ConfigurationError,
    Delivery,
    Event,
    HandlerError,
    HostUp,
    MemoryIdempotencyStore,
    PayloadTooLargeError,
    Router,
    SignatureMismatchError,
    UnknownEventTypeWarning,
    WeakSecretWarning,
    WebhookReceiver,
    sign,
    verify,
)
from wrenn_webhooks.errors import StoreError
from wrenn_webhooks.stores import Claim, ClaimState


def deliver(receiver: WebhookReceiver, clock: Clock, body: bytes) -> Any:
    return receiver.handle(*signed(body, clock))


class TestStatusContract:
    def test_handled_is_200(self, receiver: WebhookReceiver, clock: Clock) -> None:
        seen: list[Event] = []
        receiver.add(seen.append, "capsule.pause")
        response = deliver(receiver, clock, SAMPLE_BODY)
        assert response.status_code == 200
        assert response.body == {"ok": True, "event": "capsule.pause", "handled": 1}
        assert response.headers["Content-Type"] == "application/json"
        assert [type(e) for e in seen] == [CapsulePause]
        json.dumps(response.body)

    def test_no_matching_handler_is_200(self, receiver: WebhookReceiver, clock: Clock) -> None:
        receiver.add(lambda e: None, "host.up")
        response = deliver(receiver, clock, SAMPLE_BODY)
        assert (response.status_code, response.body["handled"]) == (200, 0)

    def test_unknown_type_is_200_never_404(self, receiver: WebhookReceiver, clock: Clock) -> None:
        seen: list[Event] = []
        receiver.add(seen.append, "*")
        response = deliver(receiver, clock, event_body("widget.frobnicate", outcome=None))
        assert response.status_code == 200
        assert [e.event for e in seen] == ["widget.frobnicate"]

    @pytest.mark.parametrize("with_handler", [True, False])
    def test_channel_test_is_200(
        self, receiver: WebhookReceiver, clock: Clock, with_handler: bool
    ) -> None:
        seen: list[Event] = []
        if with_handler:
            receiver.add(seen.append, "channel.test")
        body = event_body(
            "channel.test", None, team_id="test", resource={"id": "test", "type": "channel"}
        )
        assert deliver(receiver, clock, body).status_code == 200
        assert [type(e) for e in seen] == ([ChannelTest] if with_handler else [])

    def test_too_large_is_413_before_any_hmac(self, clock: Clock) -> None:
        receiver = WebhookReceiver(SECRET, max_body_bytes=100, clock=clock)
        response = receiver.handle(b"x" * 101, {})  # no headers at all: size comes first
        assert response.status_code == 413
        assert "100 bytes" in response.body["error"]

    @pytest.mark.parametrize(
        "mutate",
        [
            lambda h: h.pop("X-Wrenn-Signature"),
            lambda h: h.pop("X-Wrenn-Timestamp"),
            lambda h: h.update({"X-Wrenn-Signature": "sha256=zz"}),
            lambda h: h.update({"X-Wrenn-Timestamp": "yesterday"}),
            lambda h: h.update({"X-Wrenn-Signature": "sha256=" + "0" * 64}),
        ],
        ids=["no-signature", "no-timestamp", "bad-signature", "bad-timestamp", "mismatch"],
    )
    def test_signature_problems_are_401(
        self, receiver: WebhookReceiver, clock: Clock, mutate: Any
    ) -> None:
        seen: list[Event] = []
        receiver.add(seen.append)
        body, headers = signed(SAMPLE_BODY, clock)
        mutate(headers)
        response = receiver.handle(body, headers)
        assert response.status_code == 401
        assert response.body["ok"] is False
        assert SECRET not in json.dumps(response.body)
        assert seen == []

    @pytest.mark.parametrize("skew", [-301, 301])
    def test_stale_or_future_is_401(
        self, receiver: WebhookReceiver, clock: Clock, skew: int
    ) -> None:
        body, headers = signed(SAMPLE_BODY, clock)
        clock.advance(skew)
        response = receiver.handle(body, headers)
        assert response.status_code == 401
        assert "tolerance" in response.body["error"]

    def test_signed_garbage_is_400(self, receiver: WebhookReceiver, clock: Clock) -> None:
        response = deliver(receiver, clock, b'{"event": 42}')
        assert response.status_code == 400
        assert "'event'" in response.body["error"]

    def test_handler_failure_is_500(self, receiver: WebhookReceiver, clock: Clock) -> None:
        boom = RuntimeError("database down")

        @receiver.on("capsule.pause")
        def fail(event: CapsulePause) -> None:
            raise boom

        response = deliver(receiver, clock, SAMPLE_BODY)
        assert response.status_code == 500
        assert isinstance(response.error, HandlerError)
        assert response.error.__cause__ is boom
        assert "database down" not in response.body["error"]

    def test_duplicate_is_200_and_runs_nothing(
        self, receiver: WebhookReceiver, clock: Clock
    ) -> None:
        calls: list[str] = []
        receiver.add(lambda e: calls.append(e.event))
        first = deliver(receiver, clock, SAMPLE_BODY)
        clock.advance(10)
        second = deliver(receiver, clock, SAMPLE_BODY)  # new delivery id and timestamp
        assert first.delivery.delivery_id != second.delivery.delivery_id
        assert second.status_code == 200
        assert second.body["duplicate"] is True
        assert calls == ["capsule.pause"]

    def test_replay_of_the_same_request_is_a_duplicate(
        self, receiver: WebhookReceiver, clock: Clock
    ) -> None:
        calls: list[Event] = []
        receiver.add(calls.append)
        body, headers = signed(SAMPLE_BODY, clock)
        receiver.handle(body, headers)
        clock.advance(200)
        assert receiver.handle(body, headers).body.get("duplicate") is True
        assert len(calls) == 1

    def test_in_flight_redelivery_is_409(self, receiver: WebhookReceiver, clock: Clock) -> None:
        started, release = threading.Event(), threading.Event()
        responses: list[Any] = []

        @receiver.on("capsule.pause")
        def slow(event: CapsulePause) -> None:
            started.set()
            assert release.wait(5)

        worker = threading.Thread(
            target=lambda: responses.append(deliver(receiver, clock, SAMPLE_BODY))
        )
        worker.start()
        assert started.wait(5)
        second = deliver(receiver, clock, SAMPLE_BODY)
        release.set()
        worker.join()
        assert second.status_code == 409
        assert second.headers["Retry-After"] == "30"
        assert responses[0].status_code == 200

    def test_store_failure_is_503(self, clock: Clock) -> None:
        class Broken:
            def claim(self, key: str, *, now: float, lease: float) -> Claim:
                raise StoreError("down")

            def complete(self, key: str, handler: str, *, now: float) -> None:
                raise AssertionError

            def release(self, key: str, *, done: bool, now: float) -> None:
                raise AssertionError

        receiver = WebhookReceiver(SECRET, idempotency=Broken(), clock=clock)
        receiver.add(lambda e: None)
        assert deliver(receiver, clock, SAMPLE_BODY).status_code == 503

    def test_secret_rotation(self, clock: Clock) -> None:
        new_secret = "n3w" * 21 + "x"  # 64 characters, as Wrenn generates
        receiver = WebhookReceiver([new_secret, SECRET], clock=clock)
        old = receiver.handle(*signed(SAMPLE_BODY, clock))
        new = receiver.handle(*signed(event_body(), clock, new_secret))
        assert old.delivery.secret_index == 1
        assert new.delivery.secret_index == 0


class TestDispatch:
    def test_all_matching_run_in_order_even_after_a_failure(
        self, receiver: WebhookReceiver, clock: Clock
    ) -> None:
        order: list[str] = []

        @receiver.on("capsule.*")
        def first(event: Event) -> None:
            order.append("first")
            raise ValueError("boom")

        @receiver.on("capsule.pause", outcome="error")
        def second(event: CapsulePause) -> None:
            order.append("second")

        @receiver.on("*")
        def third(event: Event) -> None:
            order.append("third")

        @receiver.on("capsule.pause", outcome="success")
        def never(event: CapsulePause) -> None:
            order.append("never")

        response = deliver(receiver, clock, SAMPLE_BODY)
        assert order == ["first", "second", "third"]
        assert response.status_code == 500

    def test_retry_after_partial_failure_runs_only_the_failed(
        self, receiver: WebhookReceiver, clock: Clock
    ) -> None:
        calls: list[str] = []
        flaky = {"fail": True}

        @receiver.on("capsule.pause")
        def charge(event: CapsulePause) -> None:
            calls.append("charge")

        @receiver.on("capsule.pause")
        def notify(event: CapsulePause, delivery: Delivery) -> None:
            calls.append(f"notify redelivery={delivery.redelivery}")
            if flaky["fail"]:
                raise ConnectionError("chat service down")

        assert deliver(receiver, clock, SAMPLE_BODY).status_code == 500
        flaky["fail"] = False
        clock.advance(10)
        retry = deliver(receiver, clock, SAMPLE_BODY)
        assert retry.status_code == 200
        assert calls == ["charge", "notify redelivery=False", "notify redelivery=True"]
        clock.advance(30)
        assert deliver(receiver, clock, SAMPLE_BODY).body["duplicate"] is True

    def test_a_function_matched_twice_runs_once(
        self, receiver: WebhookReceiver, clock: Clock
    ) -> None:
        calls: list[Event] = []

        @receiver.on("capsule.*")
        @receiver.on("*", outcome="error")
        def both(event: Event) -> None:
            calls.append(event)

        deliver(receiver, clock, SAMPLE_BODY)
        assert len(calls) == 1

    def test_handler_gets_the_delivery(self, receiver: WebhookReceiver, clock: Clock) -> None:
        got: list[Delivery] = []
        receiver.add(lambda event, delivery: got.append(delivery))
        body, headers = signed(SAMPLE_BODY, clock)
        receiver.handle(body, headers)
        assert got[0].delivery_id == headers["X-Wrenn-Delivery"]
        assert got[0].timestamp.timestamp() == clock.now
        assert got[0].redelivery is False

    def test_async_handlers(self, receiver: WebhookReceiver, clock: Clock) -> None:
        seen: list[str] = []

        @receiver.on("capsule.pause")
        async def remember(event: CapsulePause) -> None:
            await asyncio.sleep(0)
            seen.append(event.resource.id)

        @receiver.on("host.up")
        async def fail(event: HostUp) -> None:
            raise RuntimeError("async boom")

        assert deliver(receiver, clock, SAMPLE_BODY).status_code == 200
        assert seen == ["sb-2b7c4d1e0f9a8b7c6d5e4f3a2"]
        host = event_body("host.up", None, resource={"id": "host-1", "type": "host"})
        assert deliver(receiver, clock, host).status_code == 500

    def test_on_error_observes_failures(self, receiver: WebhookReceiver, clock: Clock) -> None:
        observed: list[tuple[str, str]] = []
        receiver.add(lambda e: 1 / 0, "capsule.pause")

        @receiver.on_error
        def report(exc: BaseException, event: Event, delivery: Delivery) -> None:
            observed.append((type(exc).__name__, event.event))

        @receiver.on_error
        def broken_observer(exc: BaseException, event: Event, delivery: Delivery) -> None:
            raise RuntimeError("observer bug")

        assert deliver(receiver, clock, SAMPLE_BODY).status_code == 500
        assert observed == [("ZeroDivisionError", "capsule.pause")]

    def test_concurrent_duplicates_run_handlers_once(
        self, receiver: WebhookReceiver, clock: Clock
    ) -> None:
        calls: list[int] = []
        lock = threading.Lock()

        def count(event: Event) -> None:
            with lock:
                calls.append(1)

        receiver.add(count)
        barrier = threading.Barrier(16)
        statuses: list[int] = []

        def attempt() -> None:
            request = signed(SAMPLE_BODY, clock)
            barrier.wait()
            statuses.append(receiver.handle(*request).status_code)

        threads = [threading.Thread(target=attempt) for _ in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(calls) == 1
        assert sorted(set(statuses)) <= [200, 409]
        assert statuses.count(200) >= 1

    def test_lease_expires_after_a_crash(self, clock: Clock) -> None:
        store = MemoryIdempotencyStore()
        receiver = WebhookReceiver(SECRET, idempotency=store, lease=30, clock=clock)
        calls: list[Event] = []
        receiver.add(calls.append)
        key = hashlib.sha256(SAMPLE_BODY).hexdigest()
        # A process claimed the body, then died without releasing it.
        assert store.claim(key, now=clock.now, lease=30) == Claim(ClaimState.NEW)
        clock.advance(10)
        assert deliver(receiver, clock, SAMPLE_BODY).status_code == 409  # Wrenn's 2nd attempt
        clock.advance(21)
        retry = deliver(receiver, clock, SAMPLE_BODY)  # Wrenn's 3rd attempt, lease gone
        assert retry.status_code == 200
        assert retry.delivery.redelivery is True
        assert len(calls) == 1


class TestRegistration:
    def test_decorator_returns_the_function(self, receiver: WebhookReceiver) -> None:
        def handler(event: CapsulePause) -> str:
            return "same"

        assert receiver.on("capsule.pause")(handler) is handler

    def test_typo_warns_with_a_suggestion(self, receiver: WebhookReceiver) -> None:
        with pytest.warns(UnknownEventTypeWarning, match="did you mean 'capsule.pause'"):
            receiver.add(lambda e: None, "capsule.puase")

    @pytest.mark.parametrize(
        ("typo", "meant"),
        [
            ("capsul.*", "capsule.*"),
            ("templat.snapshot.*", "template.snapshot.*"),
            ("*.pased", "*.pause"),
            ("hots.*", "host.*"),
        ],
    )
    def test_a_mistyped_glob_suggests_a_glob(
        self, receiver: WebhookReceiver, typo: str, meant: str
    ) -> None:
        with pytest.warns(UnknownEventTypeWarning, match=re.escape(f"did you mean {meant!r}?")):
            receiver.add(lambda e: None, typo)

    def test_on_without_parentheses_is_a_type_error(self, receiver: WebhookReceiver) -> None:
        with pytest.raises(TypeError, match=r"@on needs parentheses: write @receiver\.on\("):

            @receiver.on  # type: ignore[call-overload]
            def on_pause(event: Event) -> None: ...

        assert receiver.routes == ()

    def test_on_with_a_class_that_is_not_an_event_is_a_type_error(
        self, receiver: WebhookReceiver
    ) -> None:
        class Handler:
            def __call__(self, event: Event) -> None: ...

        with pytest.raises(TypeError, match="parentheses"):
            receiver.on(Handler)  # type: ignore[call-overload]

    @pytest.mark.parametrize("event", ["volume.create", "volume.*", "capsule.*", "*", "host.up"])
    def test_known_and_newer_types_register_silently(
        self, receiver: WebhookReceiver, event: str
    ) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            receiver.add(lambda e: None, event)

    def test_unknown_type_warns_but_registers(
        self, receiver: WebhookReceiver, clock: Clock
    ) -> None:
        seen: list[Event] = []
        with pytest.warns(UnknownEventTypeWarning):
            receiver.add(seen.append, "widget.frobnicate")
        deliver(receiver, clock, event_body("widget.frobnicate", None))
        assert len(seen) == 1

    @pytest.mark.parametrize("event", ["host.up", "host.*", "channel.test", "capsule.paused"])
    def test_outcome_on_a_type_without_one_is_an_error(
        self, receiver: WebhookReceiver, event: str
    ) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UnknownEventTypeWarning)  # capsule.paused's
            with pytest.raises(ConfigurationError, match="no outcome"):
                receiver.add(lambda e: None, event, outcome="error")

    @pytest.mark.parametrize("outcome", ["failed", "", 1])
    def test_bad_outcome(self, receiver: WebhookReceiver, outcome: Any) -> None:
        with pytest.raises(ConfigurationError, match="outcome"):
            receiver.add(lambda e: None, "capsule.pause", outcome=outcome)

    @pytest.mark.parametrize("event", [[], "", [""], [1]])
    def test_bad_patterns(self, receiver: WebhookReceiver, event: Any) -> None:
        with pytest.raises(ConfigurationError):
            receiver.add(lambda e: None, event)

    def test_handler_must_take_one_or_two_arguments(self, receiver: WebhookReceiver) -> None:
        with pytest.raises(ConfigurationError, match="must take the event"):
            receiver.add(lambda: None)
        with pytest.raises(ConfigurationError, match="callable"):
            receiver.add("not callable")  # type: ignore[arg-type]

    def test_no_secret_refused(self) -> None:
        with pytest.raises(ConfigurationError):
            WebhookReceiver("")
        with pytest.raises(ConfigurationError):
            WebhookReceiver([])

    def test_registration_after_serving_is_refused(
        self, receiver: WebhookReceiver, clock: Clock
    ) -> None:
        deliver(receiver, clock, SAMPLE_BODY)
        with pytest.raises(ConfigurationError, match="first delivery"):
            receiver.add(lambda e: None)
        with pytest.raises(ConfigurationError):
            receiver.include_router(Router())

    def test_router(self, receiver: WebhookReceiver, clock: Clock) -> None:
        router = Router()
        seen: list[str] = []

        @router.on("capsule.pause", outcome="error")
        def on_pause_error(event: CapsulePause) -> None:
            seen.append("router")

        receiver.include_router(router)
        with pytest.raises(ConfigurationError, match="include_router"):
            router.add(lambda e: None)
        deliver(receiver, clock, SAMPLE_BODY)
        assert seen == ["router"]

    def test_routers_with_the_same_names_stay_distinct(
        self, receiver: WebhookReceiver, clock: Clock
    ) -> None:
        calls: list[str] = []
        for label in ("a", "b"):
            router = Router()
            router.add(lambda e, label=label: calls.append(label))  # same qualname twice
            receiver.include_router(router)
        names = [route.name for route in receiver.routes]
        assert len(set(names)) == 2
        deliver(receiver, clock, SAMPLE_BODY)
        assert sorted(calls) == ["a", "b"]


class TestLogging:
    def test_one_line_per_delivery_without_secrets_or_payload(
        self, receiver: WebhookReceiver, clock: Clock, caplog: pytest.LogCaptureFixture
    ) -> None:
        receiver.add(lambda e: None)
        caplog.set_level(logging.INFO, logger="wrenn_webhooks")
        body, headers = signed(SAMPLE_BODY, clock)
        receiver.handle(body, headers)
        bad = dict(headers, **{"X-Wrenn-Signature": "sha256=" + "0" * 64})
        receiver.handle(event_body(), bad)
        lines = [r.getMessage() for r in caplog.records]
        assert len(lines) == 2
        assert "event=capsule.pause outcome=error status=200 handlers=1" in lines[0]
        assert headers["X-Wrenn-Delivery"] in lines[0]
        assert "status=401" in lines[1]
        for line in lines:
            assert SECRET not in line
            assert "ttl_expired" not in line
            assert headers["X-Wrenn-Signature"][7:] not in line

    def test_mismatch_error_class(self, receiver: WebhookReceiver, clock: Clock) -> None:
        body, headers = signed(SAMPLE_BODY, clock, "other-secret")
        assert isinstance(receiver.handle(body, headers).error, SignatureMismatchError)


class TestRequestTextInLogs:
    """Text from a request reaches a log line or an answer escaped, on one line."""

    @staticmethod
    def lines(caplog: pytest.LogCaptureFixture) -> list[str]:
        return [r.getMessage() for r in caplog.records if r.name == "wrenn_webhooks"]

    def test_a_newline_in_a_metadata_key_forges_no_line(
        self, receiver: WebhookReceiver, clock: Clock, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.INFO, logger="wrenn_webhooks")
        forged = "x\nwrenn delivery d-1 event=capsule.pause outcome=success status=200"
        body = SAMPLE_BODY.replace(
            b'"reason":"ttl_expired"', json.dumps({forged: 1})[1:-1].encode()
        )
        response = deliver(receiver, clock, body)
        assert response.status_code == 400
        assert "\n" not in response.body["error"]
        assert "x\\x0awrenn delivery" in response.body["error"]
        [line] = self.lines(caplog)
        assert "\n" not in line and "status=400" in line
        assert "x\\x0awrenn delivery" in line

    def test_an_unknown_type_and_outcome_are_escaped(
        self, receiver: WebhookReceiver, clock: Clock, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.INFO, logger="wrenn_webhooks")
        receiver.add(lambda e: None, "*")
        body = event_body("widget\u2028made\x1b[2J", outcome="ok\rstatus=500")
        response = deliver(receiver, clock, body)
        assert response.status_code == 200
        [line] = self.lines(caplog)
        assert "event=widget\\u2028made\\x1b[2J outcome=ok\\x0dstatus=500 status=200" in line

    def test_known_types_are_logged_as_they_are(
        self, receiver: WebhookReceiver, clock: Clock, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.INFO, logger="wrenn_webhooks")
        deliver(receiver, clock, event_body("host.up", None))
        [line] = self.lines(caplog)
        assert "event=host.up outcome=- status=200" in line


class TestRejectedDeliveryIds:
    """401 and 413 lines carry a well-formed X-Wrenn-Delivery, to match Wrenn's own log."""

    def test_401_names_the_delivery(
        self, receiver: WebhookReceiver, clock: Clock, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.INFO, logger="wrenn_webhooks")
        body, headers = signed(SAMPLE_BODY, clock, "x" * 64)
        response = receiver.handle(body, headers)
        assert response.status_code == 401
        assert response.delivery is None  # not verified: never handed out as a Delivery
        [record] = caplog.records
        assert f"wrenn delivery {headers['X-Wrenn-Delivery']} event=-" in record.getMessage()
        assert "status=401" in record.getMessage()

    @pytest.mark.parametrize(
        "delivery_id", ["d-1\nwrenn delivery forged", "x" * 201, "caf\u00e9", "", b"\xff\x00"]
    )
    def test_a_malformed_id_is_left_out(
        self,
        receiver: WebhookReceiver,
        clock: Clock,
        caplog: pytest.LogCaptureFixture,
        delivery_id: str | bytes,
    ) -> None:
        caplog.set_level(logging.INFO, logger="wrenn_webhooks")
        body, headers = signed(SAMPLE_BODY, clock)
        pairs = [(k, v) for k, v in headers.items() if k != "X-Wrenn-Delivery"]
        response = receiver.handle(body, [*pairs, ("X-Wrenn-Delivery", delivery_id)])
        assert response.status_code == 401
        [record] = caplog.records
        assert record.getMessage().startswith("wrenn delivery - event=- outcome=- status=401")

    def test_a_header_value_of_the_wrong_type_is_left_out(
        self, receiver: WebhookReceiver, clock: Clock, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.INFO, logger="wrenn_webhooks")
        response = receiver.handle(b"{}", {"X-Wrenn-Delivery": 42})  # type: ignore[dict-item]
        assert response.status_code == 401
        assert caplog.records[0].getMessage().startswith("wrenn delivery - event=-")

    def test_413_names_the_delivery(self, clock: Clock, caplog: pytest.LogCaptureFixture) -> None:
        caplog.set_level(logging.INFO, logger="wrenn_webhooks")
        receiver = WebhookReceiver(SECRET, max_body_bytes=100, clock=clock)
        body, headers = signed(b"x" * 101, clock)
        assert receiver.handle(body, headers).status_code == 413
        [record] = caplog.records
        assert f"wrenn delivery {headers['X-Wrenn-Delivery']} event=-" in record.getMessage()
        assert "status=413" in record.getMessage()

    def test_too_large_answers_and_logs_as_handle_does(
        self, clock: Clock, caplog: pytest.LogCaptureFixture
    ) -> None:
        """For an adapter that refuses a body before reading it (Flask's Content-Length check)."""
        caplog.set_level(logging.INFO, logger="wrenn_webhooks")
        receiver = WebhookReceiver(SECRET, max_body_bytes=100, clock=clock)
        headers = {"x-wrenn-delivery": "d-413", "X-Wrenn-Signature": "sha256=" + "0" * 64}
        response = receiver.too_large(headers)
        assert response.status_code == 413
        assert response.body == {
            "ok": False,
            "error": "body is larger than the 100 bytes this receiver accepts",
        }
        assert isinstance(response.error, PayloadTooLargeError)
        assert response.headers == {"Content-Type": "application/json"}
        assert (response.event, response.delivery) == (None, None)
        [record] = caplog.records
        assert record.levelno == logging.WARNING
        assert record.getMessage().startswith("wrenn delivery d-413 event=- outcome=- status=413")
        assert receiver.handle(b"x" * 101, headers).body == response.body


class TestSettings:
    @pytest.mark.parametrize("bad", [float("inf"), float("nan"), 0, -1, None, "300", True])
    def test_tolerance_must_be_a_finite_positive_number(self, bad: Any) -> None:
        with pytest.raises(ConfigurationError, match="tolerance"):
            WebhookReceiver(SECRET, tolerance=bad)

    @pytest.mark.parametrize("good", [1, 0.5, timedelta(minutes=2)])
    def test_tolerance_as_seconds_or_timedelta(self, good: Any) -> None:
        assert WebhookReceiver(SECRET, tolerance=good).tolerance in (1.0, 0.5, 120.0)

    @pytest.mark.parametrize("bad", ["1000", 1000.0, True, 0, -5, None])
    def test_max_body_bytes_must_be_a_positive_int(self, bad: Any) -> None:
        with pytest.raises(ConfigurationError, match="max_body_bytes"):
            WebhookReceiver(SECRET, max_body_bytes=bad)

    @pytest.mark.parametrize("bad", ["30", float("inf"), float("nan"), 0, None, False])
    def test_lease_must_be_a_finite_positive_number(self, bad: Any) -> None:
        with pytest.raises(ConfigurationError, match="lease"):
            WebhookReceiver(SECRET, lease=bad)

    def test_records_must_outlive_the_tolerance_and_wrenns_retries(self) -> None:
        with pytest.raises(ConfigurationError, match=r"ttl \(360 s\).*more than 360 s"):
            WebhookReceiver(SECRET, idempotency=MemoryIdempotencyStore(ttl=360))
        with pytest.raises(ConfigurationError, match="1060 s"):
            WebhookReceiver(SECRET, tolerance=1000)  # the default store keeps records 900 s
        WebhookReceiver(SECRET, idempotency=MemoryIdempotencyStore(ttl=361))
        WebhookReceiver(SECRET, tolerance=839)

    def test_a_store_that_does_not_say_its_ttl_is_trusted(self) -> None:
        class Quiet:  # the IdempotencyStore methods are never called here
            pass

        receiver = WebhookReceiver(SECRET, idempotency=Quiet())  # type: ignore[arg-type]
        assert isinstance(receiver.store, Quiet)

    def test_the_inbox_mode_does_not_use_the_store(self, tmp_path: Any) -> None:
        from wrenn_webhooks import SQLiteInbox

        inbox = SQLiteInbox(tmp_path / "inbox.db")
        try:
            WebhookReceiver(SECRET, tolerance=3600, inbox=inbox)
        finally:
            inbox.close()

    @pytest.mark.parametrize("blank", [" ", "\t\n", ["ok" * 16, "  "]])
    def test_a_blank_secret_is_refused(self, blank: Any) -> None:
        with pytest.raises(ConfigurationError, match="blank"):
            WebhookReceiver(blank)
        with pytest.raises(ConfigurationError, match="blank"):
            sign(b"{}", " ")

    def test_a_short_secret_warns(self) -> None:
        with pytest.warns(WeakSecretWarning, match="31 characters") as caught:
            WebhookReceiver("s" * 31)
        assert caught[0].filename == __file__  # points at the caller, not the SDK
        with pytest.warns(WeakSecretWarning, match="secret 2 of 2"):
            WebhookReceiver([SECRET, "short"])
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            WebhookReceiver("s" * 32)
            WebhookReceiver([SECRET, "s" * 32])

    def test_signing_and_verifying_with_a_short_secret_do_not_warn(self, clock: Clock) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            body, headers = signed(SAMPLE_BODY, clock, "short")
            verify(body, headers, "short", now=clock())
            with pytest.raises(SignatureMismatchError):
                verify(body, headers, "other", now=clock())

    def test_the_warning_is_a_user_warning(self) -> None:
        assert issubclass(WeakSecretWarning, UserWarning)


def test_sign_helper_matches_receiver(receiver: WebhookReceiver, clock: Clock) -> None:
    headers = sign(SAMPLE_BODY, SECRET)
    receiver.clock = Clock(__import__("time").time())
    assert receiver.handle(SAMPLE_BODY, headers).status_code == 200
