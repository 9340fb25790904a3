"""Test the whole Flask app through its test client: routing, status codes and all."""

from __future__ import annotations

from billing import Ledger
from webapp import create_app

from wrenn_webhooks import CapsuleCreate
from wrenn_webhooks.testing import FrozenClock, deliver, make_event

SECRET = "a-test-secret-of-32-characters!!"


def test_the_app_meters_a_redelivered_event_once() -> None:
    clock, ledger = FrozenClock(), Ledger()
    client = create_app(SECRET, ledger, clock=clock).test_client()
    event = make_event(CapsuleCreate, now=clock)

    results = deliver(client, event, SECRET, attempts=3, clock=clock)

    assert [r.status_code for r in results] == [200, 200, 200]
    assert results[0].body == {"ok": True, "event": "capsule.create", "handled": 1}
    assert [r.duplicate for r in results] == [False, True, True]
    assert list(ledger.open_meters) == [event.capsule_id]


def test_the_app_refuses_an_unsigned_post() -> None:
    client = create_app(SECRET, Ledger()).test_client()

    response = client.post("/webhooks/wrenn", json={"event": "capsule.create"})

    assert response.status_code == 401
