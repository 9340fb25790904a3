"""The receiver and its handlers: configured from Django's settings, built once at import."""

from __future__ import annotations

from wrenn_webhooks import CapsulePause
from wrenn_webhooks.django import receiver_from_settings

receiver = receiver_from_settings()  # WRENN_WEBHOOK_SECRET and the other keys


@receiver.on(CapsulePause, outcome="error")
def pause_failed(event: CapsulePause) -> None:
    print(f"capsule {event.capsule_id} failed to pause: {event.error}")
