"""Freeze time to test the replay window: a signature older than 300 s is refused."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone

from wrenn_webhooks import Event, WebhookReceiver
from wrenn_webhooks.testing import FrozenClock, deliver, make_event, signed_request

SECRET = "a-test-secret-of-32-characters!!"


def test_a_replayed_delivery_is_refused() -> None:
    clock = FrozenClock(datetime(2026, 5, 24, 21, 10, 37, tzinfo=timezone.utc))
    receiver = WebhookReceiver(SECRET, clock=clock)
    body, headers = signed_request(make_event("host.down"), SECRET, timestamp=clock.datetime)

    clock.advance(301)  # five minutes and a second later, someone sends it again
    response = receiver.handle(body, headers)

    assert response.status_code == 401
    assert "outside the 300 s tolerance" in response.body["error"]


def test_wrenns_retries_fit_in_the_window() -> None:
    clock = FrozenClock()
    receiver = WebhookReceiver(SECRET, clock=clock)

    # The clock moves on by Wrenn's retry spacing: 10 s, then 30 s.
    results = deliver(receiver, make_event(), SECRET, attempts=3, clock=clock)

    assert [r.ok for r in results] == [True, True, True]
    assert [r.timestamp for r in results][-1] == clock.datetime.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_with_fixtures(
    wrenn_secret: str,
    wrenn_clock: FrozenClock,
    wrenn_receiver: WebhookReceiver,
    wrenn_event: Callable[..., Event],
) -> None:
    body, headers = signed_request(
        wrenn_event("capsule.pause"), wrenn_secret, timestamp=wrenn_clock.datetime
    )
    wrenn_clock.advance(299)
    assert wrenn_receiver.handle(body, headers).status_code == 200
    wrenn_clock.advance(2)
    assert wrenn_receiver.handle(body, headers).status_code == 401
