"""``handle_async()``: the contract of ``handle()``, on the caller's event loop."""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Clock, event_body, signed
from tests.vectors import SAMPLE_BODY, SECRET
from wrenn_webhooks import (
    CapsulePause,
    ConfigurationError,
    Delivery,
    Event,
    HostUp,
    MemoryIdempotencyStore,
    Response,
    Router,
    SQLiteIdempotencyStore,
    WebhookReceiver,
)
from wrenn_webhooks.errors import StoreError
from wrenn_webhooks.inbox import SQLiteInbox
from wrenn_webhooks.routing import Dispatch
from wrenn_webhooks.testing import make_event

HOST_UP = event_body("host.up", None, resource={"id": "host-1", "type": "host"})

Deliver = Callable[[WebhookReceiver, bytes, dict[str, str]], Response]


def sync_deliver(receiver: WebhookReceiver, body: bytes, headers: dict[str, str]) -> Response:
    return receiver.handle(body, headers)


def async_deliver(receiver: WebhookReceiver, body: bytes, headers: dict[str, str]) -> Response:
    return asyncio.run(receiver.handle_async(body, headers))


both = pytest.mark.parametrize("send", [sync_deliver, async_deliver], ids=["handle", "async"])


class TestTheSameContract:
    """Each row of the status table, through both entry points."""

    @both
    def test_handled_unmatched_and_duplicate(self, send: Deliver, clock: Clock) -> None:
        receiver = WebhookReceiver(SECRET, clock=clock)
        seen: list[Event] = []
        receiver.on(CapsulePause)(seen.append)
        body, headers = signed(SAMPLE_BODY, clock)
        first = send(receiver, body, headers)
        assert (first.status_code, first.body) == (
            200,
            {"ok": True, "event": "capsule.pause", "handled": 1},
        )
        again = send(receiver, body, headers)
        assert again.body == {"ok": True, "event": "capsule.pause", "handled": 0, "duplicate": True}
        assert send(receiver, *signed(HOST_UP, clock)).body["handled"] == 0
        assert len(seen) == 1

    @both
    def test_refusals(self, send: Deliver, clock: Clock) -> None:
        receiver = WebhookReceiver(SECRET, clock=clock, max_body_bytes=len(SAMPLE_BODY))
        receiver.on("*")(lambda event: None)
        body, headers = signed(SAMPLE_BODY, clock)
        assert (
            send(receiver, body, {**headers, "X-Wrenn-Signature": "sha256=" + "0" * 64}).status_code
            == 401
        )
        assert send(receiver, body + b" ", headers).status_code == 413
        assert send(receiver, *signed(b"[1]", clock)).status_code == 400

    @both
    def test_only_the_failed_handler_reruns(self, send: Deliver, clock: Clock) -> None:
        receiver = WebhookReceiver(SECRET, clock=clock)
        calls: list[str] = []
        fail = [True]

        @receiver.on(CapsulePause)
        def first(event: CapsulePause) -> None:
            calls.append("first")

        @receiver.on(CapsulePause)
        async def second(event: CapsulePause) -> None:
            calls.append("second")
            if fail[0]:
                raise RuntimeError("boom")

        body, headers = signed(SAMPLE_BODY, clock)
        failed = send(receiver, body, headers)
        assert failed.status_code == 500 and "1 of 2 handlers failed" in failed.body["error"]
        fail[0] = False
        retried = send(receiver, body, headers)
        assert (retried.status_code, retried.body["handled"]) == (200, 1)
        assert calls == ["first", "second", "second"]
        assert retried.delivery is not None and retried.delivery.redelivery

    @both
    def test_in_flight_is_409_and_a_failing_store_503(self, send: Deliver, clock: Clock) -> None:
        store = MemoryIdempotencyStore()
        receiver = WebhookReceiver(SECRET, clock=clock, idempotency=store)
        receiver.on("*")(lambda event: None)
        body, headers = signed(SAMPLE_BODY, clock)
        store.claim(hashlib.sha256(body).hexdigest(), now=clock.now, lease=30)
        assert send(receiver, body, headers).status_code == 409

        class Broken(MemoryIdempotencyStore):
            def claim(self, *args: Any, **kwargs: Any) -> Any:
                raise StoreError("down")

        broken = WebhookReceiver(SECRET, clock=clock, idempotency=Broken())
        broken.on("*")(lambda event: None)
        answer = send(broken, *signed(SAMPLE_BODY, clock))
        assert (answer.status_code, answer.headers["Retry-After"]) == (503, "10")

    @both
    def test_inbox_mode_is_202(self, send: Deliver, clock: Clock, tmp_path: Path) -> None:
        inbox = SQLiteInbox(tmp_path / "inbox.db")
        receiver = WebhookReceiver(SECRET, clock=clock, inbox=inbox)
        receiver.on("*")(lambda event: None)
        body, headers = signed(SAMPLE_BODY, clock)
        assert send(receiver, body, headers).body == {
            "ok": True,
            "event": "capsule.pause",
            "queued": True,
        }
        assert send(receiver, body, headers).body["duplicate"] is True
        inbox.close()


