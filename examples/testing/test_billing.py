"""Each capsule is metered once, however many times Wrenn delivers its event."""

from __future__ import annotations

from billing import Ledger, register

from wrenn_webhooks import CapsuleCreate, WebhookReceiver
from wrenn_webhooks.testing import FrozenClock, deliver, make_event

SECRET = "a-test-secret-of-32-characters!!"


def make_receiver(ledger: Ledger, clock: FrozenClock) -> WebhookReceiver:
    receiver = WebhookReceiver(SECRET, clock=clock)
    register(receiver, ledger)
    return receiver


def test_a_redelivered_create_opens_one_meter() -> None:
    clock, ledger = FrozenClock(), Ledger()
    receiver = make_receiver(ledger, clock)
    event = make_event(CapsuleCreate, team_id="team-acme", now=clock)

    # Wrenn's client timed out waiting, so the same event arrives three times.
    results = deliver(receiver, event, SECRET, attempts=3, clock=clock)

    assert [r.status_code for r in results] == [200, 200, 200]
    assert [r.duplicate for r in results] == [False, True, True]
    assert ledger.open_meters == {event.capsule_id: "team-acme"}


def test_a_failed_attempt_is_retried_and_meters_once() -> None:
    class FlakyLedger(Ledger):
        """Fails the first write, as a database restarting would."""

        failures = 1

        def open(self, capsule_id: str, team_id: str) -> None:
            if self.failures:
                self.failures -= 1
                raise ConnectionError("billing database unavailable")
            super().open(capsule_id, team_id)

    clock, ledger = FrozenClock(), FlakyLedger()
    receiver = make_receiver(ledger, clock)
    event = make_event(CapsuleCreate, now=clock)

    results = deliver(receiver, event, SECRET, attempts=3, clock=clock)

    # 500 asks Wrenn to retry; the retry runs the handler again; the third is a duplicate.
    assert [r.status_code for r in results] == [500, 200, 200]
    assert results[2].duplicate
    assert list(ledger.open_meters) == [event.capsule_id]


def test_a_failed_create_is_not_metered() -> None:
    clock, ledger = FrozenClock(), Ledger()
    receiver = make_receiver(ledger, clock)

    (result,) = deliver(receiver, make_event(CapsuleCreate, outcome="error"), SECRET)

    assert result.status_code == 200
    assert result.body["handled"] == 0
    assert ledger.open_meters == {}
