"""The same kind of test with the pytest fixtures the SDK installs."""

from __future__ import annotations

from collections.abc import Callable

from billing import Ledger, register

from wrenn_webhooks import Event, WebhookReceiver
from wrenn_webhooks.testing import DeliveryResult


def test_destroy_closes_the_meter_once(
    wrenn_receiver: WebhookReceiver,
    wrenn_event: Callable[..., Event],
    wrenn_deliver: Callable[..., list[DeliveryResult]],
) -> None:
    ledger = Ledger()
    register(wrenn_receiver, ledger)
    create = wrenn_event("capsule.create")
    destroy = wrenn_event("capsule.destroy", team_id=create.team_id, resource=create.resource)

    wrenn_deliver(wrenn_receiver, create)
    results = wrenn_deliver(wrenn_receiver, destroy, attempts=3)

    assert [r.ok for r in results] == [True, True, True]
    assert ledger.open_meters == {}
    assert ledger.closed == [create.resource.id]


def test_a_delivery_signed_with_another_secret_is_refused(
    wrenn_receiver: WebhookReceiver,
    wrenn_event: Callable[..., Event],
    wrenn_deliver: Callable[..., list[DeliveryResult]],
) -> None:
    (result,) = wrenn_deliver(wrenn_receiver, wrenn_event("host.down"), secret="an-old-secret")

    assert result.status_code == 401