class TestOnTheCallersLoop:
    def test_async_handlers_share_the_callers_loop_and_its_resources(self, clock: Clock) -> None:
        receiver = WebhookReceiver(SECRET, clock=clock)
        seen: list[object] = []

        async def app() -> None:
            loop = asyncio.get_running_loop()
            queue: asyncio.Queue[str] = asyncio.Queue()  # made by the application, on its loop

            @receiver.on(CapsulePause)
            async def forward(event: CapsulePause) -> None:
                seen.append(asyncio.get_running_loop() is loop)
                await queue.put(event.capsule_id)

            response = await receiver.handle_async(*signed(SAMPLE_BODY, clock))
            assert response.status_code == 200
            seen.append(queue.get_nowait())

        asyncio.run(app())
        assert seen == [True, "sb-2b7c4d1e0f9a8b7c6d5e4f3a2"]

    def test_plain_handlers_run_in_a_thread_with_the_callers_context(self, clock: Clock) -> None:
        receiver = WebhookReceiver(SECRET, clock=clock)
        request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id")
        seen: list[object] = []

        @receiver.on(CapsulePause)
        def blocking(event: CapsulePause) -> None:
            seen.append((threading.get_ident(), request_id.get()))

        async def app() -> int:
            request_id.set("req-1")
            await receiver.handle_async(*signed(SAMPLE_BODY, clock))
            return threading.get_ident()

        loop_thread = asyncio.run(app())
        ((handler_thread, value),) = seen
        assert handler_thread != loop_thread and value == "req-1"

    def test_a_plain_handler_does_not_block_the_loop(self, clock: Clock) -> None:
        receiver = WebhookReceiver(SECRET, clock=clock)
        release = threading.Event()
        receiver.on(CapsulePause)(lambda event: release.wait(5))

        async def app() -> int:
            delivery = asyncio.ensure_future(receiver.handle_async(*signed(SAMPLE_BODY, clock)))
            await asyncio.sleep(0.05)  # the loop still runs while the handler waits
            assert not delivery.done()
            release.set()
            return (await delivery).status_code

        assert asyncio.run(app()) == 200

    @pytest.mark.parametrize("inline", [True, False], ids=["memory", "sqlite"])
    def test_stores_that_may_block_are_called_from_a_thread(
        self, clock: Clock, tmp_path: Path, inline: bool
    ) -> None:
        calls: list[int] = []
        base: Any = MemoryIdempotencyStore if inline else SQLiteIdempotencyStore

        class Recording(base):  # type: ignore[misc]
            def claim(self, *args: Any, **kwargs: Any) -> Any:
                calls.append(threading.get_ident())
                return super().claim(*args, **kwargs)

            def finish(self, *args: Any, **kwargs: Any) -> Any:
                calls.append(threading.get_ident())
                return super().finish(*args, **kwargs)

        store = Recording() if inline else Recording(tmp_path / "store.db")
        receiver = WebhookReceiver(SECRET, clock=clock, idempotency=store)
        receiver.on(CapsulePause)(_async_noop)

        async def app() -> int:
            await receiver.handle_async(*signed(SAMPLE_BODY, clock))
            return threading.get_ident()

        loop_thread = asyncio.run(app())
        assert len(calls) == 2
        # Subclasses of the memory store may do anything: only the store itself runs inline.
        assert all(thread != loop_thread for thread in calls)

    def test_the_memory_store_is_called_inline(self, clock: Clock) -> None:
        receiver = WebhookReceiver(SECRET, clock=clock)
        threads: list[int] = []
        receiver.on(CapsulePause)(_async_noop)
        original = receiver.store.claim

        def claim(*args: Any, **kwargs: Any) -> Any:
            threads.append(threading.get_ident())
            return original(*args, **kwargs)

        receiver.store.claim = claim  # type: ignore[method-assign]

        async def app() -> int:
            await receiver.handle_async(*signed(SAMPLE_BODY, clock))
            return threading.get_ident()

        assert threads == [asyncio.run(app())]

    def test_a_cancelled_delivery_gives_its_claim_back(self, clock: Clock) -> None:
        receiver = WebhookReceiver(SECRET, clock=clock)
        started = asyncio.Event()
        runs: list[str] = []

        @receiver.on(CapsulePause)
        async def slow(event: CapsulePause) -> None:
            runs.append("start")
            started.set()
            await asyncio.sleep(10)

        body, headers = signed(SAMPLE_BODY, clock)

        async def app() -> int:
            task = asyncio.ensure_future(receiver.handle_async(body, headers))
            await started.wait()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            # The claim was released: a redelivery runs the handler again, not 409.
            slow_again = asyncio.ensure_future(receiver.handle_async(body, headers))
            await asyncio.sleep(0.01)
            slow_again.cancel()
            return len(runs)

        assert asyncio.run(app()) == 2


