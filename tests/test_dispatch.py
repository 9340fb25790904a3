"""The one handler loop: ``Router.dispatcher``, its match cache, and its observers.

The same ``Dispatcher.dispatch`` runs handlers for ``handle()``, for a retry of a
failed delivery and for the inbox worker; these tests hold it to that.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from tests.conftest import Clock, event_body, signed
from tests.vectors import SECRET
from wrenn_webhooks import Delivery, Event, Router, SQLiteInbox, WebhookReceiver
from wrenn_webhooks.inbox import Worker
from wrenn_webhooks.testing import make_event

PAUSE = event_body("capsule.pause")


def test_a_handler_added_after_a_match_was_cached_still_runs(clock: Clock) -> None:
    receiver = WebhookReceiver(SECRET, clock=clock)
    assert receiver.dispatcher.routes_for(make_event("capsule.pause")) == ()  # cached: none
    seen: list[Event] = []
    receiver.on("capsule.pause")(seen.append)
    response = receiver.handle(*signed(PAUSE, clock))
    assert (response.status_code, response.body["handled"]) == (200, 1)
    assert len(seen) == 1


def test_every_registration_drops_the_cached_matches() -> None:
    router = Router()
    event = make_event("capsule.pause")
    first = router.dispatcher
    assert first.routes_for(event) == ()
    router.add(lambda e: None, "capsule.pause")
    second = router.dispatcher
    assert second is not first
    assert len(second.routes_for(event)) == 1
    other = Router()
    other.add(lambda e: None, "capsule.*")
    router.include_router(other)
    assert len(router.dispatcher.routes_for(event)) == 2
    router.on_error(lambda exc, event, delivery: None)
    assert router.dispatcher is not second
    assert len(router.dispatcher.error_observers) == 1


def test_a_dispatcher_is_reused_while_nothing_changes() -> None:
    router = Router()
    router.add(lambda e: None, "capsule.pause")
    assert router.dispatcher is router.dispatcher


def test_observers_of_an_included_router_come_along(clock: Clock) -> None:
    receiver = WebhookReceiver(SECRET, clock=clock)
    router = Router()
    seen: list[str] = []
    router.on_error(lambda exc, event, delivery: seen.append(str(exc)))

    @router.on("capsule.pause")
    def fails(event: Event) -> None:
        raise RuntimeError("boom")

    receiver.include_router(router)
    assert receiver.handle(*signed(PAUSE, clock)).status_code == 500
    assert seen == ["boom"]


def test_stop_ends_the_run_between_two_handlers() -> None:
    router = Router()
    ran: list[str] = []
    router.add(lambda e: ran.append("a"), "capsule.pause")
    router.add(lambda e: ran.append("b"), "capsule.pause")
    event = make_event("capsule.pause")
    delivery = Delivery("d", event.timestamp)
    result = router.dispatcher.dispatch(event, delivery, stop=lambda: True)
    assert (ran, result.ran, result.stopped, result.failures) == (["a"], 1, True, [])


def test_completed_handlers_are_skipped_and_reported() -> None:
    router = Router()
    ran: list[str] = []

    def first(event: Event) -> None:
        ran.append("first")

    def second(event: Event) -> None:
        ran.append("second")

    router.add(first, "capsule.pause")
    router.add(second, "capsule.pause")
    names = [route.name for route in router.routes]
    completed: list[str] = []
    event = make_event("capsule.pause")
    result = router.dispatcher.dispatch(
        event,
        Delivery("d", event.timestamp),
        skip=frozenset(names[:1]),
        completed=completed.append,
    )
    assert (ran, completed, result.ran) == (["second"], names[1:], 1)


def test_one_observer_sees_failures_from_handle_a_retry_and_the_worker(
    tmp_path: Path, clock: Clock
) -> None:
    failures: list[str] = []
    attempts = {"n": 0}

    def observe(exc: BaseException, event: Event, delivery: Delivery) -> None:
        failures.append(f"{event.event}: {exc}")

    def flaky(event: Event) -> None:
        attempts["n"] += 1
        raise RuntimeError(f"attempt {attempts['n']}")

    def receiver(**options: object) -> WebhookReceiver:
        made = WebhookReceiver(SECRET, clock=clock, **options)  # type: ignore[arg-type]
        made.add(flaky, "capsule.pause")
        made.on_error(observe)
        return made

    direct = receiver()
    assert direct.handle(*signed(PAUSE, clock)).status_code == 500  # handle()
    clock.advance(10)
    assert direct.handle(*signed(PAUSE, clock)).status_code == 500  # Wrenn's retry
    inbox = SQLiteInbox(tmp_path / "inbox.db", retry_delays=(10,))
    queued = receiver(inbox=inbox)
    assert queued.handle(*signed(PAUSE, clock)).status_code == 202
    assert Worker(queued, clock=clock).run_once() == 1  # the inbox worker
    inbox.close()
    assert failures == [f"capsule.pause: attempt {n}" for n in (1, 2, 3)]


def test_the_handler_loop_exists_once() -> None:
    """Only ``routing._call`` calls a route's handler, for the loop's two drivers.

    ``dispatch`` (threads) and ``dispatch_async`` (an event loop) run the same
    steps; ``tests/test_async.py`` checks that they agree.
    """
    import wrenn_webhooks

    package = Path(wrenn_webhooks.__file__).parent
    callers = sorted(
        str(path.relative_to(package))
        for path in package.rglob("*.py")
        if ".handler(" in path.read_text()
    )
    assert callers == ["routing.py"]
    from wrenn_webhooks import routing

    source = inspect.getsource(routing)
    assert source.count(".handler(") == 2  # _call: with and without the delivery
    assert source.count("_call(route, event, delivery)") == 2  # dispatch, dispatch_async
    with pytest.raises(AttributeError):
        WebhookReceiver.run_handlers  # type: ignore[attr-defined]  # noqa: B018
    with pytest.raises(AttributeError):
        WebhookReceiver.routes_for  # type: ignore[attr-defined]  # noqa: B018
