from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import threading
import warnings
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
    Router,
    SignatureMismatchError,
    UnknownEventTypeWarning,
    WebhookReceiver,
    sign,
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
            lambda h: h.pop("X-WRENN-SIGNATURE"),
            lambda h: h.pop("X-Wrenn-Timestamp"),
            lambda h: h.update({"X-WRENN-SIGNATURE": "sha256=zz"}),
            lambda h: h.update({"X-Wrenn-Timestamp": "yesterday"}),
            lambda h: h.update({"X-WRENN-SIGNATURE": "sha256=" + "0" * 64}),
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
        receiver = WebhookReceiver(["new-secret", SECRET], clock=clock)
        old = receiver.handle(*signed(SAMPLE_BODY, clock))
        new = receiver.handle(*signed(event_body(), clock, "new-secret"))
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

    def test_async_handler_from_inside_a_running_loop(
        self, receiver: WebhookReceiver, clock: Clock
    ) -> None:
        seen: list[str] = []

        @receiver.on("capsule.pause")
        async def remember(event: CapsulePause) -> None:
            seen.append(event.event)

        async def server() -> int:
            return deliver(receiver, clock, SAMPLE_BODY).status_code  # type: ignore[no-any-return]

        assert asyncio.run(server()) == 200
        assert seen == ["capsule.pause"]

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
        "event", ["capsule.paused", "volume.create", "volume.*", "capsule.*", "*", "host.up"]
    )
    def test_known_old_and_newer_types_register_silently(
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
        bad = dict(headers, **{"X-WRENN-SIGNATURE": "sha256=" + "0" * 64})
        receiver.handle(event_body(), bad)
        lines = [r.getMessage() for r in caplog.records]
        assert len(lines) == 2
        assert "event=capsule.pause outcome=error status=200 handlers=1" in lines[0]
        assert headers["X-Wrenn-Delivery"] in lines[0]
        assert "status=401" in lines[1]
        for line in lines:
            assert SECRET not in line
            assert "ttl_expired" not in line
            assert headers["X-WRENN-SIGNATURE"][7:] not in line

    def test_mismatch_error_class(self, receiver: WebhookReceiver, clock: Clock) -> None:
        body, headers = signed(SAMPLE_BODY, clock, "other-secret")
        assert isinstance(receiver.handle(body, headers).error, SignatureMismatchError)


def test_sign_helper_matches_receiver(receiver: WebhookReceiver, clock: Clock) -> None:
    headers = sign(SAMPLE_BODY, SECRET)
    receiver.clock = Clock(__import__("time").time())
    assert receiver.handle(SAMPLE_BODY, headers).status_code == 200