async def _async_noop(event: Event) -> None:
    return None


class TestSyncHandleWithAsyncHandlers:
    def test_one_loop_per_thread_is_kept_between_deliveries(self, clock: Clock) -> None:
        receiver = WebhookReceiver(SECRET, clock=clock)
        loops: list[asyncio.AbstractEventLoop] = []
        lock: list[asyncio.Lock] = []

        @receiver.on("*")
        async def remember(event: Event) -> None:
            loops.append(asyncio.get_running_loop())
            if not lock:
                lock.append(asyncio.Lock())  # made on the first delivery's loop
            async with lock[0]:  # usable on the next one: the same loop
                pass

        receiver.handle(*signed(SAMPLE_BODY, clock))
        receiver.handle(*signed(HOST_UP, clock))
        assert len(loops) == 2 and loops[0] is loops[1]

        other: list[asyncio.AbstractEventLoop] = []
        thread = threading.Thread(target=lambda: other.append(_loop_of(receiver, clock)))
        thread.start()
        thread.join()
        assert other[0] is not loops[0]
        assert other[0].is_closed()  # closed with its thread

    def test_inside_a_running_loop_it_refuses_and_says_what_to_call(self, clock: Clock) -> None:
        receiver = WebhookReceiver(SECRET, clock=clock)
        runs: list[str] = []

        @receiver.on(CapsulePause)
        async def remember(event: CapsulePause) -> None:
            runs.append("ran")

        body, headers = signed(SAMPLE_BODY, clock)

        async def app() -> Response:
            with pytest.raises(ConfigurationError, match=r"await receiver\.handle_async"):
                receiver.handle(body, headers)
            return await receiver.handle_async(body, headers)  # the claim was given back

        assert asyncio.run(app()).status_code == 200
        assert runs == ["ran"]

    def test_plain_handlers_still_run_from_inside_a_loop(self, clock: Clock) -> None:
        receiver = WebhookReceiver(SECRET, clock=clock)
        receiver.on(HostUp)(_async_noop)  # an async handler that this event does not reach
        seen: list[Event] = []
        receiver.on(CapsulePause)(seen.append)

        async def app() -> int:
            return receiver.handle(*signed(SAMPLE_BODY, clock)).status_code

        assert asyncio.run(app()) == 200 and len(seen) == 1


def _loop_of(receiver: WebhookReceiver, clock: Clock) -> asyncio.AbstractEventLoop:
    found: list[asyncio.AbstractEventLoop] = []
    router_receiver = WebhookReceiver(SECRET, clock=clock)

    @router_receiver.on("*")
    async def remember(event: Event) -> None:
        found.append(asyncio.get_running_loop())

    router_receiver.handle(*signed(SAMPLE_BODY, clock))
    return found[0]


@pytest.mark.parametrize("fail", [(), ("b",), ("a", "c")])
@pytest.mark.parametrize("skip", [frozenset(), frozenset({"tests.b"})])
def test_dispatch_and_dispatch_async_agree(fail: tuple[str, ...], skip: frozenset[str]) -> None:
    """The two drivers of the handler loop: the same runs, completions and failures."""

    def build(log: list[str]) -> Router:
        router = Router()
        for name in "abc":

            def handler(event: Event, name: str = name) -> None:
                log.append(name)
                if name in fail:
                    raise RuntimeError(name)

            handler.__module__, handler.__qualname__ = "tests", name
            router.add(handler, "*")
        return router

    event = make_event("capsule.pause")
    delivery = Delivery("d-1", event.timestamp)
    sync_log: list[str] = []
    sync_done: list[str] = []
    sync = build(sync_log).dispatcher.dispatch(
        event, delivery, skip=skip, completed=sync_done.append
    )
    async_log: list[str] = []
    async_done: list[str] = []

    async def completed(name: str) -> None:
        async_done.append(name)

    result = asyncio.run(
        build(async_log).dispatcher.dispatch_async(event, delivery, skip=skip, completed=completed)
    )
    assert (sync_log, sync_done, sync.ran) == (async_log, async_done, result.ran)
    assert [name for name, _ in sync.failures] == [name for name, _ in result.failures]
    assert isinstance(result, Dispatch)
