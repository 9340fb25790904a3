"""Meter capsule usage from Wrenn webhooks: the code the tests on this page exercise."""

from __future__ import annotations

from dataclasses import dataclass, field

from wrenn_webhooks import CapsuleCreate, CapsuleDestroy, Router


@dataclass
class Ledger:
    """Usage meters by capsule id; stands in for the billing database."""

    open_meters: dict[str, str] = field(default_factory=dict)
    closed: list[str] = field(default_factory=list)

    def open(self, capsule_id: str, team_id: str) -> None:
        self.open_meters[capsule_id] = team_id

    def close(self, capsule_id: str) -> None:
        self.open_meters.pop(capsule_id, None)
        self.closed.append(capsule_id)


def register(receiver: Router, ledger: Ledger) -> None:
    """Add the billing handlers to a ``WebhookReceiver`` (or a ``Router``)."""

    @receiver.on("capsule.create", outcome="success")
    def start_metering(event: CapsuleCreate) -> None:
        ledger.open(event.capsule_id, event.team_id)

    @receiver.on("capsule.destroy", outcome="success")
    def stop_metering(event: CapsuleDestroy) -> None:
        ledger.close(event.capsule_id)
